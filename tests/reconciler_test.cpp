// The reconciler against the real Docker engine on /var/run/docker.sock, with the real
// scheduler, the real store (its own fresh database per test) and the docker host actors the
// daemon runs (start_docker_host). The tick interval is one hour, so only the boot run,
// container events and an explicit atom::run can touch the index.
//
// Isolation: every container carries tinyforge.test=true and this process's
// tinyforge.test.run=<random>, has a unique name, and is force-removed by a guard even when the
// test fails. The reconciler lists every tinyforge.managed container on the engine, including
// those of other test runs; they name workloads this test's fresh database does not have, so
// the store rejects them. Assertions therefore look only at this test's own rows, never at
// global counts.
//
// Every wait is on an event (a reconcile report) with a generous bound, so a broken reconciler
// fails a test instead of hanging it. Latencies are reported, never asserted.
#include <doctest/doctest.h>

#include "actors/actors.hpp"
#include "actors/atoms.hpp"
#include "core/errors.hpp"
#include "actors/reconciler.hpp"
#include "actors/store_reader.hpp"
#include "actors/system.hpp"
#include "docker/client.hpp"
#include "docker/types.hpp"
#include "docker_fixtures.hpp"
#include "fake_engine.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "core/model.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

using clock_type = std::chrono::steady_clock;
namespace label = tf::docker::label;

/// How long any one wait may take before the test fails instead of hanging.
constexpr auto report_bound = 30s;
/// How long the index may take to follow a container event (the brief's bound).
constexpr auto event_bound = 10s;
constexpr auto ask_timeout = 10s;

// -- per-run identity ------------------------------------------------------------------------

/// A name no other test (in this run or another) uses; also a valid DNS label.
std::string unique_name(const std::string& what) {
  return tf::test::unique_name("rt", what);
}

// -- Docker: containers made through the Engine API client, removed by a guard --------------

tf::docker::client make_client() {
  auto ep = tf::docker::endpoint::parse(engine_host);
  REQUIRE(ep);
  tf::docker::client_options opts;
  opts.timeout = 30s;
  return tf::docker::client{*ep, tf::docker::make_cancel_token(), opts};
}

/// Labels of a managed container of `kind` for `workload_id` in role `role` (empty values
/// are left out).
tf::docker::label_map managed_labels(const std::string& workload_id, const std::string& kind,
                                     const std::string& role) {
  tf::docker::label_map l{{label::managed, "true"}};
  if (!workload_id.empty())
    l[label::workload_id] = workload_id;
  if (!kind.empty())
    l[label::workload_kind] = kind;
  if (!role.empty())
    l[label::role] = role;
  return l;
}

/// Creates and starts a container of tinyforge-test/web:v1 with `labels` plus the test labels,
/// publishing 8080 on 127.0.0.1 at a port Docker picks. The guard removes it.
std::string run_container(container_guard& guard, const std::string& what,
                          tf::docker::label_map labels, bool start = true) {
  auto c = make_client();
  tf::docker::container_spec spec;
  spec.name = unique_name(what);
  spec.image = "tinyforge-test/web:v1";
  spec.labels = test_labels(std::move(labels));
  spec.container_port = 8080;
  spec.host_ip = "127.0.0.1";
  auto id = c.create_container(spec);
  REQUIRE_MESSAGE(id, "create container: ", tf::error_message(id.error()));
  guard.add(*id);
  if (start) {
    auto err = c.start_container(*id);
    REQUIRE_MESSAGE(!err, "start container: ", tf::error_message(err));
  }
  return *id;
}

/// What the engine lists for one container (the test's own view, for expected values).
tf::docker::container_summary engine_view(const std::string& id) {
  auto c = make_client();
  auto listed = c.list_containers({{"id", {id}}}, true);
  REQUIRE_MESSAGE(listed, "list: ", tf::error_message(listed.error()));
  REQUIRE(listed->size() == 1);
  return listed->front();
}

/// Runs `docker <args>` (the "by hand" steps of the issue); fails the test on a non-zero exit.
void docker_cli(const std::string& args) {
  auto cmd = "docker " + args + " >/dev/null 2>&1";
  auto rc = std::system(cmd.c_str());
  REQUIRE_MESSAGE(rc == 0, cmd, " failed with ", rc);
}

// -- the daemon's actors on the real scheduler -----------------------------------------------

struct host_fixture {
  // Declared first so it is removed last, after the store closed the database.
  tf::test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  tf::store_handles store;
  tf::docker_host_handles docker;
  bool docker_started = false;
  // Receives (done, reconcile_report) after every run; destroyed before the system.
  std::optional<caf::scoped_actor> reports;

