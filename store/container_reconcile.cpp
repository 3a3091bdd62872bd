// The reconciler's writes to the container index (store/container_reconcile.hpp); the
// deployers' writes and the reads live in store/containers.cpp.
//
// A batch holds every container of a host and runs on every tick, so each statement reaches
// its rows through one index and costs what it touches, never the workload or the table.
// Where two indexes could serve, INDEXED BY names the one meant: SQLite then uses it or
// refuses to prepare the statement, so a plan cannot drift onto another index or a scan when
// ANALYZE's statistics change (the clause's documented purpose: an error, not a slow plan,
// when the schema no longer fits the statement). tests/query_plan_test.cpp checks them all.
#include "store/container_reconcile.hpp"

#include "core/clock.hpp"
#include "store/container_lookups.hpp"
#include "store/env_json.hpp"
#include "store/query.hpp"

#include <algorithm>
#include <iterator>
#include <map>

namespace tf::store {

namespace {

// -- the statements -------------------------------------------------------------

// A tick mostly finds each container as it was. Such a row is only read: its last sighting
// is its host's latest full listing (host_listings, recorded by the sweep that ends the
// tick), so a tick over rows that did not change writes one row, not every row, and no
// page of the table. A row whose Docker fields changed is written in full, its last
// sighting and its indexes with it. Parameters, in every statement below: ?1 container id,
// ?2 image, ?3 state, ?4 port, ?5 last seen, ?6 now, ?7 workload id, ?8 row id (the reads
// leave ?5 and ?6 out: SQLite binds a number a statement does not use as a no-op).

/// A row, by its row id within the labelled workload (the primary key), when Docker's fields
/// are as stored: a project, stack or site row alike. Read only.
constexpr std::string_view row_as_observed_by_id_sql =
  "SELECT 1 FROM containers WHERE id = ?8 AND workload_id = ?7 "
  "AND container_id = ?1 AND image_ref = ?2 AND state = ?3 AND port = ?4";

/// A project row, by its row id within the labelled workload, in full. Project rows are only
/// updated: the project deployer is their authoritative writer, and inventing rows here
/// would race with deploys of several instances (seed).
constexpr std::string_view update_project_row_by_id_sql =
  "UPDATE containers SET container_id = ?1, image_ref = ?2, state = ?3, port = ?4, "
  "last_seen_at = ?5, updated_at = ?6 WHERE id = ?8 AND workload_id = ?7";

/// The project rows of a container id within the labelled workload (the reconciler matches
/// project containers by their container id), each with whether Docker's fields are as
/// stored. A container id names one container, so the search finds its rows. Read only.
constexpr std::string_view project_rows_by_container_sql =
  "SELECT image_ref = ?2 AND state = ?3 AND port = ?4 "
  "FROM containers INDEXED BY idx_containers_container_id "
  "WHERE container_id = ?1 AND workload_id = ?7";

/// Those of the rows above whose Docker fields changed, in full. OR IGNORE: SQLite cannot
/// know that this UPDATE changes one row, and one that may change several and may fail
/// half-way (a NOT NULL column set) keeps a statement journal, a savepoint per run; with
/// IGNORE a NULL would skip the row instead, so there is no half-way, and no journal.
/// Nothing bound is NULL, and the columns set are in no UNIQUE or CHECK constraint, so the
/// outcome is the same.
constexpr std::string_view update_project_rows_by_container_sql =
  "UPDATE OR IGNORE containers INDEXED BY idx_containers_container_id "
  "SET image_ref = ?2, state = ?3, port = ?4, last_seen_at = ?5, updated_at = ?6 "
  "WHERE container_id = ?1 AND workload_id = ?7 "
  "AND (image_ref != ?2 OR state != ?3 OR port != ?4)";

/// A stack or site row, by its row id. What Docker runs may create it, but a conflict only
/// ever touches Docker-derived fields, so deployer-owned ones survive every tick, and never
/// a row of another workload.
constexpr std::string_view upsert_docker_fields_sql =
  "INSERT INTO containers(id, workload_id, workload_kind, role, host, container_id, "
  "image_ref, state, port, last_seen_at, created_at, updated_at) "
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
  "ON CONFLICT(id) DO UPDATE SET container_id = excluded.container_id, "
  "image_ref = excluded.image_ref, state = excluded.state, port = excluded.port, "
  "last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at "
  "WHERE containers.workload_id = excluded.workload_id";

/// The rows in the failed state, by rowid: read from the state index alone (it holds the
/// rowid), before and after a batch, so what costs is the failed rows, not the table.
constexpr std::string_view failed_rowids_sql =
  "SELECT rowid FROM containers INDEXED BY idx_containers_state WHERE state = 'failed' "
  "ORDER BY rowid";

/// A row that a batch moved into the failed state, for its notification.
constexpr std::string_view change_of_rowid_sql =
  "SELECT id, workload_id, role, container_id FROM containers WHERE rowid = ?1";

/// The rows of one host whose container Docker no longer lists, from the index of live rows
/// (migration 9): rows already missing or never started are not in it. Their last sighting
/// becomes what the index showed until now, the host's previous listing (?5) when it is the
/// later: a missing row keeps it (last_seen_column).
constexpr std::string_view sweep_missing_sql =
  "UPDATE containers INDEXED BY idx_containers_live SET state = 'missing', updated_at = ?1, "
  "last_seen_at = max(last_seen_at, ?5) "
  "WHERE host = ?2 AND container_id != '' AND state != 'missing' "
  "AND (?4 = '' OR updated_at < ?4) "
  "AND container_id NOT IN (SELECT value FROM json_each(?3)) "
  "RETURNING id, workload_id, role, container_id";

/// A host's latest full listing ('' before the first).
constexpr std::string_view host_listing_sql =
  "SELECT listed_at FROM host_listings WHERE host = ?1";

/// Every host's latest full listing.
constexpr std::string_view host_listings_sql = "SELECT host, listed_at FROM host_listings";

/// Records a host's full listing; an older one (a sweep that arrives late) never replaces a
/// newer.
constexpr std::string_view record_host_listing_sql =
  "INSERT INTO host_listings(host, listed_at) VALUES (?1, ?2) ON CONFLICT(host) DO UPDATE "
  "SET listed_at = excluded.listed_at WHERE excluded.listed_at > host_listings.listed_at";

// -- one batch ----------------------------------------------------------------------

/// One reconcile batch: its time, its prepared statements, and the lookups it has made.
struct reconcile_batch {
  explicit reconcile_batch(database& on) : db{on} {}

