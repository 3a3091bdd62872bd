// The store actors, tested through their typed interfaces (actors/actors.hpp).
//
// Part A runs the writer and a reader on CAF's deterministic scheduler
// (caf::scheduler::test_coordinator): nothing runs until the test calls sched.run(), and time
// only moves when the test advances the test clock, so these tests never sleep.
//
// Part B runs the store as the daemon does (detached actors, real scheduler) and hammers the
// same container rows from 8 threads to show the writer serializes the deployer's upserts and
// the reconciler's batches without either clobbering the other's fields.
#include <doctest/doctest.h>

#include "actors/actors.hpp"
#include "actors/atoms.hpp"
#include "core/errors.hpp"
#include "actors/store_reader.hpp"
#include "actors/system.hpp"
#include "helpers.hpp"
#include "core/model.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// -- shared builders ------------------------------------------------------------------------

tf::stage make_stage(const std::string& name, int64_t port = 8080) {
  tf::stage s;
  s.name = name;
  s.subdomain = name;
  s.port = port;
  return s;
}

tf::project make_project(const std::string& name, std::vector<tf::stage> stages = {}) {
  tf::project p;
  p.name = name;
  p.image = "registry.example.com/team/" + name;
  p.stages = std::move(stages);
  return p;
}

tf::stack make_stack(const std::string& name) {
  tf::stack s;
  s.name = name;
  s.compose = "services:\n  web:\n    image: nginx:1.25\n";
  return s;
}

// -- part A: the deterministic fixture ------------------------------------------------------

/// Mirrors caf::test::dsl's test_coordinator_fixture without its unit-test framework:
/// the "testing" scheduler policy makes actor_system create a test_coordinator, whose job
/// queue runs only when told to and whose clock only moves when told to.
caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return cfg;
}

struct det_fixture {
  // Declared first so it is removed last, after the actor system closed the database.
  tf::test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  tf::store_handles store;

  det_fixture()
    : sys{testing_config(cfg)},
      sched{dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())} {
    // As the CAF fixture does: a clock that does not start at 0.
    sched.clock().current_time += std::chrono::hours(1);
    auto started = tf::start_store(sys, {dir.file("tinyforge.db"), 1, /*detached=*/false});
    REQUIRE_MESSAGE(started, sys.render(started.error()));
    store = std::move(*started);
    // Spawning only queued the actors; their first run builds their behaviors.
    sched.run();
  }

  ~det_fixture() { shutdown(); }

  /// stop_store() blocks its thread on a down_msg from each actor. On the test coordinator
  /// nobody else runs the actors, so every enqueue is run inline while it stops them;
  /// otherwise stop_store() would wait forever (and so would ~actor_system for the
  /// still-running actors).
  void shutdown() {
    if (!store.writer && !store.readers)
      return;
    sched.run();
    sched.inline_all_enqueues();
    tf::stop_store(sys, store);
    sched.after_next_enqueue(std::function<void()>{});
    sched.run();
  }

  /// One synchronous request: send it, run every queued job, then take the answer that is
  /// by then in the mailbox. A fresh scoped_actor per call (CAF note §4).
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    caf::scoped_actor self{sys};
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    // Never block the test thread: without an answer, .receive() would wait forever.
    REQUIRE_MESSAGE(!self->mailbox().empty(), "the actor did not answer");
    caf::expected<T> res{tf::make_error(tf::ec::internal, "no answer")};
    handle.receive([&](T& x) { res = std::move(x); },
                   [&](caf::error& err) { res = std::move(err); });
    return res;
  }

  const tf::store_reader_actor& reader() { return store.readers->next(); }

  tf::project create_project(const std::string& name, std::vector<tf::stage> stages = {}) {
    auto p = call<tf::project>(store.writer, tf::atom::create_v,
                               make_project(name, std::move(stages)));
    REQUIRE_MESSAGE(p, sys.render(p.error()));
    return std::move(*p);
  }
};

} // namespace