  host_fixture() {
    auto s = tf::start_store(sys, tf::store_options{dir.file("tinyforge.db"), 1, true});
    REQUIRE_MESSAGE(s, "start_store: ", tf::error_message(s.error()));
    store = *s;
    tf::reconciler_config rc;
    rc.interval = std::chrono::hours{1}; // no tick during a test
    rc.instance_id = store.instance_id;
    auto d = tf::start_docker_host(sys, engine_host, rc, store.writer);
    if (!d)
      tf::stop_store(sys, store); // a throwing constructor runs no destructor
    REQUIRE_MESSAGE(d, "start_docker_host: ", tf::error_message(d.error()));
    docker = *d;
    docker_started = true;
    reports.emplace(sys);
    caf::anon_send(docker.reconciler, tf::atom::subscribe_v,
                   caf::actor_cast<caf::actor>(*reports));
  }

  ~host_fixture() {
    reports.reset();
    if (docker_started)
      tf::stop_docker_host(sys, docker);
    if (store.writer)
      tf::stop_store(sys, store);
  }

  /// The next report, or nothing when none arrives within `bound`.
  std::optional<tf::reconcile_report> next_report(std::chrono::milliseconds bound) {
    std::optional<tf::reconcile_report> got;
    (*reports)->receive(
      [&](tf::atom::done, const tf::reconcile_report& r) { got = r; },
      caf::after(bound) >> [] {});
    return got;
  }

  /// Drops the reports already delivered.
  void drain() {
    while (next_report(0ms)) {
    }
  }

  /// A report of a run that started after this call: whatever ran before (at most one run
  /// is in flight at a time) reports first, and two run requests guarantee a fresh run after
  /// it. Fails the test when the reports do not come.
  tf::reconcile_report sync() {
    drain();
    caf::anon_send(docker.reconciler, tf::atom::run_v);
    caf::anon_send(docker.reconciler, tf::atom::run_v);
    std::optional<tf::reconcile_report> last;
    for (int i = 0; i < 2; ++i) {
      last = next_report(report_bound);
      REQUIRE_MESSAGE(last, "no reconcile report within ", report_bound.count(), " s");
    }
    INFO("report error: ", last->error);
    REQUIRE(last->error.empty());
    return *last;
  }

  /// Waits (report by report) until `pred` holds; the milliseconds from `since` until it
  /// held, or nothing when `bound` passed first.
  std::optional<long long> wait_until(const std::function<bool()>& pred,
                                      clock_type::time_point since,
                                      std::chrono::milliseconds bound) {
    auto deadline = clock_type::now() + bound;
    for (;;) {
      if (pred())
        return ms_since(since);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                        - clock_type::now());
      if (left.count() <= 0)
        return std::nullopt;
      next_report(left); // a report, or the bound: either way, look again
    }
  }

  // -- the store -----------------------------------------------------------------------------

  template <class R, class... Ts>
  R write(Ts&&... xs) {
    auto r = tf::http::ask<R>(sys, store.writer, ask_timeout, std::forward<Ts>(xs)...);
    REQUIRE_MESSAGE(r, "write: ", tf::error_message(r.error()));
    return std::move(*r);
  }

  tf::project create_project(const std::string& name) {
    tf::stage st;
    st.name = "prod";
    st.subdomain = name;
    st.port = 8080;
    tf::project p;
    p.name = name;
    p.image = "tinyforge-test/web";
    p.stages = {st};
    return write<tf::project>(tf::atom::create_v, p);
  }

  tf::stack create_stack(const std::string& name) {
    tf::stack s;
    s.name = name;
    s.compose = "services:\n  web:\n    image: tinyforge-test/web:v1\n";
    return write<tf::stack>(tf::atom::create_v, s);
  }

  /// One row by id, or nothing when there is none.
  std::optional<tf::container_row> row(const std::string& id) {
    auto r = tf::http::ask<tf::container_row>(sys, store.readers->next(), ask_timeout,
                                              tf::atom::get_v, tf::atom::container_v, id);
    if (r)
      return *r;
    REQUIRE_MESSAGE(tf::error_code(r.error()) == tf::ec::not_found,
                    "read row: ", tf::error_message(r.error()));
    return std::nullopt;
  }

  /// The rows of one workload ("" for every row of this test's database).
  std::vector<tf::container_row> rows(const std::string& workload_id) {
    tf::container_filter f;
    f.workload_id = workload_id;
    f.limit = 1000;
    auto r = tf::http::ask<tf::page<tf::container_row>>(sys, store.readers->next(), ask_timeout,
                                                        tf::atom::list_v, tf::atom::container_v,
                                                        f);
    REQUIRE_MESSAGE(r, "list rows: ", tf::error_message(r.error()));
    return std::move(r->items);
  }

  /// Whether any row of this test's database names Docker container `container_id`.
  bool indexed(const std::string& container_id) {
    for (const auto& r : rows(""))
      if (r.container_id == container_id)
        return true;
    return false;
  }

  /// The state of row `id` ("" when there is no such row).
  std::string state_of(const std::string& id) {
    auto r = row(id);
    return r ? r->state : std::string{};
  }
};

