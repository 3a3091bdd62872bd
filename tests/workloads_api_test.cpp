// /api/workloads, the filters and logs of /api/containers, and paging on every list route,
// in-process: the real store on a temporary database, the host's real docker worker, the
// real project deployer (proxy provider none) and webhook router, and tf::http::server on
// an ephemeral port driven through httplib's client. No reconciler runs, so the container
// rows a test writes keep the state it gave them. What a test makes in Docker is labelled
// and removed when it ends.
#include <doctest/doctest.h>

#include "actors/docker_worker.hpp"
#include "core/errors.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "deploy_api_fixture.hpp"
#include "deploy_harness.hpp"
#include "error_envelope.hpp"
#include "expect.hpp"
#include "http/ask.hpp"
#include "http/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json_type = "application/json";

struct workloads_fixture : deploy_api_fixture {
  workloads_fixture() : deploy_api_fixture{"workloads-test"} { start_with_docker_worker(); }

  httplib::Client client() const {
    return bearer_client(port, token, {5s, 40s, 20s});
  }

  http_reply get(const std::string& path) { return to_reply(client().Get(path.c_str())); }
  http_reply post(const std::string& path, const std::string& body) {
    return to_reply(client().Post(path.c_str(), body, json_type));
  }
  http_reply patch(const std::string& path, const std::string& body) {
    return to_reply(client().Patch(path.c_str(), body, json_type));
  }
  /// A webhook delivery: no credentials but the secret in the URL.
  http_reply webhook(const std::string& path, const std::string& body) {
    httplib::Client c{"127.0.0.1", port};
    c.set_read_timeout(40, 0);
    return to_reply(c.Post(path.c_str(), body, json_type));
  }

  /// Creates a project with one stage "production"; replies the parsed answer.
  rapidjson::Document make_project(const std::string& name) {
    auto r = post("/api/projects", R"({"name":")" + name
                                     + R"(","image":"tinyforge-test/web","stages":[)"
                                       R"({"name":"production","port":8080,"instances":1,)"
                                       R"("health_path":"/up"}]})");
    INFO(r.body);
    REQUIRE(r.status == 201);
    return json_of(r.body);
  }

  /// The workload row as the store has it, secrets included (what the API must not show).
  tf::workload stored_workload(const std::string& id) {
    auto w = tf::http::ask<tf::workload>(sys, store.readers->next(), 5s, tf::atom::get_v,
                                         tf::atom::workload_v, id);
    REQUIRE_MESSAGE(w, tf::error_message(w.error()));
    return *w;
  }

  /// The deployer's write of a container row, done directly (no deploy runs for it).
  tf::container_row put_container(const std::string& id, const std::string& workload_id,
                                  const std::string& state, const std::string& container_id) {
    tf::container_row row;
    row.id = id;
    row.workload_id = workload_id;
    row.workload_kind = "project";
    row.role = "production";
    row.state = state;
    row.container_id = container_id;
    auto stored = tf::http::ask<tf::container_row>(sys, store.writer, 5s, tf::atom::upsert_v, row);
    REQUIRE_MESSAGE(stored, tf::error_message(stored.error()));
    return *stored;
  }

  /// Projects "alpha" and "beta" with container rows "a-1", "a-2", ... and "b-1", ... in the
  /// states given (no engine container behind them); their workload ids.
  std::pair<std::string, std::string> alpha_and_beta(const std::vector<std::string>& a_states,
                                                     const std::vector<std::string>& b_states) {
    auto a = str(make_project("alpha"), "workload_id");
    auto b = str(make_project("beta"), "workload_id");
    for (size_t i = 0; i < a_states.size(); ++i)
      put_container("a-" + std::to_string(i + 1), a, a_states[i], "");
    for (size_t i = 0; i < b_states.size(); ++i)
      put_container("b-" + std::to_string(i + 1), b, b_states[i], "");
    return {a, b};
  }

  /// The newest audit rows' actions and targets.
  std::vector<tf::audit_entry> audit_log() {
    auto rows = tf::http::ask<std::vector<tf::audit_row>>(sys, store.readers->next(), 5s,
                                                          tf::atom::list_v, tf::atom::audit_v,
                                                          int64_t{50});
    REQUIRE_MESSAGE(rows, tf::error_message(rows.error()));
    std::vector<tf::audit_entry> out;
    for (auto& r : *rows)
      out.push_back(r.entry);
    return out;
  }

  /// Polls the audit log (written one-way after the change) until `action` on `target`
  /// shows up; false after 10 s.
  bool audited(const std::string& action, const std::string& target) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& e : audit_log())
        if (e.action == action && e.target_id == target)
          return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

