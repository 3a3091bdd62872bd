#include "store/sites.hpp"

#include "store/deployments.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"
#include "store/workload_kinds.hpp"

namespace tf::store {

caf::error validate_site(const site& s) {
  if (auto err = check_name("name", s.name))
    return err;
  if (!s.subdomain.empty())
    if (auto err = check_name("subdomain", s.subdomain))
      return err;
  if (!s.current_release.empty() && !is_image_tag(s.current_release))
    return invalid("current_release", "is not a release name");
  return check_range("keep_releases", s.keep_releases, 1, 100);
}

namespace {

constexpr std::string_view site_select
  = "SELECT s.id, s.name, s.subdomain, s.keep_releases, s.current_release, "
    "COALESCE(w.id, ''), s.created_at, s.updated_at "
    "FROM static_sites s LEFT JOIN workloads w ON w.kind = 'site' AND w.ref_id = s.id ";

const auto read_site = columns(&site::id, &site::name, &site::subdomain, &site::keep_releases,
                               &site::current_release, &site::workload_id, &site::created_at,
                               &site::updated_at);

caf::error insert_site(database& db, site& s, const std::string& now) {
  return run(db,
             "INSERT INTO static_sites(id, name, subdomain, keep_releases, created_at, "
             "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
             s.id, s.name, s.subdomain, s.keep_releases, now);
}

void apply_site_patch(site& s, const patch<site>& p) {
  if (p.has("name"))
    s.name = p.value.name;
  if (p.has("subdomain"))
    s.subdomain = p.value.subdomain;
  if (p.has("keep_releases"))
    s.keep_releases = p.value.keep_releases;
  if (p.has("current_release")) // the site deployer's, after a switch; not the API's
    s.current_release = p.value.current_release;
}

caf::error update_site_row(database& db, const site& s, const std::string& now) {
  return run(db,
             "UPDATE static_sites SET name = ?1, subdomain = ?2, keep_releases = ?3, "
             "current_release = ?4, updated_at = ?5 WHERE id = ?6",
             s.name, s.subdomain, s.keep_releases, s.current_release, now, s.id);
}

const workload_kind<site> site_kind{"site", "static_sites", {"name", "subdomain", "keep_releases", "current_release"},
                                    validate_site, get_site, insert_site,
                                    apply_site_patch, update_site_row};

} // namespace

caf::expected<site> create_site(database& db, site s) {
  return create_of_kind(db, std::move(s), site_kind);
}

caf::expected<site> update_site(database& db, const patch<site>& p) {
  return update_of_kind(db, p, site_kind);
}

caf::error delete_site(database& db, const std::string& id) {
  return delete_of_kind(db, id, site_kind);
}

caf::expected<site> get_site(database& db, const std::string& id) {
  static const auto sql = concat(site_select, "WHERE s.id = ?1");
  return one(db, sql, "site", id, read_site);
}

caf::expected<page<site>> list_sites(database& db, int64_t limit, int64_t offset) {
  static const auto sql = concat(site_select, "ORDER BY s.name LIMIT ?1 OFFSET ?2");
  return paged(db, {sql, "SELECT COUNT(*) FROM static_sites"}, limit, offset, read_site);
}

} // namespace tf::store