/// Row `<workload id>/<role>` of stack `st` is there and indexes running container
/// `container_id` as that role; the row.
tf::container_row check_running_stack_row(host_fixture& f, const tf::stack& st,
                                          const std::string& role,
                                          const std::string& container_id) {
  auto r = f.row(tf::workload_row_id(st.workload_id, role));
  REQUIRE(r);
  CHECK(r->workload_id == st.workload_id);
  CHECK(r->workload_kind == "stack");
  CHECK(r->role == role);
  CHECK(r->container_id == container_id);
  CHECK(r->state == "running");
  return *r;
}

// -- builders for the pure functions -------------------------------------------------------

tf::docker::container_summary summary(const std::string& id, tf::docker::label_map labels,
                                      const std::string& state = "running", int64_t created = 100,
                                      const std::string& status = "") {
  tf::docker::container_summary c;
  c.id = id;
  c.names = {"/" + id};
  c.image = "tinyforge-test/web:v1";
  c.state = state;
  c.status = status.empty() ? (state == "running" ? "Up 2 minutes" : "Exited (0) 1 minute ago")
                            : status;
  c.labels = std::move(labels);
  c.created = created;
  return c;
}

/// Labels of a managed stack container that docker compose made for `service` of compose
/// project `project` (no workload id: the store finds the stack through the project).
tf::docker::label_map compose_labels(const std::string& project, const std::string& service) {
  return {{label::managed, "true"},
          {label::workload_kind, "stack"},
          {label::compose_project, project},
          {label::compose_service, service}};
}

/// What observe() makes of `listed` on host "local" at `now`, which must be one observation.
tf::observed_container observe_one(const std::vector<tf::docker::container_summary>& listed,
                                   const std::string& now = "now") {
  auto out = tf::observe(listed, "local", now);
  REQUIRE(out.size() == 1);
  return out[0];
}

const tf::observed_container* find_observed(const std::vector<tf::observed_container>& xs,
                                            const std::string& container_id) {
  for (const auto& o : xs)
    if (o.container_id == container_id)
      return &o;
  return nullptr;
}

/// Records the engine's events for one container (through the Engine API client, on its own
/// thread) with the engine's timestamps, from construction until destruction.
class event_recorder {
public:
  struct entry {
    std::string action;
    int64_t time_nano = 0;
  };

  explicit event_recorder(const std::string& container_id) {
    std::promise<void> connected;
    auto ready = connected.get_future();
    thread_ = std::thread{[this, container_id, p = std::move(connected)]() mutable {
      auto ep = tf::docker::endpoint::parse(engine_host);
      if (!ep)
        return;
      tf::docker::client c{*ep, cancel_};
      bool told = false;
      (void) c.watch_events(
        {{"type", {"container"}}, {"container", {container_id}}},
        [&] {
          if (!told)
            p.set_value();
          told = true;
        },
        [&](const tf::docker::engine_event& e) {
          std::lock_guard<std::mutex> lock{mx_};
          events_.push_back({e.action, e.time_nano});
          return !cancel_->cancelled();
        });
      if (!told)
        p.set_value();
    }};
    ready_ = ready.wait_for(10s) == std::future_status::ready;
  }
  event_recorder(const event_recorder&) = delete;
  event_recorder& operator=(const event_recorder&) = delete;
  ~event_recorder() {
    cancel_->cancel(); // shuts the stream's socket down: it returns at once
    thread_.join();
  }

  bool ready() const { return ready_; }

