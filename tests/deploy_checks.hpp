// Checks the end-to-end deploy tests share (doctest assertions over deploy_harness.hpp):
// create a project or fail, deploy and wait for an expected status, what answers through the
// proxy, which containers the engine and the API list. Apart from the harness because the
// bench links the harness without doctest.
#pragma once

#include <doctest/doctest.h>

#include "deploy_harness.hpp"
#include "helpers.hpp"

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tf::test {

using namespace std::chrono_literals;

/// Creates a one-stage project or fails the test.
inline project_ids require_project(deploy_env& env, const std::string& name, stage_options stage = {}) {
  auto [reply, ids] = env.create_project(name, stage);
  INFO("POST /api/projects -> ", reply.status, " ", reply.error, " ", reply.body);
  INFO(env.logs());
  REQUIRE(reply.status == 201);
  REQUIRE(ids);
  return *ids;
}

/// Deploys `tag`, waits for the end and checks the final status is `expected`.
inline deployment_view require_deploy(deploy_env& env, const project_ids& p, const std::string& tag,
                               const std::string& expected = "succeeded") {
  auto t0 = steady::now();
  std::optional<deployment_view> d;
  { // the INFO scope: a MESSAGE after it prints without the logs
    auto [reply, id] = env.deploy(p, tag);
    INFO("deploy ", tag, " -> ", reply.status, " ", reply.error, " ", reply.body);
    REQUIRE(reply.status == 202);
    REQUIRE_FALSE(id.empty());
    d = env.wait_finished(id);
    INFO(env.logs());
    REQUIRE_MESSAGE(d, "GET /api/deployments/", id, " never answered");
    INFO(d->describe());
    REQUIRE(d->finished());
    REQUIRE(d->status == expected);
  }
  MESSAGE("deploy ", tag, " ", d->status, " after ", ms_since(t0), " ms");
  return *d;
}

/// Checks GET /version through the proxy answers `tag` now (one request, no retry), from an
/// upstream in the env's slot range.
inline void check_serves(deploy_env& env, const project_ids& p, const std::string& tag) {
  auto r = env.version(p);
  INFO("GET /version via proxy (Host: ", p.subdomain, ") -> ", r.status, " ", r.error, " '",
       r.body, "'");
  INFO(env.logs(30));
  CHECK(r.status == 200);
  CHECK(r.body == tag);
  auto upstream = r.header("X-Tinyforge-Upstream");
  INFO("X-Tinyforge-Upstream: ", upstream);
  const std::string loopback = "127.0.0.1:";
  REQUIRE(upstream.rfind(loopback, 0) == 0);
  CHECK(env.slots().contains(std::atoi(upstream.c_str() + loopback.size())));
}

/// `docker ps -a` of the workload, as "id image state" lines, for INFO.
inline std::string describe_containers(const std::vector<tf::docker::container_summary>& list) {
  std::string s;
  for (const auto& c : list)
    s += "  " + c.id.substr(0, 12) + " " + c.image + " " + c.state + "\n";
  return s.empty() ? std::string{"  (none)\n"} : s;
}

/// The workload's containers (all states) running the image tag `tag`.
inline std::vector<tf::docker::container_summary> with_tag(const std::string& workload_id,
                                                    const std::string& tag) {
  auto all = workload_containers(workload_id);
  std::vector<tf::docker::container_summary> out;
  for (auto& c : all)
    if (tag_of(c.image) == tag)
      out.push_back(c);
  return out;
}

/// Waits (up to `limit`) until the workload has no container of `tag`, then checks so.
inline void check_no_container_of(deploy_env& env, const project_ids& p, const std::string& tag,
                           std::chrono::milliseconds limit = 0ms) {
  if (limit.count() > 0)
    poll_until(limit, [&] { return with_tag(p.workload_id, tag).empty(); }, 200ms);
  auto all = workload_containers(p.workload_id);
  INFO("docker ps -a --filter label=tinyforge.workload.id=", p.workload_id, ":\n",
       describe_containers(all));
  INFO(env.logs(30));
  CHECK(with_tag(p.workload_id, tag).empty());
}

/// The API's container list and `docker ps -a` name the same containers, all running (polled
/// for a while: the reconciler writes what the engine reports within its interval).
inline void check_api_agrees_with_docker(deploy_env& env, const project_ids& p) {
  std::set<std::string> docker_ids, api_ids;
  std::string api_text, docker_text;
  auto agree = [&] {
    auto all = workload_containers(p.workload_id);
    docker_ids.clear();
    bool all_running = true;
    for (const auto& c : all) {
      docker_ids.insert(c.id);
      all_running = all_running && c.state == "running";
    }
    docker_text = describe_containers(all);
    auto rows = env.containers(p.workload_id);
    api_ids.clear();
    api_text.clear();
    if (!rows)
      return false;
    for (const auto& r : *rows) {
      api_ids.insert(r.container_id);
      api_text += "  row " + r.id + " " + r.container_id.substr(0, 12) + " " + r.state + " "
                  + r.role + " " + r.image_tag + " port " + std::to_string(r.port) + "\n";
      all_running = all_running && r.state == "running";
    }
    return all_running && !docker_ids.empty() && docker_ids == api_ids;
  };
  bool ok = poll_until(10s, agree, 250ms);
  INFO("docker ps -a:\n", docker_text, "GET /api/containers:\n", api_text);
  CHECK(ok);
}

/// The deployments of the workload that have not finished, as "id tag status" lines; "?"
/// when the API did not answer.
inline std::string unfinished_deployments(const deploy_env& env, const project_ids& p) {
  auto list = env.deployments(p.workload_id);
  if (!list)
    return "?";
  std::string s;
  for (const auto& d : *list)
    if (!d.finished())
      s += "  " + d.id + " " + d.tag + " " + d.status + "\n";
  return s;
}

/// After a deploy has ended: nothing of the workload is left unfinished, and the API and
/// Docker agree on its containers.
inline void check_settled(deploy_env& env, const project_ids& p) {
  CHECK(unfinished_deployments(env, p).empty());
  check_api_agrees_with_docker(env, p);
}

/// The stage's route as GET /api/proxies lists it.
struct route_view {
  std::vector<int> slots, serving;
  /// 'a' when the first serving slot is in the first half of the slots, 'b' in the second
  /// half, '-' when nothing serves.
  char serving_colour() const {
    if (serving.empty() || slots.size() < 2)
      return '-';
    for (size_t i = 0; i < slots.size() / 2; ++i)
      if (slots[i] == serving.front())
        return 'a';
    return 'b';
  }
  std::string describe() const {
    std::string s = "slots";
    for (auto p : slots)
      s += " " + std::to_string(p);
    s += ", serving";
    for (auto p : serving)
      s += " " + std::to_string(p);
    return s;
  }
};

/// The integers of the array `key` of `v` (none when it is missing or not an array).
inline std::vector<int> ints_of(const rapidjson::Value& v, const char* key) {
  std::vector<int> out;
  auto m = v.FindMember(key);
  if (m != v.MemberEnd() && m->value.IsArray())
    for (const auto& x : m->value.GetArray())
      if (x.IsInt())
        out.push_back(x.GetInt());
  return out;
}

/// The route of the project's stage, as the API lists it.
inline std::optional<route_view> route_of(deploy_env& env, const project_ids& p) {
  auto r = env.api().get("/api/proxies?limit=500");
  auto doc = json_of(r.body);
  if (r.status != 200 || !doc.IsObject() || !doc.HasMember("items") || !doc["items"].IsArray())
    return std::nullopt;
  for (const auto& it : doc["items"].GetArray())
    if (str(it, "host") == p.subdomain)
      return route_view{ints_of(it, "slots"), ints_of(it, "serving")};
  return std::nullopt;
}

/// The error object of an API error reply: {"error":{"code":…,"message":…}}.
inline std::pair<std::string, std::string> api_error_of(const http_reply& r) {
  auto doc = json_of(r.body);
  if (!doc.IsObject() || !doc.HasMember("error"))
    return {};
  return {str(doc["error"], "code"), str(doc["error"], "message")};
}

/// The deployment once it is in `phase` or has finished (polled for at most a minute); its
/// last view, or nothing when the API never answered.
inline std::optional<deployment_view> wait_phase(const deploy_env& env, const std::string& id,
                                                 const std::string& phase) {
  std::optional<deployment_view> seen;
  poll_until(std::chrono::seconds{60}, [&] {
    seen = env.deployment(id);
    return seen && (seen->phase == phase || seen->finished());
  }, std::chrono::milliseconds{20});
  return seen;
}

/// A deploy of `tag` asked for (202 with an id) and followed until it is in `phase`, or the
/// test fails (with the deployment and the daemon's log): its id and what the API showed.
struct deploy_in_phase {
  std::string id;
  deployment_view seen;
};
inline deploy_in_phase deploy_until_phase(deploy_env& env, const project_ids& p,
                                          const std::string& tag, const std::string& phase) {
  auto [reply, id] = env.deploy(p, tag);
  REQUIRE(reply.status == 202);
  REQUIRE_FALSE(id.empty());
  auto seen = wait_phase(env, id, phase);
  INFO((seen ? seen->describe() : std::string{"no answer"}));
  INFO(env.logs());
  REQUIRE(seen);
  REQUIRE_MESSAGE(seen->phase == phase, "the deploy did not reach ", phase);
  return {id, *seen};
}

/// The deployment once it has finished after a restart (within `limit`), or the test fails
/// with the daemon's log. Reports how long the end took after the restart, and the log.
inline std::optional<deployment_view> require_finished_after_restart(deploy_env& env,
                                                                     const std::string& id,
                                                                     std::chrono::seconds limit) {
  auto t0 = std::chrono::steady_clock::now();
  auto d = env.wait_finished(id, limit);
  REQUIRE_MESSAGE(d, "GET /api/deployments/", id, " never answered after the restart; ",
                  env.logs());
  MESSAGE("after the restart the deploy ended ", d->status, " in ", ms_since(t0), " ms: ",
          d->error, "; log:\n", d->log_text());
  return d;
}

/// The one container row of a one-instance stage, or fails the test.
inline container_row require_single_row(deploy_env& env, const project_ids& p) {
  auto rows = env.containers(p.workload_id);
  INFO(env.logs(30));
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto row = rows->front();
  INFO("row ", row.id, " container ", row.container_id, " port ", row.port);
  REQUIRE_FALSE(row.id.empty());
  REQUIRE_FALSE(row.container_id.empty());
  return row;
}

} // namespace tf::test
