#include "store/routes.hpp"

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/reads.hpp"
#include "store/validate.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

namespace tf::store {

namespace {

constexpr int64_t max_slots = 64;
constexpr size_t max_host = 253;
constexpr size_t max_health_path = 1024;

caf::error invalid(const std::string& field, const std::string& why) {
  return make_error(ec::invalid_argument, field + ": " + why);
}

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

/// The same rule as a stage's health path, whose route this is.
caf::error validate_health_path(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.size() > max_health_path)
    return invalid("health_path", "must start with '/' (at most "
                                    + std::to_string(max_health_path) + " characters)");
  if (std::any_of(path.begin(), path.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return invalid("health_path", "must not contain spaces or control characters");
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
  return validate_health_path(c.health_path);
}

// -- reads --------------------------------------------------------------------

constexpr std::string_view route_columns
  = "SELECT id, stage_id, host, health_path, npm_proxy_id, serving, created_at, updated_at "
    "FROM proxy_routes ";

caf::expected<proxy_route> read_route(const statement& st) {
  proxy_route r;
  r.id = st.text(0);
  r.stage_id = st.text(1);
  r.host = st.text(2);
  r.health_path = st.text(3);
  r.npm_proxy_id = st.integer(4);
  auto serving = parse_ports(st.text(5), r.id);
  if (!serving)
    return serving.error();
  r.serving = std::move(*serving);
  r.created_at = st.text(6);
  r.updated_at = st.text(7);
  return r;
}

caf::error read_slots(database& db, proxy_route& r) {
  auto st = db.prepare("SELECT port FROM route_slots WHERE route_id = ?1 ORDER BY position");
  if (!st)
    return st.error();
  st->bind(1, r.id);
  r.slots.clear();
  while (st->step())
    r.slots.push_back(st->integer(0));
  return st->error();
}

/// The route matching `where` (one bound text parameter), with its slots.
caf::expected<proxy_route> find_route(database& db, std::string_view where,
                                      const std::string& key, const std::string& what) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(std::string{route_columns} + std::string{where});
  if (!st)
    return st.error();
  st->bind(1, key);
  if (!st->step())
    return st->error() ? st->error() : make_error(ec::not_found, what);
  auto r = read_route(*st);
  if (!r)
    return r.error();
  if (auto err = read_slots(db, *r))
    return err;
  return r;
}

caf::expected<proxy_route> get_route_by_id(database& db, const std::string& id) {
  return find_route(db, "WHERE id = ?1", id, "no proxy route with id \"" + id + "\"");
}

// -- writes -------------------------------------------------------------------

/// The lowest `count` ports of [low, high] that no route owns.
caf::expected<std::vector<int64_t>> free_ports(database& db, int64_t low, int64_t high,
                                               int64_t count) {
  auto st = db.prepare("SELECT port FROM route_slots WHERE port BETWEEN ?1 AND ?2 "
                       "ORDER BY port");
  if (!st)
    return st.error();
  st->bind(1, low).bind(2, high);
  std::set<int64_t> taken;
  while (st->step())
    taken.insert(st->integer(0));
  if (st->error())
    return st->error();
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

caf::expected<proxy_route> claim_route(database& db, const route_claim& claim) {
  if (auto err = validate_claim(claim))
    return err;
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto s = get_stage(db, claim.stage_id);
  if (!s)
    return s.error();
  auto now = now_utc();
  auto existing = get_route(db, claim.stage_id);
  std::string route_id;
  if (existing) {
    route_id = existing->id;
    auto st = db.prepare("UPDATE proxy_routes SET host = ?1, health_path = ?2, updated_at = ?3 "
                         "WHERE id = ?4 AND (host != ?1 OR health_path != ?2)");
    if (!st)
      return st.error();
    st->bind(1, claim.host).bind(2, claim.health_path).bind(3, now).bind(4, route_id);
    if (auto err = st->run())
      return err;
  } else if (error_code(existing.error()) == ec::not_found) {
    route_id = new_id();
    auto st = db.prepare("INSERT INTO proxy_routes(id, stage_id, host, health_path, "
                         "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
    if (!st)
      return st.error();
    st->bind(1, route_id).bind(2, claim.stage_id).bind(3, claim.host).bind(4, claim.health_path)
      .bind(5, now);
    if (auto err = st->run())
      return err;
  } else {
    return existing.error();
  }
  // Grow only: slots a route has keep their ports and positions (a shrink would pull ports
  // from under containers that may still listen on them).
  int64_t have = existing ? static_cast<int64_t>(existing->slots.size()) : 0;
  if (have < claim.slot_count) {
    auto ports = free_ports(db, claim.port_low, claim.port_high, claim.slot_count - have);
    if (!ports)
      return ports.error();
    auto st = db.prepare("INSERT INTO route_slots(port, route_id, position) VALUES (?1, ?2, ?3)");
    if (!st)
      return st.error();
    for (auto port : *ports) {
      st->reset();
      st->bind(1, port).bind(2, route_id).bind(3, have++);
      if (auto err = st->run())
        return err;
    }
    auto touch = db.prepare("UPDATE proxy_routes SET updated_at = ?1 WHERE id = ?2");
    if (!touch)
      return touch.error();
    touch->bind(1, now).bind(2, route_id);
    if (auto err = touch->run())
      return err;
  }
  auto stored = get_route_by_id(db, route_id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::expected<proxy_route> update_route(database& db, const proxy_route& route) {
  if (route.npm_proxy_id < 0)
    return invalid("npm_proxy_id", "must not be negative");
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
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
  auto st = db.prepare("UPDATE proxy_routes SET serving = ?1, npm_proxy_id = ?2, "
                       "updated_at = ?3 WHERE id = ?4");
  if (!st)
    return st.error();
  st->bind(1, format_ports(route.serving)).bind(2, route.npm_proxy_id).bind(3, now_utc())
    .bind(4, route.id);
  if (auto err = st->run())
    return err;
  auto stored = get_route_by_id(db, route.id);
  if (!stored)
    return stored.error();
  if (auto err = tx->commit())
    return err;
  return stored;
}

caf::error delete_route(database& db, const std::string& stage_id) {
  // The route's slots cascade (foreign keys are on for every connection).
  auto st = db.prepare("DELETE FROM proxy_routes WHERE stage_id = ?1");
  if (!st)
    return st.error();
  st->bind(1, stage_id);
  return st->run();
}

caf::expected<proxy_route> get_route(database& db, const std::string& stage_id) {
  return find_route(db, "WHERE stage_id = ?1", stage_id,
                    "stage \"" + stage_id + "\" has no proxy route");
}

caf::expected<std::vector<proxy_route>> list_routes(database& db) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  auto st = db.prepare(std::string{route_columns} + "ORDER BY created_at, id");
  if (!st)
    return st.error();
  std::vector<proxy_route> out;
  std::map<std::string, size_t> index;
  while (st->step()) {
    auto r = read_route(*st);
    if (!r)
      return r.error();
    index.emplace(r->id, out.size());
    out.push_back(std::move(*r));
  }
  if (st->error())
    return st->error();
  auto slots = db.prepare("SELECT route_id, port FROM route_slots ORDER BY route_id, position");
  if (!slots)
    return slots.error();
  while (slots->step()) {
    auto i = index.find(slots->text(0));
    if (i != index.end())
      out[i->second].slots.push_back(slots->integer(1));
  }
  if (slots->error())
    return slots->error();
  return out;
}

} // namespace tf::store