  /// The engine's time of the first event `action`, if it came.
  std::optional<std::chrono::system_clock::time_point> time_of(const std::string& action) {
    std::lock_guard<std::mutex> lock{mx_};
    for (const auto& e : events_)
      if (e.action == action)
        return std::chrono::system_clock::time_point{
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds{e.time_nano})};
    return std::nullopt;
  }

  std::string actions() {
    std::lock_guard<std::mutex> lock{mx_};
    std::string s;
    for (const auto& e : events_)
      s += (s.empty() ? "" : ",") + e.action;
    return s;
  }

  /// Each event with how long before `t` the engine emitted it: "kill -150 ms, die -140 ms".
  std::string relative_to(std::chrono::system_clock::time_point t) {
    std::lock_guard<std::mutex> lock{mx_};
    std::string s;
    for (const auto& e : events_) {
      auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
                  t.time_since_epoch() - std::chrono::nanoseconds{e.time_nano})
                  .count();
      s += (s.empty() ? "" : ", ") + e.action + " " + std::to_string(at) + " ms";
    }
    return s;
  }

private:
  tf::docker::cancel_token cancel_ = tf::docker::make_cancel_token();
  std::thread thread_;
  bool ready_ = false;
  std::mutex mx_;
  std::vector<entry> events_;
};

/// Runs `docker <verb> <id>` by hand (on a thread, so the reports are watched meanwhile) and
/// waits, report by report, until row `row_id` reads `state`: at most event_bound after the
/// command returned. Reports (never asserts) how long after the command's return and after
/// the engine's `event` the test could read the new state.
void by_hand(host_fixture& f, const std::string& verb, const std::string& id,
             const std::string& row_id, const std::string& state, const std::string& event) {
  f.drain();
  event_recorder events{id};
  CHECK_MESSAGE(events.ready(), "the test's own event stream did not connect");
  auto pred = [&] { return f.state_of(row_id) == state; };
  std::atomic<bool> cmd_done{false};
  std::atomic<int> cmd_rc{-1};
  clock_type::time_point returned;
  auto issued = clock_type::now();
  std::thread cmd{[&] {
    auto line = "docker " + verb + " " + id + " >/dev/null 2>&1";
    cmd_rc = std::system(line.c_str());
    returned = clock_type::now();
    cmd_done = true; // publishes `returned`
  }};
  std::optional<clock_type::time_point> seen;
  std::chrono::system_clock::time_point seen_wall;
  for (;;) {
    if (pred()) {
      seen = clock_type::now();
      seen_wall = std::chrono::system_clock::now();
      break;
    }
    auto deadline = cmd_done ? returned + event_bound : issued + report_bound + event_bound;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline
                                                                      - clock_type::now());
    if (left.count() <= 0)
      break;
    // Wakes at a report; the 100 ms cap only lets the deadline move once the command returned.
    f.next_report(std::min<std::chrono::milliseconds>(left, 100ms));
  }
  cmd.join();
  REQUIRE_MESSAGE(cmd_rc == 0, "docker ", verb, " ", id, " failed with ", cmd_rc.load());
  auto cmd_ms = std::chrono::duration_cast<std::chrono::milliseconds>(returned - issued).count();
  CHECK_MESSAGE(seen, "the row did not read ", state, " within ", event_bound.count(),
                " s of docker ", verb, " returning; it reads \"", f.state_of(row_id),
                "\"; engine events seen: ", events.actions());
  if (!seen)
    return;
  auto after_return
    = std::chrono::duration_cast<std::chrono::milliseconds>(*seen - returned).count();
  auto event_time = events.time_of(event);
  std::string since_event = "n/a (no " + event + " event seen)";
  if (event_time)
    since_event = std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(seen_wall - *event_time)
                      .count())
                  + " ms after the engine's " + event + " event";
  MESSAGE("docker ", verb, ": command took ", cmd_ms, " ms; the index read ", state, " ",
          after_return, " ms after it returned (negative: before), ", since_event,
          " (the index read it this long after each event: ", events.relative_to(seen_wall),
          ")");
}

} // namespace

// ===== pure functions ========================================================================

TEST_CASE("index_state: Docker states and exit codes map onto the index's states") {
  CHECK(tf::index_state("running", "Up 3 minutes") == "running");
  CHECK(tf::index_state("created", "Created") == "created");
  CHECK(tf::index_state("paused", "Up 3 minutes (Paused)") == "paused");
  CHECK(tf::index_state("restarting", "Restarting (1) 2 seconds ago") == "restarting");
  // A clean exit and the signals a stop sends are stops; any other code is a failure.
  CHECK(tf::index_state("exited", "Exited (0) 2 minutes ago") == "stopped");
  CHECK(tf::index_state("exited", "Exited (137) 5 seconds ago") == "stopped");
  CHECK(tf::index_state("exited", "Exited (143) 1 hour ago") == "stopped");
  CHECK(tf::index_state("exited", "Exited (1) 2 minutes ago") == "failed");
  CHECK(tf::index_state("exited", "Exited (2) About a minute ago") == "failed");
  CHECK(tf::index_state("dead", "Dead") == "failed");
}

