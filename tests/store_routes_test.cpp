// Tests of proxy routes (store/routes.cpp), the deployments journal's phase, and migration
// 0002 that adds both, on a real SQLite file: which ports a stage is handed, that no two
// stages ever share one, that a refused claim writes nothing, and that a route goes with
// its stage. Part of the store_test binary (helpers here are local to this file).

#include "core/errors.hpp"
#include "store/database.hpp"
#include "store/deployments.hpp"
#include "store/migrations.hpp"
#include "core/model.hpp"
#include "store/routes.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"

#include "expect.hpp"
#include "helpers.hpp"
#include "store_sql.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace tf;
using namespace tf::store;
using namespace tf::test;

using ports = std::vector<int64_t>;


/// Every route and slot row as text: equal before and after means nothing was written.
std::string route_rows(database& db) {
  std::string out;
  auto routes = sql_prepared(db, "SELECT id || '|' || owner_id || '|' || host || '|' || "
                                 "health_path || '|' || npm_proxy_id || '|' || serving || '|' "
                                 "|| updated_at FROM proxy_routes ORDER BY id");
  while (routes.step())
    out += routes.text(0) + "\n";
  auto slots = sql_prepared(db, "SELECT port || '|' || route_id || '|' || position "
                                "FROM route_slots ORDER BY port");
  while (slots.step())
    out += slots.text(0) + "\n";
  return out;
}

database open_rw_db(const std::string& path) {
  auto db = database::open(path, database::mode::read_write);
  REQUIRE_MESSAGE(static_cast<bool>(db), "open " << path << ": " << message_of(db));
  return std::move(*db);
}

struct routes_fixture {
  tf::test::temp_dir dir;
  std::string path = dir.file("tinyforge.db");
  database db = open_rw_db(path);

  routes_fixture() {
    MUST(migrate(db));
    MUST(unlock_secrets(db, key_path_for(path)));
  }

  project create(const std::string& name, std::vector<std::string> stage_names = {"staging",
                                                                                 "production"}) {
    project p;
    p.name = name;
    p.image = "registry.example.com/team/" + name;
    for (auto& s : stage_names) {
      stage st;
      st.name = s;
      st.port = 8080;
      p.stages.push_back(st);
    }
    return MUST(create_project(db, p));
  }
};

route_claim claim_for(const stage& s, int64_t slots, int64_t low = 20000, int64_t high = 20009) {
  route_claim c;
  c.owner_id = s.id;
  c.host = s.name + ".example.com";
  c.health_path = "/up";
  c.slot_count = slots;
  c.port_low = low;
  c.port_high = high;
  return c;
}

deployment queue_deploy(database& db, const project& p, size_t stage_index, std::string tag) {
  deployment d;
  d.workload_id = p.workload_id;
  d.stage_id = p.stages.at(stage_index).id;
  d.tag = std::move(tag);
  return MUST(create_deployment(db, d));
}

void move(database& db, const deployment& d, const std::string& status) {
  MUST(transition_deployment(db, deployment_transition{d.id, status, ""}));
}

} // namespace

