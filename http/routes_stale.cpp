// GET /api/stale and POST /api/stale/prune: Docker resources Tinyforge made but no longer
// tracks. The stale scanner does the scan and the removals; the handlers read the body,
// ask it, audit and render.
#include "actors/stale_actor.hpp"
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/json_admin.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>

namespace tf::http {

namespace {

/// A prune body names at most this many ids of each kind.
constexpr size_t max_prune_ids = 1000;
/// The longest id or image reference a prune body may name.
constexpr size_t max_prune_id_length = 512;
/// A prune removes one resource after another, each allowed stale_removal_timeout: no
/// shorter bound than the work fits it.
constexpr auto prune_timeout = std::chrono::hours{1};

/// A scan is two listings and the store's snapshot, one after another.
std::chrono::milliseconds scan_timeout(const server_context& ctx) {
  return ctx.request_timeout * 3;
}

caf::error read_id_list(const rapidjson::Value& body, const char* key,
                        std::vector<std::string>& out) {
  auto m = body.FindMember(key);
  if (m == body.MemberEnd())
    return {};
  if (!m->value.IsArray())
    return invalid(std::string{key} + ": must be an array of ids");
  if (m->value.Size() > max_prune_ids)
    return invalid(std::string{key} + ": at most " + std::to_string(max_prune_ids) + " ids");
  for (const auto& v : m->value.GetArray()) {
    if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > max_prune_id_length)
      return invalid(std::string{key} + ": every id must be a non-empty string of at most "
                     + std::to_string(max_prune_id_length) + " characters");
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return {};
}

/// No body: everything the scan finds. A body: only the ids it lists ("containers",
/// "images"; a kind left out is not pruned). Other members are refused, so a misspelt
/// key never widens or silently empties a prune.
caf::expected<prune_selection> read_prune_body(req_t req) {
  prune_selection sel;
  auto blank = std::all_of(req.body.begin(), req.body.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  });
  if (blank)
    return sel;
  auto body = parse_body(req);
  if (!body)
    return body.error();
  for (const auto& m : body->GetObject()) {
    std::string_view key{m.name.GetString(), m.name.GetStringLength()};
    if (key != "containers" && key != "images")
      return invalid(std::string{key.substr(0, 80)}
                     + ": unknown field (a prune body has \"containers\" and \"images\")");
  }
  sel.everything = false;
  if (auto err = read_id_list(*body, "containers", sel.containers))
    return err;
  if (auto err = read_id_list(*body, "images", sel.images))
    return err;
  return sel;
}

void get_stale(const server_context& ctx, req_t, res_t res) {
  reply(res,
        ask<stale_report>(*ctx.sys, ctx.stale, scan_timeout(ctx), atom::get_v, atom::stale_v),
        200, write_stale_report);
}

void prune_stale(const server_context& ctx, req_t req, res_t res) {
  auto selection = read_prune_body(req);
  if (!selection)
    return render_error(res, selection.error());
  auto done = ask<prune_result>(*ctx.sys, ctx.stale, prune_timeout, atom::erase_v,
                                atom::stale_v, std::move(*selection));
  if (done && (!done->removed_containers.empty() || !done->removed_images.empty()))
    audit(ctx, req, "stale.prune", "docker", "", prune_audit_detail(*done));
  reply(res, done, 200, write_prune_result);
}

} // namespace

void install_stale_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/stale", bind_context(ctx, get_stale));
  http.Post("/api/stale/prune", bind_context(ctx, prune_stale));
}

} // namespace tf::http
