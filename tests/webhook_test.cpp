// Webhooks end to end, in-process: the real store on a temporary database, the real Docker
// host actors and project deployer (proxy provider none, a private slot port range), the
// webhook router, and tf::http::server on an ephemeral port driven through httplib's client.
// Deploys really run (tinyforge-test/web:v1 and :v2); most cases only need the 202 and the
// deployment id, one follows a deploy to its end. Every container a test's workloads made
// is removed when the test ends.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "actors/system.hpp"
#include "actors/webhook_payload.hpp"
#include "actors/webhook_signatures.hpp"
#include "api_client.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "deploy_api_fixture.hpp"
#include "deploy_harness.hpp"
#include "expect.hpp"
#include "http/ask.hpp"
#include "http/errors.hpp"
#include "http/server.hpp"
#include "net.hpp"
#include "signing.hpp"

#include <caf/actor_system.hpp>
#include <cctype>
#include <caf/actor_system_config.hpp>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json_type = "application/json";

/// The image of the projects GitHub's package events are sent for.
constexpr const char* ghcr_image = "ghcr.io/tinyforge-test/web";

/// A GitHub package event publishing ghcr.io/tinyforge-test/web:<tag> (the shape of
/// tests/data/webhooks/github-package-tagged.json, cut to the fields that matter).
std::string github_package_body(const std::string& tag,
                                const std::string& image = ghcr_image) {
  return R"({"action":"published","package":{"name":"web","namespace":"tinyforge-test",)"
         R"("package_type":"CONTAINER","package_version":{"version":"sha256:abc",)"
         R"("container_metadata":{"tag":{"name":")"
         + tag + R"(","digest":"sha256:abc"}},"package_url":")" + image + ":" + tag
         + R"("}},"repository":{"full_name":"o/web"}})";
}

/// A GitLab or Gitea push of `ref`.
std::string push_body(const std::string& ref, const std::string& after = "1a2b3c") {
  return R"({"ref":")" + ref + R"(","before":"0000000000000000000000000000000000000000",)"
         R"("after":")" + after + R"(","repository":{"name":"web"}})";
}

struct answer {
  int status = 0;
  std::string body;
  rapidjson::Document doc;
};

answer to_answer(const httplib::Result& res) {
  answer a;
  if (!res)
    return a;
  a.status = res->status;
  a.body = res->body;
  a.doc = json_of(res->body);
  return a;
}

std::string error_code_of(const answer& a) {
  if (!a.doc.IsObject() || !a.doc.HasMember("error"))
    return {};
  return str(a.doc["error"], "code");
}

struct webhook_fixture : deploy_api_fixture {
  static constexpr int64_t body_limit = 64 * 1024;

  webhook_fixture() : deploy_api_fixture{"webhook-test"} {
    docker = start_test_docker_host(sys, store);
    auto cfg = deploy_config(8);
    cfg.max_body_bytes = body_limit;
    start(cfg);
  }

  httplib::Client client() const {
    return bearer_client(port, token, {5s, 40s, 20s});
  }

  /// A project with stages "production" (first) and "staging"; its workload row. A new
  /// project requires signed webhooks; most tests here post unsigned ones, so they say so.
  tf::workload make_project(const std::string& image = "tinyforge-test/web",
                            bool allow_unsigned = true) {
    auto name = unique_name("wh", "p");
    auto body = R"({"name":")" + name + R"(","image":")" + image
                + R"(","stages":[)"
                  R"({"name":"production","port":8080,"instances":1,"health_path":"/up"},)"
                  R"({"name":"staging","port":8080,"instances":1,"health_path":"/up"}]})";
    auto w = workload(str(create_project(body), "workload_id"));
    if (allow_unsigned) {
      require_signature(w, false);
      w.webhook_require_signature = false;
    }
    return w;
  }

  void require_signature(const tf::workload& w, bool on) {
    tf::patch<tf::workload> p;
    p.id = w.id;
    p.fields = {"webhook_require_signature"};
    p.value.webhook_require_signature = on;
    auto r = tf::http::ask<tf::workload>(sys, store.writer, 5s, tf::atom::update_v, p);
    REQUIRE_MESSAGE(r, tf::error_message(r.error()));
  }

  answer post(const std::string& secret, const std::string& body,
              const httplib::Headers& headers = {}) {
    return to_answer(client().Post(("/api/webhooks/" + secret).c_str(), headers, body, json_type));
  }

  /// GET `path`: a 200 answer, parsed.
  rapidjson::Document get_json(const std::string& path) {
    auto res = client().Get(path.c_str());
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 200, res->body);
    return json_of(res->body);
  }

  /// The deployments of a workload, newest first.
  rapidjson::Document deployments(const std::string& workload_id) {
    return get_json("/api/deployments?workload_id=" + workload_id);
  }

  rapidjson::Document deliveries(const std::string& workload_id) {
    return get_json("/api/workloads/" + workload_id + "/deliveries");
  }

  rapidjson::Document deployment(const std::string& id) {
    return get_json("/api/deployments/" + id);
  }

  /// Polls the deployment until it succeeded or failed (90 s at most); its last status.
  std::string wait_deploy_end(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 90s;
    std::string status;
    while (std::chrono::steady_clock::now() < deadline) {
      status = str(deployment(id), "status");
      if (status == "succeeded" || status == "failed")
        break;
      std::this_thread::sleep_for(200ms);
    }
    return status;
  }
};

/// GitHub's headers of package event `delivery` whose `body` is signed with the workload's
/// signing secret.
httplib::Headers github_package(const tf::workload& w, const std::string& body,
                                const std::string& delivery) {
  return {{"X-GitHub-Event", "package"},
          {"X-GitHub-Delivery", delivery},
          {"X-Hub-Signature-256", "sha256=" + hmac_hex(w.webhook_signing_secret, body)}};
}

/// 202 with a deployment id; replies the id.
std::string accepted(const answer& a) {
  INFO("body: ", a.body);
  REQUIRE(a.status == 202);
  auto id = str(a.doc, "deployment_id");
  CHECK_FALSE(id.empty());
  CHECK(str(a.doc, "status") == "queued");
  return id;
}