TEST_SUITE("proxy routes") {

TEST_CASE_FIXTURE(routes_fixture, "a stage's route is created with the lowest free ports") {
  auto p = create("api");
  auto r = MUST(claim_route(db, claim_for(p.stages[0], 2)));
  CHECK(is_hex(r.id, 24));
  CHECK(r.owner_id == p.stages[0].id);
  CHECK(r.host == "staging.example.com");
  CHECK(r.health_path == "/up");
  CHECK(r.slots == ports{20000, 20001});
  CHECK(r.serving.empty());
  CHECK(r.npm_proxy_id == 0);
  CHECK_FALSE(r.created_at.empty());

  auto got = MUST(get_route(db, p.stages[0].id));
  CHECK(got.id == r.id);
  CHECK(got.slots == r.slots);

  SUBCASE("claiming again changes nothing but host and health path") {
    auto again = MUST(claim_route(db, claim_for(p.stages[0], 2)));
    CHECK(again.id == r.id);
    CHECK(again.slots == r.slots);
    auto moved = claim_for(p.stages[0], 2);
    moved.host = "api.example.org";
    moved.health_path = "/healthz";
    auto changed = MUST(claim_route(db, moved));
    CHECK(changed.id == r.id);
    CHECK(changed.host == "api.example.org");
    CHECK(changed.health_path == "/healthz");
    CHECK(changed.slots == r.slots);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM proxy_routes") == 1);
  }
  SUBCASE("a second stage gets other ports") {
    auto other = MUST(claim_route(db, claim_for(p.stages[1], 2)));
    CHECK(other.id != r.id);
    CHECK(other.slots == ports{20002, 20003});
    auto listed = MUST(list_routes(db));
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].slots.size() == 2);
    CHECK(listed[1].slots.size() == 2);
    CHECK(listed[0].owner_id != listed[1].owner_id);
  }
  SUBCASE("growing keeps the slots it has, in order, and never shrinks") {
    MUST(claim_route(db, claim_for(p.stages[1], 2))); // takes 20002-20003
    auto grown = MUST(claim_route(db, claim_for(p.stages[0], 4)));
    CHECK(grown.id == r.id);
    CHECK(grown.slots == ports{20000, 20001, 20004, 20005});
    CHECK(MUST(get_route(db, p.stages[0].id)).slots == grown.slots);
    auto fewer = MUST(claim_route(db, claim_for(p.stages[0], 1)));
    CHECK(fewer.slots == grown.slots);
  }
  SUBCASE("ports outside the claim's range are not looked at, and ports are never shared") {
    auto other = MUST(claim_route(db, claim_for(p.stages[1], 2, 20001, 20100)));
    CHECK(other.slots == ports{20002, 20003});
  }
}

TEST_CASE_FIXTURE(routes_fixture, "an exhausted port range is unavailable and writes nothing") {
  auto p = create("api", {"a", "b", "c"});
  MUST(claim_route(db, claim_for(p.stages[0], 2, 20000, 20004)));
  auto before = route_rows(db);

  SUBCASE("a new route") {
    MUST(claim_route(db, claim_for(p.stages[1], 3, 20000, 20004)));
    before = route_rows(db);
    auto refused = claim_route(db, claim_for(p.stages[2], 1, 20000, 20004));
    CHECK(code_of(refused) == "unavailable");
    CHECK(message_of(refused) == "no free slot port in 20000-20004");
    CHECK(sql_int(db, "SELECT COUNT(*) FROM proxy_routes WHERE owner_id = ?1",
                   p.stages[2].id) == 0);
  }
  SUBCASE("growing an existing route by more than is left") {
    auto refused = claim_route(db, claim_for(p.stages[0], 6, 20000, 20004));
    CHECK(code_of(refused) == "unavailable");
    CHECK(MUST(get_route(db, p.stages[0].id)).slots == ports{20000, 20001});
  }
  SUBCASE("a host change in the same claim is not kept either") {
    auto c = claim_for(p.stages[0], 8, 20000, 20004);
    c.host = "elsewhere.example.com";
    CHECK(code_of(claim_route(db, c)) == "unavailable");
    CHECK(MUST(get_route(db, p.stages[0].id)).host == "a.example.com");
  }
  CHECK(route_rows(db) == before);
}

TEST_CASE_FIXTURE(routes_fixture, "a claim with bad input is refused and writes nothing") {
  auto p = create("api");
  MUST(claim_route(db, claim_for(p.stages[0], 2)));
  auto before = route_rows(db);
  auto refused = [&](route_claim c, std::string_view field) {
    auto res = claim_route(db, c);
    CHECK_MESSAGE(code_of(res) == "invalid_argument", c.host << " " << c.health_path);
    CHECK_MESSAGE(contains(message_of(res), field), message_of(res));
  };
  auto with_host = [&](std::string host) {
    auto c = claim_for(p.stages[1], 2);
    c.host = std::move(host);
    return c;
  };
  auto with_path = [&](std::string path) {
    auto c = claim_for(p.stages[1], 2);
    c.health_path = std::move(path);
    return c;
  };
  refused(with_host(""), "host");
  refused(with_host("API.example.com"), "host");
  refused(with_host("api_v2.example.com"), "host");
  refused(with_host("api example.com"), "host");
  refused(with_host("api.example.com;"), "host");
  refused(with_host("api..example.com"), "host");
  refused(with_host(".example.com"), "host");
  refused(with_host(std::string(250, 'a') + ".com"), "host"); // 254 characters
  refused(with_path(""), "health_path");
  refused(with_path("up"), "health_path");
  refused(with_path("/up now"), "health_path");
  refused(with_path("/up\n"), "health_path");
  refused(with_path("/" + std::string(1024, 'a')), "health_path");
  auto c = claim_for(p.stages[1], 0);
  refused(c, "slot_count");
  c.slot_count = 65;
  refused(c, "slot_count");
  refused(claim_for(p.stages[1], 2, 20010, 20000), "port");
  refused(claim_for(p.stages[1], 2, 0, 10), "port");
  refused(claim_for(p.stages[1], 2, 65000, 70000), "port");

  auto unknown = claim_for(p.stages[1], 2);
  unknown.owner_id = "no-such-stage";
  CHECK(code_of(claim_route(db, unknown)) == "not_found");
  CHECK(route_rows(db) == before);

  // The longest allowed host and path are fine.
  auto longest = with_host(std::string(63, 'a') + "." + std::string(63, 'b') + "."
                           + std::string(63, 'c') + "." + std::string(61, 'd'));
  REQUIRE(longest.host.size() == 253);
  longest.health_path = "/" + std::string(1023, 'x');
  CHECK(code_of(claim_route(db, longest)) == "ok");
}

