// Notifications (spec section 5) end to end, in-process: the real store on a temporary
// database, the real Docker host actors and project deployer (proxy provider none, a private
// slot port range), the notifier, and tf::http::server on an ephemeral port. Receivers are
// small httplib servers on 127.0.0.1 inside the test; what they get is checked as a receiver
// would check it (the signature recomputed here with OpenSSL, not with the code under test).
// Deploys really run (tinyforge-test/web:v1). Every container a test's workloads made is
// removed when the test ends.
#include <doctest/doctest.h>

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "actors/notifier.hpp"
#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "deploy_api_fixture.hpp"
#include "deploy_harness.hpp"
#include "expect.hpp"
#include "http/ask.hpp"
#include "http/server.hpp"
#include "net.hpp"
#include "net/address_policy.hpp"
#include "net/json.hpp"
#include "signing.hpp"
#include "store/database.hpp"
#include "store/secrets.hpp"
#include "store/migrations.hpp"
#include "store/notifications.hpp"
#include "store/containers.hpp"
#include "store/projects.hpp"
#include "store/stacks.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <httplib.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json_type = "application/json";

/// One POST a receiver got.
struct received {
  std::string event, delivery, timestamp, signature, content_type, body;
};

/// A small HTTP receiver on 127.0.0.1:<ephemeral>. `answer` picks the status of each POST
/// (by its 0-based index); `hold` makes the handler wait until release() before answering,
/// so the receiver accepts and does not answer.
class receiver {
public:
  explicit receiver(std::function<int(size_t)> answer = [](size_t) { return 200; },
                    bool hold = false)
    : answer_{std::move(answer)}, holding_{hold} {
    server_ = std::make_unique<loopback_server>([this](httplib::Server& srv) {
      srv.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
        size_t index = 0;
        {
          std::unique_lock<std::mutex> lock{m_};
          index = got_.size();
          got_.push_back({req.get_header_value("X-Tinyforge-Event"),
                          req.get_header_value("X-Tinyforge-Delivery"),
                          req.get_header_value("X-Tinyforge-Timestamp"),
                          req.get_header_value("X-Tinyforge-Signature"),
                          req.get_header_value("Content-Type"), req.body});
          cv_.notify_all();
          cv_.wait(lock, [this] { return !holding_; });
        }
        res.status = answer_(index);
        res.set_content("{}", json_type);
      });
    });
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  /// Answers what it holds, then the server stops.
  ~receiver() { release(); }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  /// Lets held requests (and any later one) be answered.
  void release() {
    std::lock_guard<std::mutex> lock{m_};
    holding_ = false;
    cv_.notify_all();
  }

  /// Waits (at most `limit`) until `n` POSTs arrived; all of them so far.
  std::vector<received> wait_for(size_t n, std::chrono::milliseconds limit = 60s) {
    std::unique_lock<std::mutex> lock{m_};
    cv_.wait_for(lock, limit, [&] { return got_.size() >= n; });
    return got_;
  }

  std::vector<received> all() {
    std::lock_guard<std::mutex> lock{m_};
    return got_;
  }

private:
  std::function<int(size_t)> answer_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<received> got_;
  bool holding_ = false;
  /// Last: it stops (and its handlers end) before the state they use goes.
  std::unique_ptr<loopback_server> server_;
};

/// The first received POST of `event`, if any.
const received* find_event(const std::vector<received>& xs, const std::string& event) {
  for (const auto& x : xs)
    if (x.event == event)
      return &x;
  return nullptr;
}

/// Retries fast, so the tests that wait for them are short.
tf::notifier_settings fast_settings() {
  tf::notifier_settings s;
  s.backoff = 50ms;
  s.max_attempts = 3;
  s.timeout = 5s;
  s.connect_timeout = 2s;
  // The receivers here listen on 127.0.0.1: loopback targets must be allowed
  // (notify.private_targets "allow"); the refusal has its own tests.
  s.targets.allow_private = true;
  return s;
}

struct notifier_fixture : deploy_api_fixture {
  /// `private_targets`: the API server's notify.private_targets.
  explicit notifier_fixture(tf::notifier_settings ns = fast_settings(),
                            const std::string& private_targets = "refuse")
    : deploy_api_fixture{"notifier-test"} {
    notifier = tf::start_notifier(sys, ns, store);
    docker = start_test_docker_host(sys, store, notifier);
    auto cfg = deploy_config(4);
    cfg.notify_private_targets = private_targets;
    start(cfg);
  }

  /// PATCH /api/workloads/{id} with `notification_url`: status and body.
  std::pair<int, std::string> patch_url(const tf::workload& w, const std::string& url) {
    auto body = tf::net::make_json([&](tf::net::json_writer& jw) {
      jw.StartObject();
      tf::net::field(jw, "notification_url", url);
      jw.EndObject();
    });
    auto res = client().Patch(("/api/workloads/" + w.id).c_str(), body, json_type);
    REQUIRE(res);
    return {res->status, res->body};
  }

