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

const auto read_listing = columns(&proxy_listing::owner_id, &proxy_listing::owner_kind,
                                  &proxy_listing::stage_id, &proxy_listing::stage_name,
                                  &proxy_listing::project_id, &proxy_listing::workload_id,
                                  &proxy_listing::workload_name);

} // namespace

caf::expected<page<proxy_listing>> list_proxies(database& db, int64_t limit, int64_t offset) {
  read_snapshot snapshot{db}; // the listings and their routes from one commit
  if (snapshot.error())
    return snapshot.error();
  auto out = paged(db,
                   {"SELECT r.owner_id, r.owner_kind, COALESCE(s.id, ''), COALESCE(s.name, ''), "
                    "COALESCE(s.project_id, ''), w.id, "
                    " COALESCE(p.name, st.name, ss.name, '') FROM proxy_routes r "
                    "LEFT JOIN stages s ON r.owner_kind = 'stage' AND s.id = r.owner_id "
                    "JOIN workloads w ON (r.owner_kind = 'stage' AND w.kind = 'project' "
                    "AND w.ref_id = s.project_id) OR (r.owner_kind != 'stage' AND w.id = r.owner_id) "
                    "LEFT JOIN projects p ON w.kind = 'project' AND p.id = w.ref_id "
                    "LEFT JOIN stacks st ON w.kind = 'stack' AND st.id = w.ref_id "
                    "LEFT JOIN static_sites ss ON w.kind = 'site' AND ss.id = w.ref_id "
                    "ORDER BY r.host, r.id LIMIT ?1 OFFSET ?2",
                    "SELECT COUNT(*) FROM proxy_routes"},
                   limit, offset, read_listing);
  if (!out)
    return out;
  // The route itself (slots, serving) through the routes module, which owns its encoding.
  for (auto& x : out->items) {
    auto r = get_route(db, x.owner_id);
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
  return in_snapshot(db, [&]() -> caf::expected<tracked_resources> {
    tracked_resources out;
    if (auto err = take(out.workload_ids,
                        select_all(db, "SELECT id FROM workloads", text_of_first_column)))
      return err;
    if (auto err = take(out.container_ids,
                        select_all(db,
                                   "SELECT DISTINCT container_id FROM containers "
                                   "WHERE container_id != ''",
                                   text_of_first_column)))
      return err;
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
    auto deployed = db.prepare("SELECT DISTINCT p.image, d.tag FROM deployments d "
                               "JOIN workloads w ON w.id = d.workload_id AND w.kind = 'project' "
                               "JOIN projects p ON p.id = w.ref_id WHERE d.tag != ''");
    if (!deployed)
      return deployed.error();
    std::map<std::string, std::set<std::string>> by_repository;
    while (deployed->step())
      by_repository[deployed->text(0)].insert(deployed->text(1));
    if (deployed->error())
      return deployed->error();
    for (auto& [repository, tags] : by_repository)
      out.deployed.push_back(kept_image{repository, {tags.begin(), tags.end()}});
    return out;
  });
}

caf::expected<store_metrics> read_store_metrics(database& db) {
  struct counted {
    std::vector<labelled_count> store_metrics::*into;
    const char* sql;
    bool two_labels;
  };
  static const counted grouped[] = {
    {&store_metrics::containers,
     "SELECT workload_kind, state, COUNT(*) FROM containers "
     "GROUP BY workload_kind, state ORDER BY workload_kind, state",
     true},
    {&store_metrics::deployments,
     "SELECT status, COUNT(*) FROM deployments GROUP BY status ORDER BY status", false},
    {&store_metrics::deliveries,
     "SELECT result, COUNT(*) FROM webhook_deliveries GROUP BY result ORDER BY result", false},
  };
  return in_snapshot(db, [&]() -> caf::expected<store_metrics> {
    store_metrics m;
    for (const auto& g : grouped)
      if (auto err = take(m.*g.into, counts(db, g.sql, g.two_labels)))
        return err;
    if (auto err = take(m.workloads, count(db, "SELECT COUNT(*) FROM workloads")))
      return err;
    if (auto err = take(m.apps, count(db, "SELECT COUNT(*) FROM apps")))
      return err;
    return m;
  });
}

} // namespace tf::store