void refused(const answer& a, int status, const std::string& code) {
  INFO("body: ", a.body);
  CHECK(a.status == status);
  CHECK(error_code_of(a) == code);
}

/// The status a reading leads to, as the daemon answers it: 0 when it asks for a deploy
/// (the store decides the rest), 200 when ignored, the refusal's status otherwise.
int64_t status_of(const tf::payload_reading& r) {
  if (r.ignored())
    return 200;
  if (!r.refused())
    return 0;
  tf::webhook_answer a;
  a.result = "rejected";
  a.code = tf::ec::invalid_argument;
  a.reason = r.code;
  return tf::http::webhook_status(a);
}

} // namespace

// -- the pure parts ---------------------------------------------------------------------------

TEST_CASE("webhook signatures: HMAC-SHA256 matches RFC 4231 and compares in full") {
  CHECK(tf::hmac_sha256_hex("Jefe", "what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(tf::equal_constant_time("abc", "abc"));
  CHECK_FALSE(tf::equal_constant_time("abc", "abd"));
  CHECK_FALSE(tf::equal_constant_time("abc", "abcd"));
  CHECK(tf::secret_fingerprint("s3cret").size() == 8);
}

TEST_CASE("webhook signatures: each format right, wrong, and absent") {
  const std::string secret = "signing-secret";
  const std::string body = R"({"tag":"v1"})";
  auto now = unix_now();
  auto ts = std::to_string(now);
  using s = tf::signature_scheme;
  struct row {
    const char* name;
    tf::webhook_headers headers;
    s scheme;
    bool valid;
  };
  const row rows[] = {
    {"tinyforge right",
     {{"x-tinyforge-signature", "sha256=" + hmac_hex(secret, ts + "." + body)},
      {"x-tinyforge-timestamp", ts}},
     s::tinyforge, true},
    {"tinyforge signed without the timestamp",
     {{"x-tinyforge-signature", "sha256=" + hmac_hex(secret, body)}, {"x-tinyforge-timestamp", ts}},
     s::tinyforge, false},
    {"tinyforge 6 minutes old",
     {{"x-tinyforge-signature",
       "sha256=" + hmac_hex(secret, std::to_string(now - 360) + "." + body)},
      {"x-tinyforge-timestamp", std::to_string(now - 360)}},
     s::tinyforge, false},
    {"tinyforge no timestamp",
     {{"x-tinyforge-signature", "sha256=" + hmac_hex(secret, ts + "." + body)}}, s::tinyforge,
     false},
    {"tinyforge timestamp not a number",
     {{"x-tinyforge-signature", "sha256=" + hmac_hex(secret, ts + "." + body)},
      {"x-tinyforge-timestamp", "soon"}},
     s::tinyforge, false},
    {"github right", {{"x-hub-signature-256", "sha256=" + hmac_hex(secret, body)}}, s::github, true},
    {"github uppercase hex", {{"x-hub-signature-256", "sha256=" + [&] {
                                 auto h = hmac_hex(secret, body);
                                 for (auto& c : h)
                                   c = static_cast<char>(std::toupper(c));
                                 return h;
                               }()}},
     s::github, true},
    {"github no prefix", {{"x-hub-signature-256", hmac_hex(secret, body)}}, s::github, false},
    {"github other key", {{"x-hub-signature-256", "sha256=" + hmac_hex("other", body)}}, s::github,
     false},
    {"gitea right", {{"x-gitea-signature", hmac_hex(secret, body)}}, s::gitea, true},
    {"gitea wrong", {{"x-gitea-signature", hmac_hex(secret, body + " ")}}, s::gitea, false},
    {"gitlab right", {{"x-gitlab-token", secret}}, s::gitlab, true},
    {"gitlab wrong", {{"x-gitlab-token", secret + "x"}}, s::gitlab, false},
    {"none", {}, s::none, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto v = tf::verify_signature(r.headers, body, secret, now);
    CHECK(v.scheme == r.scheme);
    CHECK(v.valid == r.valid);
    if (!r.valid)
      CHECK(v.reason.find(secret) == std::string::npos);
  }
  // An empty signing secret proves nothing, whatever was sent.
  CHECK_FALSE(tf::verify_signature({{"x-gitlab-token", ""}}, body, "", now).valid);
}

TEST_CASE("webhook payloads: the tag from each sender's event, and the refusals") {
  struct row {
    const char* name;
    tf::webhook_headers headers;
    std::string body;
    int64_t status;
    std::string tag;
    std::string stage;
  };
  const row rows[] = {
    {"plain", {}, R"({"tag":"v1.2.3"})", 0, "v1.2.3", ""},
    {"plain with stage", {}, R"({"tag":"v2","stage":"staging"})", 0, "v2", "staging"},
    {"github package", {{"x-github-event", "package"}}, github_package_body("v2"), 0, "v2", ""},
    {"github registry_package", {{"x-github-event", "registry_package"}},
     R"({"registry_package":{"namespace":"acme","name":"web",)"
     R"("package_version":{"version":"1.4.0"}}})",
     0, "1.4.0", ""},
    {"github registry_package untagged", {{"x-github-event", "registry_package"}},
     R"({"registry_package":{"package_version":{"version":"sha256:0a1b",)"
     R"("container_metadata":{"tag":{"name":"","digest":"sha256:0a1b"}},)"
     R"("package_url":"ghcr.io/acme/web:"}}})",
     200, "", ""},
    {"github registry_package naming no image", {{"x-github-event", "registry_package"}},
     R"({"registry_package":{"package_version":{"version":"1.4.0"}}})", 200, "", ""},
    {"github npm package", {{"x-github-event", "package"}},
     R"({"package":{"namespace":"acme","name":"web","package_type":"npm","ecosystem":"npm",)"
     R"("package_version":{"version":"1.0.0"}}})",
     200, "", ""},
    {"github package removed", {{"x-github-event", "package"}},
     R"({"action":"deleted","package":{"package_version":{"version":"v1"}}})", 200, "", ""},
    {"github ping", {{"x-github-event", "ping"}}, R"({"zen":"Keep it logically awesome."})", 200,
     "", ""},
    {"github push is no package", {{"x-github-event", "push"}}, R"({"ref":"refs/tags/v1"})", 200,
     "", ""},
    {"gitea container package", {{"x-gitea-event", "package"}, {"x-github-event", "package"}},
     R"({"action":"created","package":{"type":"container","name":"web","version":"v6",)"
     R"("owner":{"login":"acme"},"html_url":"https://git.example.com/acme/-/packages/x"}})",
     0, "v6", ""},
    {"gitea untagged package", {{"x-gitea-event", "package"}},
     R"({"action":"created","package":{"type":"container","name":"web","version":"sha256:0a",)"
     R"("owner":{"login":"acme"},"html_url":"https://git.example.com/acme/-/packages/x"}})",
     200, "", ""},
    {"gitea npm package", {{"x-gitea-event", "package"}},
     R"({"action":"created","package":{"type":"npm","name":"web","version":"1.0.0",)"
     R"("owner":{"login":"acme"},"html_url":"https://git.example.com/acme/-/packages/x"}})",
     200, "", ""},
    {"gitea branch created", {{"x-gitea-event", "create"}}, R"({"ref":"main","ref_type":"branch"})",
     200, "", ""},
    {"gitlab tag push", {{"x-gitlab-event", "Tag Push Hook"}}, push_body("refs/tags/v3"), 0, "v3",
     ""},
    {"gitlab branch push", {{"x-gitlab-event", "Push Hook"}}, push_body("refs/heads/main"), 200,
     "", ""},
    {"gitlab tag deleted", {{"x-gitlab-event", "Tag Push Hook"}},
     push_body("refs/tags/v3", "0000000000000000000000000000000000000000"), 200, "", ""},
    {"gitlab issue", {{"x-gitlab-event", "Issue Hook"}}, R"({"object_kind":"issue"})", 200, "",
     ""},
    {"gitea tag push", {{"x-gitea-event", "push"}}, push_body("refs/tags/v4"), 0, "v4", ""},
    {"gitea create tag", {{"x-gitea-event", "create"}}, R"({"ref":"v5","ref_type":"tag"})", 0,
     "v5", ""},
    {"malformed", {}, R"({"tag":)", 400, "", ""},
    {"not an object", {}, R"(["v1"])", 400, "", ""},
    {"no tag", {}, R"({"stage":"production"})", 422, "", ""},
    {"empty body", {}, "", 422, "", ""},
    {"tag not a string", {}, R"({"tag":12})", 400, "", ""},
    {"stage not a string", {}, R"({"tag":"v1","stage":1})", 400, "", ""},
    {"force not a boolean", {}, R"({"tag":"v1","force":"yes"})", 400, "", ""},
    {"invalid tag", {}, R"({"tag":"../etc"})", 400, "", ""},
    {"invalid tag from a push", {{"x-gitea-event", "push"}}, push_body("refs/tags/-x"), 400, "",
     ""},
    {"deep nesting", {}, std::string(100, '[') + std::string(100, ']'), 400, "", ""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto got = tf::read_project_payload(r.headers, r.body);
    CHECK(status_of(got) == r.status);
    CHECK(got.target.tag == r.tag);
    CHECK(got.target.stage == r.stage);
    CHECK(got.ignored() == (r.status == 200));
    if (r.status != 0)
      CHECK_FALSE(got.message.empty());
  }
  // The image a registry event is about, for the store to compare with the project's.
  auto gh = tf::read_project_payload({{"x-github-event", "package"}}, github_package_body("v2"));
  CHECK(gh.target.image == "ghcr.io/tinyforge-test/web");
  auto gitea = tf::read_project_payload(
    {{"x-gitea-event", "package"}},
    R"({"action":"created","package":{"type":"container","name":"Web","version":"v6",)"
    R"("owner":{"login":"Acme"},"html_url":"https://git.example.com:3000/Acme/-/packages"}})");
  CHECK(gitea.target.image == "git.example.com:3000/acme/web");
  CHECK(tf::read_project_payload({}, R"({"tag":"v1"})").target.image.empty());
  CHECK(tf::read_project_payload({}, R"({"tag":"v1","force":true})").target.force);
  CHECK_FALSE(tf::read_project_payload({}, R"({"tag":"v1"})").target.force);
}

// -- through the daemon's parts ----------------------------------------------------------------

TEST_CASE_FIXTURE(webhook_fixture, "a plain body answers 202 at once and its deploy runs") {
  auto w = make_project();
  auto a = post(w.webhook_secret, R"({"tag":"v1"})");
  auto id = accepted(a);
  auto d = deployment(id);
  CHECK(str(d, "trigger") == "webhook");
  CHECK(str(d, "tag") == "v1");
  // The deploy is the deployer's ordinary one: it reaches succeeded.
  auto status = wait_deploy_end(id);
  INFO("deployment: ", id);
  CHECK(status == "succeeded");
  // The stage named in the body is the one deployed; without one, the first stage.
  auto staged = accepted(post(w.webhook_secret, R"({"tag":"v2","stage":"staging"})"));
  auto ds = deployment(staged);
  auto dp = deployment(id);
  CHECK(str(ds, "stage_id") != str(dp, "stage_id"));
}

TEST_CASE_FIXTURE(webhook_fixture, "Tinyforge's signature: right, wrong, too old") {
  auto w = make_project();
  const std::string body = R"({"tag":"v1"})";
  auto signed_headers = [&](int64_t when, const std::string& key) {
    auto ts = std::to_string(when);
    return httplib::Headers{{"X-Tinyforge-Timestamp", ts},
                            {"X-Tinyforge-Signature", "sha256=" + hmac_hex(key, ts + "." + body)}};
  };
  accepted(post(w.webhook_secret, body, signed_headers(unix_now(), w.webhook_signing_secret)));
  refused(post(w.webhook_secret, body, signed_headers(unix_now(), w.webhook_secret)), 401,
          "unauthorized");
  refused(post(w.webhook_secret, body,
               signed_headers(unix_now() - 301 - 5, w.webhook_signing_secret)),
          401, "unauthorized");
  auto a = post(w.webhook_secret, body, signed_headers(unix_now() - 400, w.webhook_signing_secret));
  refused(a, 401, "unauthorized");
  CHECK(str(a.doc["error"], "message").find("5 minutes") != std::string::npos);
}

TEST_CASE_FIXTURE(webhook_fixture, "GitHub: a signed package event deploys its tag, a bad signature is 401") {
  auto w = make_project(ghcr_image);
  auto body = github_package_body("v2");
  auto id = accepted(post(w.webhook_secret, body, github_package(w, body, "gh-1")));
  CHECK(str(deployment(id), "tag") == "v2");
  refused(post(w.webhook_secret, body,
               {{"X-GitHub-Event", "package"},
                {"X-Hub-Signature-256", "sha256=" + hmac_hex(w.webhook_signing_secret, body + "x")}}),
          401, "unauthorized");
}

TEST_CASE_FIXTURE(webhook_fixture, "Gitea and GitLab: signed tag pushes deploy their tag, wrong ones are 401") {
  auto w = make_project();
  auto gitea = push_body("refs/tags/v2");
  auto id = accepted(post(w.webhook_secret, gitea,
                          {{"X-Gitea-Event", "push"},
                           {"X-Gitea-Signature", hmac_hex(w.webhook_signing_secret, gitea)}}));
  CHECK(str(deployment(id), "tag") == "v2");
  refused(post(w.webhook_secret, gitea,
               {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", hmac_hex("nope", gitea)}}),
          401, "unauthorized");
  // A branch push is well-formed but names no tag: 200, so Gitea shows the hook as working.
  auto branch = push_body("refs/heads/main");
  auto ignored = post(w.webhook_secret, branch,
                      {{"X-Gitea-Event", "push"},
                       {"X-Gitea-Signature", hmac_hex(w.webhook_signing_secret, branch)}});
  CHECK(ignored.status == 200);
  CHECK(str(ignored.doc, "status") == "ignored");

  auto gitlab = push_body("refs/tags/v1");
  auto id2 = accepted(post(w.webhook_secret, gitlab,
                           {{"X-Gitlab-Event", "Tag Push Hook"},
                            {"X-Gitlab-Token", w.webhook_signing_secret}}));
  CHECK(str(deployment(id2), "tag") == "v1");
  refused(post(w.webhook_secret, gitlab,
               {{"X-Gitlab-Event", "Tag Push Hook"}, {"X-Gitlab-Token", w.webhook_secret}}),
          401, "unauthorized");
}

TEST_CASE_FIXTURE(webhook_fixture, "an unsigned delivery is accepted unless the workload requires a signature") {
  auto w = make_project();
  accepted(post(w.webhook_secret, R"({"tag":"v1"})"));
  require_signature(w, true);
  refused(post(w.webhook_secret, R"({"tag":"v1"})"), 401, "unauthorized");
  // Signed, it still goes through.
  const std::string body = R"({"tag":"v2"})";
  accepted(post(w.webhook_secret, body,
                {{"X-Hub-Signature-256", "sha256=" + hmac_hex(w.webhook_signing_secret, body)}}));
}

TEST_CASE_FIXTURE(webhook_fixture, "a new project requires a signature") {
  auto w = make_project("tinyforge-test/web", false);
  CHECK(w.webhook_require_signature);
  auto read = get_json("/api/workloads/" + w.id);
  CHECK(read["webhook_require_signature"].GetBool());
  refused(post(w.webhook_secret, R"({"tag":"v1"})"), 401, "unauthorized");
  CHECK(integer(deployments(w.id), "total") == 0);
  const std::string body = R"({"tag":"v2"})";
  accepted(post(w.webhook_secret, body,
                {{"X-Hub-Signature-256", "sha256=" + hmac_hex(w.webhook_signing_secret, body)}}));
}

TEST_CASE_FIXTURE(webhook_fixture, "a forged delivery is not replayable and deploys nothing") {
  auto w = make_project(ghcr_image, false);
  auto body = github_package_body("v6");
  refused(post(w.webhook_secret, body,
               {{"X-GitHub-Event", "package"},
                {"X-GitHub-Delivery", "forged-1"},
                {"X-Hub-Signature-256", "sha256=" + hmac_hex("not-the-secret", body)}}),
          401, "unauthorized");
  refused(post(w.webhook_secret, body, {{"X-GitHub-Event", "package"}}), 401, "unauthorized");
  auto list = deliveries(w.id);
  REQUIRE(integer(list, "total") == 2);
  for (auto& item : list["items"].GetArray()) {
    CHECK(str(item, "code") == "unauthorized");
    CHECK_FALSE(item["replayable"].GetBool());
    auto replay = to_answer(client().Post(
      ("/api/workloads/" + w.id + "/deliveries/" + str(item, "id") + "/replay").c_str(), "",
      json_type));
    refused(replay, 409, "not_replayable");
  }
  CHECK(integer(deployments(w.id), "total") == 0);
  CHECK(integer(deliveries(w.id), "total") == 2); // a refused replay records nothing
}

TEST_CASE_FIXTURE(webhook_fixture, "a captured Tinyforge delivery sent again with another or no delivery id deploys once") {
  auto w = make_project("tinyforge-test/web", false);
  const std::string body = R"({"tag":"v3"})";
  auto ts = std::to_string(unix_now());
  auto mac = hmac_hex(w.webhook_signing_secret, ts + "." + body);
  auto with_id = [&](const std::string& id, const std::string& sig) {
    httplib::Headers h{{"X-Tinyforge-Timestamp", ts}, {"X-Tinyforge-Signature", sig}};
    if (!id.empty())
      h.emplace("X-Tinyforge-Delivery", id);
    return h;
  };
  auto first = accepted(post(w.webhook_secret, body, with_id("d-1", "sha256=" + mac)));
  // Another id, no id, the MAC in upper case: each is the captured delivery again.
  std::string upper = mac;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& again : {post(w.webhook_secret, body, with_id("d-2", "sha256=" + mac)),
                            post(w.webhook_secret, body, with_id("", "sha256=" + mac)),
                            post(w.webhook_secret, body, with_id("d-3", "SHA256=" + upper))}) {
    INFO("body: ", again.body);
    CHECK(again.status == 200);
    CHECK(again.doc.HasMember("duplicate"));
    CHECK(str(again.doc, "deployment_id") == first);
  }
  CHECK(integer(deployments(w.id), "total") == 1);
  auto list = deliveries(w.id);
  CHECK(str(list["items"][0], "result") == "duplicate");
}

TEST_CASE_FIXTURE(webhook_fixture, "signed deliveries of one second with other bodies each deploy, even one whose MAC another row's headers spell") {
  // The signature dedupe first looks for the MAC's text in a row's kept headers, then
  // compares the signature header itself: a row that carries the text elsewhere (here as its
  // delivery id) is not the same delivery.
  auto w = make_project("tinyforge-test/web", false);
  auto ts = std::to_string(unix_now());
  const std::string first_body = R"({"tag":"v3"})", second_body = R"({"tag":"v4"})";
  auto second_mac = hmac_hex(w.webhook_signing_secret, ts + "." + second_body);
  auto signed_headers = [&](const std::string& body, const std::string& id) {
    httplib::Headers h{{"X-Tinyforge-Timestamp", ts},
                       {"X-Tinyforge-Signature",
                        "sha256=" + hmac_hex(w.webhook_signing_secret, ts + "." + body)}};
    if (!id.empty())
      h.emplace("X-Tinyforge-Delivery", id);
    return h;
  };
  auto first = accepted(post(w.webhook_secret, first_body, signed_headers(first_body, second_mac)));
  auto second = accepted(post(w.webhook_secret, second_body, signed_headers(second_body, "")));
  CHECK(first != second);
  CHECK(integer(deployments(w.id), "total") == 2);
  auto list = deliveries(w.id);
  REQUIRE(integer(list, "total") == 2);
  for (const auto& item : list["items"].GetArray())
    CHECK(str(item, "result") == "accepted");
}

TEST_CASE_FIXTURE(webhook_fixture, "an unknown secret is 404 with one body, whatever the path looks like") {
  auto w = make_project();
  auto real = post(w.webhook_secret, R"({"tag":"v1"})");
  accepted(real);
  std::vector<answer> misses;
  misses.push_back(post(std::string(64, 'a'), R"({"tag":"v1"})"));
  misses.push_back(post("x", R"({"tag":"v1"})"));
  misses.push_back(post(w.webhook_secret.substr(0, 63), R"({"tag":"v1"})"));
  misses.push_back(post(w.webhook_secret + "/extra", R"({"tag":"v1"})"));
  misses.push_back(post(std::string(300, 'b'), R"({"tag":"v1"})"));
  misses.push_back(post("", "not even json"));
  misses.push_back(to_answer(client().Post("/api/webhooks", "", json_type)));
  for (const auto& m : misses) {
    CHECK(m.status == 404);
    CHECK(m.body == misses.front().body);
  }
  CHECK(error_code_of(misses.front()) == "not_found");
}

TEST_CASE_FIXTURE(webhook_fixture, "after a rotation the old secret is 404 and the new one deploys") {
  auto w = make_project();
  // Resolved once before the rotation: the router keeps what a secret resolved to, and
  // the rotation must retire that too.
  accepted(post(w.webhook_secret, R"({"tag":"v0"})"));
  auto rotated = tf::http::ask<tf::workload>(sys, store.writer, 5s, tf::atom::rotate_v, w.id);
  REQUIRE(rotated);
  CHECK(rotated->webhook_secret != w.webhook_secret);
  refused(post(w.webhook_secret, R"({"tag":"v1"})"), 404, "not_found");
  accepted(post(rotated->webhook_secret, R"({"tag":"v1"})"));
  // The old signing secret no longer signs either.
  const std::string body = R"({"tag":"v1"})";
  refused(post(rotated->webhook_secret, body,
               {{"X-Hub-Signature-256", "sha256=" + hmac_hex(w.webhook_signing_secret, body)}}),
          401, "unauthorized");
}

TEST_CASE_FIXTURE(webhook_fixture, "a delivery id seen before is answered as a duplicate and not deployed twice") {
  auto w = make_project();
  auto first = accepted(post(w.webhook_secret, R"({"tag":"v1"})", {{"X-GitHub-Delivery", "d-1"}}));
  auto again = post(w.webhook_secret, R"({"tag":"v1"})", {{"X-GitHub-Delivery", "d-1"}});
  INFO("body: ", again.body);
  CHECK(again.status == 200);
  CHECK(again.doc.IsObject());
  CHECK(again.doc.HasMember("duplicate"));
  CHECK(str(again.doc, "deployment_id") == first);
  // Many at once with one new id: exactly one deploy.
  std::vector<std::thread> senders;
  std::atomic<int> n202{0}, n200{0}, other{0};
  std::mutex m;
  std::set<std::string> named; // every answer names the one deploy
  for (int i = 0; i < 8; ++i)
    senders.emplace_back([&] {
      auto a = post(w.webhook_secret, R"({"tag":"v2"})", {{"X-Gitea-Delivery", "d-2"}});
      (a.status == 202 ? n202 : a.status == 200 ? n200 : other)++;
      std::lock_guard<std::mutex> lock{m};
      named.insert(str(a.doc, "deployment_id"));
    });
  for (auto& t : senders)
    t.join();
  CHECK(n202 == 1);
  CHECK(n200 == 7);
  CHECK(other == 0);
  CHECK(named.size() == 1);
  CHECK(named.count("") == 0);
  auto deps = deployments(w.id);
  CHECK(integer(deps, "total") == 2);
  // Another workload may use the same delivery id.
  auto w2 = make_project();
  accepted(post(w2.webhook_secret, R"({"tag":"v1"})", {{"X-GitHub-Delivery", "d-1"}}));
}

TEST_CASE_FIXTURE(webhook_fixture, "bad bodies: malformed 400, no tag 422, invalid tag 400, unknown stage 422") {
  auto w = make_project();
  refused(post(w.webhook_secret, R"({"tag":)"), 400, "invalid_argument");
  refused(post(w.webhook_secret, R"({"stage":"production"})"), 422, "no_tag");
  refused(post(w.webhook_secret, R"({"tag":"has space"})"), 400, "invalid_argument");
  refused(post(w.webhook_secret, R"({"tag":"v1","stage":"nope"})"), 422, "no_stage");
  CHECK(integer(deployments(w.id), "total") == 0);
  // A stack's delivery is read as a stack's (a malformed body is refused before anything
  // is claimed; tests/stack_test.cpp deploys through one). A site's webhook is not wired yet.
  tf::stack st;
  st.name = unique_name("wh", "s");
  st.compose = "services:\n  web:\n    image: tinyforge-test/web:v1\n";
  auto made = tf::http::ask<tf::stack>(sys, store.writer, 5s, tf::atom::create_v, st);
  REQUIRE_MESSAGE(made, tf::error_message(made.error()));
  auto sw = workload(made->workload_id);
  require_signature(sw, false);
  refused(post(sw.webhook_secret, R"({"tag":)"), 400, "invalid_argument");
  tf::site si;
  si.name = unique_name("wh", "site");
  si.subdomain = si.name;
  auto site_made = tf::http::ask<tf::site>(sys, store.writer, 5s, tf::atom::create_v, si);
  REQUIRE_MESSAGE(site_made, tf::error_message(site_made.error()));
  auto siw = workload(site_made->workload_id);
  require_signature(siw, false);
  // A site's body is its archive: an empty one is the sender's error, not a missing feature.
  refused(post(siw.webhook_secret, ""), 400, "invalid_argument");
}

TEST_CASE_FIXTURE(webhook_fixture, "a body over the limit is 413 before it is read") {
  auto w = make_project();
  // Announced, never sent: only a server that does not read the body can answer.
  auto fd = connect_and_send(port, "POST /api/webhooks/" + w.webhook_secret
                                     + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       "Content-Type: application/json\r\n"
                                       "Content-Length: 10000000000\r\n\r\n");
  std::string buf;
  auto res = read_response(fd.get(), buf);
  REQUIRE(res);
  CHECK(res->status == 413);
  CHECK(lower(res->header("Connection")) == "close");
  // One byte over, sent whole: 413 as well, and nothing deployed.
  std::string big = R"({"tag":"v1","pad":")" + std::string(body_limit, 'x') + "\"}";
  refused(post(w.webhook_secret, big), 413, "payload_too_large");
  CHECK(integer(deployments(w.id), "total") == 0);
}

TEST_CASE_FIXTURE(webhook_fixture, "the delivery log lists every delivery and keeps no secret") {
  auto w = make_project();
  auto gitlab = push_body("refs/tags/v1");
  auto dep = accepted(post(w.webhook_secret, gitlab,
                           {{"X-Gitlab-Event", "Tag Push Hook"},
                            {"X-Gitlab-Event-UUID", "gl-1"},
                            {"X-Gitlab-Token", w.webhook_signing_secret}}));
  refused(post(w.webhook_secret, gitlab,
               {{"X-Gitlab-Event", "Tag Push Hook"}, {"X-Gitlab-Token", "wrong"}}),
          401, "unauthorized");
  post(w.webhook_secret, gitlab,
       {{"X-Gitlab-Event", "Tag Push Hook"},
        {"X-Gitlab-Event-UUID", "gl-1"},
        {"X-Gitlab-Token", w.webhook_signing_secret}});
  auto res = client().Get(("/api/workloads/" + w.id + "/deliveries").c_str());
  REQUIRE(res);
  REQUIRE(res->status == 200);
  CHECK(res->body.find(w.webhook_signing_secret) == std::string::npos);
  CHECK(res->body.find(w.webhook_secret) == std::string::npos);
  auto list = json_of(res->body);
  REQUIRE(integer(list, "total") == 3);
  const auto& items = list["items"];
  // Newest first.
  CHECK(str(items[0], "result") == "duplicate");
  CHECK(integer(items[0], "status") == 200);
  CHECK(str(items[0], "deployment_id") == dep);
  CHECK(str(items[1], "result") == "rejected");
  CHECK(integer(items[1], "status") == 401);
  CHECK(str(items[1], "code") == "unauthorized");
  CHECK_FALSE(items[0].HasMember("code")); // only a refusal has one
  CHECK(str(items[1], "signature") == "gitlab");
  CHECK(str(items[2], "result") == "accepted");
  CHECK(integer(items[2], "status") == 202);
  CHECK(str(items[2], "deployment_id") == dep);
  CHECK(str(items[2], "delivery_id") == "gl-1");
  CHECK(str(items[2], "event") == "Tag Push Hook");
  CHECK(str(items[2], "tag") == "v1");
  CHECK(str(items[2], "stage") == "production");
  CHECK(str(items[2], "source_addr") == "127.0.0.1");
  CHECK_FALSE(str(items[2], "received_at").empty());
  // Paging, and a workload that does not exist.
  auto one = client().Get(("/api/workloads/" + w.id + "/deliveries?limit=1&offset=2").c_str());
  REQUIRE(one);
  auto page = json_of(one->body);
  REQUIRE(page["items"].Size() == 1);
  CHECK(str(page["items"][0], "result") == "accepted");
  auto missing = to_answer(client().Get("/api/workloads/nope/deliveries"));
  refused(missing, 404, "not_found");
  refused(to_answer(client().Get(("/api/workloads/" + w.id + "/deliveries?limit=0").c_str())), 400,
          "invalid_argument");
}

TEST_CASE_FIXTURE(webhook_fixture, "a replay re-runs a recorded delivery as a new deploy") {
  auto w = make_project(ghcr_image);
  auto body = github_package_body("v2");
  auto first = accepted(post(w.webhook_secret, body, github_package(w, body, "gh-9")));
  auto list = deliveries(w.id);
  auto delivery = str(list["items"][0], "id");
  REQUIRE_FALSE(delivery.empty());
  auto replay = to_answer(client().Post(
    ("/api/workloads/" + w.id + "/deliveries/" + delivery + "/replay").c_str(), "", json_type));
  auto second = accepted(replay);
  CHECK(second != first);
  CHECK(str(deployment(second), "tag") == "v2");
  CHECK(integer(deployments(w.id), "total") == 2);
  auto after = deliveries(w.id);
  CHECK(str(after["items"][0], "replay_of") == delivery);
  CHECK(str(after["items"][0], "signature") == "replay");
  CHECK(str(after["items"][0], "deployment_id") == second);
  // A delivery of another workload, or none: 404.
  auto w2 = make_project();
  refused(to_answer(client().Post(
            ("/api/workloads/" + w2.id + "/deliveries/" + delivery + "/replay").c_str(), "",
            json_type)),
          404, "not_found");
  refused(to_answer(client().Post(("/api/workloads/" + w.id + "/deliveries/nope/replay").c_str(),
                                  "", json_type)),
          404, "not_found");
}

// -- recorded payloads of the real senders (tests/data/webhooks, see its README) --------------

namespace {

struct recorded_delivery {
  std::string body;
  httplib::Headers headers;
};

/// tests/data/webhooks/<name>.json as sent, with the headers of <name>.headers and the
/// signature its sender would add with `signing_secret`.
recorded_delivery recorded(const std::string& name, const std::string& signing_secret) {
  const std::string base = std::string{TINYFORGE_SOURCE_DIR} + "/tests/data/webhooks/" + name;
  recorded_delivery r;
  std::ifstream body{base + ".json", std::ios::binary};
  REQUIRE_MESSAGE(body, "no fixture ", base, ".json");
  r.body.assign(std::istreambuf_iterator<char>{body}, {});
  std::ifstream headers{base + ".headers"};
  REQUIRE_MESSAGE(headers, "no fixture ", base, ".headers");
  std::string line;
  std::string sender;
  while (std::getline(headers, line)) {
    auto colon = line.find(": ");
    if (line.empty() || colon == std::string::npos)
      continue;
    auto name_part = line.substr(0, colon);
    r.headers.emplace(name_part, line.substr(colon + 2));
    if (name_part == "X-Gitea-Event")
      sender = "gitea";
    else if (name_part == "X-Gitlab-Event")
      sender = "gitlab";
    else if (name_part == "X-GitHub-Event" && sender.empty())
      sender = "github";
  }
  if (sender == "github")
    r.headers.emplace("X-Hub-Signature-256", "sha256=" + hmac_hex(signing_secret, r.body));
  else if (sender == "gitea")
    r.headers.emplace("X-Gitea-Signature", hmac_hex(signing_secret, r.body));
  else if (sender == "gitlab")
    r.headers.emplace("X-Gitlab-Token", signing_secret);
  return r;
}

/// One recorded payload, what the project's image is, and the documented answer.
struct recorded_case {
  const char* fixture;
  int status;         // 202 or 200
  const char* result; // the delivery log's result
  const char* tag;    // the tag deployed or looked at, "" for none
};

} // namespace

TEST_CASE("webhook payloads: every recorded sender payload reads as documented") {
  struct row {
    const char* fixture;
    int64_t status; // 0 deploy, 200 ignored
    const char* tag;
    const char* image;
  };
  const row rows[] = {
    {"github-ping", 200, "", ""},
    {"github-registry_package-untagged", 200, "", ""},
    {"github-registry_package-tagged", 0, "v1", "ghcr.io/tinyforge-fixture/web"},
    {"github-registry_package-other-package", 0, "v1", "ghcr.io/other-org/worker"},
    {"github-package-tagged", 0, "v2", "ghcr.io/tinyforge-fixture/web"},
    {"github-push-tag", 200, "", ""},
    {"github-push-branch", 200, "", ""},
    {"gitea-push-branch", 200, "", ""},
    {"gitea-push-tag", 0, "v1", ""},
    {"gitea-create-tag", 0, "v1", ""},
    {"gitea-package-container", 0, "v2", "gitea.example.com/gitea/web"},
    {"gitea-package-untagged", 200, "", ""},
    {"gitlab-tag-push", 0, "v1.0.0", ""},
    {"gitlab-tag-delete", 200, "", ""},
    {"gitlab-push", 200, "", ""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.fixture);
    auto d = recorded(r.fixture, "secret");
    tf::webhook_headers headers;
    for (const auto& h : d.headers)
      headers[lower(h.first)] = h.second;
    auto got = tf::read_project_payload(headers, d.body);
    CHECK(status_of(got) == r.status);
    CHECK(got.target.tag == r.tag);
    CHECK(got.target.image == r.image);
  }
}

TEST_CASE_FIXTURE(webhook_fixture, "every recorded sender payload gets its documented answer from the daemon") {
  // Each sender's hook points at its own project; the cases of one project run in order.
  struct group {
    const char* image;
    std::vector<recorded_case> cases;
  };
  const group groups[] = {
    {"ghcr.io/tinyforge-fixture/web",
     {{"github-ping", 200, "ignored", ""},
      {"github-registry_package-untagged", 200, "ignored", ""},
      {"github-registry_package-other-package", 200, "ignored", "v1"},
      {"github-registry_package-tagged", 202, "accepted", "v1"},
      {"github-package-tagged", 202, "accepted", "v2"},
      {"github-push-tag", 200, "ignored", ""},
      {"github-push-branch", 200, "ignored", ""}}},
    {"gitea.example.com/gitea/web",
     {{"gitea-package-untagged", 200, "ignored", ""},
      {"gitea-package-container", 202, "accepted", "v2"}}},
    {"registry.gitlab.example.com/jsmith/example",
     {{"gitlab-push", 200, "ignored", ""},
      {"gitlab-tag-push", 202, "accepted", "v1.0.0"},
      {"gitlab-tag-delete", 200, "ignored", ""}}},
  };
  for (const auto& g : groups) {
    auto w = make_project(g.image);
    int deploys = 0;
    for (const auto& c : g.cases) {
      CAPTURE(c.fixture);
      auto d = recorded(c.fixture, w.webhook_signing_secret);
      auto a = to_answer(client().Post(("/api/webhooks/" + w.webhook_secret).c_str(), d.headers,
                                       d.body, json_type));
      INFO("body: ", a.body);
      CHECK(a.status == c.status);
      if (c.status == 202) {
        ++deploys;
        CHECK(str(deployment(accepted(a)), "tag") == c.tag);
      } else {
        CHECK(str(a.doc, "status") == c.result);
        CHECK_FALSE(str(a.doc, "reason").empty());
      }
      auto log = deliveries(w.id);
      const auto& newest = log["items"][0];
      CHECK(str(newest, "result") == c.result);
      CHECK(integer(newest, "status") == c.status);
      CHECK(str(newest, "tag") == c.tag);
      CHECK(str(newest, "signature") != "none");
      if (c.status == 200)
        CHECK_FALSE(str(newest, "error").empty());
    }
    CHECK(integer(deployments(w.id), "total") == deploys);
  }
}

TEST_CASE_FIXTURE(webhook_fixture, "Gitea's create and push of one tag deploy it once") {
  auto w = make_project();
  auto push = recorded("gitea-push-tag", w.webhook_signing_secret);
  auto create = recorded("gitea-create-tag", w.webhook_signing_secret);
  auto first = to_answer(client().Post(("/api/webhooks/" + w.webhook_secret).c_str(),
                                       push.headers, push.body, json_type));
  auto id = accepted(first);
  // Whether the deploy of v1 is still on its way or done by now, v1 is what the stage gets.
  auto second = to_answer(client().Post(("/api/webhooks/" + w.webhook_secret).c_str(),
                                        create.headers, create.body, json_type));
  INFO("body: ", second.body);
  CHECK(second.status == 200);
  CHECK(str(second.doc, "status") == "unchanged");
  CHECK_FALSE(str(second.doc, "reason").empty());
  auto named = str(second.doc, "deployment_id");
  CHECK((named == id || named.empty()));
  CHECK(integer(deployments(w.id), "total") == 1);
  auto log = deliveries(w.id);
  CHECK(str(log["items"][0], "result") == "unchanged");
  CHECK(str(log["items"][0], "event") == "create");
  CHECK(str(log["items"][1], "result") == "accepted");
}

TEST_CASE_FIXTURE(webhook_fixture, "a tag the stage serves is unchanged unless forced, and /metrics counts the results") {
  auto w = make_project();
  auto id = accepted(post(w.webhook_secret, R"({"tag":"v1"})"));
  auto status = wait_deploy_end(id);
  REQUIRE(status == "succeeded");
  auto again = post(w.webhook_secret, R"({"tag":"v1"})");
  INFO("body: ", again.body);
  CHECK(again.status == 200);
  CHECK(str(again.doc, "status") == "unchanged");
  CHECK(again.doc["deployment_id"].IsNull());
  CHECK(str(again.doc, "reason").find("already serves v1") != std::string::npos);
  refused(post(w.webhook_secret, R"({"tag":"v1","force":1})"), 400, "invalid_argument");
  auto forced = accepted(post(w.webhook_secret, R"({"tag":"v1","force":true})"));
  CHECK(forced != id);
  // The API: a deploy of the served tag is a deliberate redeploy; a deploy of the tag on
  // its way is the answer itself unless forced.
  auto project = json_of(client().Get("/api/projects?limit=500")->body);
  std::string project_id;
  for (const auto& p : project["items"].GetArray())
    if (str(p, "workload_id") == w.id)
      project_id = str(p, "id");
  REQUIRE_FALSE(project_id.empty());
  const auto deploy_url = "/api/projects/" + project_id + "/stages/staging/deploy";
  auto api = to_answer(client().Post(deploy_url.c_str(), R"({"tag":"v2","force":"no"})", json_type));
  refused(api, 400, "invalid_argument");
  api = to_answer(client().Post(deploy_url.c_str(), R"({"tag":"v2"})", json_type));
  CHECK(api.status == 202);
  CHECK(str(api.doc, "status") == "queued");
  auto forced_api =
    to_answer(client().Post(deploy_url.c_str(), R"({"tag":"v2","force":true})", json_type));
  CHECK(forced_api.status == 202);
  CHECK(str(forced_api.doc, "deployment_id") != str(api.doc, "deployment_id"));
  // Ignored, unchanged and accepted deliveries, as /metrics counts them.
  post(w.webhook_secret, R"({"zen":"hi"})", {{"X-GitHub-Event", "ping"}});
  auto metrics = client().Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("tinyforge_webhook_deliveries{result=\"unchanged\"} 1")
        != std::string::npos);
  CHECK(metrics->body.find("tinyforge_webhook_deliveries{result=\"ignored\"} 1")
        != std::string::npos);
  CHECK(metrics->body.find("tinyforge_webhook_deliveries{result=\"accepted\"} 2")
        != std::string::npos);
}

// The capture logger is swapped in before the fixture starts any thread and swapped back
// after the fixture has stopped them all: spdlog's default logger must not be replaced while
// another thread logs through it.
TEST_CASE("no log line carries a webhook secret") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", sink);
  capture->set_level(spdlog::level::debug);
  spdlog::set_default_logger(capture);
  std::string secret;
  const std::string unknown(64, 'c');
  {
    webhook_fixture f;
    auto w = f.make_project();
    secret = w.webhook_secret;
    accepted(f.post(w.webhook_secret, R"({"tag":"v1"})"));
    refused(f.post(w.webhook_secret, R"({"tag":"v1"})", {{"X-Gitlab-Token", "wrong"}}), 401,
            "unauthorized");
    refused(f.post(unknown, R"({"tag":"v1"})"), 404, "not_found");
  }
  spdlog::set_default_logger(previous);
  auto text = out.str();
  INFO("log: ", text);
  CHECK_FALSE(secret.empty());
  CHECK(text.find(secret) == std::string::npos);
  CHECK(text.find(unknown) == std::string::npos);
  CHECK(text.find(tf::secret_fingerprint(unknown)) != std::string::npos);
  // The request log (debug) names the path with the secret's fingerprint.
  CHECK(text.find("/api/webhooks/<secret sha256:" + tf::secret_fingerprint(secret) + ">")
        != std::string::npos);
}