  httplib::Client client() const {
    return bearer_client(port, token, {5s, 40s, 5s});
  }

  /// A project with one stage "production"; its id and workload row.
  std::pair<std::string, tf::workload> make_project() {
    auto name = unique_name("nt", "p");
    auto body = R"({"name":")" + name
                + R"(","image":"tinyforge-test/web","stages":[)"
                  R"({"name":"production","port":8080,"instances":1,"health_path":"/up"}]})";
    auto doc = create_project(body);
    return {str(doc, "id"), workload(str(doc, "workload_id"))};
  }

  caf::expected<tf::workload> set_url(const tf::workload& w, const std::string& url) {
    tf::patch<tf::workload> p;
    p.id = w.id;
    p.fields = {"notification_url"};
    p.value.notification_url = url;
    return tf::http::ask<tf::workload>(sys, store.writer, 5s, tf::atom::update_v, p);
  }

  /// POST .../deploy; the deployment id.
  std::string deploy(const std::string& project_id, const std::string& tag) {
    auto res = client().Post(("/api/projects/" + project_id + "/stages/production/deploy").c_str(),
                             R"({"tag":")" + tag + R"("})", json_type);
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 202, res->body);
    auto id = str(json_of(res->body), "deployment_id");
    REQUIRE_FALSE(id.empty());
    return id;
  }

  /// Polls the deployment until it has finished; its status.
  std::string wait_finished(const std::string& id) {
    std::string status;
    poll_until(
      90s,
      [&] {
        auto res = client().Get(("/api/deployments/" + id).c_str());
        if (res && res->status == 200)
          status = str(json_of(res->body), "status");
        return status == "succeeded" || status == "failed" || status == "superseded";
      },
      100ms);
    return status;
  }

  /// GET /api/workloads/{id}/notifications: status and document.
  std::pair<int, rapidjson::Document> notifications(const std::string& workload_id,
                                                    const std::string& query = "") {
    auto res = client().Get(("/api/workloads/" + workload_id + "/notifications" + query).c_str());
    REQUIRE(res);
    return {res->status, json_of(res->body)};
  }

  /// Polls the notifications of a workload until `done(items)`; the last items seen.
  template <class Done>
  rapidjson::Document wait_notifications(const std::string& workload_id, Done done) {
    rapidjson::Document last;
    poll_until(
      60s,
      [&] {
        auto [status, doc] = notifications(workload_id, "?limit=500");
        if (status != 200 || !doc.IsObject() || !doc["items"].IsArray())
          return false;
        last = std::move(doc);
        return done(last["items"]);
      },
      50ms);
    return last;
  }

  tf::notifier_stats stats() {
    auto s = tf::http::ask<tf::notifier_stats>(sys, notifier, 5s, tf::atom::status_v);
    REQUIRE(s);
    return *s;
  }

  void notify(tf::notification_event ev) { caf::anon_send(notifier, tf::atom::notify_v, std::move(ev)); }
};

/// The lines spdlog's default logger writes while it lives, instead of stderr. Made before the
/// fixture starts any thread and gone after it stopped them all (the default logger must not
/// be replaced while another thread logs through it).
class log_capture {
public:
  log_capture() : previous_{spdlog::default_logger()} {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  ~log_capture() { spdlog::set_default_logger(previous_); }

  /// The lines so far that contain `text`.
  std::vector<std::string> lines_with(const std::string& text) { return sink_->lines_with(text); }

  /// Waits (at most `limit`) until a line contains `text`; whether one does.
  bool wait_for(const std::string& text, std::chrono::milliseconds limit = 60s) {
    return sink_->wait_for(text, limit);
  }

private:
  struct sink : spdlog::sinks::base_sink<std::mutex> {
    std::vector<std::string> lines;
    std::condition_variable cv;
    std::vector<std::string> lines_with(const std::string& text) {
      std::lock_guard<std::mutex> lock{mutex_};
      std::vector<std::string> out;
      for (const auto& l : lines)
        if (l.find(text) != std::string::npos)
          out.push_back(l);
      return out;
    }
    bool wait_for(const std::string& text, std::chrono::milliseconds limit) {
      std::unique_lock<std::mutex> lock{mutex_};
      return cv.wait_for(lock, limit, [&] {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& l) { return l.find(text) != std::string::npos; });
      });
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override { // under mutex_
      lines.emplace_back(msg.payload.data(), msg.payload.size());
      cv.notify_all();
    }
    void flush_() override {}
  };
  std::shared_ptr<sink> sink_ = std::make_shared<sink>();
  std::shared_ptr<spdlog::logger> previous_;
};