TEST_CASE("observe: skips unmanaged containers and containers that name no workload") {
  std::vector<tf::docker::container_summary> listed{
    summary("no-managed", {{label::workload_id, "w1"}, {label::workload_kind, "stack"},
                           {label::role, "web"}}),
    summary("managed-false", {{label::managed, "false"}, {label::workload_id, "w1"},
                              {label::workload_kind, "stack"}, {label::role, "web"}}),
    summary("no-workload", {{label::managed, "true"}, {label::workload_kind, "stack"},
                            {label::role, "web"}}),
    summary("no-workload-project", {{label::managed, "true"}, {label::workload_kind, "project"},
                                    {label::role, "web"}}),
    summary("kept", managed_labels("w1", "stack", "web")),
  };
  CHECK(observe_one(listed, "2024-01-01T00:00:00Z").container_id == "kept");
}

TEST_CASE("observe: one observation per (workload, role) for stacks and sites") {
  SUBCASE("a running container wins over a newer exited one") {
    std::vector<tf::docker::container_summary> listed{
      summary("old-running", managed_labels("w1", "stack", "web"), "running", 100),
      summary("new-exited", managed_labels("w1", "stack", "web"), "exited", 200),
    };
    auto o = observe_one(listed);
    CHECK(o.container_id == "old-running");
    CHECK(o.id == "w1:web");
    CHECK(o.state == "running");
  }
  SUBCASE("among equals (both running, both exited) the newest wins") {
    for (std::string state : {"running", "exited"}) {
      CAPTURE(state);
      std::vector<tf::docker::container_summary> listed{
        summary("older", managed_labels("w1", "site", "web"), state, 100),
        summary("newest", managed_labels("w1", "site", "web"), state, 300),
        summary("middle", managed_labels("w1", "site", "web"), state, 200),
      };
      auto o = observe_one(listed);
      CHECK(o.container_id == "newest");
      CHECK(o.id == "w1:web");
      CHECK(o.workload_kind == "site");
    }
  }
  SUBCASE("other roles and other workloads are groups of their own") {
    std::vector<tf::docker::container_summary> listed{
      summary("w1-web", managed_labels("w1", "stack", "web"), "running", 100),
      summary("w1-db", managed_labels("w1", "stack", "db"), "running", 100),
      summary("w2-web", managed_labels("w2", "stack", "web"), "running", 100),
    };
    auto out = tf::observe(listed, "local", "now");
    REQUIRE(out.size() == 3);
    REQUIRE(find_observed(out, "w1-web"));
    CHECK(find_observed(out, "w1-web")->id == "w1:web");
    REQUIRE(find_observed(out, "w1-db"));
    CHECK(find_observed(out, "w1-db")->id == "w1:db");
    REQUIRE(find_observed(out, "w2-web"));
    CHECK(find_observed(out, "w2-web")->id == "w2:web");
  }
}

TEST_CASE("observe: every project container is its own observation with no row id") {
  std::vector<tf::docker::container_summary> listed{
    summary("p-a", managed_labels("wp", "project", "web"), "running", 100),
    summary("p-b", managed_labels("wp", "project", "web"), "exited", 200, "Exited (1) now"),
  };
  auto out = tf::observe(listed, "host-1", "2024-05-06T07:08:09Z");
  REQUIRE(out.size() == 2);
  auto* a = find_observed(out, "p-a");
  auto* b = find_observed(out, "p-b");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->id.empty());
  CHECK(b->id.empty());
  CHECK(a->workload_id == "wp");
  CHECK(a->workload_kind == "project");
  CHECK(a->role == "web");
  CHECK(a->host == "host-1");
  CHECK(a->last_seen_at == "2024-05-06T07:08:09Z");
  CHECK(a->image_ref == "tinyforge-test/web:v1");
  CHECK(a->state == "running");
  CHECK(b->state == "failed");
}