TEST_CASE_FIXTURE(routes_fixture, "update_route records serving slots and the npm host id") {
  auto p = create("api");
  auto r = MUST(claim_route(db, claim_for(p.stages[0], 4)));
  auto other = MUST(claim_route(db, claim_for(p.stages[1], 2)));

  auto change = r;
  change.serving = {20002, 20003};
  change.npm_proxy_id = 17;
  auto updated = MUST(update_route(db, change));
  CHECK(updated.serving == ports{20002, 20003});
  CHECK(updated.npm_proxy_id == 17);
  auto got = MUST(get_route(db, p.stages[0].id));
  CHECK(got.serving == ports{20002, 20003});
  CHECK(got.npm_proxy_id == 17);
  CHECK(got.slots == r.slots); // slots are not the update's to change

  auto before = route_rows(db);
  SUBCASE("a port of another route") {
    auto bad = r;
    bad.serving = {20000, other.slots[0]};
    auto res = update_route(db, bad);
    CHECK(code_of(res) == "invalid_argument");
    CHECK(contains(message_of(res), "serving"));
  }
  SUBCASE("a port of no route") {
    auto bad = r;
    bad.serving = {443};
    CHECK(code_of(update_route(db, bad)) == "invalid_argument");
  }
  SUBCASE("a slot twice") {
    auto bad = r;
    bad.serving = {20000, 20000};
    CHECK(code_of(update_route(db, bad)) == "invalid_argument");
  }
  SUBCASE("a negative npm id") {
    auto bad = r;
    bad.npm_proxy_id = -1;
    CHECK(code_of(update_route(db, bad)) == "invalid_argument");
  }
  SUBCASE("an unknown route") {
    auto bad = r;
    bad.id = "no-such-route";
    CHECK(code_of(update_route(db, bad)) == "not_found");
  }
  CHECK(route_rows(db) == before);

  SUBCASE("nothing serving is a valid state") {
    auto none = r;
    none.serving.clear();
    CHECK(MUST(update_route(db, none)).serving.empty());
  }
}

TEST_CASE_FIXTURE(routes_fixture, "a corrupt serving column is an error, not a guess") {
  auto p = create("api");
  auto r = MUST(claim_route(db, claim_for(p.stages[0], 2)));
  for (const char* text : {"20000,", "x", "20000,,20001", "123456", "0", "-1", " 20000"}) {
    auto st = sql_prepared(db, "UPDATE proxy_routes SET serving = ?1 WHERE id = ?2", text, r.id);
    MUST_OK(st.run());
    CHECK_MESSAGE(code_of(get_route(db, p.stages[0].id)) == "database", text);
    CHECK_MESSAGE(code_of(list_routes(db)) == "database", text);
  }
}