/// An event of `workload_id` as a deployer would report it.
tf::notification_event event_of(const std::string& event, const std::string& workload_id,
                                const std::string& deployment_id = "") {
  tf::notification_event ev;
  ev.event = event;
  ev.workload_id = workload_id;
  ev.deployment_id = deployment_id;
  return ev;
}

/// Attempts in `items` of `event` with `outcome`.
size_t count_of(const rapidjson::Value& items, const std::string& event,
                const std::string& outcome) {
  size_t n = 0;
  for (const auto& a : items.GetArray())
    if (str(a, "event") == event && str(a, "outcome") == outcome)
      ++n;
  return n;
}

tf::store::database migrated_db(const std::string& path) {
  auto db = tf::store::database::open(path, tf::store::database::mode::read_write);
  REQUIRE(db);
  REQUIRE(tf::store::migrate(*db));
  REQUIRE(tf::store::unlock_secrets(*db, tf::store::key_path_for(path)));
  return std::move(*db);
}

/// A migrated database in a directory of its own, for the tests of the store's part.
struct db_fixture {
  temp_dir dir;
  tf::store::database db = migrated_db(dir.file("t.db"));
};

} // namespace

// -- the pure parts ---------------------------------------------------------------------------

TEST_CASE("notifier: body, signature headers, backoff and URL redaction") {
  tf::workload w;
  w.id = "w1";
  w.name = "api";
  w.kind = "project";
  auto ev = event_of("deploy.succeeded", "w1", "d1");
  ev.tag = "v\"2";
  ev.at = "2026-01-01T00:00:00.000Z";
  auto body = tf::notification_body(ev, w, "production");
  auto doc = json_of(body);
  REQUIRE(doc.IsObject());
  CHECK(str(doc, "event") == "deploy.succeeded");
  CHECK(str(doc, "workload_id") == "w1");
  CHECK(str(doc, "workload_name") == "api");
  CHECK(str(doc, "kind") == "project");
  CHECK(str(doc, "deployment_id") == "d1");
  CHECK(str(doc, "stage") == "production");
  CHECK(str(doc, "tag") == "v\"2");
  CHECK(str(doc, "at") == "2026-01-01T00:00:00.000Z");
  CHECK_FALSE(doc.HasMember("error")); // fields that do not apply are left out
  CHECK_FALSE(doc.HasMember("container_id"));

  auto h = tf::notification_headers("deploy.succeeded", "del-1", "s3cret", body, 1700000000);
  CHECK(h["X-Tinyforge-Event"] == "deploy.succeeded");
  CHECK(h["X-Tinyforge-Delivery"] == "del-1");
  CHECK(h["X-Tinyforge-Timestamp"] == "1700000000");
  CHECK(h["X-Tinyforge-Signature"] == "sha256=" + hmac_hex("s3cret", "1700000000." + body));
  CHECK(h["Content-Type"] == "application/json");
  CHECK(tf::notification_headers("e", "d", "", body, 1).count("X-Tinyforge-Signature") == 0);

  tf::notifier_settings s;
  s.backoff = 1000ms;
  s.max_backoff = 5000ms;
  CHECK(tf::notification_backoff(s, 1) == 1000ms);
  CHECK(tf::notification_backoff(s, 2) == 2000ms);
  CHECK(tf::notification_backoff(s, 3) == 4000ms);
  CHECK(tf::notification_backoff(s, 4) == 5000ms);
  CHECK(tf::notification_backoff(s, 60) == 5000ms);

  using tf::store::redact_url;
  CHECK(redact_url("https://user:pw@hooks.example.com:8443/x/y?token=abc#frag")
        == "https://hooks.example.com:8443/x/y");
  CHECK(redact_url("http://example.com?key=1") == "http://example.com");
  CHECK(redact_url("http://example.com/a@b") == "http://example.com/a@b");
  CHECK(redact_url("http://u@example.com") == "http://example.com");
  CHECK(redact_url("http://" + std::string(3000, 'a')).size() == 512);

  CHECK(tf::is_notification_event("container.missing"));
  CHECK_FALSE(tf::is_notification_event("deploy.exploded"));
}

// -- the store's part --------------------------------------------------------------------------