TEST_SUITE("store actors (deterministic scheduler)") {

TEST_CASE_FIXTURE(det_fixture, "the test_coordinator runs actors only when told") {
  // start_store(detached=false) put the actors on the test coordinator; the fixture ran them.
  CHECK_FALSE(sched.has_job());
  caf::scoped_actor self{sys};
  auto handle = self->request(reader(), caf::infinite, tf::atom::ping_v);
  // The request is queued, not run: the reader is a job waiting in the coordinator.
  CHECK(sched.has_job());
  CHECK(self->mailbox().empty());
  CHECK(sched.run() >= 1);
  CHECK_FALSE(sched.has_job());
  bool ok = false;
  handle.receive([&](tf::atom::ok) { ok = true; },
                 [&](caf::error& err) { FAIL("ping failed: " << sys.render(err)); });
  CHECK(ok);
}

TEST_CASE_FIXTURE(det_fixture, "a project created by the writer is read back through a reader") {
  auto created = create_project("shop-api", {make_stage("prod"), make_stage("staging", 9090)});
  CHECK_FALSE(created.id.empty());
  CHECK_FALSE(created.workload_id.empty());
  CHECK(created.name == "shop-api");
  CHECK(created.image == "registry.example.com/team/shop-api");
  REQUIRE(created.stages.size() == 2);
  CHECK(created.stages[0].project_id == created.id);
  CHECK(created.stages[1].port == 9090);

  SUBCASE("get by id") {
    auto got = call<tf::project>(reader(), tf::atom::get_v, tf::atom::project_v, created.id);
    REQUIRE_MESSAGE(got, sys.render(got.error()));
    CHECK(got->id == created.id);
    CHECK(got->name == created.name);
    CHECK(got->image == created.image);
    CHECK(got->workload_id == created.workload_id);
    REQUIRE(got->stages.size() == 2);
    CHECK(got->stages[0].id == created.stages[0].id);
    CHECK(got->stages[0].name == "prod");
    CHECK(got->stages[1].name == "staging");
  }
  SUBCASE("listed") {
    auto listed = call<tf::page<tf::project>>(reader(), tf::atom::list_v, tf::atom::project_v,
                                              int64_t{50}, int64_t{0});
    REQUIRE_MESSAGE(listed, sys.render(listed.error()));
    CHECK(listed->total == 1);
    REQUIRE(listed->items.size() == 1);
    CHECK(listed->items[0].id == created.id);
  }
  SUBCASE("its workload") {
    auto w = call<tf::workload>(reader(), tf::atom::get_v, tf::atom::workload_v,
                                created.workload_id);
    REQUIRE_MESSAGE(w, sys.render(w.error()));
    CHECK(w->id == created.workload_id);
    CHECK(w->kind == "project");
    CHECK(w->ref_id == created.id);
    CHECK(w->name == "shop-api");
    CHECK_FALSE(w->webhook_secret.empty());
    CHECK_FALSE(w->webhook_signing_secret.empty());
    CHECK_FALSE(w->notification_secret.empty());
  }
}

TEST_CASE_FIXTURE(det_fixture, "a deploy's journal goes through the writer and reads back") {
  auto p = create_project("api", {make_stage("prod")});
  tf::deployment queued;
  queued.workload_id = p.workload_id;
  queued.stage_id = p.stages[0].id;
  queued.tag = "v1";
  auto d = call<tf::deployment>(store.writer, tf::atom::create_v, queued);
  REQUIRE_MESSAGE(d, sys.render(d.error()));
  CHECK(d->status == "queued");

  // Log lines are one-way messages; the writer takes them in the order they were sent,
  // before the transition sent after them from the same sender.
  caf::scoped_actor self{sys};
  self->send(store.writer, tf::atom::append_v, tf::deployment_log_line{d->id, "pulling"});
  self->send(store.writer, tf::atom::append_v, tf::deployment_log_line{d->id, "starting"});
  auto running = call<tf::deployment>(store.writer, tf::atom::update_v,
                                      tf::deployment_transition{d->id, "running", ""});
  REQUIRE_MESSAGE(running, sys.render(running.error()));
  auto done = call<tf::deployment>(store.writer, tf::atom::update_v,
                                   tf::deployment_transition{d->id, "succeeded", ""});
  REQUIRE_MESSAGE(done, sys.render(done.error()));

  auto got = call<tf::deployment>(reader(), tf::atom::get_v, tf::atom::deployment_v, d->id);
  REQUIRE_MESSAGE(got, sys.render(got.error()));
  CHECK(got->status == "succeeded");
  CHECK(got->log == std::vector<std::string>{"pulling", "starting"});
  auto listed = call<tf::page<tf::deployment>>(reader(), tf::atom::list_v,
                                               tf::atom::deployment_v, p.workload_id,
                                               int64_t{10}, int64_t{0});
  REQUIRE_MESSAGE(listed, sys.render(listed.error()));
  CHECK(listed->total == 1);
  auto again = call<tf::deployment>(store.writer, tf::atom::update_v,
                                    tf::deployment_transition{d->id, "running", ""});
  REQUIRE_FALSE(again);
  CHECK(tf::error_code(again.error()) == tf::ec::conflict);
  auto recovered = call<int64_t>(store.writer, tf::atom::recover_v, std::string{"restart"});
  REQUIRE_MESSAGE(recovered, sys.render(recovered.error()));
  CHECK(*recovered == 0);
}

TEST_CASE_FIXTURE(det_fixture, "a route claimed through the writer is read back through a reader") {
  auto p = create_project("api", {make_stage("prod"), make_stage("staging")});
  // stage, host, health path, slot count, port range
  tf::route_claim claim{p.stages[0].id, "stage", "api.example.com", "/up", 2, 21000, 21001};
  auto claimed = call<tf::proxy_route>(store.writer, tf::atom::route_v, claim);
  REQUIRE_MESSAGE(claimed, sys.render(claimed.error()));
  CHECK(claimed->slots == std::vector<int64_t>{21000, 21001});

  auto got = call<tf::proxy_route>(reader(), tf::atom::get_v, tf::atom::route_v, p.stages[0].id);
  REQUIRE_MESSAGE(got, sys.render(got.error()));
  CHECK(got->id == claimed->id);
  CHECK(got->host == "api.example.com");
  CHECK(got->slots == claimed->slots);

  // The range is used up: the other stage's claim fails as a value, the writer goes on.
  claim.owner_id = p.stages[1].id;
  auto refused = call<tf::proxy_route>(store.writer, tf::atom::route_v, claim);
  REQUIRE_FALSE(refused);
  CHECK(tf::error_code(refused.error()) == tf::ec::unavailable);
  auto none = call<tf::proxy_route>(reader(), tf::atom::get_v, tf::atom::route_v, p.stages[1].id);
  REQUIRE_FALSE(none);
  CHECK(tf::error_code(none.error()) == tf::ec::not_found);
  auto listed = call<std::vector<tf::proxy_route>>(reader(), tf::atom::list_v, tf::atom::route_v);
  REQUIRE_MESSAGE(listed, sys.render(listed.error()));
  CHECK(listed->size() == 1);
}

TEST_CASE_FIXTURE(det_fixture, "errors travel as values and the actors keep serving") {
  SUBCASE("an invalid project name is invalid_argument naming the field") {
    auto bad = call<tf::project>(store.writer, tf::atom::create_v, make_project("Not_A_Label"));
    REQUIRE_FALSE(bad);
    CHECK(tf::error_code(bad.error()) == tf::ec::invalid_argument);
    auto msg = tf::error_message(bad.error());
    CHECK_MESSAGE(msg.rfind("name:", 0) == 0, msg);
    CHECK_MESSAGE(msg.find("Not_A_Label") != std::string::npos, msg);
  }
  SUBCASE("an invalid stage names the stage and its field") {
    auto bad = call<tf::project>(store.writer, tf::atom::create_v,
                                 make_project("fine-name", {make_stage("prod", 70000)}));
    REQUIRE_FALSE(bad);
    CHECK(tf::error_code(bad.error()) == tf::ec::invalid_argument);
    auto msg = tf::error_message(bad.error());
    CHECK_MESSAGE(msg.rfind("stages[0].port:", 0) == 0, msg);
  }
  SUBCASE("a taken name is a conflict") {
    create_project("taken");
    auto dup = call<tf::project>(store.writer, tf::atom::create_v, make_project("taken"));
    REQUIRE_FALSE(dup);
    CHECK(tf::error_code(dup.error()) == tf::ec::conflict);
  }
  SUBCASE("an unknown id is not_found, from a reader and from the writer") {
    auto missing = call<tf::project>(reader(), tf::atom::get_v, tf::atom::project_v,
                                     std::string{"0123456789ab"});
    REQUIRE_FALSE(missing);
    CHECK(tf::error_code(missing.error()) == tf::ec::not_found);
    CHECK(tf::error_message(missing.error()).find("0123456789ab") != std::string::npos);
    auto gone = call<tf::atom::ok>(store.writer, tf::atom::erase_v, tf::atom::project_v,
                                   std::string{"0123456789ab"});
    REQUIRE_FALSE(gone);
    CHECK(tf::error_code(gone.error()) == tf::ec::not_found);
    auto nowl = call<tf::workload>(store.writer, tf::atom::rotate_v, std::string{"nope"});
    REQUIRE_FALSE(nowl);
    CHECK(tf::error_code(nowl.error()) == tf::ec::not_found);
  }
  // After any of the errors above, both actors are alive and the failed write left nothing.
  auto ok = call<tf::project>(store.writer, tf::atom::create_v, make_project("after-errors"));
  REQUIRE_MESSAGE(ok, sys.render(ok.error()));
  auto got = call<tf::project>(reader(), tf::atom::get_v, tf::atom::project_v, ok->id);
  REQUIRE_MESSAGE(got, sys.render(got.error()));
  CHECK(got->name == "after-errors");
  auto pong = call<tf::atom::ok>(reader(), tf::atom::ping_v);
  CHECK_MESSAGE(pong, sys.render(pong.error()));
  auto listed = call<tf::page<tf::project>>(reader(), tf::atom::list_v, tf::atom::project_v,
                                            int64_t{50}, int64_t{0});
  REQUIRE(listed);
  for (const auto& p : listed->items)
    CHECK(p.name != "fine-name"); // the rejected project was never stored
}

TEST_CASE_FIXTURE(det_fixture, "the writer handles messages in the order they arrived") {
  auto p = create_project("ordered", {make_stage("prod")});
  const std::string row_id = "row-ordered";

  auto upsert = [&](const std::string& tag, const std::string& cid, const std::string& state) {
    tf::container_row c;
    c.id = row_id;
    c.workload_id = p.workload_id;
    c.role = "web";
    c.stage_id = p.stages[0].id;
    c.subdomain = "ordered";
    c.proxy_route_id = "route-" + tag;
    c.npm_proxy_id = 7;
    c.image_tag = tag;
    c.container_id = cid;
    c.image_ref = "sha256:" + cid;
    c.state = state;
    c.port = 8080;
    return c;
  };
  auto observed = [&](const std::string& cid, const std::string& state, int64_t port) {
    tf::observed_container o;
    o.id = row_id;
    o.workload_id = p.workload_id;
    o.role = "web";
    o.container_id = cid;
    o.image_ref = "sha256:" + cid;
    o.state = state;
    o.port = port;
    return std::vector<tf::observed_container>{o};
  };

  caf::scoped_actor self{sys};
  // Plain sends, all queued before the writer runs once. A reconcile of a project row only
  // updates an existing row, so had the first reconcile run before the first upsert, it would
  // have been rejected and the row would hold the upsert's Docker fields.
  self->send(store.writer, tf::atom::upsert_v, upsert("v1", "cid-deploy-1", "created"));
  self->send(store.writer, tf::atom::reconcile_v, observed("cid-docker-1", "running", 32768));
  self->send(store.writer, tf::atom::upsert_v, upsert("v2", "cid-deploy-2", "created"));
  self->send(store.writer, tf::atom::reconcile_v, observed("cid-docker-2", "restarting", 32769));
  CHECK(sched.has_job());
  sched.run();

  auto row = call<tf::container_row>(reader(), tf::atom::get_v, tf::atom::container_v, row_id);
  REQUIRE_MESSAGE(row, sys.render(row.error()));
  // Deployer side: the last upsert.
  CHECK(row->image_tag == "v2");
  CHECK(row->proxy_route_id == "route-v2");
  CHECK(row->subdomain == "ordered");
  CHECK(row->stage_id == p.stages[0].id);
  CHECK(row->npm_proxy_id == 7);
  CHECK(row->workload_kind == "project");
  // Docker side: the last reconcile, which came after the last upsert.
  CHECK(row->container_id == "cid-docker-2");
  CHECK(row->image_ref == "sha256:cid-docker-2");
  CHECK(row->state == "restarting");
  CHECK(row->port == 32769);

  // In 0.17.6 the results of plain sends still go back to the sender, in the same order.
  std::vector<std::string> replies;
  bool more = true;
  while (more)
    self->receive([&](tf::container_row& c) { replies.push_back("row " + c.image_tag); },
                  [&](tf::reconcile_result& r) {
                    replies.push_back("reconcile " + std::to_string(r.written) + "/"
                                      + std::to_string(r.rejected));
                  },
                  caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
  CHECK(replies == std::vector<std::string>{"row v1", "reconcile 1/0", "row v2", "reconcile 1/0"});
}

TEST_CASE_FIXTURE(det_fixture, "reader ping answers ok") {
  auto pong = call<tf::atom::ok>(reader(), tf::atom::ping_v);
  CHECK_MESSAGE(pong, sys.render(pong.error()));
  // Every reader, not just the next one.
  for (const auto& r : store.readers->all())
    CHECK(call<tf::atom::ok>(r, tf::atom::ping_v));
}

TEST_CASE_FIXTURE(det_fixture, "a request times out on the test clock, without sleeping") {
  caf::scoped_actor self{sys};
  auto handle = self->request(store.writer, std::chrono::milliseconds(100), tf::atom::create_v,
                              make_project("too-late"));
  // The writer's job is queued but never run: only the clock moves.
  CHECK(sched.has_job());
  CHECK(sched.has_pending_timeout());
  CHECK(sched.advance_time(std::chrono::milliseconds(99)) == 0);
  CHECK(self->mailbox().empty());
  CHECK(sched.advance_time(std::chrono::milliseconds(1)) == 1);
  REQUIRE_FALSE(self->mailbox().empty());
  caf::error got;
  handle.receive([&](tf::project&) { FAIL("the writer never ran, yet answered"); },
                 [&](caf::error& err) { got = std::move(err); });
  CHECK(got == caf::sec::request_timeout);
  CHECK(tf::error_code(got) == tf::ec::timeout);
  CHECK(tf::error_message(got) == "the daemon did not answer in time");

  // A timeout does not withdraw the request: once the writer runs, the project is created
  // anyway, and its late answer lands in the requester's mailbox (where a reused
  // scoped_actor would keep it forever, CAF note §4).
  sched.run();
  CHECK_FALSE(self->mailbox().empty());
  auto listed = call<tf::page<tf::project>>(reader(), tf::atom::list_v, tf::atom::project_v,
                                            int64_t{50}, int64_t{0});
  REQUIRE(listed);
  CHECK(listed->total == 1);
}

TEST_CASE_FIXTURE(det_fixture, "stop_store stops every actor, later requests fail as unavailable") {
  create_project("before-stop");
  auto writer = store.writer;
  auto readers = store.readers; // stop_store resets the handles it was given
  shutdown();
  CHECK_FALSE(store.writer);
  CHECK_FALSE(store.readers);
  auto late = call<tf::project>(writer, tf::atom::create_v, make_project("after-stop"));
  REQUIRE_FALSE(late);
  CHECK(late.error() == caf::sec::request_receiver_down);
  CHECK(tf::error_code(late.error()) == tf::ec::unavailable);
  auto ping = call<tf::atom::ok>(readers->next(), tf::atom::ping_v);
  REQUIRE_FALSE(ping);
  CHECK(tf::error_code(ping.error()) == tf::ec::unavailable);
  // The fixture's destructor (a second shutdown, then ~actor_system) must not hang.
}

} // TEST_SUITE

// -- part B: the race -----------------------------------------------------------------------

namespace {

// Four rows, one per group k. Deployer thread k is the only thread that upserts row k;
// reconciler thread k is the only thread that reconciles it. Each thread sends its writes one
// after another, each a synchronous request (the next is sent only after the answer), so the
// writer processes one thread's writes in the order of their sequence numbers, and "the last
// write of thread X for row k" is well defined. Across the two threads of a group the writer
// interleaves them in whatever order they arrive.
//
// Rows 0 and 1 belong to a project: the reconciler never creates project rows, so the test
// creates them with one upsert (seq 0) before the threads start. Rows 2 and 3 belong to a
// stack and do not exist at the start: whichever of the two threads gets there first
// creates them (reconcile may insert stack rows).
//
// Every value carries its thread's group and sequence number, and the deployer's Docker
// values are spelled differently from the reconciler's ("dep-..." vs "rec-..."), so a row read
// back tells exactly which write each field came from.
//
// What "latest" means: the deployer-owned fields (stage_id, subdomain, proxy_route_id,
// npm_proxy_id, image_tag) are written only by upserts, so after the race they must equal
// deployer k's last upsert exactly. The Docker fields are written by both sides (an upsert
// replaces every field), so they must equal, whole, whichever of the two last writes the writer
// processed last: the last upsert's or the last reconcile's. One more reconcile after the
// threads joined, with nothing racing it, then pins them exactly while the deployer fields
// still equal the last upsert.
constexpr int groups = 4;
constexpr int writes_per_thread = 1250; // 8 threads x 1250 = 10,000 writes
constexpr int project_rows = 2;

std::string row_id(int k) {
  return "race-row-" + std::to_string(k);
}

struct race_world {
  std::string project_workload;
  std::string stack_workload;
  std::vector<std::string> stage_ids; // two stages of the project

  bool is_project_row(int k) const { return k < project_rows; }
  const std::string& workload_of(int k) const {
    return is_project_row(k) ? project_workload : stack_workload;
  }

  // Row k as both writers name it: its id, workload and role.
  template <class Row>
  Row identified(int k) const {
    Row r;
    r.id = row_id(k);
    r.workload_id = workload_of(k);
    r.role = "web";
    return r;
  }

  // The deployer's write number `seq` for row k (seq 0 pre-creates the project rows).
  tf::container_row deployer_row(int k, int seq) const {
    auto tag = std::to_string(k) + "-" + std::to_string(seq);
    auto c = identified<tf::container_row>(k);
    // Deployer-owned fields.
    c.stage_id = is_project_row(k) ? stage_ids[static_cast<size_t>(seq % 2)] : std::string{};
    c.subdomain = "sub-" + tag;
    c.proxy_route_id = "route-" + tag;
    c.npm_proxy_id = 1000 * (k + 1) + seq;
    c.image_tag = "tag-" + tag;
    // Docker fields: the deployer writes these too (upsert replaces every field).
    c.container_id = "dep-cid-" + tag;
    c.image_ref = "dep-img-" + tag;
    c.state = seq % 2 == 0 ? "created" : "running";
    c.port = 10000 + seq;
    c.last_seen_at = "dep-seen-" + tag;
    return c;
  }

  // The reconciler's observation number `seq` of row k.
  tf::observed_container observed(int k, int seq) const {
    auto tag = std::to_string(k) + "-" + std::to_string(seq);
    auto o = identified<tf::observed_container>(k);
    o.container_id = "rec-cid-" + tag;
    o.image_ref = "rec-img-" + tag;
    o.state = seq % 3 == 0 ? "running" : seq % 3 == 1 ? "restarting" : "paused";
    o.port = 30000 + seq;
    o.last_seen_at = "rec-seen-" + tag;
    return o;
  }
};

bool same_deployer_fields(const tf::container_row& a, const tf::container_row& b) {
  return a.stage_id == b.stage_id && a.subdomain == b.subdomain
         && a.proxy_route_id == b.proxy_route_id && a.npm_proxy_id == b.npm_proxy_id
         && a.image_tag == b.image_tag && a.role == b.role;
}

bool docker_fields_from_upsert(const tf::container_row& row, const tf::container_row& sent) {
  return row.container_id == sent.container_id && row.image_ref == sent.image_ref
         && row.state == sent.state && row.port == sent.port
         && row.last_seen_at == sent.last_seen_at;
}

bool docker_fields_from_reconcile(const tf::container_row& row, const tf::observed_container& o) {
  return row.container_id == o.container_id && row.image_ref == o.image_ref
         && row.state == o.state && row.port == o.port && row.last_seen_at == o.last_seen_at;
}

/// The sequence number at the end of "prefix-k-seq", or -1.
int seq_of(const std::string& s) {
  auto dash = s.rfind('-');
  if (dash == std::string::npos || dash + 1 == s.size() || s.size() - dash > 9)
    return -1;
  int seq = 0;
  for (auto i = dash + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    seq = seq * 10 + (s[i] - '0');
  }
  return seq;
}

std::string describe(const tf::container_row& c) {
  return c.id + " {stage " + c.stage_id + ", " + c.subdomain + ", " + c.proxy_route_id + ", npm "
         + std::to_string(c.npm_proxy_id) + ", " + c.image_tag + " | " + c.container_id + ", "
         + c.image_ref + ", " + c.state + ", port " + std::to_string(c.port) + ", "
         + c.last_seen_at + "}";
}

/// Failures seen on other threads, checked on the test thread after they joined.
struct failure_log {
  std::atomic<int> count{0};
  std::mutex mtx;
  std::vector<std::string> first;

  void add(std::string what) {
    ++count;
    std::lock_guard<std::mutex> guard{mtx};
    if (first.size() < 10)
      first.push_back(std::move(what));
  }
};

/// One synchronous request from a fresh scoped_actor (never shared between threads).
/// The 30 s timeout only turns a hang into a failure.
template <class T, class Handle, class... Ts>
caf::expected<T> sync_call(caf::actor_system& sys, const Handle& dest, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> res{tf::make_error(tf::ec::internal, "no answer")};
  self->request(dest, std::chrono::seconds(30), std::forward<Ts>(xs)...)
    .receive([&](T& x) { res = std::move(x); }, [&](caf::error& err) { res = std::move(err); });
  return res;
}

} // namespace

namespace {

/// The store as the daemon runs it (real scheduler, detached actors), stopped even when an
/// assertion throws, or ~actor_system would wait forever for its actors.
struct real_store {
  explicit real_store(size_t readers) {
    auto started = tf::start_store(sys, {dir.file("store.db"), readers, /*detached=*/true});
    REQUIRE_MESSAGE(started, sys.render(started.error()));
    store = std::move(*started);
  }
  real_store(const real_store&) = delete;
  real_store& operator=(const real_store&) = delete;
  ~real_store() { tf::stop_store(sys, store); }

  tf::test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  tf::store_handles store;
};

} // namespace

TEST_CASE("race: concurrent deployer upserts and reconciler batches never clobber each other") {
  real_store fixture{2};
  auto& sys = fixture.sys;
  auto& store = fixture.store;

  race_world world;
  {
    auto p = sync_call<tf::project>(
      sys, store.writer, tf::atom::create_v,
      make_project("race-app", {make_stage("alpha"), make_stage("beta")}));
    REQUIRE_MESSAGE(p, sys.render(p.error()));
    world.project_workload = p->workload_id;
    world.stage_ids = {p->stages.at(0).id, p->stages.at(1).id};
    auto s = sync_call<tf::stack>(sys, store.writer, tf::atom::create_v, make_stack("race-stack"));
    REQUIRE_MESSAGE(s, sys.render(s.error()));
    world.stack_workload = s->workload_id;
    for (int k = 0; k < project_rows; ++k) {
      auto c = sync_call<tf::container_row>(sys, store.writer, tf::atom::upsert_v,
                                            world.deployer_row(k, 0));
      REQUIRE_MESSAGE(c, sys.render(c.error()));
    }
  }

  failure_log failures;
  std::atomic<int> upserts_ok{0};
  std::atomic<int> reconciles_ok{0};
  std::atomic<int> writers_running{2 * groups};
  std::atomic<int> observed_reads{0};

  auto deployer = [&](int k) {
    for (int seq = 1; seq <= writes_per_thread; ++seq) {
      auto sent = world.deployer_row(k, seq);
      auto got = sync_call<tf::container_row>(sys, store.writer, tf::atom::upsert_v, sent);
      if (!got) {
        failures.add("upsert " + sent.image_tag + ": " + sys.render(got.error()));
        continue;
      }
      // The answer is the row as stored inside the upsert's transaction: all of it is ours.
      if (!same_deployer_fields(*got, sent) || !docker_fields_from_upsert(*got, sent))
        failures.add("upsert answer differs: sent " + describe(sent) + ", got " + describe(*got));
      else
        ++upserts_ok;
    }
    --writers_running;
  };

  auto reconciler = [&](int k) {
    for (int seq = 1; seq <= writes_per_thread; ++seq) {
      // A batch: this row as Docker sees it, plus a container whose label names no
      // workload (forged), which must be rejected without failing the batch.
      std::vector<tf::observed_container> batch{world.observed(k, seq)};
      auto forged = world.observed(k, seq);
      forged.id = "forged-" + std::to_string(k);
      forged.workload_id = "no-such-workload";
      batch.push_back(forged);
      auto got = sync_call<tf::reconcile_result>(sys, store.writer, tf::atom::reconcile_v, batch);
      if (!got) {
        failures.add("reconcile " + std::to_string(k) + "-" + std::to_string(seq) + ": "
                     + sys.render(got.error()));
        continue;
      }
      if (got->written != 1 || got->rejected != 1)
        failures.add("reconcile " + std::to_string(k) + "-" + std::to_string(seq) + " wrote "
                     + std::to_string(got->written) + ", rejected "
                     + std::to_string(got->rejected));
      else
        ++reconciles_ok;
    }
    --writers_running;
  };

  // While the writers run, one thread reads the rows through the readers (one list request
  // per round). Each row read must be made of whole writes: the deployer fields all from one
  // upsert, the Docker fields all from one upsert or one reconcile (never torn), and the
  // deployer's sequence number never goes back, i.e. a reconcile never wiped the deployer
  // fields. No row may ever be duplicated, lost or forged.
  auto observer = [&] {
    std::vector<int> last_deployer_seq(groups, -1);
    std::vector<bool> seen(groups, false);
    tf::container_filter all;
    all.limit = 500;
    while (writers_running.load() > 0) {
      auto got = sync_call<tf::page<tf::container_row>>(
        sys, store.readers->next(), tf::atom::list_v, tf::atom::container_v, all);
      ++observed_reads;
      if (!got) {
        failures.add("list: " + sys.render(got.error()));
        continue;
      }
      // (total vs. items is checked by its own test below: the reader does not count in the
      // same snapshot it lists from.)
      if (got->items.size() > static_cast<size_t>(groups))
        failures.add("list: " + std::to_string(got->items.size()) + " items");
      std::vector<bool> present(groups, false);
      for (const auto& row : got->items) {
        int k = -1;
        for (int i = 0; i < groups; ++i)
          if (row.id == row_id(i))
            k = i;
        if (k < 0 || present[static_cast<size_t>(k)]) {
          failures.add("unexpected or duplicate row: " + describe(row));
          continue;
        }
        auto ku = static_cast<size_t>(k);
        present[ku] = seen[ku] = true;
        int seq = -1;
        if (!row.image_tag.empty()) {
          seq = seq_of(row.image_tag);
          if (seq < 0 || !same_deployer_fields(row, world.deployer_row(k, seq)))
            failures.add("torn deployer fields: " + describe(row));
        } else {
          // Only a stack row that a reconcile created and no upsert reached yet may have
          // empty deployer fields (a wipe after an upsert is caught as "went back" below).
          bool empty = row.stage_id.empty() && row.subdomain.empty() && row.proxy_route_id.empty()
                       && row.npm_proxy_id == 0;
          if (world.is_project_row(k) || !empty)
            failures.add("deployer fields wiped: " + describe(row));
        }
        if (seq < last_deployer_seq[ku])
          failures.add("deployer fields went back from seq " + std::to_string(last_deployer_seq[ku])
                       + ": " + describe(row));
        last_deployer_seq[ku] = std::max(last_deployer_seq[ku], seq);
        // The Docker fields come whole from one write, named by the container id.
        auto dseq = seq_of(row.container_id);
        bool whole = false;
        if (dseq >= 0 && row.container_id.rfind("dep-cid-", 0) == 0)
          whole = docker_fields_from_upsert(row, world.deployer_row(k, dseq));
        else if (dseq >= 0 && row.container_id.rfind("rec-cid-", 0) == 0)
          whole = docker_fields_from_reconcile(row, world.observed(k, dseq));
        if (!whole)
          failures.add("torn Docker fields: " + describe(row));
      }
      for (int k = 0; k < groups; ++k)
        if (!present[static_cast<size_t>(k)]
            && (world.is_project_row(k) || seen[static_cast<size_t>(k)]))
          failures.add("row vanished: " + row_id(k));
      // Pacing only (not synchronization): leave the 2 vCPUs mostly to the writers.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };

  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < groups; ++k) {
    threads.emplace_back(deployer, k);
    threads.emplace_back(reconciler, k);
  }
  threads.emplace_back(observer);
  for (auto& t : threads)
    t.join();
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - t0);
  MESSAGE("race: " << 2 * groups * writes_per_thread << " writes from " << 2 * groups
                   << " threads in " << elapsed.count() << " ms (" << observed_reads.load()
                   << " concurrent list reads)");

  for (const auto& f : failures.first)
    MESSAGE(f);
  REQUIRE(failures.count.load() == 0);
  CHECK(upserts_ok.load() == groups * writes_per_thread);
  CHECK(reconciles_ok.load() == groups * writes_per_thread);

  // Final state after the race. The deployer fields are written only by upserts, and
  // deployer k's upserts were processed in seq order, so each row holds exactly the last
  // upsert's deployer fields. The Docker fields are written by both sides; which side's last
  // write the writer processed last is up to the race, so they are exactly one of the two
  // last writes, whole.
  for (int k = 0; k < groups; ++k) {
    CAPTURE(k);
    auto row = sync_call<tf::container_row>(sys, store.readers->next(), tf::atom::get_v,
                                            tf::atom::container_v, row_id(k));
    REQUIRE_MESSAGE(row, sys.render(row.error()));
    auto last_upsert = world.deployer_row(k, writes_per_thread);
    auto last_reconcile = world.observed(k, writes_per_thread);
    CHECK_MESSAGE(same_deployer_fields(*row, last_upsert), describe(*row));
    CHECK_MESSAGE((docker_fields_from_upsert(*row, last_upsert)
                   || docker_fields_from_reconcile(*row, last_reconcile)),
                  describe(*row));
    CHECK(row->workload_id == world.workload_of(k));
    CHECK(row->workload_kind == (world.is_project_row(k) ? "project" : "stack"));
  }

  // Now one more reconcile tick for all four rows, in one batch, with nothing racing it:
  // the Docker fields are exactly the tick's, and the deployer fields are still exactly the
  // last upsert's.
  std::vector<tf::observed_container> tick;
  for (int k = 0; k < groups; ++k)
    tick.push_back(world.observed(k, writes_per_thread + 1));
  auto ticked = sync_call<tf::reconcile_result>(sys, store.writer, tf::atom::reconcile_v, tick);
  REQUIRE_MESSAGE(ticked, sys.render(ticked.error()));
  CHECK(ticked->written == groups);
  CHECK(ticked->rejected == 0);
  for (int k = 0; k < groups; ++k) {
    CAPTURE(k);
    auto row = sync_call<tf::container_row>(sys, store.readers->next(), tf::atom::get_v,
                                            tf::atom::container_v, row_id(k));
    REQUIRE_MESSAGE(row, sys.render(row.error()));
    CHECK_MESSAGE(same_deployer_fields(*row, world.deployer_row(k, writes_per_thread)),
                  describe(*row));
    CHECK_MESSAGE(docker_fields_from_reconcile(*row, world.observed(k, writes_per_thread + 1)),
                  describe(*row));
  }

  // Exactly the four rows: no duplicates, and the forged containers were never indexed.
  tf::container_filter all;
  all.limit = 500;
  auto listed = sync_call<tf::page<tf::container_row>>(sys, store.readers->next(), tf::atom::list_v,
                                                       tf::atom::container_v, all);
  REQUIRE_MESSAGE(listed, sys.render(listed.error()));
  CHECK(listed->total == groups);
  REQUIRE(listed->items.size() == static_cast<size_t>(groups));
  for (const auto& c : listed->items)
    CHECK(c.id.rfind("race-row-", 0) == 0);
}

TEST_CASE("a page's total counts the same rows as its items while rows are being added") {
  // A list answers items and total. Both must describe one state of the database: with every
  // row on one page (limit 500 > rows), total == items.size() in any single snapshot. Here one
  // thread adds stack rows one transaction at a time while another lists them.
  real_store fixture{1};
  auto& sys = fixture.sys;
  auto& store = fixture.store;

  auto s = sync_call<tf::stack>(sys, store.writer, tf::atom::create_v, make_stack("paged-stack"));
  REQUIRE_MESSAGE(s, sys.render(s.error()));

  constexpr int rows = 400;
  std::atomic<bool> adding{true};
  failure_log failures;
  std::atomic<int> mismatches{0};
  std::atomic<int> lists{0};
  std::string example;
  std::thread adder{[&] {
    for (int i = 0; i < rows; ++i) {
      tf::container_row c;
      c.id = "paged-" + std::to_string(i);
      c.workload_id = s->workload_id;
      c.role = "web";
      auto got = sync_call<tf::container_row>(sys, store.writer, tf::atom::upsert_v, c);
      if (!got)
        failures.add("upsert: " + sys.render(got.error()));
    }
    adding = false;
  }};
  std::thread lister{[&] {
    tf::container_filter f;
    f.limit = 500;
    while (adding.load()) {
      auto got = sync_call<tf::page<tf::container_row>>(sys, store.readers->next(),
                                                        tf::atom::list_v, tf::atom::container_v, f);
      ++lists;
      if (!got) {
        failures.add("list: " + sys.render(got.error()));
        continue;
      }
      if (got->total != static_cast<int64_t>(got->items.size())) {
        if (mismatches++ == 0)
          example = "total " + std::to_string(got->total) + " with "
                    + std::to_string(got->items.size()) + " items";
      }
    }
  }};
  adder.join();
  lister.join();
  for (const auto& f : failures.first)
    MESSAGE(f);
  REQUIRE(failures.count.load() == 0);
  CHECK_MESSAGE(mismatches.load() == 0, mismatches.load() << " of " << lists.load()
                                          << " pages were inconsistent, e.g. " << example);
}
