#include "store/admin_reads.hpp"

#include "core/errors.hpp"
#include "store/query.hpp"
#include "store/routes.hpp"

#include <map>
#include <set>

namespace tf::store {

namespace {

/// Rows of (label, label, count) of `sql` (no parameters).
caf::expected<std::vector<labelled_count>> counts(database& db, std::string_view sql,
                                                  bool two_labels) {
  return select_all(db, sql, [two_labels](const statement& st) {
    labelled_count c;
    c.first = st.text(0);
    if (two_labels)
      c.second = st.text(1);
    c.count = st.integer(two_labels ? 2 : 1);
    return c;
  });
}

proxy_listing read_listing(const statement& st) {
  proxy_listing x;
  read_row(st, x.stage_id, x.stage_name, x.project_id, x.project_name);
  return x;
}

} // namespace

caf::expected<page<proxy_listing>> list_proxies(database& db, int64_t limit, int64_t offset) {
  read_snapshot snapshot{db}; // the listings and their routes from one commit
  if (snapshot.error())
    return snapshot.error();
  auto out = paged(db,
                   {"SELECT r.stage_id, s.name, p.id, p.name FROM proxy_routes r "
                    "JOIN stages s ON s.id = r.stage_id JOIN projects p ON p.id = s.project_id "
                    "ORDER BY r.host, r.id LIMIT ?1 OFFSET ?2",
                    "SELECT COUNT(*) FROM proxy_routes"},
                   limit, offset, read_listing);
  if (!out)
    return out;
  // The route itself (slots, serving) through the routes module, which owns its encoding.
  for (auto& x : out->items) {
    auto r = get_route(db, x.stage_id);
    if (!r)
      return r.error();
    x.id = r->id;
    x.host = r->host;
    x.health_path = r->health_path;
    x.npm_proxy_id = r->npm_proxy_id;
    x.slots = std::move(r->slots);
    x.serving = std::move(r->serving);
    x.updated_at = r->updated_at;
  }
  return out;
}

caf::expected<tracked_resources> read_tracked_resources(database& db) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  tracked_resources out;
  auto workloads = select_all(db, "SELECT id FROM workloads", text_of_first_column);
  if (!workloads)
    return workloads.error();
  out.workload_ids = std::move(*workloads);
  auto containers = select_all(db,
                               "SELECT DISTINCT container_id FROM containers "
                               "WHERE container_id != ''",
                               text_of_first_column);
  if (!containers)
    return containers.error();
  out.container_ids = std::move(*containers);
  auto st = db.prepare("SELECT p.image, s.current_tag, s.previous_tag FROM projects p "
                       "LEFT JOIN stages s ON s.project_id = p.id");
  if (!st)
    return st.error();
  std::map<std::string, std::set<std::string>> kept;
  while (st->step()) {
    auto& tags = kept[st->text(0)];
    for (int col : {1, 2})
      if (!st->is_null(col) && !st->text(col).empty())
        tags.insert(st->text(col));
  }
  if (st->error())
    return st->error();
  for (auto& [repository, tags] : kept)
    out.images.push_back(kept_image{repository, {tags.begin(), tags.end()}});
  return out;
}

caf::expected<store_metrics> read_store_metrics(database& db) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  store_metrics m;
  auto containers = counts(db,
                           "SELECT workload_kind, state, COUNT(*) FROM containers "
                           "GROUP BY workload_kind, state ORDER BY workload_kind, state",
                           true);
  if (!containers)
    return containers.error();
  m.containers = std::move(*containers);
  auto deployments = counts(
    db, "SELECT status, COUNT(*) FROM deployments GROUP BY status ORDER BY status", false);
  if (!deployments)
    return deployments.error();
  m.deployments = std::move(*deployments);
  auto deliveries = counts(
    db, "SELECT result, COUNT(*) FROM webhook_deliveries GROUP BY result ORDER BY result",
    false);
  if (!deliveries)
    return deliveries.error();
  m.deliveries = std::move(*deliveries);
  auto workloads = count(db, "SELECT COUNT(*) FROM workloads");
  if (!workloads)
    return workloads.error();
  m.workloads = *workloads;
  auto apps = count(db, "SELECT COUNT(*) FROM apps");
  if (!apps)
    return apps.error();
  m.apps = *apps;
  return m;
}

} // namespace tf::store