TEST_CASE_FIXTURE(routes_fixture, "a route goes with its stage or project and frees its ports") {
  auto p = create("api");
  auto other = create("web", {"prod"});
  auto first = MUST(claim_route(db, claim_for(p.stages[0], 2)));
  auto second = MUST(claim_route(db, claim_for(p.stages[1], 2)));
  MUST(claim_route(db, claim_for(other.stages[0], 2))); // 20004-20005

  SUBCASE("deleting the stage") {
    MUST_OK(delete_stage(db, p.stages[0].id));
    CHECK(code_of(get_route(db, p.stages[0].id)) == "not_found");
    CHECK(sql_int(db, "SELECT COUNT(*) FROM route_slots WHERE route_id = ?1", first.id) == 0);
    CHECK(MUST(get_route(db, p.stages[1].id)).slots == second.slots);
    auto reused = MUST(claim_route(db, claim_for(other.stages[0], 4)));
    CHECK(reused.slots == ports{20004, 20005, 20000, 20001});
  }
  SUBCASE("deleting the project") {
    MUST_OK(delete_project(db, p.id));
    CHECK(code_of(get_route(db, p.stages[0].id)) == "not_found");
    CHECK(code_of(get_route(db, p.stages[1].id)) == "not_found");
    CHECK(sql_int(db, "SELECT COUNT(*) FROM proxy_routes") == 1);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM route_slots") == 2);
    auto third = create("docs", {"prod"});
    CHECK(MUST(claim_route(db, claim_for(third.stages[0], 4))).slots
          == ports{20000, 20001, 20002, 20003});
  }
  SUBCASE("delete_route") {
    MUST_OK(delete_route(db, p.stages[0].id));
    CHECK(code_of(get_route(db, p.stages[0].id)) == "not_found");
    MUST_OK(delete_route(db, p.stages[0].id)); // none left: not an error
    MUST_OK(delete_route(db, "no-such-stage"));
    CHECK(MUST(list_routes(db)).size() == 2);
    auto again = MUST(claim_route(db, claim_for(p.stages[0], 2)));
    CHECK(again.id != first.id);
    CHECK(again.slots == ports{20000, 20001});
  }
}

} // TEST_SUITE