TEST_CASE_FIXTURE(db_fixture, "notification attempts: recorded redacted, listed newest first, bounded, cascaded") {
  tf::project p;
  p.name = "api";
  p.image = "registry.example.com/api";
  tf::stage s;
  s.name = "production";
  s.port = 8080;
  p.stages.push_back(s);
  auto created = tf::store::create_project(db, p);
  REQUIRE(created);
  auto wid = created->workload_id;

  tf::notification_attempt a;
  a.workload_id = wid;
  a.delivery_id = "del";
  a.event = "deploy.started";
  a.url = "https://user:pw@example.com/hook?token=secret";
  a.attempt = 1;
  a.status = 500;
  a.error = "the receiver answered 500";
  a.outcome = "retrying";
  REQUIRE_FALSE(tf::store::record_notification_attempt(db, a));
  a.attempt = 2;
  a.status = 200;
  a.error.clear();
  a.outcome = "delivered";
  REQUIRE_FALSE(tf::store::record_notification_attempt(db, a));

  auto page = tf::store::list_notification_attempts(db, wid, 50, 0);
  REQUIRE(page);
  CHECK(page->total == 2);
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0].attempt == 2);
  CHECK(page->items[0].outcome == "delivered");
  CHECK(page->items[1].status == 500);
  for (const auto& x : page->items)
    CHECK(x.url == "https://example.com/hook"); // no credentials, no token

  SUBCASE("bad values are refused") {
    auto bad = a;
    bad.outcome = "maybe";
    CHECK(tf::error_code(tf::store::record_notification_attempt(db, bad))
          == tf::ec::invalid_argument);
    bad = a;
    bad.workload_id = "no-such-workload";
    CHECK(tf::error_code(tf::store::record_notification_attempt(db, bad)) == tf::ec::not_found);
  }
  SUBCASE("the log keeps the newest rows of each workload") {
    for (int i = 0; i < tf::store::max_notification_attempts_per_workload + 5; ++i) {
      a.attempt = 1;
      a.delivery_id = "bulk-" + std::to_string(i);
      REQUIRE_FALSE(tf::store::record_notification_attempt(db, a));
    }
    auto bounded = tf::store::list_notification_attempts(db, wid, 1, 0);
    REQUIRE(bounded);
    CHECK(bounded->total == tf::store::max_notification_attempts_per_workload);
    CHECK(bounded->items[0].delivery_id
          == "bulk-" + std::to_string(tf::store::max_notification_attempts_per_workload + 4));
  }
  SUBCASE("deleting the workload deletes its log") {
    REQUIRE_FALSE(tf::store::delete_project(db, created->id));
    auto gone = tf::store::list_notification_attempts(db, wid, 50, 0);
    REQUIRE(gone);
    CHECK(gone->total == 0);
  }
}

TEST_CASE_FIXTURE(db_fixture, "reconcile reports rows it moves into failed, the sweep the rows it marks missing") {
  tf::stack st;
  st.name = "shop";
  st.compose = "services:\n  web:\n    image: nginx\n";
  auto created = tf::store::create_stack(db, st);
  REQUIRE(created);
  tf::observed_container o;
  o.id = tf::workload_row_id(created->workload_id, "web");
  o.workload_id = created->workload_id;
  o.role = "web";
  o.container_id = "c-1";
  o.state = "running";
  auto first = tf::store::reconcile_containers(db, {o});
  REQUIRE(first);
  CHECK(first->failed.empty());
  o.state = "failed";
  auto crashed = tf::store::reconcile_containers(db, {o});
  REQUIRE(crashed);
  REQUIRE(crashed->failed.size() == 1);
  CHECK(crashed->failed[0].row_id == o.id);
  CHECK(crashed->failed[0].workload_id == created->workload_id);
  CHECK(crashed->failed[0].container_id == "c-1");
  auto still = tf::store::reconcile_containers(db, {o});
  REQUIRE(still);
  CHECK(still->failed.empty()); // failed before and after: no news

  auto swept = tf::store::sweep_missing(db, tf::missing_sweep{"local", {}, ""});
  REQUIRE(swept);
  REQUIRE(swept->size() == 1);
  CHECK((*swept)[0].row_id == o.id);
  CHECK((*swept)[0].state == "missing");
  auto again = tf::store::sweep_missing(db, tf::missing_sweep{"local", {}, ""});
  REQUIRE(again);
  CHECK(again->empty());
}

// -- end to end --------------------------------------------------------------------------------