  database& db;
  std::string now = now_utc();
  statement as_observed_by_id;
  statement by_id;
  statement rows_by_container;
  statement by_container;
  statement upsert;
  std::map<std::string, std::string> kinds;  // workload id -> kind ("" when none)
  std::map<std::string, std::string> stacks; // compose project -> workload id ("" when none)
  observed_container resolved; // a compose container as indexed (see resolve)
  int64_t moved = 0; // rows whose Docker fields changed (written, not only matched)
};

caf::error prepare_batch(reconcile_batch& b) {
  for (auto [into, sql] : {std::pair{&b.as_observed_by_id, row_as_observed_by_id_sql},
                           std::pair{&b.by_id, update_project_row_by_id_sql},
                           std::pair{&b.rows_by_container, project_rows_by_container_sql},
                           std::pair{&b.by_container, update_project_rows_by_container_sql},
                           std::pair{&b.upsert, upsert_docker_fields_sql}}) {
    auto st = b.db.prepare(sql);
    if (!st)
      return st.error();
    *into = std::move(*st);
  }
  return {};
}

/// `key`'s entry of a batch cache, looked up once per batch. The entry stays where it is
/// (a map's nodes do not move), so the pointer lives as long as the batch.
template <class Lookup>
caf::expected<const std::string*> cached(std::map<std::string, std::string>& cache,
                                         const std::string& key, Lookup lookup) {
  auto i = cache.find(key);
  if (i == cache.end()) {
    auto found = lookup();
    if (!found)
      return found.error();
    i = cache.emplace(key, std::move(*found)).first;
  }
  return &i->second;
}

caf::expected<const std::string*> kind_of(reconcile_batch& b, const std::string& workload_id) {
  return cached(b.kinds, workload_id, [&] { return workload_kind(b.db, workload_id); });
}

/// The container as indexed: a compose container's workload is its stack's (and its row
/// named after its role when it has none). Null when it is to be rejected: the compose
/// project decides the stack, so a label naming another workload is forged.
caf::expected<const observed_container*> resolve(reconcile_batch& b,
                                                 const observed_container& o) {
  if (o.compose_project.empty())
    return &o;
  auto stack = cached(b.stacks, o.compose_project,
                      [&] { return stack_workload_by_compose_project(b.db, o.compose_project); });
  if (!stack)
    return stack.error();
  const auto& workload_id = **stack;
  if (workload_id.empty() || (!o.workload_id.empty() && o.workload_id != workload_id))
    return nullptr;
  if (o.workload_id == workload_id && !o.id.empty())
    return &o; // labelled in full already: no copy
  b.resolved = o;
  b.resolved.workload_id = workload_id;
  if (b.resolved.id.empty())
    b.resolved.id = workload_row_id(workload_id, b.resolved.role);
  return &b.resolved;
}

/// Runs a bound statement: how many rows it changed.
caf::expected<int64_t> run_bound(statement& st) {
  auto err = st.run();
  auto changed = st.changes();
  st.reset();
  if (err)
    return err;
  return changed;
}

/// Binds one observation's Docker fields to ?1-?7 of `st` (and its row id to ?8 if it has
/// one).
void bind_observed(reconcile_batch& b, statement& st, const observed_container& o,
                   bool with_id) {
  // Borrowed: the observation and the batch outlive the run, and every run binds anew.
  const auto& last_seen = o.last_seen_at.empty() ? b.now : o.last_seen_at;
  bind_all(st, borrowed{o.container_id}, borrowed{o.image_ref}, borrowed{o.state}, o.port,
           borrowed{last_seen}, borrowed{b.now}, borrowed{o.workload_id});
  if (with_id)
    bind_from(st, 8, borrowed{o.id});
}

/// Runs a write with one observation bound: how many rows it changed.
caf::expected<int64_t> run_with(reconcile_batch& b, statement& st, const observed_container& o,
                                bool with_id) {
  bind_observed(b, st, o, with_id);
  return run_bound(st);
}

/// The rows a read with one observation bound finds: how many, and how many of them have
/// a true first column.
struct rows_found {
  int64_t rows = 0;
  int64_t as_observed = 0;
};

caf::expected<rows_found> read_with(reconcile_batch& b, statement& st,
                                    const observed_container& o, bool with_id) {
  bind_observed(b, st, o, with_id);
  rows_found found;
  while (st.step()) {
    ++found.rows;
    found.as_observed += st.integer(0) != 0 ? 1 : 0;
  }
  auto err = st.error();
  st.reset();
  if (err)
    return err;
  return found;
}

/// Indexes `o` (a workload of `kind`): how many rows it matched, as they were or written
/// (0: nothing to match). A project container needs an id or a container id (an empty one
/// would match every row not started yet), a stack or site container an id.
caf::expected<int64_t> write(reconcile_batch& b, const observed_container& o,
                             const std::string& kind) {
  auto project = kind == "project";
  if (project && o.id.empty()) {
    if (o.container_id.empty())
      return 0;
    auto found = read_with(b, b.rows_by_container, o, false);
    if (!found)
      return found.error();
    if (found->as_observed < found->rows) {
      auto updated = run_with(b, b.by_container, o, false);
      if (!updated)
        return updated;
      b.moved += *updated;
    }
    return found->rows;
  }
  if (o.id.empty())
    return 0;
  auto as_observed = read_with(b, b.as_observed_by_id, o, true);
  if (!as_observed)
    return as_observed.error();
  if (as_observed->rows > 0)
    return as_observed->rows;
  caf::expected<int64_t> written = 0;
  if (project) {
    written = run_with(b, b.by_id, o, true);
  } else {
    static const std::string local_host = "local";
    const auto& last_seen = o.last_seen_at.empty() ? b.now : o.last_seen_at;
    bind_all(b.upsert, o.id, o.workload_id, kind, o.role, o.host.empty() ? local_host : o.host,
             o.container_id, o.image_ref, o.state, o.port, last_seen, b.now);
    written = run_bound(b.upsert);
  }
  if (written)
    b.moved += *written;
  return written;
}

/// Indexes one observed container: true when a row was written, false when it was
/// rejected (a forged or stale label, nothing to match, or a row of another workload).
caf::expected<bool> index_one(reconcile_batch& b, const observed_container& observed) {
  auto o = resolve(b, observed);
  if (!o)
    return o.error();
  if (*o == nullptr)
    return false;
  auto kind = kind_of(b, (*o)->workload_id);
  if (!kind)
    return kind.error();
  if ((*kind)->empty()) // a label naming no workload is forged (or stale): never index it
    return false;
  auto changed = write(b, **o, **kind);
  if (!changed)
    return changed.error();
  return *changed > 0;
}

// -- failed rows --------------------------------------------------------------------

caf::expected<std::vector<int64_t>> failed_rowids(database& db) {
  return select_all(db, failed_rowids_sql, integer_of_first_column);
}

const auto read_change = columns(&container_change::row_id, &container_change::workload_id,
                                 &container_change::role, &container_change::container_id);

/// The rows in the failed state now that were not before (both sorted): news (a
/// container.failed notification); those that stay failed are not.
caf::expected<std::vector<container_change>>
newly_failed(database& db, const std::vector<int64_t>& failed_before) {
  auto failed_after = failed_rowids(db);
  if (!failed_after)
    return failed_after.error();
  std::vector<int64_t> news;
  std::set_difference(failed_after->begin(), failed_after->end(), failed_before.begin(),
                      failed_before.end(), std::back_inserter(news));
  std::vector<container_change> out;
  for (auto rowid : news) {
    auto change = find_one(db, change_of_rowid_sql, read_change, rowid);
    if (!change)
      return change.error();
    if (*change) {
      (*change)->state = "failed";
      out.push_back(std::move(**change));
    }
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
    auto failed_before = failed_rowids(db);
    if (!failed_before)
      return failed_before.error();
    reconcile_result result;
    for (const auto& observed : xs) {
      if (observed.compose_project.empty() && !observed.workload_id.empty()
          && !observed.container_id.empty()) {
        auto kind = kind_of(batch, observed.workload_id);
        if (!kind)
          return kind.error();
        if ((*kind)->empty())
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
    result.moved = batch.moved;
    return result;
  });
}

caf::expected<std::vector<container_change>> sweep_missing(database& db,
                                                           const missing_sweep& sweep) {
  return in_transaction(db, [&]() -> caf::expected<std::vector<container_change>> {
    auto now = now_utc();
    auto previous = find_one(db, host_listing_sql, text_of_first_column, sweep.host);
    if (!previous)
      return previous.error();
    auto rows = select_all(db, sweep_missing_sql, read_change, now, sweep.host,
                           encode_string_array(sweep.seen_container_ids), sweep.listed_at,
                           previous->value_or(std::string{}));
    if (!rows)
      return rows.error();
    for (auto& c : *rows)
      c.state = "missing";
    // The rows still live were all in this listing (or written after it began).
    if (auto err = run(db, record_host_listing_sql, sweep.host,
                       sweep.listed_at.empty() ? now : sweep.listed_at))
      return err;
    return rows;
  });
}

caf::expected<int64_t> mark_missing(database& db, const missing_sweep& sweep) {
  auto rows = sweep_missing(db, sweep);
  if (!rows)
    return rows.error();
  return static_cast<int64_t>(rows->size());
}

caf::expected<host_sightings> host_sightings::read(database& db) {
  auto st = db.prepare(host_listings_sql);
  if (!st)
    return st.error();
  host_sightings out;
  while (st->step())
    out.listed_at_.emplace_back(st->text(0), st->text(1));
  if (st->error())
    return st->error();
  return out;
}

std::string_view host_sightings::last_seen(std::string_view host, std::string_view state,
                                           std::string_view container_id,
                                           std::string_view own) const {
  if (state == "missing" || container_id.empty())
    return own;
  for (const auto& [listed_host, at] : listed_at_)
    if (listed_host == host)
      return std::string_view{at} > own ? std::string_view{at} : own;
  return own;
}

std::vector<std::pair<std::string_view, std::string_view>> reconcile_statements() {
  return {
    {"row as observed, by id", row_as_observed_by_id_sql},
    {"project row by id", update_project_row_by_id_sql},
    {"project rows by container id, read", project_rows_by_container_sql},
    {"project rows by container id", update_project_rows_by_container_sql},
    {"stack or site row upsert", upsert_docker_fields_sql},
    {"failed rows", failed_rowids_sql},
    {"failed row's change", change_of_rowid_sql},
    {"missing sweep", sweep_missing_sql},
    {"host listing", host_listing_sql},
    {"host listing recorded", record_host_listing_sql},
    {"workload kind", workload_kind_sql},
    {"stack of a compose project", stack_workload_by_compose_project_sql},
  };
}

} // namespace tf::store