TEST_SUITE("deployment phase") {

TEST_CASE("migration 0002 keeps a version 1 database's rows and gives them no phase") {
  tf::test::temp_dir dir;
  auto db = open_rw_db(dir.file("tinyforge.db"));
  // A database as the previous binary left it: step 1 only.
  MUST(schema_version(db));
  {
    auto tx = MUST(transaction::begin(db));
    MUST_OK(db.exec(steps::m0001_initial.sql));
    MUST_OK(sql_prepared(db, "INSERT INTO schema_migrations(version, name, applied_at) "
                             "VALUES (1, 'initial schema', '2026-01-01T00:00:00.000Z')")
              .run());
    for (const char* sql :
         {"INSERT INTO projects VALUES ('p1', 'api', 'example/api', 't', 't')",
          "INSERT INTO stages(id, project_id, name, port, current_tag, created_at, updated_at) "
          "VALUES ('s1', 'p1', 'prod', 8080, 'v1', 't', 't')",
          "INSERT INTO workloads(id, kind, ref_id, name, created_at, updated_at) "
          "VALUES ('w1', 'project', 'p1', 'api', 't', 't')",
          "INSERT INTO deployments(id, workload_id, stage_id, tag, previous_tag, status, "
          "error, created_at, started_at, finished_at) VALUES ('d1', 'w1', 's1', 'v2', 'v1', "
          "'failed', 'health check failed', '2026-01-01T00:00:01.000Z', "
          "'2026-01-01T00:00:02.000Z', '2026-01-01T00:00:03.000Z')",
          "INSERT INTO deployments(id, workload_id, stage_id, tag, status, created_at) "
          "VALUES ('d2', 'w1', 's1', 'v3', 'running', '2026-01-01T00:00:04.000Z')"})
      MUST_OK(sql_prepared(db, sql).run());
    MUST_OK(tx.commit());
  }
  CHECK(MUST(schema_version(db)) == 1);

  // Every later step runs (not just step 2: later migrations join this upgrade too).
  CHECK(MUST(migrate(db)) == static_cast<int>(migrations().size()) - 1);
  CHECK(MUST(schema_version(db)) == migrations().back().version);
  auto d1 = MUST(get_deployment(db, "d1"));
  CHECK(d1.tag == "v2");
  CHECK(d1.previous_tag == "v1");
  CHECK(d1.status == "failed");
  CHECK(d1.error == "health check failed");
  CHECK(d1.finished_at == "2026-01-01T00:00:03.000Z");
  CHECK(d1.phase.empty());
  auto unfinished = MUST(list_unfinished_deployments(db));
  REQUIRE(unfinished.size() == 1);
  CHECK(unfinished[0].id == "d2");
  CHECK(unfinished[0].phase.empty());
  CHECK(MUST(get_stage(db, "s1")).current_tag == "v1");
  CHECK(MUST(list_routes(db)).empty());
  // The migrated database takes the new writes.
  MUST_OK(record_deployment_phase(db, {"d2", "pull"}));
  CHECK(MUST(get_deployment(db, "d2")).phase == "pull");
  route_claim c;
  c.owner_id = "s1";
  c.host = "api.example.com";
  c.health_path = "/";
  CHECK(MUST(claim_route(db, c)).slots == ports{20000, 20001});
}

TEST_CASE_FIXTURE(routes_fixture, "only a running deploy records its phase") {
  auto p = create("api");
  auto d = queue_deploy(db, p, 0, "v1");
  CHECK(d.phase.empty());
  CHECK(code_of(record_deployment_phase(db, {d.id, "pull"})) == "conflict");
  move(db, d, "running");
  CHECK(MUST(get_deployment(db, d.id)).phase.empty());
  for (const char* phase : {"pull", "create", "health", "switch", "drain", "cleanup", "undo"}) {
    MUST_OK(record_deployment_phase(db, {d.id, phase}));
    CHECK(MUST(get_deployment(db, d.id)).phase == phase);
  }
  MUST_OK(record_deployment_phase(db, {d.id, "switch"}));

  auto bad = record_deployment_phase(db, {d.id, "deploy"});
  CHECK(code_of(bad) == "invalid_argument");
  CHECK(contains(message_of(bad), "phase"));
  CHECK(code_of(record_deployment_phase(db, {d.id, ""})) == "invalid_argument");
  CHECK(code_of(record_deployment_phase(db, {d.id, "PULL"})) == "invalid_argument");
  CHECK(code_of(record_deployment_phase(db, {"no-such-deployment", "pull"})) == "not_found");
  CHECK(MUST(get_deployment(db, d.id)).phase == "switch");

  // A finished deploy keeps the step it was at (what an operator wants to know after a
  // failure) and takes no more.
  move(db, d, "failed");
  CHECK(code_of(record_deployment_phase(db, {d.id, "cleanup"})) == "conflict");
  auto done = MUST(get_deployment(db, d.id));
  CHECK(done.phase == "switch");
  CHECK(done.status == "failed");
  auto listed = MUST(list_deployments(db, p.workload_id, 10, 0));
  REQUIRE(listed.items.size() == 1);
  CHECK(listed.items[0].phase == "switch");
}

TEST_CASE_FIXTURE(routes_fixture, "list_unfinished_deployments lists queued and running, oldest first") {
  auto p = create("api");
  auto other = create("web", {"prod"});
  CHECK(MUST(list_unfinished_deployments(db)).empty());
  auto a = queue_deploy(db, p, 0, "v1");
  move(db, a, "running");
  MUST_OK(record_deployment_phase(db, {a.id, "health"}));
  auto done = queue_deploy(db, p, 1, "v1");
  move(db, done, "running");
  move(db, done, "succeeded");
  auto b = queue_deploy(db, other, 0, "v7");
  auto superseded = queue_deploy(db, p, 0, "v2");
  move(db, superseded, "superseded");
  auto c = queue_deploy(db, p, 1, "v2"); // created in the same millisecond as others, maybe

  auto unfinished = MUST(list_unfinished_deployments(db));
  REQUIRE(unfinished.size() == 3);
  CHECK(unfinished[0].id == a.id);
  CHECK(unfinished[0].status == "running");
  CHECK(unfinished[0].phase == "health");
  CHECK(unfinished[0].stage_id == p.stages[0].id);
  CHECK(unfinished[1].id == b.id);
  CHECK(unfinished[1].status == "queued");
  CHECK(unfinished[1].phase.empty());
  CHECK(unfinished[2].id == c.id);

  CHECK(MUST(fail_unfinished_deployments(db, "the daemon restarted")) == 3);
  CHECK(MUST(list_unfinished_deployments(db)).empty());
  CHECK(MUST(get_deployment(db, a.id)).phase == "health");
}

} // TEST_SUITE