TEST_CASE("observe: the port is the one published on 127.0.0.1 over tcp") {
  auto c = summary("c1", managed_labels("w1", "stack", "web"));
  c.ports = {
    {8080, 0, "tcp", ""},               // exposed, not published
    {53, 40001, "udp", "127.0.0.1"},    // loopback, but udp
    {8080, 40002, "tcp", "0.0.0.0"},    // published on every address
    {8080, 40003, "tcp", "127.0.0.1"},  // the one
    {8080, 40004, "tcp", "::"},
  };
  CHECK(observe_one({c}).port == 40003);

  auto unpublished = summary("c2", managed_labels("w1", "stack", "web"));
  unpublished.ports = {{8080, 0, "tcp", ""}};
  CHECK(observe_one({unpublished}).port == 0);
}

TEST_CASE("observe: compose containers carry their compose project and their service as role") {
  auto o = observe_one({summary("compose-db", compose_labels("tf-abc", "db"))});
  CHECK(o.compose_project == "tf-abc");
  CHECK(o.role == "db");
  CHECK(o.workload_id.empty());
  // The store finds the stack through the compose project and then sets the row id.
  CHECK(o.id.empty());

  // A plain stack container has no compose project.
  auto plain = observe_one({summary("plain", managed_labels("w1", "stack", "web"))});
  CHECK(plain.compose_project.empty());
}

// A container that names a stack's compose project but another workload's id is forged, and
// the store rejects it. Grouping it with the stack's real container of the same service
// (by compose project and role only) lets it stand in for the real one: when it is the
// better-ranked one (running while the real one is stopped, or newer), the real container is
// never observed and its row is no longer reconciled.
TEST_CASE("observe: a forged compose container does not hide the real one of the same service") {
  auto real = compose_labels("tf-abc", "db");
  auto forged = real;
  forged[label::workload_id] = "another-workload";
  std::vector<tf::docker::container_summary> listed{
    summary("real-db", real, "exited", 100, "Exited (0) 1 second ago"),
    summary("forged-db", forged, "running", 200),
  };
  auto out = tf::observe(listed, "local", "now");
  auto* r = find_observed(out, "real-db");
  CHECK_MESSAGE(r != nullptr, "the real compose container was dropped in favour of the "
                              "forged one (grouped by compose project + role only)");
  if (r) {
    CHECK(r->state == "stopped");
    CHECK(r->compose_project == "tf-abc");
  }
}

// ===== against the engine =====================================================================

TEST_CASE("reconciler: a forged workload id is not indexed and counts as rejected") {
  container_guard guard;
  host_fixture f;
  // A real workload in this database, so the database is not empty.
  auto st = f.create_stack(unique_name("s"));
  auto forged_workload = "forged-" + run_id();
  auto id = run_container(guard, "forged", managed_labels(forged_workload, "stack", "web"));

  auto report = f.sync();
  MESSAGE("report: listed=", report.listed, " written=", report.written,
          " rejected=", report.rejected, " missing=", report.missing);
  CHECK(report.listed >= 1);
  CHECK(report.rejected >= 1);
  CHECK(f.rows(forged_workload).empty());
  CHECK_FALSE(f.row(tf::workload_row_id(forged_workload, "web")));
  CHECK_FALSE(f.indexed(id));
  CHECK(f.rows(st.workload_id).empty());
}

TEST_CASE("reconciler: its own container of a deleted workload is removed, another daemon's stays") {
  container_guard guard;
  host_fixture f;
  auto gone_workload = "deleted-" + run_id();
  // What a project delete could not remove: this daemon's label, a workload no longer here.
  auto mine_labels = managed_labels(gone_workload, "project", "production");
  mine_labels[label::instance] = f.store.instance_id;
  // Created, not started: the reconciler may remove it as soon as the engine reports it,
  // before a start could reach it.
  auto mine = run_container(guard, "orphan-mine", mine_labels, false);
  // The same, made by another daemon on this engine, and one from before the instance label.
  auto others_labels = managed_labels(gone_workload, "project", "production");
  others_labels[label::instance] = "another-daemon-" + run_id();
  auto others = run_container(guard, "orphan-other", others_labels);
  auto legacy = run_container(guard, "orphan-legacy",
                              managed_labels(gone_workload, "project", "production"));

  auto container_state = [](const std::string& id) {
    auto d = make_client().inspect_container(id);
    return d ? d->state : std::string{};
  };
  f.sync();
  // The removal goes to the docker worker after the run: poll the engine, with a deadline.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (!container_state(mine).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  CHECK(container_state(mine).empty());
  CHECK(container_state(others) == "running");
  CHECK(container_state(legacy) == "running");
}