TEST_CASE("notifier: a deploy posts deploy.started and deploy.succeeded, signed with the "
          "notification secret, and the attempts are listed") {
  notifier_fixture f;
  receiver r;
  auto [project_id, w] = f.make_project();
  // Credentials and a token in the URL: sent, but never shown by the API.
  auto url = "http://hook:pw@" + r.url().substr(7) + "?token=t0k";
  auto updated = f.set_url(w, url);
  REQUIRE_MESSAGE(updated, tf::error_message(updated.error()));
  REQUIRE_FALSE(w.notification_secret.empty());

  auto deployment_id = f.deploy(project_id, "v1");
  CHECK(f.wait_finished(deployment_id) == "succeeded");
  auto got = r.wait_for(2);
  REQUIRE(got.size() >= 2);
  CHECK(got[0].event == "deploy.started"); // one sender: posted in the order they happened
  const auto* ok = find_event(got, "deploy.succeeded");
  REQUIRE(ok != nullptr);

  // What a receiver checks: the signature over timestamp + "." + body, a fresh timestamp.
  CHECK(ok->signature == "sha256=" + hmac_hex(w.notification_secret, ok->timestamp + "." + ok->body));
  CHECK(ok->signature != "sha256=" + hmac_hex("another-secret", ok->timestamp + "." + ok->body));
  CHECK(std::abs(unix_now() - std::stoll(ok->timestamp)) < 300);
  CHECK(ok->content_type == "application/json");
  CHECK_FALSE(ok->delivery.empty());
  CHECK(ok->delivery != got[0].delivery);
  auto doc = json_of(ok->body);
  REQUIRE(doc.IsObject());
  CHECK(str(doc, "event") == "deploy.succeeded");
  CHECK(str(doc, "workload_id") == w.id);
  CHECK(str(doc, "workload_name") == w.name);
  CHECK(str(doc, "kind") == "project");
  CHECK(str(doc, "deployment_id") == deployment_id);
  CHECK(str(doc, "stage") == "production");
  CHECK(str(doc, "tag") == "v1");
  CHECK_FALSE(str(doc, "at").empty());

  auto listed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.succeeded", "delivered") == 1;
  });
  REQUIRE(listed.IsObject());
  CHECK(count_of(listed["items"], "deploy.started", "delivered") == 1);
  CHECK(integer(listed, "total") == 2);
  for (const auto& a : listed["items"].GetArray()) {
    CHECK(str(a, "url") == r.url()); // no user:password, no ?token=
    CHECK(integer(a, "status") == 200);
    CHECK(integer(a, "attempt") == 1);
  }
}

TEST_CASE("notifier: a container removed behind the daemon's back is posted as "
          "container.missing") {
  notifier_fixture f;
  receiver r;
  auto [project_id, w] = f.make_project();
  REQUIRE(f.set_url(w, r.url()));
  CHECK(f.wait_finished(f.deploy(project_id, "v1")) == "succeeded");
  REQUIRE(r.wait_for(2).size() == 2); // deploy.started, deploy.succeeded

  remove_workload_containers(w.id); // what `docker rm -f` by hand does
  auto got = r.wait_for(3);
  REQUIRE(got.size() >= 3);
  const auto* missing = find_event(got, "container.missing");
  REQUIRE(missing != nullptr);
  auto doc = json_of(missing->body);
  CHECK(str(doc, "workload_id") == w.id);
  CHECK(str(doc, "role") == "production");
  CHECK_FALSE(str(doc, "container_id").empty());
  CHECK(missing->signature
        == "sha256=" + hmac_hex(w.notification_secret, missing->timestamp + "." + missing->body));
}

TEST_CASE("notifier: a receiver that answers 500 gets the event again, one that is down "
          "gets it until the attempts run out and both show in the API") {
  notifier_fixture f;
  receiver flaky{[](size_t i) { return i == 0 ? 500 : 200; }};
  auto [project_id, w] = f.make_project();
  REQUIRE(f.set_url(w, flaky.url()));

  auto ev = event_of("deploy.failed", w.id, "d-synthetic");
  ev.error = "health check failed";
  f.notify(ev);
  auto got = flaky.wait_for(2);
  REQUIRE(got.size() == 2);
  CHECK(got[0].delivery == got[1].delivery); // the same delivery, attempted twice
  CHECK(got[0].body == got[1].body);
  auto listed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.failed", "delivered") == 1;
  });
  REQUIRE(listed.IsObject());
  REQUIRE(listed["items"].Size() == 2);
  const auto& second = listed["items"][0]; // newest first
  const auto& first = listed["items"][1];
  CHECK(integer(first, "attempt") == 1);
  CHECK(integer(first, "status") == 500);
  CHECK(str(first, "outcome") == "retrying");
  CHECK(str(first, "error").find("500") != std::string::npos);
  CHECK(integer(second, "attempt") == 2);
  CHECK(integer(second, "status") == 200);
  CHECK(str(second, "delivery_id") == str(first, "delivery_id"));

  SUBCASE("a receiver that is down") {
    auto down_port = free_port(); // nothing listens there
    REQUIRE(f.set_url(w, "http://127.0.0.1:" + std::to_string(down_port) + "/hook"));
    ev.event = "container.failed";
    ev.container_id = "c-synthetic";
    f.notify(ev);
    auto failed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
      return count_of(items, "container.failed", "failed") == 1;
    });
    REQUIRE(failed.IsObject());
    CHECK(count_of(failed["items"], "container.failed", "retrying") == 2); // 3 attempts
    for (const auto& a : failed["items"].GetArray())
      if (str(a, "event") == "container.failed") {
        CHECK(a["status"].IsNull());
        CHECK_FALSE(str(a, "error").empty());
      }
    CHECK(f.stats().failed == 1);
  }
  SUBCASE("paging, and an unknown workload is a 404") {
    auto [status, page] = f.notifications(w.id, "?limit=1&offset=1");
    CHECK(status == 200);
    CHECK(integer(page, "total") == 2);
    CHECK(page["items"].Size() == 1);
    CHECK(f.notifications(w.id, "?limit=0").first == 400);
    auto [missing, doc] = f.notifications("no-such-workload");
    CHECK(missing == 404);
    REQUIRE(doc.HasMember("error"));
    CHECK(str(doc["error"], "code") == "not_found");
  }
}