/// {"error":{"code":<code>,"message":<containing needle>}} with `status`.
void check_error(const http_reply& r, int status, const std::string& code,
                 const std::string& needle = "") {
  INFO("error: ", r.error);
  check_error_answer(r.status, r.header("Content-Type"), r.body, status, code, needle);
}

/// A 200 JSON answer, parsed.
rapidjson::Document check_ok(const http_reply& r) {
  INFO("body: ", r.body, " ", r.error);
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == json_type);
  return json_of(r.body);
}

/// `{"items":[…],"total":N}`: the total, and the item count in `items`.
int64_t page_total(const rapidjson::Document& doc, size_t* items = nullptr) {
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember("items"));
  REQUIRE(doc["items"].IsArray());
  if (items != nullptr)
    *items = doc["items"].Size();
  return integer(doc, "total");
}

bool boolean(const rapidjson::Value& v, const char* key) {
  INFO("key: ", key);
  REQUIRE(v.HasMember(key));
  REQUIRE(v[key].IsBool());
  return v[key].GetBool();
}

/// `docker <args>`; fails the test on a non-zero exit. Replies the output, trimmed.
std::string docker_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"docker"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv);
  INFO("docker output: ", r.output);
  REQUIRE(r.exit_code == 0);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r'))
    r.output.pop_back();
  return r.output;
}

} // namespace

TEST_CASE_FIXTURE(workloads_fixture, "workloads are listed, filtered and read without their secrets") {
  auto a = make_project("alpha");
  auto b = make_project("beta");
  auto a_wl = str(a, "workload_id");
  auto secrets = stored_workload(a_wl);

  auto list = check_ok(get("/api/workloads"));
  size_t n = 0;
  CHECK(page_total(list, &n) == 2);
  CHECK(n == 2);
  const auto& first = list["items"][0];
  CHECK(str(first, "kind") == "project");
  CHECK(str(first, "name") == "alpha"); // by kind, then name
  CHECK(str(first, "id") == a_wl);
  CHECK(str(first, "ref_id") == str(a, "id"));
  CHECK(first["app_id"].IsNull());
  CHECK(first["notification_url"].IsNull());
  CHECK(boolean(first, "webhook_require_signature")); // new workloads require signatures
  CHECK(str(first, "webhook_url") == "/api/webhooks/" + secrets.webhook_secret);
  CHECK(boolean(first, "has_signing_secret"));
  CHECK(boolean(first, "has_notification_secret"));
  CHECK_FALSE(str(first, "created_at").empty());
  CHECK_FALSE(str(first, "updated_at").empty());
  // The signing and notification secrets appear nowhere in a read.
  for (const auto& path : {std::string{"/api/workloads"}, "/api/workloads/" + a_wl,
                           "/api/projects/" + str(a, "id"), std::string{"/api/projects"}}) {
    auto r = get(path);
    CAPTURE(path);
    CHECK(r.status == 200);
    CHECK(r.body.find(secrets.webhook_signing_secret) == std::string::npos);
    CHECK(r.body.find(secrets.notification_secret) == std::string::npos);
  }

  // A project shows the webhook URL its CI posts to, when created and when read.
  CHECK(str(a, "webhook_url") == "/api/webhooks/" + secrets.webhook_secret);
  CHECK(str(check_ok(get("/api/projects/" + str(a, "id"))), "webhook_url")
        == "/api/webhooks/" + secrets.webhook_secret);
  CHECK(str(b, "webhook_url") != str(a, "webhook_url"));

  auto one = check_ok(get("/api/workloads/" + a_wl));
  CHECK(str(one, "name") == "alpha");
  CHECK(str(one, "webhook_url") == "/api/webhooks/" + secrets.webhook_secret);
  check_error(get("/api/workloads/no-such-workload"), 404, "not_found");

  CHECK(page_total(check_ok(get("/api/workloads?kind=project"))) == 2);
  CHECK(page_total(check_ok(get("/api/workloads?kind=stack"))) == 0);
  CHECK(page_total(check_ok(get("/api/workloads?kind="))) == 2); // empty: no filter
  CHECK(page_total(check_ok(get("/api/workloads?app_id=no-such-app"))) == 0);
  auto second = check_ok(get("/api/workloads?limit=1&offset=1"));
  CHECK(page_total(second, &n) == 2);
  REQUIRE(n == 1);
  CHECK(str(second["items"][0], "name") == "beta");
  check_error(get("/api/workloads?kind=projects"), 400, "invalid_argument", "kind");
  check_error(get("/api/workloads?kind=" + std::string(100, 'x')), 400, "invalid_argument",
              "kind");
  check_error(get("/api/workloads?app_id=a%20b"), 400, "invalid_argument", "app_id");
  check_error(get("/api/workloads?app_id=" + std::string(129, 'a')), 400, "invalid_argument",
              "app_id");
}

