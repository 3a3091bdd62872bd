#include "store/containers.hpp"

#include "store/container_lookups.hpp"
#include "store/container_reconcile.hpp"

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/env_json.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"
#include "core/list_cursor.hpp"

#include <algorithm>
#include <utility>

#include <set>

namespace tf::store {

bool is_container_state(std::string_view s) {
  static const std::set<std::string, std::less<>> states{
    "", "created", "running", "stopped", "failed", "removing", "missing", "restarting", "paused"};
  return states.count(s) != 0;
}

caf::error validate_container(const container_row& c) {
  if (c.workload_id.empty())
    return invalid("workload_id", "must not be empty");
  if (c.role.size() > 255)
    return invalid("role", "at most 255 characters");
  if (!is_container_state(c.state))
    return invalid("state", "unknown state \"" + c.state.substr(0, 32) + "\"");
  return check_range("port", c.port, 0, 65535);
}

namespace {

constexpr std::string_view container_select
  = "SELECT c.id, c.workload_id, c.workload_kind, c.role, COALESCE(c.stage_id, ''), "
    "c.subdomain, c.proxy_route_id, c.npm_proxy_id, c.image_tag, c.container_id, c.image_ref, "
    "c.host, c.state, c.port, c.last_seen_at, c.created_at, c.updated_at FROM containers c ";

const auto read_container = columns(&container_row::id, &container_row::workload_id,
                                    &container_row::workload_kind, &container_row::role,
                                    &container_row::stage_id, &container_row::subdomain,
                                    &container_row::proxy_route_id, &container_row::npm_proxy_id,
                                    &container_row::image_tag, &container_row::container_id,
                                    &container_row::image_ref, &container_row::host,
                                    &container_row::state, &container_row::port,
                                    &container_row::last_seen_at, &container_row::created_at,
                                    &container_row::updated_at);

/// A row may only name a stage of its own project: a stage of another project would tie
/// the row's life to that project's stage (deleting it cascades).
caf::error check_own_stage(database& db, const container_row& c) {
  if (c.stage_id.empty())
    return {};
  auto own = exists(db,
                    "SELECT 1 FROM stages s JOIN workloads w ON w.kind = 'project' "
                    "AND w.ref_id = s.project_id WHERE s.id = ?1 AND w.id = ?2",
                    c.stage_id, c.workload_id);
  if (!own)
    return own.error();
  if (!*own)
    return invalid("stage_id", "no stage with id \"" + c.stage_id + "\" in this workload");
  return {};
}

} // namespace

// -- the deployers' writes ----------------------------------------------------

caf::error delete_container(database& db, const std::string& id) {
  return run(db, "DELETE FROM containers WHERE id = ?1", id);
}

caf::expected<container_row> upsert_container(database& db, container_row c) {
  if (auto err = validate_container(c))
    return err;
  return in_transaction(db, [&]() -> caf::expected<container_row> {
    auto kind = workload_kind(db, c.workload_id);
    if (!kind)
      return kind.error();
    if (kind->empty())
      return no_such("workload", c.workload_id);
    // The kind is denormalized from the workload, never taken from the caller.
    c.workload_kind = *kind;
    if (auto err = check_own_stage(db, c))
      return err;
    if (c.id.empty())
      c.id = new_id();
    if (c.host.empty())
      c.host = "local";
    auto changed = run_changes(
      db,
      "INSERT INTO containers(id, workload_id, workload_kind, role, stage_id, subdomain, "
      "proxy_route_id, npm_proxy_id, image_tag, container_id, image_ref, host, state, port, "
      "last_seen_at, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16) "
      "ON CONFLICT(id) DO UPDATE SET role = excluded.role, stage_id = excluded.stage_id, "
      "subdomain = excluded.subdomain, proxy_route_id = excluded.proxy_route_id, "
      "npm_proxy_id = excluded.npm_proxy_id, image_tag = excluded.image_tag, "
      "container_id = excluded.container_id, image_ref = excluded.image_ref, "
      "host = excluded.host, state = excluded.state, port = excluded.port, "
      "last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at "
      "WHERE containers.workload_id = excluded.workload_id",
      c.id, c.workload_id, c.workload_kind, c.role, nullable{c.stage_id}, c.subdomain,
      c.proxy_route_id, c.npm_proxy_id, c.image_tag, c.container_id, c.image_ref, c.host,
      c.state, c.port, c.last_seen_at, now_utc());
    if (!changed)
      return changed.error();
    if (*changed == 0)
      // The row exists under another workload: never let one workload take another's row.
      return make_error(ec::conflict,
                        "container row \"" + c.id + "\" belongs to another workload");
    return get_container(db, c.id);
  });
}

// -- reads --------------------------------------------------------------------

caf::expected<container_row> get_container(database& db, const std::string& id) {
  static const auto sql = concat(container_select, "WHERE c.id = ?1");
  return in_snapshot(db, [&]() -> caf::expected<container_row> {
    auto sightings = host_sightings::read(db);
    if (!sightings)
      return sightings.error();
    auto c = one(db, sql, "container", id, read_container);
    if (c)
      c->last_seen_at = std::string{
        sightings->last_seen(c->host, c->state, c->container_id, c->last_seen_at)};
    return c;
  });
}

// -- lists ----------------------------------------------------------------------
//
// A list runs one of a fixed set of statements, chosen by which filters are present: the
// most selective filter present is the "key", searched as the first column of an index in
// list order (store/migrations/0010_list_indexes.cpp), so the rows come out in order and a
// page reads the rows it returns (a keyset page) or those plus the offset. The other filters
// are checked on those rows. app_id names workloads, not containers: with no workload or
// stage filter, the app's workloads are each read in order through the workload index and
// merged here. A list with no filter counts with SQLite's count of the smallest index (no
// row is read); totals are kept per index version (container_index_cache), so a page of an
// unchanged index does not count again.

namespace {

enum class list_key { all, stage, workload, app, state, kind };

/// The key of a filter: stage, then workload, app, state, kind (most selective first).
list_key key_of(const container_filter& f) {
  if (!f.stage_id.empty())
    return list_key::stage;
  if (!f.workload_id.empty())
    return list_key::workload;
  if (!f.app_id.empty())
    return list_key::app;
  if (!f.state.empty())
    return list_key::state;
  if (!f.kind.empty())
    return list_key::kind;
  return list_key::all;
}

/// The columns the API shows, in its order (net/container_json.hpp).
constexpr std::string_view list_columns
  = "SELECT c.id, c.workload_id, c.workload_kind, c.role, COALESCE(c.stage_id, ''), "
    "c.subdomain, c.image_tag, c.container_id, c.state, c.image_ref, c.host, c.port, "
    "c.last_seen_at, c.created_at, c.updated_at, c.proxy_route_id, c.npm_proxy_id "
    "FROM containers c ";

/// The index a key's statements search, named: statistics (ANALYZE on a table where one
/// kind or state is every row) must not turn a page into a scan. App pages read the
/// workload index, their totals too.
std::string_view index_of(list_key key) {
  switch (key) {
    case list_key::stage: return "INDEXED BY idx_containers_stage_created ";
    case list_key::workload:
    case list_key::app: return "INDEXED BY idx_containers_workload_created ";
    case list_key::state: return "INDEXED BY idx_containers_state_created ";
    case list_key::kind: return "INDEXED BY idx_containers_kind_created ";
    case list_key::all: return "INDEXED BY idx_containers_created ";
  }
  return "";
}

constexpr std::string_view app_members = "c.workload_id IN (SELECT w.id FROM workloads w "
                                         "WHERE w.app_id = ?";

/// The WHERE of a key's statements. Filters bind to ?first (workload_id), ?first+1
/// (stage_id), ?first+2 (kind), ?first+3 (state), ?first+4 (app_id); the key's is an
/// equality the index searches, the others "(?n = '' OR …)", true when absent.
std::string filters_sql(list_key key, int first) {
  struct filter {
    list_key key;
    std::string_view column;
  };
  static const filter filters[] = {{list_key::workload, "c.workload_id"},
                                   {list_key::stage, "c.stage_id"},
                                   {list_key::kind, "c.workload_kind"},
                                   {list_key::state, "c.state"},
                                   {list_key::app, ""}};
  std::string sql;
  int n = first;
  for (const auto& f : filters) {
    auto p = "?" + std::to_string(n++);
    if (!sql.empty())
      sql += " AND ";
    auto test = f.key == list_key::app ? std::string{app_members} + p.substr(1) + ")"
                                       : std::string{f.column} + " = " + p;
    sql += f.key == key ? test : "(" + p + " = '' OR " + test + ")";
  }
  return sql;
}

/// Items: after the cursor (?1, ?2; '' '' from the start), LIMIT ?3 OFFSET ?4, filters ?5….
std::string items_sql(list_key key) {
  return std::string{list_columns} + std::string{index_of(key)}
         + "WHERE (c.created_at, c.id) > (?1, ?2) AND " + filters_sql(key, 5)
         + " ORDER BY c.created_at, c.id LIMIT ?3 OFFSET ?4";
}

/// Total: filters ?1…; with no filter, the bare count SQLite answers from an index.
std::string total_sql(list_key key) {
  if (key == list_key::all)
    return "SELECT COUNT(*) FROM containers";
  return "SELECT COUNT(*) FROM containers c " + std::string{index_of(key)} + "WHERE "
         + filters_sql(key, 1);
}

struct key_statements {
  std::string items, total;
};

const key_statements& statements_of(list_key key) {
  static const auto all = [] {
    std::vector<key_statements> out;
    for (auto k : {list_key::all, list_key::stage, list_key::workload, list_key::app,
                   list_key::state, list_key::kind})
      out.push_back({items_sql(k), total_sql(k)});
    return out;
  }();
  return all[static_cast<size_t>(key)];
}

/// The app's workloads (the index on workloads.app_id), for the merge.
constexpr std::string_view app_workloads_sql
  = "SELECT id FROM workloads WHERE app_id = ?1";

/// The current row of a list statement, viewed.
container_view view_of(const statement& st) {
  container_view c;
  c.id = st.text_view(0);
  c.workload_id = st.text_view(1);
  c.workload_kind = st.text_view(2);
  c.role = st.text_view(3);
  c.stage_id = st.text_view(4);
  c.subdomain = st.text_view(5);
  c.image_tag = st.text_view(6);
  c.container_id = st.text_view(7);
  c.state = st.text_view(8);
  c.image_ref = st.text_view(9);
  c.host = st.text_view(10);
  c.port = st.integer(11);
  c.last_seen_at = st.text_view(12);
  c.created_at = st.text_view(13);
  c.updated_at = st.text_view(14);
  return c;
}

/// Binds a statement of items_sql: cursor, page and filters (`workload` in place of the
/// filter's own when the merge reads one workload of an app, the app then checked already).
void bind_items(statement& st, const container_filter& f, int64_t limit, int64_t offset,
                const std::string* workload = nullptr) {
  bind_all(st, f.after_created_at, f.after_id, limit, offset,
           workload ? *workload : f.workload_id, f.stage_id, f.kind, f.state,
           // "" and not an empty view: a null view would bind NULL, which no test passes.
           workload ? std::string_view{""} : std::string_view{f.app_id});
}

/// Steps through the rows of a list in (created_at, id) order, from one statement or merged
/// from several (one per workload of an app, each already in order): next() is the
/// statement whose current row comes next, advance() moves past that row.
class row_walk {
public:
  explicit row_walk(std::vector<statement> sources) : sources_{std::move(sources)} {
    for (auto& s : sources_)
      live_.push_back(s.step());
  }

