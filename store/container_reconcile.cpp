// The reconciler's writes to the container index: what Docker reports (reconcile_containers)
// and the sweep of rows whose container Docker no longer lists (sweep_missing). Declared in
// store/containers.hpp; the deployers' writes and the reads live in store/containers.cpp.
#include "store/containers.hpp"

#include "core/clock.hpp"
#include "store/container_lookups.hpp"
#include "store/env_json.hpp"
#include "store/query.hpp"

#include <map>
#include <optional>
#include <set>

namespace tf::store {

// -- the reconciler's writes ----------------------------------------------------

namespace {

/// One reconcile batch: its time, its two prepared statements, and the lookups it has made.
struct reconcile_batch {
  explicit reconcile_batch(database& on) : db{on} {}

  database& db;
  std::string now = now_utc();
  /// Project rows are only updated: the project deployer is their authoritative writer,
  /// and inventing rows here would race with deploys of several instances (seed).
  statement update_project_row;
  /// Stack and site rows may be created by what Docker runs, but a conflict only ever
  /// touches Docker-derived fields, so deployer-owned ones survive every tick.
  statement upsert_docker_fields;
  std::map<std::string, std::string> kinds;  // workload id -> kind ("" when none)
  std::map<std::string, std::string> stacks; // compose project -> workload id ("" when none)
};

caf::error prepare_batch(reconcile_batch& b) {
  auto update = b.db.prepare(
    "UPDATE containers SET container_id = ?1, image_ref = ?2, state = ?3, port = ?4, "
    "last_seen_at = ?5, updated_at = ?6 "
    "WHERE workload_id = ?7 AND ((?8 != '' AND id = ?8) OR (?8 = '' AND container_id = ?1))");
  if (!update)
    return update.error();
  auto upsert = b.db.prepare(
    "INSERT INTO containers(id, workload_id, workload_kind, role, host, container_id, "
    "image_ref, state, port, last_seen_at, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
    "ON CONFLICT(id) DO UPDATE SET container_id = excluded.container_id, "
    "image_ref = excluded.image_ref, state = excluded.state, port = excluded.port, "
    "last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at "
    "WHERE containers.workload_id = excluded.workload_id");
  if (!upsert)
    return upsert.error();
  b.update_project_row = std::move(*update);
  b.upsert_docker_fields = std::move(*upsert);
  return {};
}

/// `key`'s entry of a batch cache, looked up once per batch.
template <class Lookup>
caf::expected<std::string> cached(std::map<std::string, std::string>& cache,
                                  const std::string& key, Lookup lookup) {
  auto i = cache.find(key);
  if (i == cache.end()) {
    auto found = lookup();
    if (!found)
      return found.error();
    i = cache.emplace(key, std::move(*found)).first;
  }
  return i->second;
}

/// The container as indexed: a compose container's workload is its stack's (and its row
/// named after its role when it has none). Nothing when it is to be rejected: the compose
/// project decides the stack, so a label naming another workload is forged.
caf::expected<std::optional<observed_container>> resolve(reconcile_batch& b,
                                                         const observed_container& o) {
  if (o.compose_project.empty())
    return std::optional<observed_container>{o};
  auto stack = cached(b.stacks, o.compose_project,
                      [&] { return stack_workload_by_compose_project(b.db, o.compose_project); });
  if (!stack)
    return stack.error();
  if (stack->empty() || (!o.workload_id.empty() && o.workload_id != *stack))
    return std::optional<observed_container>{};
  auto resolved = o;
  resolved.workload_id = *stack;
  if (resolved.id.empty())
    resolved.id = resolved.workload_id + "/" + resolved.role;
  return std::optional<observed_container>{std::move(resolved)};
}

/// Binds the statement that writes `o` (a workload of `kind`), or nothing when there is
/// no row to match: a project container needs an id or a container id (an empty one would
/// match every row not started yet), a stack or site container an id.
statement* bind_write(reconcile_batch& b, const observed_container& o, const std::string& kind) {
  auto last_seen = o.last_seen_at.empty() ? b.now : o.last_seen_at;
  if (kind == "project") {
    if (o.id.empty() && o.container_id.empty())
      return nullptr;
    bind_all(b.update_project_row, o.container_id, o.image_ref, o.state, o.port, last_seen,
             b.now, o.workload_id, o.id);
    return &b.update_project_row;
  }
  if (o.id.empty())
    return nullptr;
  bind_all(b.upsert_docker_fields, o.id, o.workload_id, kind, o.role,
           o.host.empty() ? std::string{"local"} : o.host, o.container_id, o.image_ref,
           o.state, o.port, last_seen, b.now);
  return &b.upsert_docker_fields;
}

/// Indexes one observed container: true when a row was written, false when it was
/// rejected (a forged or stale label, nothing to match, or a row of another workload).
caf::expected<bool> index_one(reconcile_batch& b, const observed_container& observed) {
  auto o = resolve(b, observed);
  if (!o)
    return o.error();
  if (!*o)
    return false;
  auto kind = cached(b.kinds, (*o)->workload_id,
                     [&] { return workload_kind(b.db, (*o)->workload_id); });
  if (!kind)
    return kind.error();
  if (kind->empty()) // a label naming no workload is forged (or stale): never index it
    return false;
  auto* st = bind_write(b, **o, *kind);
  if (st == nullptr)
    return false;
  if (auto err = st->run())
    return err;
  auto written = st->changes() > 0;
  st->reset();
  return written;
}

caf::expected<std::set<std::string>> failed_container_ids(database& db) {
  auto ids = select_all(db, "SELECT id FROM containers WHERE state = 'failed'", text_of_first_column);
  if (!ids)
    return ids.error();
  return std::set<std::string>{ids->begin(), ids->end()};
}

const auto read_change = columns(&container_change::row_id, &container_change::workload_id,
                                 &container_change::role, &container_change::container_id);

/// The rows in the failed state now that were not before: news (a container.failed
/// notification); those that stay failed are not.
caf::expected<std::vector<container_change>>
newly_failed(database& db, const std::set<std::string>& failed_before) {
  auto failed = select_all(
    db, "SELECT id, workload_id, role, container_id FROM containers WHERE state = 'failed'",
    read_change);
  if (!failed)
    return failed.error();
  std::vector<container_change> out;
  for (auto& c : *failed)
    if (failed_before.count(c.row_id) == 0) {
      c.state = "failed";
      out.push_back(std::move(c));
    }
  return out;
}

} // namespace

caf::expected<reconcile_result> reconcile_containers(database& db,
                                                     const std::vector<observed_container>& xs) {
  return in_transaction(db, [&]() -> caf::expected<reconcile_result> {
    reconcile_batch batch{db};
    if (auto err = prepare_batch(batch))
      return err;
    auto failed_before = failed_container_ids(db);
    if (!failed_before)
      return failed_before.error();
    reconcile_result result;
    for (const auto& observed : xs) {
      if (observed.compose_project.empty() && !observed.workload_id.empty()
          && !observed.container_id.empty()) {
        auto kind = cached(batch.kinds, observed.workload_id,
                           [&] { return workload_kind(db, observed.workload_id); });
        if (!kind)
          return kind.error();
        if (kind->empty())
          result.orphaned.push_back(observed.container_id);
      }
      auto written = index_one(batch, observed);
      if (!written)
        return written.error();
      ++(*written ? result.written : result.rejected);
    }
    auto failed = newly_failed(db, *failed_before);
    if (!failed)
      return failed.error();
    result.failed = std::move(*failed);
    return result;
  });
}

caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep) {
  auto rows = select_all(db,
                         "UPDATE containers SET state = 'missing', updated_at = ?1 "
                         "WHERE host = ?2 AND container_id != '' AND state != 'missing' "
                         "AND (?4 = '' OR updated_at < ?4) "
                         "AND container_id NOT IN (SELECT value FROM json_each(?3)) "
                         "RETURNING id, workload_id, role, container_id",
                         read_change, now_utc(), sweep.host,
                         encode_string_array(sweep.seen_container_ids), sweep.listed_at);
  if (!rows)
    return rows.error();
  for (auto& c : *rows)
    c.state = "missing";
  return rows;
}

caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep) {
  auto rows = sweep_missing(db, sweep);
  if (!rows)
    return rows.error();
  return static_cast<int64_t>(rows->size());
}

} // namespace tf::store
