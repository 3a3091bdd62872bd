#include "store/routes.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/projects.hpp"
#include "store/query.hpp"
#include "store/validate.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

namespace tf::store {

namespace {

constexpr int64_t max_slots = 64;
constexpr size_t max_host = 253;

// -- serving: ports as stored text ("20000,20001") ---------------------------

std::string format_ports(const std::vector<int64_t>& ports) {
  std::string out;
  for (auto p : ports) {
    if (!out.empty())
      out += ',';
    out += std::to_string(p);
  }
  return out;
}

/// Reads the serving column back. Only this file writes it, so anything but a list of
/// port numbers means the file was changed behind our back: an error, not a guess that
/// could point the proxy somewhere wrong.
caf::expected<std::vector<int64_t>> parse_ports(std::string_view text, const std::string& id) {
  std::vector<int64_t> out;
  if (text.empty())
    return out;
  auto corrupt = [&] {
    return make_error(ec::database, "route " + id + ": serving \""
                                      + std::string{text.substr(0, 80)}
                                      + "\" is not a list of ports");
  };
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos)
      end = text.size();
    auto item = text.substr(start, end - start);
    if (item.empty() || item.size() > 5
        || !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return corrupt();
    auto port = std::stoll(std::string{item});
    if (port < 1 || port > 65535 || out.size() >= max_slots)
      return corrupt();
    out.push_back(port);
    start = end + 1;
  }
  return out;
}

// -- validation ---------------------------------------------------------------

caf::error validate_host(const std::string& host) {
  auto why = "\"" + host.substr(0, 80)
             + "\" is not a lowercase host name (labels of [a-z0-9-] joined by '.', at most "
             + std::to_string(max_host) + " characters)";
  if (host.empty() || host.size() > max_host)
    return invalid("host", why);
  size_t start = 0;
  while (start <= host.size()) {
    auto end = host.find('.', start);
    if (end == std::string::npos)
      end = host.size();
    if (!is_dns_label(std::string_view{host}.substr(start, end - start)))
      return invalid("host", why);
    start = end + 1;
  }
  return {};
}

caf::error validate_claim(const route_claim& c) {
  if (c.slot_count < 1 || c.slot_count > max_slots)
    return invalid("slot_count", "must be from 1 to " + std::to_string(max_slots) + ", got "
                                   + std::to_string(c.slot_count));
  if (c.port_low < 1 || c.port_high > 65535 || c.port_low > c.port_high)
    return invalid("port range", std::to_string(c.port_low) + "-" + std::to_string(c.port_high)
                                   + " is not a range of ports within 1-65535");
  if (auto err = validate_host(c.host))
    return err;
  return check_health_path(c.health_path); // the rule of the stage whose route this is
}

// -- reads --------------------------------------------------------------------

constexpr std::string_view route_columns
  = "SELECT id, owner_id, host, health_path, npm_proxy_id, serving, created_at, updated_at, "
    "owner_kind "
    "FROM proxy_routes ";

caf::expected<proxy_route> read_route(const statement& st) {
  proxy_route r;
  r.id = st.text(0);
  r.owner_id = st.text(1);
  r.host = st.text(2);
  r.health_path = st.text(3);
  r.npm_proxy_id = st.integer(4);
  auto serving = parse_ports(st.text(5), r.id);
  if (!serving)
    return serving.error();
  r.serving = std::move(*serving);
  r.created_at = st.text(6);
  r.updated_at = st.text(7);
  r.owner_kind = st.text(8);
  return r;
}

caf::error read_slots(database& db, proxy_route& r) {
  return take(r.slots, select_all(db,
                                  "SELECT port FROM route_slots WHERE route_id = ?1 "
                                  "ORDER BY position",
                                  integer_of_first_column, r.id));
}

/// The route matching `where` (one bound text parameter), with its slots.
caf::expected<proxy_route> find_route(database& db, std::string_view where,
                                      const std::string& key, const std::string& what) {
  return in_snapshot(db, [&]() -> caf::expected<proxy_route> {
    auto found = find_one(db, concat(route_columns, where), read_route, key);
    if (!found)
      return found.error();
    if (!*found)
      return make_error(ec::not_found, what);
    auto& r = **found;
    if (!r)
      return r.error();
    if (auto err = read_slots(db, *r))
      return err;
    return std::move(*r);
  });
}

caf::expected<proxy_route> get_route_by_id(database& db, const std::string& id) {
  return find_route(db, "WHERE id = ?1", id, "no proxy route with id \"" + id + "\"");
}

// -- writes -------------------------------------------------------------------

/// The lowest `count` ports of [low, high] that no route owns.
caf::expected<std::vector<int64_t>> free_ports(database& db, int64_t low, int64_t high,
                                               int64_t count) {
  auto slots = select_all(db, "SELECT port FROM route_slots WHERE port BETWEEN ?1 AND ?2 "
                          "ORDER BY port", integer_of_first_column, low, high);
  if (!slots)
    return slots.error();
  std::set<int64_t> taken{slots->begin(), slots->end()};
  std::vector<int64_t> out;
  for (auto port = low; port <= high && static_cast<int64_t>(out.size()) < count; ++port)
    if (taken.count(port) == 0)
      out.push_back(port);
  if (static_cast<int64_t>(out.size()) < count)
    return make_error(ec::unavailable, "no free slot port in " + std::to_string(low) + "-"
                                         + std::to_string(high));
  return out;
}

} // namespace