TEST_CASE("notifier: a receiver that accepts and never answers does not hold up a deploy") {
  auto slow = fast_settings();
  slow.timeout = 120s; // longer than the deploy: the POST is certainly still open at its end
  notifier_fixture f{slow};
  receiver stuck{[](size_t) { return 200; }, /*hold=*/true};
  auto [project_id, w] = f.make_project();
  REQUIRE(f.set_url(w, stuck.url()));

  auto deployment_id = f.deploy(project_id, "v1");
  // The receiver has deploy.started and holds it...
  auto got = stuck.wait_for(1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].event == "deploy.started");
  // ...while the deploy runs to its end.
  CHECK(f.wait_finished(deployment_id) == "succeeded");
  // deploy.succeeded is queued behind it (the deployer sends it as the job reports back).
  tf::notifier_stats during;
  poll_until(30s, [&] {
    during = f.stats();
    return during.held == 1;
  });
  CHECK(during.held == 1);
  CHECK(during.in_flight == 1); // deploy.started still waits for its answer
  CHECK(during.delivered == 0);
  CHECK(stuck.all().size() == 1);
  CHECK(integer(f.notifications(w.id).second, "total") == 0); // no attempt has ended

  stuck.release();
  auto listed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.succeeded", "delivered") == 1;
  });
  REQUIRE(listed.IsObject());
  CHECK(count_of(listed["items"], "deploy.started", "delivered") == 1);
}

TEST_CASE("notifier: a full queue drops the oldest event and records the drop") {
  auto small = fast_settings();
  small.queue_max = 2;
  small.timeout = 120s;
  notifier_fixture f{small};
  receiver stuck{[](size_t) { return 200; }, /*hold=*/true};
  auto [project_id, w] = f.make_project();
  REQUIRE(f.set_url(w, stuck.url()));

  auto ev = event_of("deploy.started", w.id, "first");
  f.notify(ev);
  REQUIRE(stuck.wait_for(1).size() == 1); // in flight, held by the receiver
  for (int i = 0; i < 4; ++i) {
    ev.deployment_id = "d" + std::to_string(i);
    f.notify(ev);
  }
  // Two fit in the queue; the two oldest of the four are pushed out.
  auto listed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.started", "dropped") == 2;
  });
  REQUIRE(listed.IsObject());
  for (const auto& a : listed["items"].GetArray()) {
    CHECK(integer(a, "attempt") == 0);
    CHECK(a["status"].IsNull());
    CHECK(str(a, "error").find("queue") != std::string::npos);
  }
  CHECK(f.stats().dropped == 2);
  stuck.release();
  auto delivered = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.started", "delivered") == 3;
  });
  REQUIRE(delivered.IsObject());
  auto bodies = stuck.all();
  REQUIRE(bodies.size() == 3);
  CHECK(str(json_of(bodies[1].body), "deployment_id") == "d2"); // the newest two survived
  CHECK(str(json_of(bodies[2].body), "deployment_id") == "d3");
}

TEST_CASE("notifier: a burst of drops logs its first drop and then one line with the count") {
  log_capture logs;
  {
    auto small = fast_settings();
    small.queue_max = 2;
    small.timeout = 120s;
    notifier_fixture f{small};
    receiver stuck{[](size_t) { return 200; }, /*hold=*/true};
    auto [project_id, w] = f.make_project();
    REQUIRE(f.set_url(w, stuck.url()));

    auto ev = event_of("deploy.started", w.id, "first");
    f.notify(ev);
    REQUIRE(stuck.wait_for(1).size() == 1); // in flight, held by the receiver
    for (int i = 0; i < 50; ++i) {
      ev.deployment_id = "d" + std::to_string(i);
      f.notify(ev);
    }
    poll_until(30s, [&] { return f.stats().dropped == 48; });
    CHECK(f.stats().dropped == 48); // two of the fifty fit
    CHECK(logs.lines_with("event=notification-dropped").size() == 1);
    CHECK(logs.lines_with("event=notifications-dropped").empty()); // the burst goes on
    stuck.release(); // the queue drains: the burst is over
    CHECK(logs.wait_for("event=notifications-dropped"));
    auto summary = logs.lines_with("event=notifications-dropped");
    REQUIRE(summary.size() == 1);
    CHECK(summary[0].find("count=48 ") != std::string::npos);
    CHECK(logs.lines_with("event=notification-dropped").size() == 1);
  }
}