  /// The statement holding the next row in (created_at, id) order, or null at the end.
  statement* next() {
    statement* best = nullptr;
    size_t best_i = 0;
    for (size_t i = 0; i < sources_.size(); ++i) {
      if (!live_[i])
        continue;
      auto& s = sources_[i];
      if (!best || std::pair{s.text_view(13), s.text_view(0)}
                     < std::pair{best->text_view(13), best->text_view(0)}) {
        best = &s;
        best_i = i;
      }
    }
    current_ = best_i;
    return best;
  }
  /// Moves past the row next() returned.
  void advance() { live_[current_] = sources_[current_].step(); }

  caf::error error() const {
    for (const auto& s : sources_)
      if (s.error())
        return s.error();
    return {};
  }

private:
  std::vector<statement> sources_;
  std::vector<bool> live_;
  size_t current_ = 0;
};

/// The statements whose rows make the page: one, or one per workload of the app.
caf::expected<row_walk> open_rows(database& db, const container_filter& f, int64_t limit,
                                  int64_t offset) {
  auto key = key_of(f);
  std::vector<statement> sources;
  if (key != list_key::app) {
    auto st = db.prepare(statements_of(key).items);
    if (!st)
      return st.error();
    bind_items(*st, f, limit, offset);
    sources.push_back(std::move(*st));
    return row_walk{std::move(sources)};
  }
  auto workloads = select_all(db, app_workloads_sql, text_of_first_column, f.app_id);
  if (!workloads)
    return workloads.error();
  // Each workload's rows up to offset + limit: the page is somewhere in their merge.
  for (const auto& w : *workloads) {
    auto st = db.prepare(statements_of(list_key::workload).items);
    if (!st)
      return st.error();
    bind_items(*st, f, offset + limit, 0, &w);
    sources.push_back(std::move(*st));
  }
  auto walk = row_walk{std::move(sources)};
  for (int64_t skipped = 0; skipped < offset && walk.next(); ++skipped)
    walk.advance();
  return walk;
}

caf::expected<int64_t> count_rows(database& db, const container_filter& f) {
  auto key = key_of(f);
  if (key == list_key::all)
    return count(db, statements_of(key).total);
  return count(db, statements_of(key).total, f.workload_id, f.stage_id, f.kind, f.state,
               f.app_id);
}

/// What a filter counts, without its paging: the key of container_index_cache's totals.
std::string count_key(const container_filter& f) {
  std::string k;
  for (const auto* v : {&f.workload_id, &f.stage_id, &f.kind, &f.state, &f.app_id})
    k.append(*v).append(1, '\n');
  return k;
}

} // namespace

std::vector<list_statement> container_list_statements() {
  std::vector<list_statement> out;
  const char* names[] = {"all", "stage", "workload", "app", "state", "kind"};
  for (size_t k = 0; k < 6; ++k) {
    const auto& s = statements_of(static_cast<list_key>(k));
    // The app's items are its workloads' items merged (open_rows): never run as one.
    if (static_cast<list_key>(k) != list_key::app)
      out.push_back({std::string{"items by "} + names[k], s.items});
    out.push_back({std::string{"total by "} + names[k], s.total});
  }
  out.push_back({"workloads of an app", std::string{app_workloads_sql}});
  return out;
}

void container_index_cache::keep_for(const index_version& at) {
  if (at == version_)
    return;
  totals_.clear();
  sightings_.reset();
  version_ = at;
}

caf::expected<const host_sightings*> container_index_cache::sightings(database& db,
                                                                      const index_version& at) {
  keep_for(at);
  if (!sightings_) {
    auto read = host_sightings::read(db);
    if (!read)
      return read.error();
    sightings_ = std::move(*read);
  }
  return &*sightings_;
}

caf::expected<int64_t> container_index_cache::total(database& db, const container_filter& f,
                                                    const index_version& at) {
  keep_for(at);
  auto key = count_key(f);
  if (auto it = totals_.find(key); it != totals_.end())
    return it->second;
  auto n = count_rows(db, f);
  if (!n)
    return n.error();
  // Bounded: the filters a UI polls are few; a stranger's many filters only reset it.
  if (totals_.size() >= 256)
    totals_.clear();
  totals_.emplace(std::move(key), *n);
  return *n;
}

caf::expected<container_walk> walk_containers(database& db, const container_filter& f,
                                              const index_version& at,
                                              container_index_cache& cache,
                                              const std::function<void(const container_view&)>& row) {
  auto limit = std::clamp<int64_t>(f.limit, 1, max_container_page);
  auto offset = std::max<int64_t>(f.offset, 0);
  return in_snapshot(db, [&]() -> caf::expected<container_walk> {
    auto sightings = cache.sightings(db, at);
    if (!sightings)
      return sightings.error();
    auto rows = open_rows(db, f, limit, offset);
    if (!rows)
      return rows.error();
    container_walk out;
    while (out.rows < limit) {
      auto* st = rows->next();
      if (!st)
        break;
      auto c = view_of(*st);
      c.last_seen_at = (*sightings)->last_seen(c.host, c.state, c.container_id, c.last_seen_at);
      row(c);
      if (++out.rows == limit)
        out.next_after = encode_cursor(st->text_view(13), st->text_view(0));
      rows->advance();
    }
    if (auto err = rows->error())
      return err;
    auto total = cache.total(db, f, at);
    if (!total)
      return total.error();
    out.total = *total;
    // A full page may have a next one (with offset paging, the total tells); a keyset
    // client follows next_after until it is null.
    if (f.after_created_at.empty() && offset + out.rows >= out.total)
      out.next_after.clear();
    return out;
  });
}

caf::expected<page<container_row>> list_containers(database& db, const container_filter& f) {
  // The deployers' reads: the same statements, as rows (at most 500, as before).
  auto limit = std::clamp<int64_t>(f.limit, 1, 500);
  auto offset = std::max<int64_t>(f.offset, 0);
  return in_snapshot(db, [&]() -> caf::expected<page<container_row>> {
    page<container_row> out;
    auto sightings = host_sightings::read(db);
    if (!sightings)
      return sightings.error();
    auto rows = open_rows(db, f, limit, offset);
    if (!rows)
      return rows.error();
    while (static_cast<int64_t>(out.items.size()) < limit) {
      auto* st = rows->next();
      if (!st)
        break;
      container_row c;
      read_row(*st, c.id, c.workload_id, c.workload_kind, c.role, c.stage_id, c.subdomain,
               c.image_tag, c.container_id, c.state, c.image_ref, c.host, c.port,
               c.last_seen_at, c.created_at, c.updated_at, c.proxy_route_id, c.npm_proxy_id);
      c.last_seen_at = std::string{
        sightings->last_seen(c.host, c.state, c.container_id, c.last_seen_at)};
      out.items.push_back(std::move(c));
      rows->advance();
    }
    if (auto err = rows->error())
      return err;
    auto total = count_rows(db, f);
    if (!total)
      return total.error();
    out.total = *total;
    return out;
  });
}

} // namespace tf::store