namespace {

/// The stage's route as the claim wants it (host and health path), created when missing;
/// replies its id and the slots it already has.
caf::expected<std::pair<std::string, int64_t>> upsert_route_row(database& db,
                                                                const route_claim& claim,
                                                                const std::string& now) {
  auto existing = get_route(db, claim.owner_id);
  if (existing) {
    if (auto err = run(db,
                       "UPDATE proxy_routes SET host = ?1, health_path = ?2, updated_at = ?3 "
                       "WHERE id = ?4 AND (host != ?1 OR health_path != ?2)",
                       claim.host, claim.health_path, now, existing->id))
      return err;
    return std::pair{existing->id, static_cast<int64_t>(existing->slots.size())};
  }
  if (error_code(existing.error()) != ec::not_found)
    return existing.error();
  auto route_id = new_id();
  if (auto err = run(db,
                     "INSERT INTO proxy_routes(id, owner_id, owner_kind, host, health_path, "
                     "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                     route_id, claim.owner_id, claim.owner_kind, claim.host, claim.health_path,
                     now))
    return err;
  return std::pair{route_id, int64_t{0}};
}

/// Grows the route to `wanted` slots. Grow only: slots a route has keep their ports and
/// positions (a shrink would pull ports from under containers that may still listen on them).
caf::error grow_slots(database& db, const route_claim& claim, const std::string& route_id,
                      int64_t have, const std::string& now) {
  if (have >= claim.slot_count)
    return {};
  auto ports = free_ports(db, claim.port_low, claim.port_high, claim.slot_count - have);
  if (!ports)
    return ports.error();
  for (auto port : *ports)
    if (auto err = run(db, "INSERT INTO route_slots(port, route_id, position) VALUES (?1, ?2, ?3)",
                       port, route_id, have++))
      return err;
  return run(db, "UPDATE proxy_routes SET updated_at = ?1 WHERE id = ?2", now, route_id);
}

/// The claim's owner exists: a stage, or the workload of a site or stack (a route of a
/// deleted owner would hold its ports forever: nothing deletes it).
caf::error check_owner(database& db, const route_claim& claim) {
  if (claim.owner_kind == "stage") {
    auto s = get_stage(db, claim.owner_id);
    return s ? caf::error{} : s.error();
  }
  if (claim.owner_kind != "site" && claim.owner_kind != "stack")
    return invalid("owner_kind", "must be stage, site or stack, got \"" + claim.owner_kind + "\"");
  auto found = find_one(db, "SELECT id FROM workloads WHERE id = ?1 AND kind = ?2",
                        [](const statement& st) { return st.text(0); }, claim.owner_id,
                        claim.owner_kind);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(ec::not_found, "no " + claim.owner_kind + " with workload id \""
                                       + claim.owner_id + "\"");
  return {};
}

} // namespace

caf::expected<proxy_route> claim_route(database& db, const route_claim& claim) {
  if (auto err = validate_claim(claim))
    return err;
  return in_transaction(db, [&]() -> caf::expected<proxy_route> {
    if (auto err = check_owner(db, claim))
      return err;
    auto now = now_utc();
    auto route = upsert_route_row(db, claim, now);
    if (!route)
      return route.error();
    if (auto err = grow_slots(db, claim, route->first, route->second, now))
      return err;
    return get_route_by_id(db, route->first);
  });
}

caf::expected<proxy_route> update_route(database& db, const proxy_route& route) {
  if (route.npm_proxy_id < 0)
    return invalid("npm_proxy_id", "must not be negative");
  return in_transaction(db, [&]() -> caf::expected<proxy_route> {
    auto current = get_route_by_id(db, route.id);
    if (!current)
      return current.error();
    std::set<int64_t> seen;
    for (auto port : route.serving) {
      if (std::find(current->slots.begin(), current->slots.end(), port) == current->slots.end())
        return invalid("serving", "port " + std::to_string(port) + " is not a slot of the route");
      if (!seen.insert(port).second)
        return invalid("serving", "port " + std::to_string(port) + " is listed twice");
    }
    if (auto err = run(db,
                       "UPDATE proxy_routes SET serving = ?1, npm_proxy_id = ?2, "
                       "updated_at = ?3 WHERE id = ?4",
                       format_ports(route.serving), route.npm_proxy_id, now_utc(), route.id))
      return err;
    return get_route_by_id(db, route.id);
  });
}

caf::error delete_route(database& db, const std::string& owner_id) {
  // The route's slots cascade (foreign keys are on for every connection).
  return run(db, "DELETE FROM proxy_routes WHERE owner_id = ?1", owner_id);
}

caf::expected<proxy_route> get_route(database& db, const std::string& owner_id) {
  return find_route(db, "WHERE owner_id = ?1", owner_id,
                    "\"" + owner_id + "\" has no proxy route");
}

caf::expected<std::vector<proxy_route>> list_routes(database& db) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto routes = select_all(db, concat(route_columns, "ORDER BY created_at, id"), read_route);
  if (!routes)
    return routes.error();
  std::vector<proxy_route> out;
  std::map<std::string, size_t> index;
  for (auto& r : *routes) {
    if (!r)
      return r.error();
    index.emplace(r->id, out.size());
    out.push_back(std::move(*r));
  }
  auto slots = select_all(db, "SELECT route_id, port FROM route_slots ORDER BY route_id, position",
                          [](const statement& st) {
                            return std::pair<std::string, int64_t>{st.text(0), st.integer(1)};
                          });
  if (!slots)
    return slots.error();
  for (const auto& [route_id, port] : *slots) {
    auto i = index.find(route_id);
    if (i != index.end())
      out[i->second].slots.push_back(port);
  }
  return out;
}

} // namespace tf::store