TEST_CASE("reconciler: a project row gets its Docker fields and keeps the deployer's") {
  container_guard guard;
  host_fixture f;
  auto p = f.create_project(unique_name("p"));
  REQUIRE(p.stages.size() == 1);
  auto id = run_container(guard, "proj", managed_labels(p.workload_id, "project", "web"));

  tf::container_row dep;
  dep.id = unique_name("row");
  dep.workload_id = p.workload_id;
  dep.role = "web";
  dep.stage_id = p.stages[0].id;
  dep.subdomain = "sub-" + run_id();
  dep.proxy_route_id = "route-" + run_id();
  dep.npm_proxy_id = 4242;
  dep.image_tag = "v1";
  dep.container_id = id;
  dep.image_ref = "deployer-ref";
  dep.state = "created";
  dep.port = 0;
  auto upserted = f.write<tf::container_row>(tf::atom::upsert_v, dep);

  auto report = f.sync();
  CHECK(report.written >= 1);
  auto view = engine_view(id);
  int64_t published = 0;
  for (const auto& port : view.ports)
    if (port.ip == "127.0.0.1" && port.type == "tcp" && port.private_port == 8080)
      published = port.public_port;
  REQUIRE(published > 0);

  auto r = f.row(dep.id);
  REQUIRE(r);
  // Docker-derived fields: reconciled.
  CHECK(r->container_id == id);
  CHECK(r->state == "running");
  CHECK(r->port == published);
  CHECK(r->image_ref == view.image);
  CHECK(r->image_ref != "deployer-ref");
  CHECK_FALSE(r->last_seen_at.empty());
  // Deployer-owned fields: exactly as upserted.
  CHECK(r->workload_id == upserted.workload_id);
  CHECK(r->workload_kind == "project");
  CHECK(r->role == upserted.role);
  CHECK(r->stage_id == upserted.stage_id);
  CHECK(r->subdomain == upserted.subdomain);
  CHECK(r->proxy_route_id == upserted.proxy_route_id);
  CHECK(r->npm_proxy_id == upserted.npm_proxy_id);
  CHECK(r->image_tag == upserted.image_tag);
  CHECK(r->created_at == upserted.created_at);
  CHECK(f.rows(p.workload_id).size() == 1);
}

TEST_CASE("reconciler: a project container with no row is not invented") {
  container_guard guard;
  host_fixture f;
  auto p = f.create_project(unique_name("p"));
  auto id = run_container(guard, "orphan", managed_labels(p.workload_id, "project", "web"));

  auto report = f.sync();
  CHECK(report.rejected >= 1);
  CHECK(f.rows(p.workload_id).empty());
  CHECK_FALSE(f.indexed(id));
  CHECK_FALSE(f.row(tf::workload_row_id(p.workload_id, "web")));
}

TEST_CASE("reconciler: a stack container gets its row and docker stop/start/rm by hand reach "
          "it through events") {
  container_guard guard;
  host_fixture f;
  auto st = f.create_stack(unique_name("s"));
  auto id = run_container(guard, "stack", managed_labels(st.workload_id, "stack", "web"));
  auto row_id = tf::workload_row_id(st.workload_id, "web");

  f.sync();
  auto indexed = check_running_stack_row(f, st, "web", id);
  CHECK(indexed.port > 0);
  CHECK_FALSE(indexed.last_seen_at.empty());
  CHECK(f.rows(st.workload_id).size() == 1);

  // Found again as it was, the row is not written (its updated_at stays) while its last
  // sighting follows the host's listings (timestamps are in ms: two ticks may share one).
  auto seen_again = f.row(row_id);
  for (int i = 0; i < 50 && seen_again && seen_again->last_seen_at == indexed.last_seen_at;
       ++i) {
    f.sync();
    seen_again = f.row(row_id);
  }
  REQUIRE(seen_again);
  CHECK(seen_again->last_seen_at > indexed.last_seen_at);
  CHECK(seen_again->updated_at == indexed.updated_at);
  CHECK(seen_again->state == "running");

  // From here on, nothing but the event stream runs the reconciler (the tick is 1 h away).
  by_hand(f, "stop", id, row_id, "stopped", "stop");
  by_hand(f, "start", id, row_id, "running", "start");
  by_hand(f, "rm -f", id, row_id, "missing", "destroy");
  auto r = f.row(row_id);
  REQUIRE(r);
  CHECK(r->container_id == id); // the row still says which container it was
}