TEST_CASE_FIXTURE(workloads_fixture, "a workload's notification URL and signature requirement are changed") {
  auto wl = str(make_project("web"), "workload_id");
  const auto one = "/api/workloads/" + wl;
  // Credentials and the query (an API key) are stored and used, never shown.
  auto changed = check_ok(
    patch(one, R"({"notification_url":"https://user:pa55@hooks.example.com/tf?apikey=s3cret",)"
               R"("webhook_require_signature":true})"));
  CHECK(str(changed, "notification_url") == "https://hooks.example.com/tf");
  CHECK(boolean(changed, "webhook_require_signature"));
  CHECK(audited("workload.update", wl));
  CHECK(stored_workload(wl).notification_url
        == "https://user:pa55@hooks.example.com/tf?apikey=s3cret");
  auto read_reply = get(one);
  auto list_reply = get("/api/workloads");
  for (const auto* body : {&read_reply.body, &list_reply.body}) {
    CHECK(body->find("s3cret") == std::string::npos);
    CHECK(body->find("pa55") == std::string::npos);
    CHECK(body->find("apikey") == std::string::npos);
  }
  CHECK(list_reply.body.find("\"https://hooks.example.com/tf\"") != std::string::npos);
  auto read = check_ok(read_reply);
  CHECK(str(read, "notification_url") == "https://hooks.example.com/tf");
  CHECK(boolean(read, "webhook_require_signature"));

  // Only what the patch names changes; null clears; an empty patch changes nothing.
  changed = check_ok(patch(one, R"({"webhook_require_signature":false})"));
  CHECK(str(changed, "notification_url") == "https://hooks.example.com/tf");
  CHECK_FALSE(boolean(changed, "webhook_require_signature"));
  changed = check_ok(patch(one, R"({"notification_url":null,"app_id":null})"));
  CHECK(changed["notification_url"].IsNull());
  CHECK(changed["app_id"].IsNull());
  changed = check_ok(patch(one, R"({"notification_url":"http://203.0.113.5:9000/hook"})"));
  CHECK(str(changed, "notification_url") == "http://203.0.113.5:9000/hook");
  CHECK(str(check_ok(patch(one, "{}")), "notification_url") == "http://203.0.113.5:9000/hook");

  check_error(patch("/api/workloads/no-such-workload", R"({"webhook_require_signature":true})"),
              404, "not_found");
}

TEST_CASE_FIXTURE(workloads_fixture, "a bad workload patch gets 400 or 413 and changes nothing") {
  auto wl = str(make_project("web"), "workload_id");
  const auto one = "/api/workloads/" + wl;
  check_ok(patch(one, R"({"notification_url":"https://hooks.example.com/ok"})"));
  struct bad {
    std::string body;
    std::string needle;
  };
  const bad bodies[] = {
    {R"({"name":"other"})", "name: unknown field"},
    {R"({"webhook_secret":"mine"})", "webhook_secret: unknown field"},
    {R"({"notification_url":"https://a.example","colour":1})", "colour: unknown field"},
    {R"({"notification_url":"ftp://files.example.com/x"})", "notification_url"},
    {R"({"notification_url":"hooks.example.com"})", "notification_url"},
    {R"({"notification_url":"https://"})", "notification_url"},
    {R"({"notification_url":"https://hooks.example.com/a b"})", "notification_url"},
    {R"({"notification_url":"https://hooks.example.com/a\tb"})", "notification_url"},
    {R"({"notification_url":"https://hooks.example.com/)" + std::string(2100, 'a') + R"("})",
     "notification_url"},
    {R"({"notification_url":5})", "notification_url: must be"},
    {R"({"webhook_require_signature":"yes"})", "webhook_require_signature: must be a boolean"},
    {R"({"webhook_require_signature":1})", "webhook_require_signature: must be a boolean"},
    {R"({"app_id":"no-such-app"})", "app_id"},
    {R"({"app_id":""})", "app_id"},
    {R"({"app_id":7})", "app_id"},
    {R"({"webhook_require_signature":true,"webhook_require_signature":false})", "twice"},
    {"{not json", ""},
    {"", ""},
    {"[]", ""},
    {R"({"a":1,})", ""},
  };
  for (const auto& b : bodies) {
    CAPTURE(b.body.substr(0, 120));
    check_error(patch(one, b.body), 400, "invalid_argument", b.needle);
  }
  // Far larger than a patch of three fields can be, though under the server's limit (a body
  // over that is refused before it is read: http_test).
  auto padded = R"({"notification_url":"https://a.example/","x":")" + std::string(20000, 'x')
                + R"("})";
  check_error(patch(one, padded), 413, "payload_too_large");

  auto after = check_ok(get(one));
  CHECK(str(after, "notification_url") == "https://hooks.example.com/ok");
  CHECK(boolean(after, "webhook_require_signature")); // the default, unchanged
  CHECK(after["app_id"].IsNull());
}

TEST_CASE_FIXTURE(workloads_fixture, "rotating secrets shows them once and retires the old webhook URL") {
  auto p = make_project("web");
  auto wl = str(p, "workload_id");
  workloads.ids.push_back(wl);
  // The webhooks below are unsigned: a new workload refuses them unless told otherwise.
  check_ok(patch("/api/workloads/" + wl, R"({"webhook_require_signature":false})"));
  auto before = stored_workload(wl);
  auto old_url = "/api/webhooks/" + before.webhook_secret;
  CHECK(str(p, "webhook_url") == old_url);

  auto rotated = check_ok(post("/api/workloads/" + wl + "/rotate-secrets", ""));
  auto new_url = str(rotated, "webhook_url");
  auto signing = str(rotated, "webhook_signing_secret");
  auto notification = str(rotated, "notification_secret");
  CHECK(new_url.rfind("/api/webhooks/", 0) == 0);
  CHECK(new_url != old_url);
  CHECK(signing.size() == 64);
  CHECK(notification.size() == 64);
  CHECK(signing != before.webhook_signing_secret);
  CHECK(notification != before.notification_secret);
  CHECK(str(rotated, "id") == wl);
  CHECK(audited("workload.rotate_secrets", wl));
  auto after = stored_workload(wl);
  CHECK(signing == after.webhook_signing_secret);
  CHECK(new_url == "/api/webhooks/" + after.webhook_secret);

  // Shown once: reads carry the new webhook URL but never the new secrets.
  auto read = get("/api/workloads/" + wl);
  CHECK(str(json_of(read.body), "webhook_url") == new_url);
  CHECK(read.body.find(signing) == std::string::npos);
  CHECK(read.body.find(notification) == std::string::npos);
  CHECK(str(check_ok(get("/api/projects/" + str(p, "id"))), "webhook_url") == new_url);

  // The old URL is an unknown webhook now; the new one deploys.
  check_error(webhook(old_url, R"({"tag":"v1"})"), 404, "not_found");
  auto accepted = webhook(new_url, R"({"tag":"v1"})");
  INFO("body: ", accepted.body);
  CHECK(accepted.status == 202);
  CHECK_FALSE(str(json_of(accepted.body), "deployment_id").empty());

  check_error(post("/api/workloads/no-such-workload/rotate-secrets", ""), 404, "not_found");
  check_error(post("/api/workloads/" + wl + "/rotate-secrets", "[1]"), 400, "invalid_argument");
  CHECK(stored_workload(wl).webhook_secret == after.webhook_secret); // the refusal rotated nothing
}

TEST_CASE_FIXTURE(workloads_fixture, "a workload's containers are listed a page at a time") {
  auto [a, b] = alpha_and_beta({"running", "stopped", "failed"}, {"running"});

  size_t n = 0;
  auto all = check_ok(get("/api/workloads/" + a + "/containers"));
  CHECK(page_total(all, &n) == 3);
  CHECK(n == 3);
  for (const auto& c : all["items"].GetArray())
    CHECK(str(c, "workload_id") == a);
  auto first = check_ok(get("/api/workloads/" + a + "/containers?limit=2"));
  CHECK(page_total(first, &n) == 3);
  CHECK(n == 2);
  auto rest = check_ok(get("/api/workloads/" + a + "/containers?limit=2&offset=2"));
  CHECK(page_total(rest, &n) == 3);
  CHECK(n == 1);
  CHECK(page_total(check_ok(get("/api/workloads/" + b + "/containers"))) == 1);
  check_error(get("/api/workloads/no-such-workload/containers"), 404, "not_found");

  // Keyset pages, as the index has them: next_after walks a's rows once, in order.
  std::vector<std::string> walked;
  std::string after;
  for (int pages = 0; pages < 5; ++pages) {
    auto page = check_ok(get("/api/workloads/" + a + "/containers?limit=2"
                             + (after.empty() ? "" : "&after=" + after)));
    for (const auto& c : page["items"].GetArray())
      walked.push_back(str(c, "id"));
    if (page["next_after"].IsNull())
      break;
    after = str(page, "next_after");
  }
  std::vector<std::string> listed;
  for (const auto& c : all["items"].GetArray())
    listed.push_back(str(c, "id"));
  CHECK(walked == listed);
  // The URL's workload is the filter: a query naming another one does not widen it.
  auto own = check_ok(get("/api/workloads/" + a + "/containers?workload_id=" + b));
  CHECK(page_total(own) == 3);
  // Pages as large as the index takes; beyond that, and a bad cursor, are 400.
  CHECK(page_total(check_ok(get("/api/workloads/" + a + "/containers?limit=5000"))) == 3);
  check_error(get("/api/workloads/" + a + "/containers?limit=5001"), 400, "invalid_argument");
  check_error(get("/api/workloads/" + a + "/containers?after=not-a-cursor"), 400,
              "invalid_argument");
}

TEST_CASE_FIXTURE(workloads_fixture, "containers are filtered by workload, kind, state and app, and bad filters get 400") {
  auto [a, b] = alpha_and_beta({"running", "stopped"}, {"running"});

  CHECK(page_total(check_ok(get("/api/containers"))) == 3);
  CHECK(page_total(check_ok(get("/api/containers?kind=project"))) == 3);
  CHECK(page_total(check_ok(get("/api/containers?kind=stack"))) == 0);
  CHECK(page_total(check_ok(get("/api/containers?state=running"))) == 2);
  CHECK(page_total(check_ok(get("/api/containers?state=running&workload_id=" + a))) == 1);
  CHECK(page_total(check_ok(get("/api/containers?state=missing"))) == 0);
  CHECK(page_total(check_ok(get("/api/containers?app_id=no-such-app"))) == 0);
  CHECK(page_total(check_ok(get("/api/containers?state=&kind="))) == 3); // empty: no filter

  check_error(get("/api/containers?state=up"), 400, "invalid_argument", "state");
  check_error(get("/api/containers?state=RUNNING"), 400, "invalid_argument", "state");
  check_error(get("/api/containers?kind=service"), 400, "invalid_argument", "kind");
  check_error(get("/api/containers?workload_id=a%20b"), 400, "invalid_argument", "workload_id");
  check_error(get("/api/containers?stage_id=" + std::string(200, 'x')), 400, "invalid_argument",
              "stage_id");
  check_error(get("/api/containers?app_id=%01"), 400, "invalid_argument", "app_id");
}

TEST_CASE_FIXTURE(workloads_fixture, "a running container's logs are read, the last N lines") {
  auto wl = str(make_project("web"), "workload_id");
  container_guard guard{unique_name("tf-wl", "logs")};
  // The test image, with a command that prints a line to stderr, numbered lines to stdout,
  // then stays up. The engine copies the two streams separately, so where the stderr line
  // lands among the others is not fixed: the checks below hold wherever it does.
  auto id = docker_cli({"run", "-d", "--name", guard.name(), "--label", "tinyforge.test=true",
                        "--label", run_label(), "--entrypoint", "/bin/busybox",
                        "tinyforge-test/web:v1", "sh", "-c",
                        "echo err-first >&2; i=1; while [ $i -le 300 ]; do echo out-$i; "
                        "i=$((i+1)); done; exec sleep 600"});
  REQUIRE(id.size() == 64);
  put_container("logs-1", wl, "running", id);
  auto lines = [](const std::string& text) {
    return std::count(text.begin(), text.end(), '\n');
  };

  // The engine has every line once the loop ran: poll until the last one is there.
  http_reply r;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    r = get("/api/containers/logs-1/logs?tail=10000");
    if (r.status != 200 || r.body.find("out-300\n") != std::string::npos)
      break;
    std::this_thread::sleep_for(50ms);
  }
  INFO("body: ", r.body.substr(0, 4000));
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").rfind("text/plain", 0) == 0);
  CHECK(lines(r.body) == 301);
  CHECK(r.body.find("out-1\n") != std::string::npos);
  CHECK(r.body.find("out-300\n") != std::string::npos);
  CHECK(r.body.find("err-first\n") != std::string::npos); // stderr too

  auto last3 = get("/api/containers/logs-1/logs?tail=3");
  REQUIRE(last3.status == 200);
  CHECK(lines(last3.body) == 3);
  CHECK(last3.body.find("out-300\n") != std::string::npos);
  CHECK(last3.body.find("out-297\n") == std::string::npos);
  auto defaults = get("/api/containers/logs-1/logs"); // the last 200 lines
  REQUIRE(defaults.status == 200);
  CHECK(lines(defaults.body) == 200);
  CHECK(defaults.body.find("out-300\n") != std::string::npos);
  CHECK(defaults.body.find("out-100\n") == std::string::npos);

  for (std::string tail : {"0", "10001", "-1", "abc", "", "1.5", "99999999999999999999"}) {
    CAPTURE(tail);
    check_error(get("/api/containers/logs-1/logs?tail=" + tail), 400, "invalid_argument",
                "tail");
  }

  // A row that names no container yet, a container Docker no longer has, an unknown row.
  put_container("logs-none", wl, "", "");
  check_error(get("/api/containers/logs-none/logs"), 409, "conflict", "no Docker container");
  docker_cli({"rm", "-f", id});
  check_error(get("/api/containers/logs-1/logs"), 404, "not_found", "logs-1");
  check_error(get("/api/containers/no-such-row/logs"), 404, "not_found");
}

TEST_CASE_FIXTURE(workloads_fixture, "every list answers a page and refuses a bad limit or offset") {
  auto p = make_project("web");
  auto wl = str(p, "workload_id");
  for (auto name : {"ci-1", "ci-2"})
    REQUIRE(post("/api/tokens", std::string{R"({"name":")"} + name + R"("})").status == 201);
  size_t n = 0;
  CHECK(page_total(check_ok(get("/api/tokens")), &n) == 3);
  CHECK(n == 3);
  CHECK(page_total(check_ok(get("/api/tokens?limit=2&offset=1")), &n) == 3);
  CHECK(n == 2);
  CHECK(page_total(check_ok(get("/api/tokens?offset=3")), &n) == 3);
  CHECK(n == 0);

  const std::vector<std::string> lists{
    "/api/projects",        "/api/deployments",
    "/api/containers",      "/api/tokens",
    "/api/workloads",       "/api/workloads/" + wl + "/containers",
    "/api/workloads/" + wl + "/deliveries"};
  for (const auto& path : lists) {
    CAPTURE(path);
    page_total(check_ok(get(path)));
    page_total(check_ok(get(path + "?limit=500&offset=0")));
    page_total(check_ok(get(path + "?limit=1&offset=1000000")));
    for (std::string query : {"limit=-1", "limit=abc", "limit=", "limit=0", "limit=501",
                              "offset=-5", "offset=1.5", "offset=", "limit=1e2",
                              "limit=99999999999999999999", "limit=%2B5"}) {
      CAPTURE(query);
      if (path.find("/containers") != std::string::npos && query == "limit=501")
        query = "limit=5001"; // the containers index takes pages of up to 5000
      check_error(get(path + "?" + query), 400, "invalid_argument",
                  query.substr(0, query.find('=')));
    }
  }
}

TEST_CASE_FIXTURE(workloads_fixture, "an instance action the deployer does not know is refused at once") {
  // The HTTP route matches only stop, start and restart; another sender of the message
  // (the CLI, a later route) must read why, not wait out its timeout.
  using namespace std::chrono_literals;
  tf::instance_action act{"no-such-project", "production", "row-1", "explode"};
  auto got = tf::http::ask<tf::container_row>(sys, deployers.projects, 5s, tf::atom::instance_v,
                                              act);
  REQUIRE_FALSE(got);
  CHECK(tf::error_code(got.error()) == tf::ec::invalid_argument);
  CHECK(tf::error_message(got.error()) == "action must be stop, start or restart");
}

// -- deletes (issue 13, item 6) -------------------------------------------------------------

namespace {

/// POST …/deploy of `tag` to `stage`, then polls GET /api/deployments/{id} until it ends
/// (a minute at most); the final status.
std::string deploy_and_wait(workloads_fixture& f, const std::string& project_id,
                            const std::string& stage, const std::string& tag) {
  auto r = f.post("/api/projects/" + project_id + "/stages/" + stage + "/deploy",
                  R"({"tag":")" + tag + R"("})");
  INFO(r.body);
  REQUIRE(r.status == 202);
  auto id = str(json_of(r.body), "deployment_id");
  REQUIRE_FALSE(id.empty());
  auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = str(json_of(f.get("/api/deployments/" + id).body), "status");
    if (status != "queued" && status != "running")
      break;
    std::this_thread::sleep_for(50ms);
  }
  return status;
}

/// The engine's containers of `workload_id` in `stage_id` ("" for every stage).
std::vector<tf::docker::container_summary> stage_containers(const std::string& workload_id,
                                                            const std::string& stage_id) {
  std::vector<tf::docker::container_summary> out;
  for (auto& c : workload_containers(workload_id)) {
    auto s = c.labels.find(tf::docker::label::stage_id);
    if (stage_id.empty() || (s != c.labels.end() && s->second == stage_id))
      out.push_back(std::move(c));
  }
  return out;
}

/// Polls (a minute at most) until the engine has no container of `workload_id` in
/// `stage_id`; whether it got there.
/// DELETE `path`, asked again while it answers 409 (a deploy that just ended has not told
/// the deployer yet), a minute at most.
http_reply delete_when_idle(workloads_fixture& f, const std::string& path) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  http_reply r;
  do {
    r = to_reply(f.client().Delete(path.c_str()));
    if (r.status != 409)
      break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

bool containers_gone(const std::string& workload_id, const std::string& stage_id) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stage_containers(workload_id, stage_id).empty())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

} // namespace

TEST_CASE_FIXTURE(workloads_fixture, "deleting a stage, then its project, removes their containers and routes") {
  auto r = post("/api/projects",
                R"({"name":"gone","image":"tinyforge-test/web","stages":[)"
                R"({"name":"production","port":8080,"instances":1,"health_path":"/up"},)"
                R"({"name":"staging","port":8080,"instances":1,"health_path":"/up"}]})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto p = json_of(r.body);
  auto project_id = str(p, "id");
  auto wl = str(p, "workload_id");
  workloads.ids.push_back(wl); // removed at the end whatever happens
  std::string production_id, staging_id;
  for (const auto& s : p["stages"].GetArray())
    (str(s, "name") == "production" ? production_id : staging_id) = str(s, "id");

  REQUIRE(deploy_and_wait(*this, project_id, "production", "v1") == "succeeded");
  REQUIRE(deploy_and_wait(*this, project_id, "staging", "v1") == "succeeded");
  auto production = stage_containers(wl, production_id);
  REQUIRE_FALSE(production.empty());
  REQUIRE_FALSE(stage_containers(wl, staging_id).empty());
  for (const auto& c : production) // every container it made says which daemon made it
    CHECK(c.labels.at(tf::docker::label::instance) == store.instance_id);
  auto route_of = [&](const std::string& stage_id) {
    return tf::http::ask<tf::proxy_route>(sys, store.readers->next(), 5s, tf::atom::get_v,
                                          tf::atom::route_v, stage_id);
  };
  REQUIRE(route_of(staging_id));

  // A stage's delete takes its containers and route, and leaves the other stage's.
  auto del = delete_when_idle(*this, "/api/projects/" + project_id + "/stages/staging");
  INFO(del.body);
  CHECK(del.status == 204);
  CHECK(containers_gone(wl, staging_id));
  CHECK(tf::error_code(route_of(staging_id).error()) == tf::ec::not_found);
  for (const auto& c : production)
    CHECK(container_state(c.id) == "running");
  REQUIRE(route_of(production_id));

  // The project's delete takes the rest.
  del = delete_when_idle(*this, "/api/projects/" + project_id);
  INFO(del.body);
  CHECK(del.status == 204);
  CHECK(containers_gone(wl, ""));
  CHECK(tf::error_code(route_of(production_id).error()) == tf::ec::not_found);
  CHECK(get("/api/projects/" + project_id).status == 404);
}

TEST_CASE_FIXTURE(workloads_fixture, "a project is not deleted while a deploy of it runs") {
  auto p = make_project("busy");
  auto project_id = str(p, "id");
  auto wl = str(p, "workload_id");
  workloads.ids.push_back(wl);
  // The answer of the deploy comes once the deployer has started its job, so the delete
  // that follows finds it running (a health check of :v1 takes longer than a read).
  auto r = post("/api/projects/" + project_id + "/stages/production/deploy", R"({"tag":"v1"})");
  INFO(r.body);
  REQUIRE(r.status == 202);
  auto deployment_id = str(json_of(r.body), "deployment_id");
  REQUIRE_FALSE(deployment_id.empty());
  check_error(to_reply(client().Delete(("/api/projects/" + project_id).c_str())), 409,
              "conflict", "deploy");
  check_error(to_reply(client().Delete(
                ("/api/projects/" + project_id + "/stages/production").c_str())),
              409, "conflict", "deploy");
  CHECK(get("/api/projects/" + project_id).status == 200);
  // Once the deploy ended, the delete goes through and takes what it made.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto status = str(json_of(get("/api/deployments/" + deployment_id).body), "status");
    if (status != "queued" && status != "running")
      break;
    std::this_thread::sleep_for(50ms);
  }
  // The row says it ended a moment before the job has told the deployer: a 409 then
  // means "ask again once it ends", so ask again (within the same deadline).
  http_reply del;
  do {
    del = to_reply(client().Delete(("/api/projects/" + project_id).c_str()));
    if (del.status != 409)
      break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  INFO(del.body);
  CHECK(del.status == 204);
  CHECK(containers_gone(wl, ""));
}