namespace {

/// A Docker host of its own, named `host`, on the test engine, posting to `notifier`: its
/// reconciler sweeps only rows on `host`, so a test's rows are swept by its first run, all
/// at once, whatever other tests do on the shared engine meanwhile.
struct own_docker_host {
  caf::actor_system& sys;
  tf::docker_host_handles handles;
  own_docker_host(caf::actor_system& s, const tf::store_handles& store, const std::string& host,
                  tf::notifier_actor notifier)
    : sys{s} {
    tf::reconciler_config rc;
    rc.host = host;
    rc.interval = std::chrono::hours{1};
    rc.instance_id = store.instance_id;
    rc.notifier = std::move(notifier);
    handles = MUST(tf::start_docker_host(sys, engine_host, rc, store.writer));
  }
  own_docker_host(const own_docker_host&) = delete;
  own_docker_host& operator=(const own_docker_host&) = delete;
  ~own_docker_host() { tf::stop_docker_host(sys, handles); }
};

} // namespace

// Issue 14: a first boot over 10,000 rows whose containers were gone logged ~9,000
// notification-dropped warnings (one container.missing per row overflowed the queue).
TEST_CASE("notifier: a sweep that finds many containers gone sends one container.missing per "
          "workload and logs one line") {
  log_capture logs;
  {
    auto s = fast_settings();
    s.queue_max = 5; // far fewer than the rows: one event per row would overflow it
    notifier_fixture f{s};
    receiver r;
    auto [project_id, w] = f.make_project();
    REQUIRE(f.set_url(w, r.url()));
    auto [quiet_project, quiet] = f.make_project(); // no notification_url
    auto host = unique_name("nt", "host");
    std::string written_at; // the newest row's updated_at
    auto seed = [&](const tf::workload& wl, int n) {
      for (int i = 0; i < n; ++i) {
        tf::container_row c;
        c.workload_id = wl.id;
        c.role = "production";
        c.host = host;
        c.image_tag = "v1";
        c.image_ref = "tinyforge-test/web:v1";
        c.container_id = "gone-" + tf::new_id(); // no such container on the engine
        c.state = "running";
        c.port = 8080;
        auto row = tf::http::ask<tf::container_row>(f.sys, f.store.writer, 10s, tf::atom::upsert_v, c);
        REQUIRE(row);
        written_at = row->updated_at;
      }
    };
    seed(w, 60);
    seed(quiet, 40);
    // A sweep leaves rows written in the millisecond of its list or later (a deploy's, newer
    // than the list): the clock moves past the last row before the host starts.
    while (tf::now_utc() <= written_at)
      std::this_thread::yield();
    own_docker_host swept{f.sys, f.store, host, f.notifier}; // its boot run sweeps all 100

    auto got = r.wait_for(1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].event == "container.missing");
    auto doc = json_of(got[0].body);
    CHECK(str(doc, "workload_id") == w.id);
    CHECK(integer(doc, "count") == 60);
    REQUIRE(doc.HasMember("containers"));
    REQUIRE(doc["containers"].IsArray());
    CHECK(doc["containers"].Size() == 60);
    CHECK(str(doc["containers"][0], "container_id").rfind("gone-", 0) == 0);
    CHECK(str(doc["containers"][0], "role") == "production");
    CHECK_FALSE(doc.HasMember("container_id")); // one container's fields: only for one
    CHECK(got[0].signature
          == "sha256=" + hmac_hex(w.notification_secret, got[0].timestamp + "." + got[0].body));

    auto listed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
      return count_of(items, "container.missing", "delivered") == 1;
    });
    REQUIRE(listed.IsObject());
    CHECK(integer(listed, "total") == 1);
    CHECK(integer(f.notifications(quiet.id).second, "total") == 0);
    auto lines = logs.lines_with("event=containers-missing host=" + host + " ");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("count=100 workloads=2") != std::string::npos);
    CHECK(logs.lines_with("notification-dropped").empty());
    CHECK(logs.lines_with("notifications-dropped").empty());
    CHECK(f.stats().dropped == 0);
    CHECK(r.all().size() == 1);
  }
}

TEST_CASE("notifier: a bad notification_url is refused when set, an empty one sends nothing") {
  notifier_fixture f;
  receiver r;
  auto [project_id, w] = f.make_project();
  for (const auto& bad : {std::string{"ftp://example.com/hook"}, std::string{"example.com/hook"},
                          std::string{"javascript:alert(1)"}, std::string{"http://"},
                          "http://example.com/" + std::string(3000, 'a'),
                          std::string{"http://exa mple.com/"}}) {
    INFO(bad.substr(0, 40));
    auto refused = f.set_url(w, bad);
    REQUIRE_FALSE(refused);
    CHECK(tf::error_code(refused.error()) == tf::ec::invalid_argument);
  }
  CHECK(f.workload(w.id).notification_url.empty());

  // No URL: an event produces no POST and no attempt row. A second workload with a URL
  // proves the notifier ran meanwhile.
  auto ev = event_of("deploy.started", w.id);
  f.notify(ev);
  auto [other_project, other] = f.make_project();
  REQUIRE(f.set_url(other, r.url()));
  ev.workload_id = other.id;
  f.notify(ev);
  auto got = r.wait_for(1);
  REQUIRE(got.size() == 1);
  CHECK(str(json_of(got[0].body), "workload_id") == other.id);
  CHECK(integer(f.notifications(w.id).second, "total") == 0);
}