TEST_CASE("reconciler: a compose container is matched to its stack by compose project") {
  container_guard guard;
  host_fixture f;
  auto st = f.create_stack(unique_name("s"));
  REQUIRE(st.compose_project_name == "tf-" + st.id);
  auto other = f.create_stack(unique_name("o"));

  auto compose = compose_labels(st.compose_project_name, "db");
  auto db = run_container(guard, "compose-db", compose);
  // Names the stack's compose project but another workload's id: forged.
  auto forged_labels = compose;
  forged_labels[label::workload_id] = other.workload_id;
  forged_labels[label::compose_service] = "cache";
  auto forged = run_container(guard, "compose-forged", forged_labels);

  auto report = f.sync();
  CHECK(report.rejected >= 1);
  check_running_stack_row(f, st, "db", db);
  CHECK(f.rows(st.workload_id).size() == 1);

  CHECK_FALSE(f.indexed(forged));
  CHECK_FALSE(f.row(st.workload_id + "/cache"));
  CHECK_FALSE(f.row(other.workload_id + "/cache"));
  CHECK(f.rows(other.workload_id).empty());
}

// The engine-level form of the observe() case above: a forged container (same compose project
// and service as the stack's real db container, another workload's id) runs beside the real
// one; then the real one is stopped by hand. The stack's row must follow the real container.
TEST_CASE("reconciler: a forged compose container of the same service does not mask the real "
          "one") {
  container_guard guard;
  host_fixture f;
  auto st = f.create_stack(unique_name("s"));
  auto other = f.create_stack(unique_name("o"));
  auto compose = compose_labels(st.compose_project_name, "db");
  auto row_id = tf::workload_row_id(st.workload_id, "db");
  auto real = run_container(guard, "compose-real", compose);
  f.sync();
  auto r = f.row(row_id);
  REQUIRE(r);
  CHECK(r->container_id == real);
  CHECK(r->state == "running");

  auto forged_labels = compose;
  forged_labels[label::workload_id] = other.workload_id;
  auto forged = run_container(guard, "compose-forged", forged_labels);
  f.sync();
  CHECK_FALSE(f.indexed(forged));
  CHECK(f.rows(other.workload_id).empty());

  f.drain();
  docker_cli("stop " + real);
  auto t0 = clock_type::now();
  auto ms = f.wait_until([&] { return f.state_of(row_id) == "stopped"; }, t0, event_bound);
  if (!ms)
    f.sync(); // one more run that certainly saw the stop
  r = f.row(row_id);
  REQUIRE(r);
  CHECK(r->container_id == real);
  CHECK_MESSAGE(r->state == "stopped", "the real db container is stopped, but its row reads \"",
                r->state, "\" (the running forged container stood in for it and was rejected)");
  CHECK_FALSE(f.indexed(forged));
  CHECK(f.rows(other.workload_id).empty());
}

TEST_CASE("reconciler: stop_docker_host cancels a Docker call in flight to a hung engine") {
  tf::test::temp_dir tmp;
  fake_engine hung{tmp.file("docker.sock")}; // accepts, never answers
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = tf::start_store(sys, tf::store_options{tmp.file("tinyforge.db"), 1, true});
  REQUIRE_MESSAGE(store, tf::error_message(store.error()));
  tf::reconciler_config rc;
  rc.interval = std::chrono::hours{1};
  rc.docker_timeout = 60s; // only cancellation explains a quick return
  auto host = tf::start_docker_host(sys, "unix://" + tmp.file("docker.sock"), rc, store->writer);
  if (!host)
    tf::stop_store(sys, *store);
  REQUIRE_MESSAGE(host, tf::error_message(host.error()));

  // The boot run's call (the docker worker) and the event stream (the watcher) both connect
  // and wait for an answer that never comes.
  auto connected = hung.wait_for_connections(2, 10s);
  CHECK_MESSAGE(connected, "only ", hung.connections(), " connection(s) reached the engine");
  std::this_thread::sleep_for(200ms); // let both requests be sent, not only connected

  std::promise<void> done;
  auto stopped = done.get_future();
  auto t0 = clock_type::now();
  std::thread stopper{[&] {
    tf::stop_docker_host(sys, *host);
    done.set_value();
  }};
  auto returned = stopped.wait_for(10s) == std::future_status::ready;
  auto ms = ms_since(t0);
  CHECK_MESSAGE(returned, "stop_docker_host did not return within 10 s (docker timeout 60 s)");
  if (!returned) // unblock it (the engine hangs up), so the test fails instead of hanging
    hung.stop();
  stopper.join();
  if (returned)
    MESSAGE("stop_docker_host with calls in flight to a hung engine returned in ", ms, " ms");
  hung.stop();
  tf::stop_store(sys, *store);
}