// -- where a notification may go (issue 13, item 16) --------------------------------------------

namespace {

/// Every spelling of an address a notification must not reach by default.
const std::vector<std::string> internal_hosts = {
  "127.0.0.1",  "127.1",       "0x7f000001", "2130706433",  "017700000001",     "localhost",
  "::1",        "::ffff:127.0.0.1", "0.0.0.0", "::",        "169.254.169.254",  "fe80::1",
  "10.0.0.5",   "172.16.3.4",  "192.168.1.1", "100.64.0.1", "fc00::1",          "fd12::1",
  "::ffff:169.254.169.254"};

/// `host` as a URL's authority takes it: an IPv6 literal in brackets.
std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

} // namespace

TEST_CASE("notification targets: every spelling of loopback, link-local and private is refused "
          "after resolving, and allowed with notify.private_targets") {
  tf::net::target_policy strict;
  tf::net::target_policy allowing;
  allowing.allow_private = true;
  for (const auto& host : internal_hosts) {
    INFO("host: ", host);
    CHECK_FALSE(tf::net::forbidden_host(host, 80, strict).empty());
    CHECK(tf::net::forbidden_host(host, 80, allowing).empty());
  }
  for (const auto* host : {"203.0.113.5", "8.8.8.8", "2001:db8::1", "172.32.0.1", "100.128.0.1"}) {
    INFO("host: ", host);
    CHECK(tf::net::forbidden_host(host, 80, strict).empty());
  }
  CHECK(tf::net::forbidden_host("169.254.169.254", 80, strict).find("link-local")
        != std::string::npos);
  // The daemon's own API stays refused even when private targets are allowed.
  allowing.own_host = "127.0.0.1";
  allowing.own_port = 8080;
  CHECK(tf::net::forbidden_host("127.1", 8080, allowing).find("own API") != std::string::npos);
  CHECK(tf::net::forbidden_host("127.1", 8081, allowing).empty());
  // A name that does not resolve is not refused here (its sends fail and are recorded).
  CHECK(tf::net::forbidden_host("no-such-host.invalid", 80, strict).empty());
}

TEST_CASE("notification targets: the API refuses an internal URL with 400 unless "
          "notify.private_targets is allow") {
  {
    notifier_fixture f;
    auto [project_id, w] = f.make_project();
    for (const auto& host : internal_hosts) {
      auto [status, body] = f.patch_url(w, "http://user:pw@" + url_host(host) + ":9000/hook?k=1");
      INFO("host: ", host, " body: ", body);
      CHECK(status == 400);
      auto doc = json_of(body);
      REQUIRE(doc.HasMember("error"));
      CHECK(str(doc["error"], "code") == "invalid_argument");
      CHECK(str(doc["error"], "message").rfind("notification_url: ", 0) == 0);
      CHECK(body.find("pw") == std::string::npos);
    }
    CHECK(f.workload(w.id).notification_url.empty()); // nothing was set
    CHECK(f.patch_url(w, "http://203.0.113.5:9000/hook").first == 200);
  }
  notifier_fixture allowed{fast_settings(), "allow"};
  auto [project_id, w] = allowed.make_project();
  for (const auto& host : internal_hosts) {
    auto [status, body] = allowed.patch_url(w, "http://" + url_host(host) + ":9000/hook");
    INFO("host: ", host, " body: ", body);
    CHECK(status == 200);
  }
}

TEST_CASE("notification targets: a send to a refused address fails with the reason and "
          "connects nowhere") {
  auto strict = fast_settings();
  strict.targets.allow_private = false;
  notifier_fixture f{strict};
  receiver r; // on 127.0.0.1: a loopback target
  auto [project_id, w] = f.make_project();
  // Set past the API's check (a name may also resolve elsewhere after it was set).
  REQUIRE(f.set_url(w, "http://127.1:" + r.url().substr(r.url().rfind(':') + 1)));
  f.notify(event_of("deploy.failed", w.id, "d-ssrf"));
  auto failed = f.wait_notifications(w.id, [](const rapidjson::Value& items) {
    return count_of(items, "deploy.failed", "failed") == 1;
  });
  REQUIRE(failed.IsObject());
  CHECK(failed["items"].Size() == 1); // not retried: no retry could reach it
  for (const auto& a : failed["items"].GetArray()) {
    CHECK(a["status"].IsNull());
    CHECK(str(a, "error").find("loopback") != std::string::npos);
  }
  CHECK(r.all().empty()); // the attempts ran before they were recorded: none connected
}

