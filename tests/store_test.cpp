// Tests of the store layer (store/*.cpp) run directly on a real SQLite file: migrations,
// connection settings, and every write and read the store writer and readers perform.
// Each test case checks what a user or operator would see: rows that exist or not, error
// codes and messages that name the field, and a database left unchanged by a rejected write.

#include "core/errors.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/database.hpp"
#include "store/deployments.hpp"
#include "store/index_version.hpp"
#include "store/migrations.hpp"
#include "store/settings.hpp"
#include "core/model.hpp"
#include "store/containers.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"
#include "store/sites.hpp"
#include "store/stacks.hpp"
#include "store/workloads.hpp"
#include "store/validate.hpp"
#include "store/webhooks.hpp"

#include "expect.hpp"
#include "helpers.hpp"
#include "store_sql.hpp"

#include <caf/deep_to_string.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace tf;
using namespace tf::store;
using namespace tf::test;


/// Number of rows in a table (the names are fixed in this file).
int64_t rows(database& db, const std::string& table) {
  return sql_int(db, "SELECT COUNT(*) FROM \"" + table + "\"");
}

/// Every row of every table, as text: two equal dumps mean the data did not change.
std::string dump(database& db) {
  std::string out;
  for (const auto& table : sql_texts(db, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")) {
    std::string row_expr;
    for (const auto& col : sql_texts(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                                     table)) {
      if (!row_expr.empty())
        row_expr += " || ',' || ";
      row_expr += "quote(\"" + col + "\")";
    }
    out += table + ":\n";
    for (const auto& row :
         sql_texts(db, "SELECT " + row_expr + " FROM \"" + table + "\" ORDER BY 1"))
      out += "  " + row + "\n";
  }
  return out;
}

/// The row (a stack or a site, read back with `get`), its workload and its containers are
/// gone. A macro, so a failure names the test's line.
#define CHECK_GONE_WITH_WORKLOAD(get, row)                                                   \
  do {                                                                                       \
    CHECK(code_of(get(db, (row).id)) == "not_found");                                        \
    CHECK(code_of(get_workload(db, (row).workload_id)) == "not_found");                      \
    CHECK(sql_int(db, "SELECT COUNT(*) FROM containers WHERE workload_id = ?1",              \
                  (row).workload_id)                                                         \
          == 0);                                                                             \
  } while (false)

/// Deleting `id` again, or an id that never existed (`unknown`), is not_found and changes
/// nothing. A macro, so a failure names the test's line.
#define CHECK_DELETED_ONCE(remove, id, unknown)                                              \
  do {                                                                                       \
    auto before_ = dump(db);                                                                 \
    CHECK(code_of(remove(db, id)) == "not_found");                                           \
    CHECK(code_of(remove(db, unknown)) == "not_found");                                      \
    CHECK(dump(db) == before_);                                                              \
  } while (false)

/// The schema (tables, indexes, triggers) as text.
std::string schema(database& db) {
  auto lines = sql_texts(db, "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') "
                             "FROM sqlite_master ORDER BY type, name");
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

/// Makes every INSERT into `table` fail, as a full disk or a broken statement would.
void break_inserts(database& db, const std::string& table) {
  MUST_OK(db.exec("CREATE TRIGGER fail_" + table + " BEFORE INSERT ON " + table
                  + " BEGIN SELECT RAISE(ABORT, 'boom'); END"));
}

// -- connections ------------------------------------------------------------------------------

database open_rw(const std::string& path) {
  auto db = database::open(path, database::mode::read_write);
  REQUIRE_MESSAGE(static_cast<bool>(db), "open " << path << ": " << message_of(db));
  return std::move(*db);
}

database open_migrated(const std::string& path) {
  auto db = open_rw(path);
  auto applied = migrate(db);
  REQUIRE_MESSAGE(static_cast<bool>(applied), "migrate: " << message_of(applied));
  // As start_store does: the key file beside the database seals the secrets.
  auto secrets = unlock_secrets(db, key_path_for(path));
  REQUIRE_MESSAGE(static_cast<bool>(secrets), "unlock_secrets: " << message_of(secrets));
  return db;
}

/// A migrated database in a fresh directory: what the daemon has once it started.
struct store_fixture {
  tf::test::temp_dir dir;
  std::string path = dir.file("tinyforge.db");
  database db = open_migrated(path);
};

// -- rows -------------------------------------------------------------------------------------

stage make_stage(std::string name, int64_t port = 8080) {
  stage s;
  s.name = std::move(name);
  s.port = port;
  return s;
}

project make_project(std::string name, std::vector<std::string> stage_names = {"staging",
                                                                              "production"}) {
  project p;
  p.name = std::move(name);
  p.image = "registry.example.com/team/" + p.name;
  for (auto& s : stage_names)
    p.stages.push_back(make_stage(std::move(s)));
  return p;
}

stack make_stack(std::string name) {
  stack s;
  s.name = std::move(name);
  s.compose = "services:\n  web:\n    image: nginx\n";
  s.env = {{"MODE", "test"}};
  return s;
}

site make_site(std::string name) {
  site s;
  s.name = std::move(name);
  s.subdomain = s.name;
  return s;
}

container_row make_container(std::string workload_id, std::string container_id = "",
                             std::string state = "running") {
  container_row c;
  c.workload_id = std::move(workload_id);
  c.role = "web";
  c.container_id = std::move(container_id);
  c.state = std::move(state);
  return c;
}

observed_container observe(std::string id, std::string workload_id, std::string container_id,
                           std::string state = "running") {
  observed_container o;
  o.id = std::move(id);
  o.workload_id = std::move(workload_id);
  o.role = "web";
  o.container_id = std::move(container_id);
  o.state = std::move(state);
  return o;
}

/// All fields of a container row except updated_at (which every write refreshes).
std::string fields_of(container_row c) {
  c.updated_at.clear();
  return caf::deep_to_string(c);
}

template <class T>
patch<T> make_patch(std::string id, std::vector<std::string> fields, T value) {
  return patch<T>{std::move(id), std::move(fields), std::move(value)};
}

std::set<std::string> ids_of(const std::vector<container_row>& xs) {
  std::set<std::string> out;
  for (const auto& x : xs)
    out.insert(x.id);
  return out;
}

} // namespace

// -- 1. migrations ----------------------------------------------------------------------------

TEST_CASE("a reused statement runs nested, starts clean after a failure, and sees a moved database") {
  tf::test::temp_dir dir;
  auto db = open_rw(dir.file("cache.db"));
  REQUIRE_FALSE(db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"));
  constexpr const char* insert = "INSERT INTO t(k, v) VALUES (?1, ?2)";
  for (int64_t k = 1; k <= 3; ++k)
    REQUIRE_FALSE(MUST(db.prepare(insert)).bind(1, k).bind(2, "v" + std::to_string(k)).run());
  // The same SQL twice at once: each statement walks its own rows.
  constexpr const char* all = "SELECT k FROM t ORDER BY k";
  auto outer = MUST(db.prepare(all));
  int64_t pairs = 0;
  while (outer.step()) {
    auto inner = MUST(db.prepare(all));
    while (inner.step())
      ++pairs;
  }
  CHECK(pairs == 9);
  // A run that failed (a duplicate key) leaves no error and no binding behind.
  auto dup = MUST(db.prepare(insert)).bind(1, int64_t{1}).bind(2, "again").run();
  CHECK(tf::error_code(dup) == tf::ec::conflict);
  CHECK_FALSE(MUST(db.prepare(insert)).bind(1, int64_t{4}).bind(2, "v4").run());
  // An unbound parameter is NULL: the NOT NULL constraint proves the old binding is gone.
  CHECK(tf::error_code(MUST(db.prepare(insert)).bind(1, int64_t{5}).run()) == tf::ec::conflict);
  // A moved database keeps its statements working.
  auto moved = std::move(db);
  auto count = MUST(moved.prepare("SELECT COUNT(*) FROM t"));
  REQUIRE(count.step());
  CHECK(count.integer(0) == 4);
}

TEST_CASE("migrate applies every step once, and never again") {
  tf::test::temp_dir dir;
  auto path = dir.file("tinyforge.db");
  const auto& all = migrations();
  REQUIRE(!all.empty());
  for (size_t i = 1; i < all.size(); ++i)
    CHECK_MESSAGE(all[i - 1].version < all[i].version, "steps are in version order");

  std::string schema_after_first;
  std::string data_after_first;
  int64_t tables = 0;
  {
    auto db = open_rw(path);
    CHECK(MUST(schema_version(db)) == 0);
    CHECK(MUST(migrate(db)) == static_cast<int>(all.size()));
    CHECK(MUST(schema_version(db)) == all.back().version);
    CHECK(rows(db, "schema_migrations") == static_cast<int64_t>(all.size()));
    for (const auto& step : all)
      CHECK(sql_text(db, "SELECT name FROM schema_migrations WHERE version = ?1", step.version)
            == std::string{step.name});
    tables = sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'");
    CHECK(tables > 10);
    schema_after_first = schema(db);
    data_after_first = dump(db);

    // The same connection again: nothing to do.
    CHECK(MUST(migrate(db)) == 0);
    CHECK(schema(db) == schema_after_first);
    CHECK(dump(db) == data_after_first);
  }
  // A restart of the daemon: close, reopen, migrate.
  auto db = open_rw(path);
  CHECK(MUST(schema_version(db)) == all.back().version);
  CHECK(MUST(migrate(db)) == 0);
  CHECK(sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'") == tables);
  CHECK(rows(db, "schema_migrations") == static_cast<int64_t>(all.size()));
  CHECK(schema(db) == schema_after_first);
  CHECK(dump(db) == data_after_first);
}

TEST_CASE("an upgrade whose step fails leaves the schema the old binary knew") {
  tf::test::temp_dir dir;
  auto db = open_rw(dir.file("tinyforge.db"));
  REQUIRE(MUST(schema_version(db)) == 0);
  for (const auto& step : migrations()) {
    if (step.version > 13)
      break;
    REQUIRE_FALSE(db.exec(step.sql));
    sql_run(db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)",
            step.version, std::string{step.name}, "2026-01-01T00:00:00.000Z");
  }
  // A stack row as version 13 named it (step 14 renames it), and a column step 15 adds
  // already there (made by hand), so step 15 fails after step 14 ran.
  sql_run(db, "INSERT INTO workloads(id, kind, ref_id, name, webhook_secret, created_at, "
              "updated_at) VALUES ('w1', 'stack', 's1', 'shop', '', 't', 't')");
  sql_run(db, "INSERT INTO containers(id, workload_id, workload_kind, role, created_at, "
              "updated_at) VALUES ('w1/web', 'w1', 'stack', 'web', 't', 't')");
  sql_run(db, "ALTER TABLE stacks ADD COLUMN route_port INTEGER NOT NULL DEFAULT 0");

  auto failed = migrate(db);
  REQUIRE_FALSE(static_cast<bool>(failed));
  CHECK(message_of(failed).find("migration 15") != std::string::npos);
  CHECK(MUST(schema_version(db)) == 13);
  CHECK(sql_text(db, "SELECT id FROM containers WHERE workload_id = 'w1'") == "w1/web");

  // The cause gone, the next start applies them all.
  sql_run(db, "ALTER TABLE stacks DROP COLUMN route_port");
  CHECK(MUST(migrate(db)) == static_cast<int64_t>(migrations().back().version) - 13);
  CHECK(MUST(schema_version(db)) == static_cast<int64_t>(migrations().back().version));
  CHECK(sql_text(db, "SELECT id FROM containers WHERE workload_id = 'w1'") == "w1:web");
}

TEST_CASE("migrations 5 and 6 keep the delivery log of a version 4 database") {
  tf::test::temp_dir dir;
  auto db = open_rw(dir.file("tinyforge.db"));
  REQUIRE(MUST(schema_version(db)) == 0);
  for (const auto& step : migrations()) {
    if (step.version > 4)
      break;
    REQUIRE_FALSE(db.exec(step.sql));
    sql_run(db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)",
            step.version, std::string{step.name}, "2026-01-01T00:00:00.000Z");
  }
  // A project and its workload as version 4 wrote them (the store writes later columns).
  sql_run(db, "INSERT INTO projects VALUES ('p1', 'api', 'example/api', 't', 't')");
  sql_run(db, "INSERT INTO workloads(id, kind, ref_id, name, webhook_secret, created_at, "
              "updated_at) VALUES ('w1', 'project', 'p1', 'api', 'plain', 't', 't')");
  struct {
    std::string workload_id = "w1";
  } p;
  // Rows as version 4 wrote them: the HTTP status the sender got, no code.
  const std::string insert_v4
    = "INSERT INTO webhook_deliveries(id, workload_id, received_at, result, status, error) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  struct v4_row {
    const char* id;
    const char* result;
    int64_t status;
    const char* error;
    const char* code; // what migration 6 reads back
  };
  const v4_row v4_rows[] = {
    {"d1", "rejected", 401, "bad signature", "unauthorized"},
    {"d2", "rejected", 422, "no tag in this event: the body has no \"tag\"", "no_tag"},
    {"d3", "rejected", 422, "the project has no stage \"qa\"", "no_stage"},
    {"d4", "rejected", 400, "tag: must be a string", "invalid_argument"},
    {"d5", "accepted", 202, "", ""},
    {"d6", "duplicate", 200, "delivery x was accepted before (d5)", ""},
  };
  for (const auto& r : v4_rows)
    sql_run(db, insert_v4, std::string{r.id}, p.workload_id,
            std::string{"2026-01-01T00:00:00.00"} + r.id[1] + "Z", std::string{r.result},
            r.status, std::string{r.error});
  // Version 4's CHECK refuses the result migration 5 adds.
  auto ignored = db.prepare(insert_v4);
  REQUIRE(ignored);
  ignored->bind(1, std::string{"d7"});
  ignored->bind(2, p.workload_id);
  ignored->bind(3, std::string{"2026-01-01T00:00:00.007Z"});
  ignored->bind(4, std::string{"ignored"});
  ignored->bind(5, int64_t{200});
  ignored->bind(6, std::string{"ping"});
  CHECK(ignored->run());
  CHECK(MUST(migrate(db)) == static_cast<int>(migrations().size()) - 4); // 5, 6 and later
  for (const auto& r : v4_rows) {
    CAPTURE(r.id);
    auto kept = MUST(get_delivery(db, r.id));
    CHECK(kept.result == r.result);
    CHECK(kept.error == r.error);
    CHECK(kept.code == r.code);
  }
  webhook_delivery d;
  d.workload_id = p.workload_id;
  d.result = "ignored";
  d.error = "ping";
  CHECK(MUST(record_delivery(db, d)).result == "ignored");
  CHECK(MUST(list_deliveries(db, p.workload_id, 10, 0)).total == 7);
  // Three of step 5 less the one step 12 drops, and step 11's signed key.
  CHECK(sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'webhook_deliveries' AND name LIKE 'idx_%'") == 3);
}

TEST_CASE("migration 11 gives the signed deliveries already kept their signed key") {
  tf::test::temp_dir dir;
  auto db = open_rw(dir.file("tinyforge.db"));
  REQUIRE(MUST(schema_version(db)) == 0);
  for (const auto& step : migrations()) {
    if (step.version > 10)
      break;
    REQUIRE_FALSE(db.exec(step.sql));
    sql_run(db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)",
            step.version, std::string{step.name}, "2026-01-01T00:00:00.000Z");
  }
  REQUIRE_FALSE(db.exec("PRAGMA foreign_keys=OFF")); // rows of a log, no workload needed here
  const std::string insert_v10
    = "INSERT INTO webhook_deliveries(id, workload_id, received_at, signature, result, "
      "headers_json) VALUES (?1, 'w1', '2026-01-01T00:00:00.000Z', ?2, 'accepted', ?3)";
  sql_run(db, insert_v10, std::string{"signed"}, std::string{"tinyforge"},
          std::string{R"({"x-tinyforge-timestamp":"1767225600","x-tinyforge-signature":"sha256=ab12"})"});
  sql_run(db, insert_v10, std::string{"github"}, std::string{"github"},
          std::string{R"({"x-tinyforge-timestamp":"1767225600","x-tinyforge-signature":"sha256=ab12"})"});
  sql_run(db, insert_v10, std::string{"no-mac"}, std::string{"tinyforge"},
          std::string{R"({"x-tinyforge-timestamp":"1767225600"})"});
  sql_run(db, insert_v10, std::string{"not-json"}, std::string{"tinyforge"},
          std::string{"{not json"});
  sql_run(db, insert_v10, std::string{"number"}, std::string{"tinyforge"},
          std::string{R"({"x-tinyforge-timestamp":1767225600,"x-tinyforge-signature":"sha256=ab12"})"});
  REQUIRE_FALSE(db.exec("PRAGMA foreign_keys=ON"));
  auto index_count = [&](const char* name) {
    return sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                   std::string{name});
  };
  REQUIRE(index_count("idx_webhook_deliveries_received") == 1);
  auto later = std::count_if(migrations().begin(), migrations().end(),
                             [](const migration& m) { return m.version > 10; });
  CHECK(MUST(migrate(db)) == later); // 11 and later
  // Step 12 drops the index no query searched; the workload's indexes stay.
  CHECK(index_count("idx_webhook_deliveries_received") == 0);
  CHECK(index_count("idx_webhook_deliveries_workload") == 1);
  CHECK(index_count("idx_webhook_deliveries_dedupe") == 1);
  // Step 17: both dedupe indexes keep accepted rows only (the only rows their lookups want).
  for (auto name : {"idx_webhook_deliveries_dedupe", "idx_webhook_deliveries_signed"}) {
    CAPTURE(name);
    CHECK(sql_text(db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                   std::string{name})
            .find("result = 'accepted'")
          != std::string::npos);
  }
  auto key_of = [&](const char* id) {
    return sql_text(db, "SELECT signed_key FROM webhook_deliveries WHERE id = ?1",
                    std::string{id});
  };
  CHECK(key_of("signed") == "1767225600 sha256=ab12");
  for (auto id : {"github", "no-mac", "not-json", "number"}) {
    CAPTURE(id);
    CHECK(key_of(id).empty());
  }
}

TEST_CASE("migrate refuses a database written by a newer binary") {
  tf::test::temp_dir dir;
  auto db = open_migrated(dir.file("tinyforge.db"));
  auto newer = migrations().back().version + 1;
  sql_run(db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)",
          newer, "from the future", "2099-01-01T00:00:00.000Z");
  auto before_schema = schema(db);
  auto before = dump(db);
  auto applied = migrate(db);
  REQUIRE_FALSE(applied);
  CHECK(code_of(applied) == "database");
  CHECK_MESSAGE(contains(message_of(applied), std::to_string(newer)), message_of(applied));
  CHECK(MUST(schema_version(db)) == newer);
  CHECK(schema(db) == before_schema);
  CHECK(dump(db) == before);
}

// -- 2. opening -------------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture,
                  "the read-write connection runs in WAL mode with foreign keys on") {
  CHECK(sql_text(db, "PRAGMA journal_mode") == "wal");
  CHECK(sql_int(db, "PRAGMA foreign_keys") == 1);
  CHECK(sql_int(db, "PRAGMA synchronous") == 1); // NORMAL

  // Foreign keys are enforced, not just switched on: a container of no workload is refused.
  auto st = sql_prepared(db, "INSERT INTO containers(id, workload_id, workload_kind, role, "
                         "created_at, updated_at) VALUES ('c', 'no-such-workload', 'stack', "
                         "'web', 'now', 'now')");
  CHECK(code_of(st.run()) == "conflict");
  CHECK(rows(db, "containers") == 0);

  // A reader connection on the same file sees WAL (it is a property of the file) and has
  // foreign keys on too.
  auto reader = database::open(path, database::mode::read_only);
  REQUIRE_MESSAGE(static_cast<bool>(reader), message_of(reader));
  CHECK(sql_text(*reader, "PRAGMA journal_mode") == "wal");
  CHECK(sql_int(*reader, "PRAGMA foreign_keys") == 1);
}

// -- 3. create_project ------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "create_project stores the project, its stages and its workload") {
  auto input = make_project("api");
  input.stages[0].env = {{"LOG_LEVEL", "debug"}};
  input.stages[0].subdomain = "api-staging";
  input.stages[1].port = 9000;
  input.stages[1].instances = 3;
  input.stages[1].health_path = "/healthz";
  input.stages[1].restart_policy = "always";

  auto created = MUST(create_project(db, input));
  CHECK(is_hex(created.id, 24));
  CHECK(created.name == "api");
  CHECK(created.image == "registry.example.com/team/api");
  CHECK_FALSE(created.workload_id.empty());

  auto stored = MUST(get_project(db, created.id));
  CHECK(stored.name == "api");
  CHECK(stored.image == input.image);
  CHECK(stored.workload_id == created.workload_id);
  REQUIRE(stored.stages.size() == 2);
  // Stages come back in the order they were given.
  CHECK(stored.stages[0].name == "staging");
  CHECK(stored.stages[0].project_id == created.id);
  CHECK(stored.stages[0].subdomain == "api-staging");
  CHECK(stored.stages[0].env == env_map{{"LOG_LEVEL", "debug"}});
  CHECK(stored.stages[0].port == 8080);
  CHECK(stored.stages[1].name == "production");
  CHECK(stored.stages[1].project_id == created.id);
  CHECK(stored.stages[1].port == 9000);
  CHECK(stored.stages[1].instances == 3);
  CHECK(stored.stages[1].health_path == "/healthz");
  CHECK(stored.stages[1].restart_policy == "always");
  CHECK(stored.stages[0].id != stored.stages[1].id);
  CHECK(MUST(get_stage(db, stored.stages[1].id)).name == "production");

  auto w = MUST(get_workload_by_ref(db, "project", created.id));
  CHECK(w.id == created.workload_id);
  CHECK(w.kind == "project");
  CHECK(w.ref_id == created.id);
  CHECK(w.name == "api");
  CHECK(w.app_id.empty());
  CHECK(w.notification_url.empty());
  CHECK(w.webhook_require_signature); // a new workload requires signed webhooks
  CHECK(is_hex(w.webhook_secret, 64));
  CHECK(is_hex(w.webhook_signing_secret, 64));
  CHECK(is_hex(w.notification_secret, 64));
  CHECK(w.webhook_secret != w.webhook_signing_secret);
  CHECK(w.webhook_secret != w.notification_secret);
  CHECK_FALSE(w.created_at.empty());
  CHECK(MUST(get_workload(db, w.id)).ref_id == created.id);

  CHECK(rows(db, "projects") == 1);
  CHECK(rows(db, "stages") == 2);
  CHECK(rows(db, "workloads") == 1);

  // A second project gets its own, different secrets.
  auto other = MUST(create_project(db, make_project("web")));
  auto w2 = MUST(get_workload_by_ref(db, "project", other.id));
  CHECK(w2.webhook_secret != w.webhook_secret);
  CHECK(w2.id != w.id);
}

// -- 4. atomicity -----------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "create_project: a failure in either part leaves neither") {
  SUBCASE("the workload insert fails") {
    break_inserts(db, "workloads");
    auto r = create_project(db, make_project("api"));
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(contains(message_of(r), "boom"), message_of(r));
    CHECK(rows(db, "projects") == 0);
    CHECK(rows(db, "stages") == 0);
    CHECK(rows(db, "workloads") == 0);
    // Nothing half-written blocks the name once the fault is gone.
    MUST_OK(db.exec("DROP TRIGGER fail_workloads"));
    MUST(create_project(db, make_project("api")));
    CHECK(rows(db, "workloads") == 1);
  }
  SUBCASE("a stage insert fails") {
    break_inserts(db, "stages");
    auto r = create_project(db, make_project("api"));
    REQUIRE_FALSE(r);
    CHECK(rows(db, "projects") == 0);
    CHECK(rows(db, "stages") == 0);
    CHECK(rows(db, "workloads") == 0);
  }
  SUBCASE("the project part fails: the name is taken") {
    auto first = MUST(create_project(db, make_project("api")));
    auto before = dump(db);
    auto r = create_project(db, make_project("api", {"other"}));
    CHECK(code_of(r) == "conflict");
    CHECK_MESSAGE(contains(message_of(r), "api"), message_of(r));
    CHECK(rows(db, "workloads") == 1);
    CHECK(rows(db, "projects") == 1);
    CHECK(rows(db, "stages") == 2);
    CHECK(dump(db) == before);
    CHECK(MUST(get_workload_by_ref(db, "project", first.id)).name == "api");
  }
}

/// A create of a stack or a site (`create` makes one named `name`): a failure in either of
/// its two inserts leaves neither row.
template <class Create>
void check_create_is_whole(database& db, const std::string& table, Create create) {
  SUBCASE("the workload insert fails") {
    break_inserts(db, "workloads");
    auto r = create();
    REQUIRE_FALSE(r);
    CHECK(rows(db, table) == 0);
    CHECK(rows(db, "workloads") == 0);
  }
  SUBCASE("the name is taken") {
    MUST(create());
    auto before = dump(db);
    CHECK(code_of(create()) == "conflict");
    CHECK(rows(db, table) == 1);
    CHECK(rows(db, "workloads") == 1);
    CHECK(dump(db) == before);
  }
}

TEST_CASE_FIXTURE(store_fixture,
                  "create_stack and create_site: a failure in either part leaves neither") {
  SUBCASE("stack") {
    check_create_is_whole(db, "stacks", [&] { return create_stack(db, make_stack("shop")); });
  }
  SUBCASE("site") {
    check_create_is_whole(db, "static_sites", [&] { return create_site(db, make_site("docs")); });
  }
}

TEST_CASE_FIXTURE(store_fixture, "create_stack and create_site store their workload") {
  auto st = MUST(create_stack(db, make_stack("shop")));
  CHECK(st.compose == make_stack("shop").compose);
  CHECK(st.env == env_map{{"MODE", "test"}});
  // Derived from the id so a rename never orphans running compose containers.
  CHECK(st.compose_project_name == "tf-" + st.id);
  auto ws = MUST(get_workload_by_ref(db, "stack", st.id));
  CHECK(ws.id == st.workload_id);
  CHECK(ws.kind == "stack");
  CHECK(ws.name == "shop");
  CHECK(is_hex(ws.webhook_secret, 64));

  auto si = MUST(create_site(db, make_site("docs")));
  CHECK(si.subdomain == "docs");
  CHECK(si.keep_releases == 5);
  auto wt = MUST(get_workload_by_ref(db, "site", si.id));
  CHECK(wt.id == si.workload_id);
  CHECK(wt.kind == "site");
  CHECK(wt.name == "docs");
  CHECK(is_hex(wt.webhook_secret, 64));
}

TEST_CASE_FIXTURE(store_fixture, "create_stage appends a stage to an existing project") {
  auto p = MUST(create_project(db, make_project("api")));
  auto s = make_stage("qa", 7000);
  s.project_id = p.id;
  auto created = MUST(create_stage(db, s));
  CHECK(is_hex(created.id, 24));
  CHECK(created.project_id == p.id);
  CHECK(created.port == 7000);
  auto stored = MUST(get_project(db, p.id));
  REQUIRE(stored.stages.size() == 3);
  CHECK(stored.stages[2].id == created.id); // after the existing ones

  auto before = dump(db);
  CHECK(code_of(create_stage(db, s)) == "conflict"); // same name in the same project
  s.project_id = "no-such-project";
  CHECK(code_of(create_stage(db, s)) == "not_found");
  CHECK(dump(db) == before);
}

// -- 5. cascades ------------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture,
                  "delete_project removes its stages, workload, containers and deployments") {
  auto doomed = MUST(create_project(db, make_project("api")));
  auto kept = MUST(create_project(db, make_project("web")));
  const auto& s0 = doomed.stages[0].id;

  auto with_stage = make_container(doomed.workload_id, "c1");
  with_stage.stage_id = s0;
  MUST(upsert_container(db, with_stage));
  MUST(upsert_container(db, make_container(doomed.workload_id, "c2")));
  auto kept_row = MUST(upsert_container(db, make_container(kept.workload_id, "c3")));

  const char* insert_deployment =
    "INSERT INTO deployments(id, workload_id, stage_id, status, created_at) "
    "VALUES (?1, ?2, ?3, 'succeeded', '2024-01-01T00:00:00.000Z')";
  sql_run(db, insert_deployment, "d1", doomed.workload_id, s0);
  sql_run(db, "INSERT INTO deployments(id, workload_id, status, created_at) "
              "VALUES ('d2', ?1, 'queued', '2024-01-01T00:00:00.000Z')",
          doomed.workload_id);
  sql_run(db, "INSERT INTO deployment_logs(deployment_id, seq, at, line) "
              "VALUES ('d1', 1, '2024-01-01T00:00:00.000Z', 'pulling')");
  sql_run(db, insert_deployment, "d3", kept.workload_id, kept.stages[0].id);

  MUST_OK(delete_project(db, doomed.id));

  CHECK(code_of(get_project(db, doomed.id)) == "not_found");
  CHECK(code_of(get_workload_by_ref(db, "project", doomed.id)) == "not_found");
  CHECK(code_of(get_workload(db, doomed.workload_id)) == "not_found");
  CHECK(sql_int(db, "SELECT COUNT(*) FROM stages WHERE project_id = ?1", doomed.id) == 0);
  CHECK(sql_int(db, "SELECT COUNT(*) FROM containers WHERE workload_id = ?1", doomed.workload_id)
        == 0);
  CHECK(sql_int(db, "SELECT COUNT(*) FROM deployments WHERE workload_id = ?1",
                doomed.workload_id)
        == 0);
  CHECK(rows(db, "deployment_logs") == 0);

  // The other project is untouched.
  CHECK(MUST(get_project(db, kept.id)).stages.size() == 2);
  CHECK(fields_of(MUST(get_container(db, kept_row.id))) == fields_of(kept_row));
  CHECK(rows(db, "projects") == 1);
  CHECK(rows(db, "workloads") == 1);
  CHECK(rows(db, "containers") == 1);
  CHECK(rows(db, "deployments") == 1);

  // Deleting again, or an id that never existed, is not_found and changes nothing.
  CHECK_DELETED_ONCE(delete_project, doomed.id, "no-such-project");
}

TEST_CASE_FIXTURE(store_fixture,
                  "delete_stack and delete_site remove their workload and containers") {
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto si = MUST(create_site(db, make_site("docs")));
  auto kept = MUST(create_stack(db, make_stack("kept")));
  MUST(upsert_container(db, make_container(st.workload_id, "s1")));
  MUST(upsert_container(db, make_container(st.workload_id, "s2")));
  MUST(upsert_container(db, make_container(si.workload_id, "t1")));
  MUST(upsert_container(db, make_container(kept.workload_id, "k1")));
  sql_run(db, "INSERT INTO deployments(id, workload_id, status, created_at) "
              "VALUES ('d1', ?1, 'queued', '2024-01-01T00:00:00.000Z')",
          st.workload_id);

  SUBCASE("stack") {
    MUST_OK(delete_stack(db, st.id));
    CHECK_GONE_WITH_WORKLOAD(get_stack, st);
    CHECK(rows(db, "deployments") == 0);
    CHECK(rows(db, "containers") == 2); // the site's and the other stack's
    CHECK_DELETED_ONCE(delete_stack, st.id, "no-such-stack");
  }
  SUBCASE("site") {
    MUST_OK(delete_site(db, si.id));
    CHECK_GONE_WITH_WORKLOAD(get_site, si);
    CHECK(rows(db, "containers") == 3);
    CHECK_DELETED_ONCE(delete_site, si.id, "no-such-site");
  }
}

TEST_CASE_FIXTURE(store_fixture, "delete_stage removes only that stage's container rows") {
  auto p = MUST(create_project(db, make_project("api")));
  const auto& staging = p.stages[0].id;
  const auto& production = p.stages[1].id;
  auto on_staging = make_container(p.workload_id, "c1");
  on_staging.stage_id = staging;
  auto on_production = make_container(p.workload_id, "c2");
  on_production.stage_id = production;
  auto r1 = MUST(upsert_container(db, on_staging));
  auto r2 = MUST(upsert_container(db, on_production));
  auto r3 = MUST(upsert_container(db, make_container(p.workload_id, "c3"))); // no stage

  MUST_OK(delete_stage(db, staging));

  CHECK(code_of(get_stage(db, staging)) == "not_found");
  CHECK(code_of(get_container(db, r1.id)) == "not_found");
  CHECK(fields_of(MUST(get_container(db, r2.id))) == fields_of(r2));
  CHECK(fields_of(MUST(get_container(db, r3.id))) == fields_of(r3));
  auto after = MUST(get_project(db, p.id));
  REQUIRE(after.stages.size() == 1);
  CHECK(after.stages[0].id == production);
  CHECK(MUST(get_workload(db, p.workload_id)).ref_id == p.id);

  CHECK_DELETED_ONCE(delete_stage, staging, "no-such-stage");
}

// -- 6. upsert_container ----------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture,
                  "upsert_container is idempotent and keeps rows with their workload") {
  auto p = MUST(create_project(db, make_project("api")));
  auto other = MUST(create_stack(db, make_stack("shop")));

  auto c = make_container(p.workload_id, "abc123");
  c.workload_kind = "stack"; // wrong on purpose: the store must take it from the workload
  c.stage_id = p.stages[0].id;
  c.subdomain = "api-staging";
  c.proxy_route_id = "route-1";
  c.npm_proxy_id = 42;
  c.image_tag = "v1";
  c.image_ref = "registry.example.com/team/api@sha256:aaaa";
  c.host = ""; // defaults to local
  c.port = 8080;
  c.last_seen_at = "2024-01-01T00:00:00.000Z";

  auto first = MUST(upsert_container(db, c));
  CHECK(is_hex(first.id, 24));
  CHECK(first.workload_kind == "project");
  CHECK(first.host == "local");
  CHECK(first.stage_id == p.stages[0].id);
  CHECK(first.npm_proxy_id == 42);
  CHECK(first.port == 8080);

  SUBCASE("the same row twice is one row with the same fields") {
    auto second = MUST(upsert_container(db, first));
    CHECK(rows(db, "containers") == 1);
    CHECK(second.id == first.id);
    CHECK(fields_of(second) == fields_of(first));
    CHECK(fields_of(MUST(get_container(db, first.id))) == fields_of(first));

    // Also with an id the caller chose.
    auto named = make_container(p.workload_id, "def456");
    named.id = "fixed-id";
    auto a = MUST(upsert_container(db, named));
    auto b = MUST(upsert_container(db, named));
    CHECK(a.id == "fixed-id");
    CHECK(fields_of(a) == fields_of(b));
    CHECK(rows(db, "containers") == 2);
  }
  SUBCASE("an unknown workload is not_found and writes nothing") {
    auto before = dump(db);
    auto r = upsert_container(db, make_container("no-such-workload", "zzz"));
    CHECK(code_of(r) == "not_found");
    CHECK(dump(db) == before);
  }
  SUBCASE("another workload's row is refused and stays as it was") {
    auto before = dump(db);
    auto thief = make_container(other.workload_id, "stolen", "stopped");
    thief.id = first.id;
    auto r = upsert_container(db, thief);
    CHECK_FALSE(r);
    CHECK(code_of(r) == "conflict");
    auto stored = MUST(get_container(db, first.id));
    CHECK(stored.workload_id == p.workload_id);
    CHECK(stored.container_id == "abc123");
    CHECK(stored.state == "running");
    CHECK(dump(db) == before);
  }
  SUBCASE("an unknown stage is refused, naming stage_id") {
    auto before = dump(db);
    auto bad = make_container(p.workload_id, "x");
    bad.stage_id = "no-such-stage";
    auto r = upsert_container(db, bad);
    CHECK(code_of(r) == "invalid_argument");
    CHECK_MESSAGE(contains(message_of(r), "stage_id"), message_of(r));
    CHECK(dump(db) == before);
  }
  SUBCASE("a stage of another project is refused: deleting it would delete this row") {
    auto web = MUST(create_project(db, make_project("web")));
    auto before = dump(db);
    auto bad = make_container(p.workload_id, "x");
    bad.stage_id = web.stages[0].id;
    auto r = upsert_container(db, bad);
    CHECK(code_of(r) == "invalid_argument");
    CHECK_MESSAGE(contains(message_of(r), "stage_id"), message_of(r));
    CHECK(dump(db) == before);
  }
}

// -- 7. reconcile_containers ------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture,
                  "reconcile_containers updates Docker fields and never deployer fields") {
  auto p = MUST(create_project(db, make_project("api")));
  auto st = MUST(create_stack(db, make_stack("shop")));

  // A row as the deployer writes it, with every deployer-owned field set.
  auto deployed = [&](const std::string& workload_id, const std::string& stage_id) {
    auto c = make_container(workload_id, "old-container");
    c.role = "web";
    c.stage_id = stage_id;
    c.subdomain = "api-staging";
    c.proxy_route_id = "route-1";
    c.npm_proxy_id = 42;
    c.image_tag = "v1";
    c.image_ref = "img:v1";
    c.port = 8080;
    c.last_seen_at = "2024-01-01T00:00:00.000Z";
    return MUST(upsert_container(db, c));
  };

  auto check_reconciled = [&](const container_row& before) {
    auto o = observe(before.id, before.workload_id, "new-container", "restarting");
    o.workload_kind = before.workload_kind == "project" ? "stack" : "project"; // a lie: ignored
    o.role = "impostor";
    o.image_ref = "img@sha256:bbbb";
    o.port = 9090;
    o.last_seen_at = "2030-01-01T00:00:00.000Z";
    auto result = MUST(reconcile_containers(db, {o}));
    CHECK(result.written == 1);
    CHECK(result.rejected == 0);
    auto after = MUST(get_container(db, before.id));
    // Docker-derived fields follow what Docker runs.
    CHECK(after.container_id == "new-container");
    CHECK(after.state == "restarting");
    CHECK(after.image_ref == "img@sha256:bbbb");
    CHECK(after.port == 9090);
    CHECK(after.last_seen_at == "2030-01-01T00:00:00.000Z");
    // Deployer-owned fields and the row's identity survive.
    CHECK(after.stage_id == before.stage_id);
    CHECK(after.subdomain == "api-staging");
    CHECK(after.proxy_route_id == "route-1");
    CHECK(after.npm_proxy_id == 42);
    CHECK(after.image_tag == "v1");
    CHECK(after.role == "web");
    CHECK(after.workload_id == before.workload_id);
    CHECK(after.workload_kind == before.workload_kind);
    CHECK(after.created_at == before.created_at);
  };

  SUBCASE("project row") {
    check_reconciled(deployed(p.workload_id, p.stages[0].id));
  }
  SUBCASE("stack row") {
    check_reconciled(deployed(st.workload_id, ""));
  }
  SUBCASE("a project row is also found by its container id") {
    auto row = deployed(p.workload_id, p.stages[0].id);
    auto o = observe("", p.workload_id, "old-container", "stopped");
    auto result = MUST(reconcile_containers(db, {o}));
    CHECK(result.written == 1);
    auto after = MUST(get_container(db, row.id));
    CHECK(after.state == "stopped");
    CHECK(after.image_tag == "v1");
    CHECK(rows(db, "containers") == 1);
  }
}

TEST_CASE_FIXTURE(store_fixture,
                  "reconcile_containers rejects forged labels and project rows it would invent") {
  auto p = MUST(create_project(db, make_project("api")));
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto si = MUST(create_site(db, make_site("docs")));

  SUBCASE("a label naming no workload is rejected") {
    auto before = dump(db);
    auto result = MUST(reconcile_containers(db, {observe("forged-row", "forged-workload", "c1")}));
    CHECK(result.written == 0);
    CHECK(result.rejected == 1);
    CHECK(code_of(get_container(db, "forged-row")) == "not_found");
    CHECK(dump(db) == before);
  }
  SUBCASE("a project container with no row is rejected, no row is invented") {
    auto before = dump(db);
    auto result = MUST(reconcile_containers(
      db, {observe("never-deployed", p.workload_id, "c1"), observe("", p.workload_id, "c2")}));
    CHECK(result.written == 0);
    CHECK(result.rejected == 2);
    CHECK(rows(db, "containers") == 0);
    CHECK(dump(db) == before);
  }
  SUBCASE("a stack container without a row id is rejected") {
    auto before = dump(db);
    auto result = MUST(reconcile_containers(db, {observe("", st.workload_id, "c1")}));
    CHECK(result.written == 0);
    CHECK(result.rejected == 1);
    CHECK(dump(db) == before);
  }
  SUBCASE("stack and site rows are created when absent") {
    auto os = observe("shop-web-1", st.workload_id, "c1");
    os.workload_kind = "project"; // a lie: the kind comes from the workload
    os.image_ref = "nginx@sha256:cccc";
    os.port = 80;
    auto ot = observe("docs-1", si.workload_id, "c2", "created");
    auto result = MUST(reconcile_containers(db, {os, ot}));
    CHECK(result.written == 2);
    CHECK(result.rejected == 0);
    auto a = MUST(get_container(db, "shop-web-1"));
    CHECK(a.workload_id == st.workload_id);
    CHECK(a.workload_kind == "stack");
    CHECK(a.role == "web");
    CHECK(a.host == "local");
    CHECK(a.container_id == "c1");
    CHECK(a.image_ref == "nginx@sha256:cccc");
    CHECK(a.port == 80);
    CHECK(a.state == "running");
    CHECK_FALSE(a.last_seen_at.empty()); // defaults to now
    CHECK(a.stage_id.empty());
    CHECK(a.subdomain.empty());
    CHECK(a.image_tag.empty());
    auto b = MUST(get_container(db, "docs-1"));
    CHECK(b.workload_kind == "site");
    CHECK(b.state == "created");
  }
  SUBCASE("a stack container cannot take over another workload's row") {
    auto owned = MUST(upsert_container(db, make_container(p.workload_id, "c1")));
    auto before = dump(db);
    auto result = MUST(reconcile_containers(db, {observe(owned.id, st.workload_id, "c9")}));
    CHECK(result.written == 0);
    CHECK(result.rejected == 1);
    CHECK(dump(db) == before);
  }
}

TEST_CASE_FIXTURE(store_fixture, "reconcile_containers writes a batch in one transaction") {
  auto st = MUST(create_stack(db, make_stack("shop")));
  constexpr int n = 200;
  auto row_id = [](int i) { return "c-" + std::to_string(1000 + i); };
  std::vector<observed_container> batch;
  for (int i = 0; i < n; ++i)
    batch.push_back(observe(row_id(i), st.workload_id, "docker-" + std::to_string(i)));

  auto result = MUST(reconcile_containers(db, batch));
  CHECK(result.written == n);
  CHECK(result.rejected == 0);
  CHECK(rows(db, "containers") == n);
  CHECK(sql_int(db, "SELECT COUNT(*) FROM containers WHERE state = 'running'") == n);

  SUBCASE("the same batch again updates in place") {
    for (auto& o : batch)
      o.state = "stopped";
    auto again = MUST(reconcile_containers(db, batch));
    CHECK(again.written == n);
    CHECK(rows(db, "containers") == n);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM containers WHERE state = 'stopped'") == n);
  }
  SUBCASE("one failing statement in the middle writes none of the batch") {
    // Updates of every existing row, and one new row in the middle whose insert fails.
    for (auto& o : batch)
      o.state = "stopped";
    batch.insert(batch.begin() + n / 2, observe("c-broken", st.workload_id, "docker-x"));
    batch.push_back(observe("c-new-after", st.workload_id, "docker-y"));
    MUST_OK(db.exec("CREATE TRIGGER fail_one BEFORE INSERT ON containers "
                    "WHEN NEW.id = 'c-broken' BEGIN SELECT RAISE(ABORT, 'boom'); END"));
    auto before = dump(db);
    auto r = reconcile_containers(db, batch);
    CHECK_FALSE(r);
    CHECK(dump(db) == before);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM containers WHERE state = 'running'") == n);
    CHECK(code_of(get_container(db, "c-broken")) == "not_found");
    CHECK(code_of(get_container(db, "c-new-after")) == "not_found");
  }
}

TEST_CASE_FIXTURE(store_fixture,
                  "reconcile_containers: a container seen again as it was writes nothing, and "
                  "its last sighting is its host's listing") {
  auto p = MUST(create_project(db, make_project("api")));
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto by_id = make_container(p.workload_id, "c-1");
  by_id.image_ref = "img:v1";
  by_id.port = 8080;
  by_id.last_seen_at = "2024-01-01T00:00:00.000Z";
  by_id = MUST(upsert_container(db, by_id));
  auto by_container = by_id;
  by_container.id.clear();
  by_container.container_id = "c-2";
  by_container = MUST(upsert_container(db, by_container));
  auto stack_row = by_id;
  stack_row.id = "shop-web";
  stack_row.workload_id = st.workload_id;
  stack_row.container_id = "c-3";
  stack_row = MUST(upsert_container(db, stack_row));

  auto seen = [](const container_row& r, const std::string& id, const std::string& at) {
    auto o = observe(id, r.workload_id, r.container_id, r.state);
    o.image_ref = r.image_ref;
    o.port = r.port;
    o.last_seen_at = at;
    return o;
  };
  const std::string first = "2030-01-01T00:00:00.000Z";
  auto before = dump(db);
  auto version = current_index_version(db);
  auto result = MUST(reconcile_containers(db, {seen(by_id, by_id.id, first),
                                               seen(by_container, "", first),
                                               seen(stack_row, stack_row.id, first)}));
  CHECK(result.written == 3);
  CHECK(result.rejected == 0);
  CHECK(result.moved == 0);
  CHECK(dump(db) == before); // not a byte written
  CHECK(current_index_version(db) == version);

  // The sweep that ends the tick records the listing: every live row of the host was seen
  // then, in a single read and in a list alike, and the index's version moves.
  CHECK(MUST(mark_missing(db, missing_sweep{"local", {"c-1", "c-2", "c-3"}, first})) == 0);
  CHECK(current_index_version(db) != version);
  for (const auto& row : {by_id, by_container, stack_row}) {
    auto after = MUST(get_container(db, row.id));
    CHECK(after.last_seen_at == first);
    auto expected = row;
    expected.last_seen_at = first;
    CHECK(fields_of(after) == fields_of(expected));
  }
  for (const auto& listed : MUST(list_containers(db, container_filter{})).items)
    CHECK(listed.last_seen_at == first);
  // The API's walk keeps the listings while the index version stays (a reader's cache).
  container_index_cache cache;
  auto walked = [&] {
    std::map<std::string, std::string> seen;
    MUST(walk_containers(db, container_filter{}, current_index_version(db), cache,
                         [&](const container_view& c) {
                           seen[std::string{c.id}] = std::string{c.last_seen_at};
                         }));
    return seen;
  };
  for (const auto& [id, at] : walked())
    CHECK(at == first);

  // The next listing lacks c-3: its row goes missing and keeps the sighting it had; the
  // others move on with the host. An older listing arriving late moves nothing back.
  const std::string second = "2030-01-01T00:00:30.000Z";
  CHECK(MUST(mark_missing(db, missing_sweep{"local", {"c-1", "c-2"}, second})) == 1);
  CHECK(MUST(mark_missing(db, missing_sweep{"local", {"c-1", "c-2"}, first})) == 0);
  auto gone = MUST(get_container(db, stack_row.id));
  CHECK(gone.state == "missing");
  CHECK(gone.last_seen_at == first);
  CHECK(MUST(get_container(db, by_id.id)).last_seen_at == second);
  CHECK(MUST(get_container(db, by_container.id)).last_seen_at == second);
  auto after_second = walked(); // the same cache, a new version
  CHECK(after_second[by_id.id] == second);
  CHECK(after_second[stack_row.id] == first);

  // A row written since the listing shows its own, later sighting; rows of another host are
  // not seen by this one's listing.
  auto moved = seen(by_id, by_id.id, "2030-01-01T00:00:45.000Z");
  moved.state = "restarting";
  CHECK(MUST(reconcile_containers(db, {moved})).moved == 1);
  CHECK(MUST(get_container(db, by_id.id)).last_seen_at == "2030-01-01T00:00:45.000Z");
  auto remote = by_container;
  remote.id = "remote-row";
  remote.container_id = "c-remote";
  remote.host = "remote";
  remote.last_seen_at = "2024-06-01T00:00:00.000Z";
  MUST(upsert_container(db, remote));
  CHECK(MUST(get_container(db, "remote-row")).last_seen_at == "2024-06-01T00:00:00.000Z");
  CHECK(rows(db, "containers") == 4);
}

TEST_CASE_FIXTURE(store_fixture,
                  "reconcile_containers reports the rows it moves into failed, and only those") {
  auto p = MUST(create_project(db, make_project("api")));
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto row = [&](const std::string& id, const std::string& container_id,
                 const std::string& state) {
    auto c = make_container(p.workload_id, container_id, state);
    c.id = id;
    return MUST(upsert_container(db, c));
  };
  row("p-running", "c-running", "running");
  row("p-failed", "c-failed", "failed");
  row("p-by-container", "c-by-container", "running");
  row("p-untouched-failed", "c-untouched", "failed");

  auto result = MUST(reconcile_containers(
    db, {observe("p-running", p.workload_id, "c-running", "failed"),
         observe("p-failed", p.workload_id, "c-failed", "failed"),       // failed before
         observe("", p.workload_id, "c-by-container", "failed"),         // by container id
         observe("shop-new", st.workload_id, "c-new", "failed"),          // created failed
         observe("forged", "no-such-workload", "c-forged", "failed")}));  // rejected
  CHECK(result.written == 4);
  CHECK(result.rejected == 1);
  std::vector<std::string> failed;
  for (const auto& c : result.failed) {
    CHECK(c.state == "failed");
    failed.push_back(c.row_id + " " + c.workload_id + " " + c.role + " " + c.container_id);
  }
  // In the order the rows were created, as the index of failed rows keeps them.
  CHECK(failed
        == std::vector<std::string>{"p-running " + p.workload_id + " web c-running",
                                    "p-by-container " + p.workload_id + " web c-by-container",
                                    "shop-new " + st.workload_id + " web c-new"});

  // Failed before and after: no news; a row that recovers and fails again is news again.
  CHECK(MUST(reconcile_containers(db, {observe("p-running", p.workload_id, "c-running",
                                               "failed")}))
          .failed.empty());
  MUST(reconcile_containers(db, {observe("p-running", p.workload_id, "c-running", "running")}));
  auto again = MUST(reconcile_containers(
    db, {observe("p-running", p.workload_id, "c-running", "failed")}));
  REQUIRE(again.failed.size() == 1);
  CHECK(again.failed[0].row_id == "p-running");
}

// -- 8. mark_missing --------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "mark_missing marks unseen containers of one host, once") {
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto add = [&](const std::string& id, const std::string& container_id,
                 const std::string& state, const std::string& host = "local") {
    auto c = make_container(st.workload_id, container_id, state);
    c.id = id;
    c.host = host;
    return MUST(upsert_container(db, c));
  };
  add("seen", "c-seen", "running");
  add("gone", "c-gone", "running");
  add("gone-stopped", "c-gone-2", "stopped");
  add("never-started", "", "created");
  add("already-missing", "c-old", "missing");
  auto remote = add("remote", "c-remote", "running", "remote");

  auto state_of = [&](const std::string& id) { return MUST(get_container(db, id)).state; };

  CHECK(MUST(mark_missing(db, missing_sweep{"local", {"c-seen", "c-unrelated"}, ""})) == 2);
  CHECK(state_of("seen") == "running");
  CHECK(state_of("gone") == "missing");
  CHECK(state_of("gone-stopped") == "missing");
  CHECK(state_of("never-started") == "created");
  CHECK(state_of("already-missing") == "missing");
  CHECK(fields_of(MUST(get_container(db, "remote"))) == fields_of(remote));

  // A second sweep has nothing new to count, and leaves every row as it was.
  auto container_rows = [&] {
    return sql_texts(db, "SELECT id || ' ' || state || ' ' || updated_at || ' ' || last_seen_at "
                         "FROM containers ORDER BY id");
  };
  auto before = container_rows();
  CHECK(MUST(mark_missing(db, missing_sweep{"local", {"c-seen"}, ""})) == 0);
  CHECK(container_rows() == before);

  // The other host is swept on its own; an empty list means nothing runs there.
  CHECK(MUST(mark_missing(db, missing_sweep{"remote", {}, ""})) == 1);
  CHECK(state_of("remote") == "missing");
  CHECK(state_of("seen") == "running");
}

TEST_CASE_FIXTURE(store_fixture,
                  "mark_missing leaves rows written after the list was taken") {
  // A deploy creates a container and records it between the reconciler's list and its
  // sweep: the list could not have seen it, so the sweep must not call it missing.
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto old_row = make_container(st.workload_id, "c-old", "running");
  old_row.id = "old";
  auto written_at = MUST(upsert_container(db, old_row)).updated_at;
  // Timestamps have millisecond resolution: the list is taken in a later millisecond than
  // the old row's write, and the new row is written in a later one still.
  auto next_millisecond = [](const std::string& after) {
    auto t = tf::now_utc();
    while (t == after)
      t = tf::now_utc();
    return t;
  };
  auto listed_at = next_millisecond(written_at);
  next_millisecond(listed_at);
  auto new_row = make_container(st.workload_id, "c-new", "running");
  new_row.id = "new";
  MUST(upsert_container(db, new_row));

  CHECK(MUST(mark_missing(db, missing_sweep{"local", {}, listed_at})) == 1);
  CHECK(MUST(get_container(db, "old")).state == "missing");
  CHECK(MUST(get_container(db, "new")).state == "running");
}

// -- 9. workloads: secrets and settings -------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "rotate_secrets replaces all three secrets together") {
  auto p = MUST(create_project(db, make_project("api")));
  auto before = MUST(get_workload(db, p.workload_id));
  auto rotated = MUST(rotate_secrets(db, p.workload_id));
  CHECK(rotated.id == before.id);
  CHECK(is_hex(rotated.webhook_secret, 64));
  CHECK(is_hex(rotated.webhook_signing_secret, 64));
  CHECK(is_hex(rotated.notification_secret, 64));
  CHECK(rotated.webhook_secret != before.webhook_secret);
  CHECK(rotated.webhook_signing_secret != before.webhook_signing_secret);
  CHECK(rotated.notification_secret != before.notification_secret);
  CHECK(rotated.name == before.name);
  CHECK(rotated.kind == before.kind);
  CHECK(rotated.ref_id == before.ref_id);

  auto stored = MUST(get_workload(db, p.workload_id));
  CHECK(stored.webhook_secret == rotated.webhook_secret);
  CHECK(stored.webhook_signing_secret == rotated.webhook_signing_secret);
  CHECK(stored.notification_secret == rotated.notification_secret);
  // The old webhook secret routes nowhere any more.
  CHECK(sql_int(db, "SELECT COUNT(*) FROM workloads WHERE webhook_secret = ?1",
                before.webhook_secret)
        == 0);

  auto unchanged = dump(db);
  CHECK(code_of(rotate_secrets(db, "no-such-workload")) == "not_found");
  CHECK(dump(db) == unchanged);
}

TEST_CASE_FIXTURE(store_fixture, "update_workload validates its patch") {
  auto p = MUST(create_project(db, make_project("api")));
  const auto& id = p.workload_id;
  auto before = dump(db);
  auto check_refused = [&](const patch<workload>& pt, const std::string& code,
                           const std::string& field) {
    auto r = update_workload(db, pt);
    CHECK(code_of(r) == code);
    CHECK_MESSAGE(contains(message_of(r), field), message_of(r));
    CHECK(dump(db) == before);
  };

  SUBCASE("bad notification_url") {
    for (std::string url : {"ftp://example.com/hook", "example.com", "http://", "https://",
                            "https://exa mple.com/hook"}) {
      CAPTURE(url);
      workload w;
      w.notification_url = url;
      check_refused(make_patch(id, {"notification_url"}, w), "invalid_argument",
                    "notification_url");
    }
  }
  SUBCASE("unknown app_id") {
    workload w;
    w.app_id = "no-such-app";
    check_refused(make_patch(id, {"app_id"}, w), "invalid_argument", "app_id");
  }
  SUBCASE("fields a patch may not change") {
    workload w;
    w.webhook_secret = std::string(64, 'a');
    w.name = "renamed";
    w.kind = "stack";
    check_refused(make_patch(id, {"webhook_secret"}, w), "invalid_argument", "webhook_secret");
    check_refused(make_patch(id, {"name"}, w), "invalid_argument", "name");
    check_refused(make_patch(id, {"kind"}, w), "invalid_argument", "kind");
    check_refused(make_patch(id, {"no_such_field"}, w), "invalid_argument", "no_such_field");
  }
  SUBCASE("unknown workload") {
    workload w;
    w.notification_url = "https://example.com/hook";
    CHECK(code_of(update_workload(db, make_patch(std::string{"nope"}, {"notification_url"}, w)))
          == "not_found");
    CHECK(dump(db) == before);
  }
  SUBCASE("valid changes are stored") {
    sql_run(db, "INSERT INTO apps(id, name, created_at, updated_at) "
                "VALUES ('app-1', 'shop', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')");
    auto original = MUST(get_workload(db, id));
    workload w;
    w.app_id = "app-1";
    w.notification_url = "https://hooks.example.com/tinyforge";
    w.webhook_require_signature = true;
    auto updated =
      MUST(update_workload(db, make_patch(id, {"app_id", "notification_url",
                                               "webhook_require_signature"}, w)));
    CHECK(updated.app_id == "app-1");
    CHECK(updated.notification_url == "https://hooks.example.com/tinyforge");
    CHECK(updated.webhook_require_signature);
    auto stored = MUST(get_workload(db, id));
    CHECK(stored.app_id == "app-1");
    CHECK(stored.notification_url == "https://hooks.example.com/tinyforge");
    CHECK(stored.webhook_require_signature);
    // Fields not named in the patch stay.
    CHECK(stored.webhook_secret == original.webhook_secret);
    CHECK(stored.name == "api");

    // An empty app_id ungroups the workload (NULL in the database).
    workload none;
    auto cleared = MUST(update_workload(db, make_patch(id, {"app_id"}, none)));
    CHECK(cleared.app_id.empty());
    CHECK(cleared.notification_url == "https://hooks.example.com/tinyforge");
    CHECK(sql_int(db, "SELECT COUNT(*) FROM workloads WHERE id = ?1 AND app_id IS NULL", id)
          == 1);
  }
}

// -- 10. validation ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture,
                  "invalid input is refused naming the field, and nothing is written") {
  // Something already stored, so "unchanged" is checked against a non-empty database.
  auto existing = MUST(create_project(db, make_project("existing")));
  auto before = dump(db);

  auto check_invalid = [&](const auto& result, const std::string& field) {
    CHECK(code_of(result) == "invalid_argument");
    CHECK_MESSAGE(contains(message_of(result), field), message_of(result));
    CHECK(dump(db) == before);
  };

  SUBCASE("names that are not lowercase DNS labels") {
    for (const auto& name : std::vector<std::string>{"Api", "-api", "api-", "a_b", "", "a.b",
                                                     "api web", std::string(64, 'a')}) {
      CAPTURE(name);
      check_invalid(create_project(db, make_project(name)), "name");
      check_invalid(create_stack(db, make_stack(name)), "name");
      auto s = make_site(name);
      s.subdomain.clear();
      check_invalid(create_site(db, s), "name");
      stage sg = make_stage(name);
      sg.project_id = existing.id;
      check_invalid(create_stage(db, sg), "name");
    }
    // The longest label (63) is fine.
    auto longest = std::string(63, 'a');
    CHECK(MUST(create_project(db, make_project(longest))).name == longest);
  }
  SUBCASE("bad image") {
    for (std::string image : {"", "Nginx", "nginx latest", "/nginx", "nginx/", "team//api",
                              "nginx@sha256"}) {
      CAPTURE(image);
      auto p = make_project("api");
      p.image = image;
      check_invalid(create_project(db, p), "image");
    }
  }
  SUBCASE("duplicate stage names") {
    check_invalid(create_project(db, make_project("api", {"prod", "prod"})), "stages[1].name");
  }
  SUBCASE("stage fields") {
    auto with = [](auto change) {
      auto p = make_project("api", {"staging"});
      change(p.stages[0]);
      return p;
    };
    check_invalid(create_project(db, with([](stage& s) { s.port = 0; })), "port");
    check_invalid(create_project(db, with([](stage& s) { s.port = 70000; })), "port");
    check_invalid(create_project(db, with([](stage& s) { s.instances = 0; })), "instances");
    check_invalid(create_project(db, with([](stage& s) { s.health_path = "healthz"; })),
                  "health_path");
    check_invalid(create_project(db, with([](stage& s) { s.restart_policy = "sometimes"; })),
                  "restart_policy");
    check_invalid(create_project(db, with([](stage& s) { s.env = {{"1X", "v"}}; })), "env");
    check_invalid(create_project(db, with([](stage& s) { s.subdomain = "Bad_Sub"; })),
                  "subdomain");
    // The message says which stage.
    check_invalid(create_project(db, with([](stage& s) { s.port = 0; })), "stages[0]");
  }
  SUBCASE("stage fields through create_stage and update_stage") {
    auto s = make_stage("qa", 0);
    s.project_id = existing.id;
    check_invalid(create_stage(db, s), "port");
    stage v;
    v.instances = 0;
    check_invalid(update_stage(db, make_patch(existing.stages[0].id, {"instances"}, v)),
                  "instances");
    v.restart_policy = "never";
    check_invalid(update_stage(db, make_patch(existing.stages[0].id, {"restart_policy"}, v)),
                  "restart_policy");
  }
  SUBCASE("stack with empty compose, or a bad env name") {
    auto s = make_stack("shop");
    s.compose.clear();
    check_invalid(create_stack(db, s), "compose");
    auto e = make_stack("shop");
    e.env = {{"1X", "v"}};
    check_invalid(create_stack(db, e), "env");
  }
  SUBCASE("container rows") {
    auto c = make_container(existing.workload_id, "c1", "exploded");
    check_invalid(upsert_container(db, c), "state");
    c.state = "running";
    c.port = 70000;
    check_invalid(upsert_container(db, c), "port");
    c.port = 80;
    c.workload_id.clear();
    check_invalid(upsert_container(db, c), "workload_id");
  }
  SUBCASE("site keep_releases 0") {
    auto s = make_site("docs");
    s.keep_releases = 0;
    check_invalid(create_site(db, s), "keep_releases");
  }
}

// The image of a project is a repository: stages deploy tags of it (stages.current_tag,
// deployments.tag), and validate_project's own message (store/projects.cpp) asks for the
// image "without a tag".
// A ':' is only valid as the registry's port, in the first component before a '/'.
TEST_CASE_FIXTURE(store_fixture, "a project image with a tag is refused") {
  for (std::string ok : {"nginx", "team/api", "registry.example.com/team/api",
                         "registry.example.com:5000/team/api", "localhost:5000/api"}) {
    CAPTURE(ok);
    auto p = make_project("api");
    p.image = ok;
    auto created = MUST(create_project(db, p));
    CHECK(created.image == ok);
    MUST_OK(delete_project(db, created.id));
  }
  for (std::string tagged :
       {"nginx:latest", "team/api:v1", "registry.example.com:5000/team/api:v1", "nginx:"}) {
    CAPTURE(tagged);
    auto p = make_project("api");
    p.image = tagged;
    auto r = create_project(db, p);
    CHECK(code_of(r) == "invalid_argument");
    CHECK_MESSAGE(contains(message_of(r), "image"), message_of(r));
    if (r) // accepted by mistake: remove it so the next image is checked on its own
      MUST_OK(delete_project(db, r->id));
  }
  CHECK(rows(db, "projects") == 0);
}

// -- 11. updates and renames ------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "update_project renames its workload in the same transaction") {
  auto a = MUST(create_project(db, make_project("api")));
  MUST(create_project(db, make_project("web")));

  SUBCASE("rename") {
    project v;
    v.name = "api2";
    auto updated = MUST(update_project(db, make_patch(a.id, {"name"}, v)));
    CHECK(updated.name == "api2");
    CHECK(updated.image == a.image);           // not in the patch
    CHECK(updated.stages.size() == 2);         // stages untouched
    CHECK(MUST(get_project(db, a.id)).name == "api2");
    CHECK(MUST(get_workload(db, a.workload_id)).name == "api2");
    project img;
    img.image = "registry.example.com/team/api-v2";
    CHECK(MUST(update_project(db, make_patch(a.id, {"image"}, img))).image == img.image);
    CHECK(MUST(get_workload(db, a.workload_id)).name == "api2");
  }
  SUBCASE("a taken name is a conflict and nothing changes") {
    auto before = dump(db);
    project v;
    v.name = "web";
    auto r = update_project(db, make_patch(a.id, {"name"}, v));
    CHECK(code_of(r) == "conflict");
    CHECK(dump(db) == before);
  }
  SUBCASE("unknown patch field, invalid value, unknown id") {
    auto before = dump(db);
    project v;
    v.name = "renamed";
    v.id = "other-id";
    CHECK(code_of(update_project(db, make_patch(a.id, {"id"}, v))) == "invalid_argument");
    CHECK(code_of(update_project(db, make_patch(a.id, {"name", "stages"}, v)))
          == "invalid_argument");
    v.name = "Bad Name";
    CHECK(code_of(update_project(db, make_patch(a.id, {"name"}, v))) == "invalid_argument");
    v.name = "fine";
    CHECK(code_of(update_project(db, make_patch(std::string{"nope"}, {"name"}, v)))
          == "not_found");
    CHECK(dump(db) == before);
  }
  SUBCASE("the workload rename failing rolls back the project rename") {
    MUST_OK(db.exec("CREATE TRIGGER fail_rename BEFORE UPDATE ON workloads "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"));
    auto before = dump(db);
    project v;
    v.name = "api2";
    CHECK_FALSE(update_project(db, make_patch(a.id, {"name"}, v)));
    CHECK(dump(db) == before);
    CHECK(MUST(get_project(db, a.id)).name == "api");
  }
}

TEST_CASE_FIXTURE(store_fixture, "update_stage renames within its project only") {
  auto a = MUST(create_project(db, make_project("api")));
  auto b = MUST(create_project(db, make_project("web", {"qa"})));
  const auto& staging = a.stages[0].id;

  stage v;
  v.name = "qa"; // taken in project b, free in a
  v.port = 9999;
  auto updated = MUST(update_stage(db, make_patch(staging, {"name", "port"}, v)));
  CHECK(updated.name == "qa");
  CHECK(updated.port == 9999);
  CHECK(updated.project_id == a.id);
  CHECK(updated.instances == 1); // not in the patch
  CHECK(MUST(get_stage(db, staging)).name == "qa");
  CHECK(MUST(get_stage(db, b.stages[0].id)).name == "qa");

  auto before = dump(db);
  v.name = "production"; // taken in project a
  CHECK(code_of(update_stage(db, make_patch(staging, {"name"}, v))) == "conflict");
  CHECK(code_of(update_stage(db, make_patch(staging, {"project_id"}, v))) == "invalid_argument");
  CHECK(code_of(update_stage(db, make_patch(staging, {"current_tag"}, v))) == "invalid_argument");
  CHECK(code_of(update_stage(db, make_patch(std::string{"nope"}, {"port"}, v))) == "not_found");
  CHECK(dump(db) == before);
}

TEST_CASE_FIXTURE(store_fixture,
                  "update_stack renames its workload and keeps its compose project") {
  auto a = MUST(create_stack(db, make_stack("shop")));
  MUST(create_stack(db, make_stack("blog")));

  stack v;
  v.name = "store";
  v.compose = "services: {}\n";
  auto updated = MUST(update_stack(db, make_patch(a.id, {"name", "compose"}, v)));
  CHECK(updated.name == "store");
  CHECK(updated.compose == "services: {}\n");
  CHECK(updated.env == env_map{{"MODE", "test"}}); // not in the patch
  CHECK(updated.compose_project_name == a.compose_project_name);
  CHECK(MUST(get_workload(db, a.workload_id)).name == "store");

  auto before = dump(db);
  v.name = "blog";
  CHECK(code_of(update_stack(db, make_patch(a.id, {"name"}, v))) == "conflict");
  v.compose_project_name = "tf-hijack";
  CHECK(code_of(update_stack(db, make_patch(a.id, {"compose_project_name"}, v)))
        == "invalid_argument");
  v.compose.clear();
  CHECK(code_of(update_stack(db, make_patch(a.id, {"compose"}, v))) == "invalid_argument");
  CHECK(code_of(update_stack(db, make_patch(std::string{"nope"}, {"name"}, v))) == "not_found");
  CHECK(dump(db) == before);
}

TEST_CASE_FIXTURE(store_fixture, "update_site renames its workload") {
  auto a = MUST(create_site(db, make_site("docs")));
  MUST(create_site(db, make_site("blog")));

  site v;
  v.name = "manual";
  v.keep_releases = 10;
  auto updated = MUST(update_site(db, make_patch(a.id, {"name", "keep_releases"}, v)));
  CHECK(updated.name == "manual");
  CHECK(updated.keep_releases == 10);
  CHECK(updated.subdomain == "docs"); // not in the patch
  CHECK(MUST(get_workload(db, a.workload_id)).name == "manual");

  auto before = dump(db);
  v.name = "blog";
  CHECK(code_of(update_site(db, make_patch(a.id, {"name"}, v))) == "conflict");
  v.current_release = "../r1"; // the site deployer records release names, nothing else
  CHECK(code_of(update_site(db, make_patch(a.id, {"current_release"}, v))) == "invalid_argument");
  v.keep_releases = 0;
  CHECK(code_of(update_site(db, make_patch(a.id, {"keep_releases"}, v))) == "invalid_argument");
  CHECK(code_of(update_site(db, make_patch(std::string{"nope"}, {"name"}, v))) == "not_found");
  CHECK(dump(db) == before);
  v.current_release = "20261205T171503.123Z-3fa9c1";
  CHECK(MUST(update_site(db, make_patch(a.id, {"current_release"}, v))).current_release
        == v.current_release);
}

// -- 12. list_containers ----------------------------------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "list_containers filters and paginates") {
  auto p = MUST(create_project(db, make_project("api")));
  auto st = MUST(create_stack(db, make_stack("shop")));
  auto si = MUST(create_site(db, make_site("docs")));
  sql_run(db, "INSERT INTO apps(id, name, created_at, updated_at) "
              "VALUES ('app-1', 'shop', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')");
  workload grouped;
  grouped.app_id = "app-1";
  MUST(update_workload(db, make_patch(p.workload_id, {"app_id"}, grouped)));
  MUST(update_workload(db, make_patch(si.workload_id, {"app_id"}, grouped)));

  MUST(upsert_container(db, make_container(p.workload_id, "p1", "running")));
  MUST(upsert_container(db, make_container(p.workload_id, "p2", "running")));
  MUST(upsert_container(db, make_container(p.workload_id, "p3", "stopped")));
  MUST(upsert_container(db, make_container(st.workload_id, "s1", "running")));
  MUST(upsert_container(db, make_container(st.workload_id, "s2", "missing")));
  MUST(upsert_container(db, make_container(si.workload_id, "t1", "running")));

  auto list = [&](container_filter f) { return MUST(list_containers(db, f)); };
  auto container_ids = [](const page<container_row>& pg) {
    std::set<std::string> out;
    for (const auto& c : pg.items)
      out.insert(c.container_id);
    return out;
  };
  using ids = std::set<std::string>;

  container_filter all;
  auto everything = list(all);
  CHECK(everything.total == 6);
  CHECK(everything.items.size() == 6);

  container_filter by_workload;
  by_workload.workload_id = p.workload_id;
  auto pw = list(by_workload);
  CHECK(pw.total == 3);
  CHECK(container_ids(pw) == ids{"p1", "p2", "p3"});

  container_filter by_kind;
  by_kind.kind = "stack";
  CHECK(container_ids(list(by_kind)) == ids{"s1", "s2"});
  CHECK(list(by_kind).total == 2);

  container_filter by_state;
  by_state.state = "running";
  CHECK(container_ids(list(by_state)) == ids{"p1", "p2", "s1", "t1"});
  CHECK(list(by_state).total == 4);

  container_filter by_app;
  by_app.app_id = "app-1";
  CHECK(container_ids(list(by_app)) == ids{"p1", "p2", "p3", "t1"});
  CHECK(list(by_app).total == 4);

  container_filter combined;
  combined.app_id = "app-1";
  combined.state = "running";
  combined.kind = "project";
  CHECK(container_ids(list(combined)) == ids{"p1", "p2"});
  CHECK(list(combined).total == 2);

  container_filter nothing;
  nothing.workload_id = "no-such-workload";
  CHECK(list(nothing).items.empty());
  CHECK(list(nothing).total == 0);

  SUBCASE("pages cover every row once, and total counts all matches") {
    std::vector<std::string> seen;
    for (int64_t offset = 0; offset < 6; offset += 2) {
      container_filter f;
      f.limit = 2;
      f.offset = offset;
      auto pg = list(f);
      CHECK(pg.total == 6);
      CHECK(pg.items.size() == 2);
      for (const auto& c : pg.items)
        seen.push_back(c.id);
    }
    CHECK(seen.size() == 6);
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == ids_of(everything.items));

    container_filter past_end;
    past_end.offset = 6;
    CHECK(list(past_end).items.empty());
    CHECK(list(past_end).total == 6);

    container_filter filtered_page;
    filtered_page.state = "running";
    filtered_page.limit = 3;
    filtered_page.offset = 3;
    auto last = list(filtered_page);
    CHECK(last.items.size() == 1);
    CHECK(last.total == 4);
  }
}

// -- 13. deployments --------------------------------------------------------------------------

namespace {

deployment make_deployment(const project& p, size_t stage_index, std::string tag) {
  deployment d;
  d.workload_id = p.workload_id;
  d.stage_id = p.stages.at(stage_index).id;
  d.tag = std::move(tag);
  return d;
}

deployment move_to(database& db, const deployment& d, std::string status,
                   std::string error = {}) {
  return MUST(transition_deployment(db, deployment_transition{d.id, std::move(status),
                                                              std::move(error)}));
}

} // namespace

TEST_CASE_FIXTURE(store_fixture, "create_deployment records a queued deploy of a stage") {
  auto p = MUST(create_project(db, make_project("api")));
  auto d = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  CHECK(is_hex(d.id, 24));
  CHECK(d.status == "queued");
  CHECK(d.tag == "v1");
  CHECK(d.trigger == "api");
  CHECK_FALSE(d.created_at.empty());
  CHECK(d.started_at.empty());
  CHECK(d.finished_at.empty());
  CHECK(MUST(get_deployment(db, d.id)).stage_id == p.stages[0].id);

  SUBCASE("bad input is refused and nothing is written") {
    auto other = MUST(create_project(db, make_project("web")));
    auto before = dump(db);
    auto bad_tag = make_deployment(p, 0, "v1:latest");
    CHECK(code_of(create_deployment(db, bad_tag)) == "invalid_argument");
    CHECK(contains(message_of(create_deployment(db, bad_tag)), "tag"));
    auto long_tag = make_deployment(p, 0, std::string(129, 'a'));
    CHECK(code_of(create_deployment(db, long_tag)) == "invalid_argument");
    auto foreign_stage = make_deployment(p, 0, "v1");
    foreign_stage.stage_id = other.stages[0].id;
    CHECK(code_of(create_deployment(db, foreign_stage)) == "invalid_argument");
    CHECK(contains(message_of(create_deployment(db, foreign_stage)), "stage_id"));
    auto no_workload = make_deployment(p, 0, "v1");
    no_workload.workload_id = "no-such-workload";
    CHECK(code_of(create_deployment(db, no_workload)) == "not_found");
    auto bad_trigger = make_deployment(p, 0, "v1");
    bad_trigger.trigger = "cron";
    CHECK(code_of(create_deployment(db, bad_trigger)) == "invalid_argument");
    CHECK(dump(db) == before);
  }
}

TEST_CASE_FIXTURE(store_fixture, "a successful deploy makes its tag the stage's current one") {
  auto p = MUST(create_project(db, make_project("api")));
  auto stage_of = [&] { return MUST(get_stage(db, p.stages[0].id)); };

  auto v1 = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  auto running = move_to(db, v1, "running");
  CHECK(running.status == "running");
  CHECK_FALSE(running.started_at.empty());
  CHECK(running.previous_tag.empty());
  CHECK(stage_of().current_tag.empty()); // nothing changes before the deploy succeeds
  auto done = move_to(db, v1, "succeeded");
  CHECK(done.status == "succeeded");
  CHECK_FALSE(done.finished_at.empty());
  CHECK(stage_of().current_tag == "v1");
  CHECK(stage_of().previous_tag.empty());

  auto v2 = MUST(create_deployment(db, make_deployment(p, 0, "v2")));
  CHECK(move_to(db, v2, "running").previous_tag == "v1");
  move_to(db, v2, "succeeded");
  CHECK(stage_of().current_tag == "v2");
  CHECK(stage_of().previous_tag == "v1");

  SUBCASE("a failed deploy leaves the stage's tags as they were") {
    auto broken = MUST(create_deployment(db, make_deployment(p, 0, "broken")));
    move_to(db, broken, "running");
    auto failed = move_to(db, broken, "failed", "health check failed: /up answered 404");
    CHECK(failed.error == "health check failed: /up answered 404");
    CHECK(stage_of().current_tag == "v2");
    CHECK(stage_of().previous_tag == "v1");
  }
  SUBCASE("the other stage is not touched") {
    CHECK(MUST(get_stage(db, p.stages[1].id)).current_tag.empty());
  }
  SUBCASE("redeploying the current tag keeps the previous one for a rollback") {
    auto again = MUST(create_deployment(db, make_deployment(p, 0, "v2")));
    move_to(db, again, "running");
    move_to(db, again, "succeeded");
    CHECK(stage_of().current_tag == "v2");
    CHECK(stage_of().previous_tag == "v1");
  }
}

TEST_CASE_FIXTURE(store_fixture, "deployments only move forward") {
  auto p = MUST(create_project(db, make_project("api")));
  auto d = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  auto refused = [&](const char* status) {
    return code_of(transition_deployment(db, deployment_transition{d.id, status, ""}));
  };
  CHECK(refused("succeeded") == "conflict"); // a queued deploy has not run
  CHECK(refused("queued") == "conflict");
  CHECK(refused("bogus") == "conflict");
  move_to(db, d, "superseded");
  CHECK_FALSE(MUST(get_deployment(db, d.id)).finished_at.empty());
  CHECK(refused("running") == "conflict"); // an end state is final
  CHECK(refused("failed") == "conflict");
  CHECK(code_of(transition_deployment(db, deployment_transition{"nope", "running", ""}))
        == "not_found");
}

TEST_CASE_FIXTURE(store_fixture, "a deployment's log keeps its lines in order, bounded") {
  auto p = MUST(create_project(db, make_project("api")));
  auto d = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  CHECK(MUST(append_deployment_log(db, {d.id, "pulling tinyforge-test/web:v1"})) == 0);
  CHECK(MUST(append_deployment_log(db, {d.id, "starting 1 container"})) == 1);
  CHECK(MUST(append_deployment_log(db, {d.id, std::string(10000, 'x')})) == 2);
  auto log = MUST(get_deployment(db, d.id)).log;
  REQUIRE(log.size() == 3);
  CHECK(log[0] == "pulling tinyforge-test/web:v1");
  CHECK(log[1] == "starting 1 container");
  CHECK(log[2].size() == 4096);
  CHECK(code_of(append_deployment_log(db, {"no-such-deployment", "x"})) == "not_found");

  SUBCASE("a runaway log stops at 10,000 lines") {
    for (int i = 3; i < 10010; ++i)
      CHECK(MUST(append_deployment_log(db, {d.id, "line " + std::to_string(i)}))
            == (i < 10000 ? i : -1));
    auto full = MUST(get_deployment(db, d.id)).log;
    CHECK(full.size() == 10000);
    CHECK(full.back() == "line 9999");
  }
}

TEST_CASE_FIXTURE(store_fixture, "unfinished deploys of a previous run end as failed") {
  auto p = MUST(create_project(db, make_project("api")));
  auto queued = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  auto running = MUST(create_deployment(db, make_deployment(p, 1, "v1")));
  move_to(db, running, "running");
  auto done = MUST(create_deployment(db, make_deployment(p, 0, "v0")));
  move_to(db, done, "running");
  move_to(db, done, "succeeded");

  CHECK(MUST(fail_unfinished_deployments(db, "the daemon restarted")) == 2);
  for (const auto& id : {queued.id, running.id}) {
    auto d = MUST(get_deployment(db, id));
    CHECK(d.status == "failed");
    CHECK(d.error == "the daemon restarted");
    CHECK_FALSE(d.finished_at.empty());
  }
  CHECK(MUST(get_deployment(db, done.id)).status == "succeeded");
  CHECK(MUST(fail_unfinished_deployments(db, "again")) == 0);
}

TEST_CASE_FIXTURE(store_fixture, "list_deployments pages newest first, per workload") {
  auto api = MUST(create_project(db, make_project("api")));
  auto web = MUST(create_project(db, make_project("web")));
  std::vector<std::string> api_ids;
  for (int i = 0; i < 5; ++i) {
    api_ids.push_back(
      MUST(create_deployment(db, make_deployment(api, 0, "v" + std::to_string(i)))).id);
    // created_at has millisecond resolution: keep the order unambiguous.
    auto at = MUST(get_deployment(db, api_ids.back())).created_at;
    while (now_utc() == at) {
    }
  }
  MUST(create_deployment(db, make_deployment(web, 0, "v1")));

  auto first = MUST(list_deployments(db, api.workload_id, 2, 0));
  CHECK(first.total == 5);
  REQUIRE(first.items.size() == 2);
  CHECK(first.items[0].id == api_ids[4]);
  CHECK(first.items[1].id == api_ids[3]);
  CHECK(first.items[0].log.empty()); // lists carry no logs
  auto last = MUST(list_deployments(db, api.workload_id, 2, 4));
  REQUIRE(last.items.size() == 1);
  CHECK(last.items[0].id == api_ids[0]);
  CHECK(MUST(list_deployments(db, "", 100, 0)).total == 6);
}

TEST_CASE_FIXTURE(store_fixture,
                  "supersede_deployments ends the queued deploys of a batch and skips the rest") {
  auto p = MUST(create_project(db, make_project("api")));
  auto first = MUST(create_deployment(db, make_deployment(p, 0, "v1")));
  auto running = MUST(create_deployment(db, make_deployment(p, 0, "v2")));
  move_to(db, running, "running");
  auto last = MUST(create_deployment(db, make_deployment(p, 0, "v3")));
  auto changed = MUST(supersede_deployments(db, {first.id, running.id, last.id, "no-such-id"},
                                            "a newer deploy of this stage was requested"));
  CHECK(changed == 2);
  for (const auto& id : {first.id, last.id}) {
    auto d = MUST(get_deployment(db, id));
    CHECK(d.status == "superseded");
    CHECK(d.error == "a newer deploy of this stage was requested");
    CHECK_FALSE(d.finished_at.empty());
  }
  auto still = MUST(get_deployment(db, running.id));
  CHECK(still.status == "running"); // a deploy that started is never superseded
  CHECK(still.finished_at.empty());
  CHECK(MUST(supersede_deployments(db, {first.id}, "again")) == 0); // an end state is final
  CHECK(MUST(get_deployment(db, first.id)).error == "a newer deploy of this stage was requested");
}

// -- 14. webhook deliveries -------------------------------------------------------------------

namespace {

webhook_deploy_claim make_claim(const project& p, std::string tag, std::string stage = {},
                                std::string delivery_id = {}) {
  webhook_deploy_claim c;
  c.delivery.workload_id = p.workload_id;
  c.delivery.source_addr = "127.0.0.1";
  c.delivery.signature = "tinyforge";
  c.delivery.delivery_id = std::move(delivery_id);
  c.delivery.tag = std::move(tag);
  c.delivery.body = "{\"tag\":\"" + c.delivery.tag + "\"}";
  c.wanted_stage = std::move(stage);
  return c;
}

int64_t deployments_of(database& db, const project& p) {
  return MUST(list_deployments(db, p.workload_id, 500, 0)).total;
}

} // namespace

TEST_CASE_FIXTURE(store_fixture,
                  "a webhook claim queues the deploy and records the delivery together") {
  auto p = MUST(create_project(db, make_project("api")));
  auto got = MUST(claim_webhook_deploy(db, make_claim(p, "v1", "", "gh-1")));
  CHECK(got.delivery.result == "accepted");
  CHECK(got.delivery.stage == "staging"); // no stage asked for: the project's first
  CHECK(got.delivery.code.empty());
  CHECK(got.queued.status == "queued");
  CHECK(got.queued.stage_id == p.stages[0].id);
  CHECK(got.queued.tag == "v1");
  CHECK(got.queued.trigger == "webhook");
  CHECK(got.queued.triggered_by == "webhook delivery " + got.delivery.id);
  CHECK(got.delivery.deployment_id == got.queued.id);
  auto stored = MUST(get_delivery(db, got.delivery.id));
  CHECK(stored.deployment_id == got.queued.id);
  CHECK(stored.body == "{\"tag\":\"v1\"}");
  CHECK(MUST(get_deployment(db, got.queued.id)).status == "queued");

  SUBCASE("a stage by name or by id") {
    CHECK(MUST(claim_webhook_deploy(db, make_claim(p, "v2", "production"))).queued.stage_id
          == p.stages[1].id);
    CHECK(MUST(claim_webhook_deploy(db, make_claim(p, "v3", p.stages[1].id))).delivery.stage
          == "production");
  }
  SUBCASE("the same delivery id again is a duplicate of the first deploy, queues nothing") {
    auto again = MUST(claim_webhook_deploy(db, make_claim(p, "v9", "production", "gh-1")));
    CHECK(again.delivery.result == "duplicate");
    CHECK(again.delivery.code.empty());
    CHECK(again.delivery.deployment_id == got.queued.id);
    CHECK(again.queued.id.empty());
    CHECK(deployments_of(db, p) == 1);
    // Another project may use the same delivery id.
    auto other = MUST(create_project(db, make_project("web")));
    CHECK(MUST(claim_webhook_deploy(db, make_claim(other, "v1", "", "gh-1"))).delivery.result
          == "accepted");
  }
  SUBCASE("a Tinyforge delivery with the timestamp and MAC of an accepted one is a duplicate, "
          "whatever its delivery id") {
    auto signed_claim = [&](std::string tag, std::string delivery_id, std::string mac) {
      auto c = make_claim(p, std::move(tag), "production", std::move(delivery_id));
      c.delivery.headers_json = R"({"x-tinyforge-timestamp":"1700000000",)"
                                R"("x-tinyforge-signature":"sha256=)" + mac + R"("})";
      return c;
    };
    auto first = MUST(claim_webhook_deploy(db, signed_claim("v4", "tf-1", "ab12")));
    CHECK(first.delivery.result == "accepted");
    for (const auto* id : {"tf-2", ""}) {
      auto again = MUST(claim_webhook_deploy(db, signed_claim("v4", id, "ab12")));
      CHECK(again.delivery.result == "duplicate");
      CHECK(again.delivery.deployment_id == first.queued.id);
      CHECK(again.queued.id.empty());
    }
    CHECK(deployments_of(db, p) == 2);
    // Another MAC (another body or timestamp) is another delivery; so is a replay.
    CHECK(MUST(claim_webhook_deploy(db, signed_claim("v5", "", "cd34"))).delivery.result
          == "accepted");
    auto replay = signed_claim("v6", "", "ab12");
    replay.delivery.signature = "replay";
    replay.delivery.replay_of = first.delivery.id;
    CHECK(MUST(claim_webhook_deploy(db, replay)).delivery.result == "accepted");
  }
  SUBCASE("a stage the project lacks and a tag that is none are recorded refusals") {
    auto no_stage = MUST(claim_webhook_deploy(db, make_claim(p, "v2", "nope", "gh-2")));
    CHECK(no_stage.delivery.result == "rejected");
    CHECK(no_stage.delivery.code == "no_stage");
    CHECK(contains(no_stage.delivery.error, "nope"));
    auto bad_tag = MUST(claim_webhook_deploy(db, make_claim(p, "v1:latest", "", "gh-3")));
    CHECK(bad_tag.delivery.result == "rejected");
    CHECK(bad_tag.delivery.code == "invalid_argument");
    CHECK(bad_tag.queued.id.empty());
    CHECK(deployments_of(db, p) == 1);
    CHECK(MUST(list_deliveries(db, p.workload_id, 10, 0)).total == 3);
    // A refused delivery id was never accepted: sent again with a good stage it deploys.
    CHECK(MUST(claim_webhook_deploy(db, make_claim(p, "v2", "", "gh-2"))).delivery.result
          == "accepted");
  }
  SUBCASE("a replay names the delivery it replays") {
    auto c = make_claim(p, "v1");
    c.delivery.replay_of = got.delivery.id;
    c.delivery.signature = "replay";
    CHECK(MUST(claim_webhook_deploy(db, c)).queued.triggered_by
          == "replay of webhook delivery " + got.delivery.id);
  }
  SUBCASE("a workload that is gone or neither a project nor a stack writes nothing") {
    auto before = dump(db);
    auto gone = make_claim(p, "v1");
    gone.delivery.workload_id = "no-such-workload";
    CHECK(code_of(claim_webhook_deploy(db, gone)) == "not_found");
    auto made = MUST(create_site(db, make_site("docs")));
    before = dump(db);
    auto site_claim = make_claim(p, "v1");
    site_claim.delivery.workload_id = made.workload_id;
    CHECK(code_of(claim_webhook_deploy(db, site_claim)) == "invalid_argument");
    CHECK(dump(db) == before);
  }
  SUBCASE("a stack's claim queues a redeploy, its tag set as TAG in the same transaction") {
    auto s = MUST(create_stack(db, make_stack("shop")));
    auto claim = make_claim(p, "v7", "", "st-1");
    claim.delivery.workload_id = s.workload_id;
    auto got_stack = MUST(claim_webhook_deploy(db, claim));
    CHECK(got_stack.delivery.result == "accepted");
    CHECK(got_stack.queued.workload_id == s.workload_id);
    CHECK(got_stack.queued.stage_id.empty());
    CHECK(got_stack.queued.tag == "v7");
    CHECK(got_stack.queued.status == "queued");
    CHECK(got_stack.delivery.deployment_id == got_stack.queued.id);
    CHECK(MUST(get_stack(db, s.id)).env.at("TAG") == "v7");
    // The same delivery again is a duplicate of that deploy, nothing more.
    auto again = MUST(claim_webhook_deploy(db, claim));
    CHECK(again.delivery.result == "duplicate");
    CHECK(again.queued.id.empty());
    // A bad tag is refused and changes nothing of the stack.
    auto bad = make_claim(p, "not a tag", "", "st-2");
    bad.delivery.workload_id = s.workload_id;
    CHECK(MUST(claim_webhook_deploy(db, bad)).delivery.result == "rejected");
    CHECK(MUST(get_stack(db, s.id)).env.at("TAG") == "v7");
  }
}

TEST_CASE_FIXTURE(store_fixture,
                  "a webhook claim of the tag a stage serves or has on its way changes nothing "
                  "unless forced") {
  auto p = MUST(create_project(db, make_project("api")));
  auto first = MUST(claim_webhook_deploy(db, make_claim(p, "v1", "", "gitea-push")));
  REQUIRE(first.delivery.result == "accepted");
  // Gitea's "create" of the same tag, a moment later: the queued deploy is the answer.
  auto again = MUST(claim_webhook_deploy(db, make_claim(p, "v1", "", "gitea-create")));
  CHECK(again.delivery.result == "unchanged");
  CHECK(again.delivery.code.empty());
  CHECK(again.delivery.deployment_id == first.queued.id);
  CHECK(again.queued.id.empty());
  CHECK(contains(again.delivery.error, "already queued"));
  CHECK(MUST(get_delivery(db, again.delivery.id)).result == "unchanged");
  CHECK(deployments_of(db, p) == 1);
  // Another stage, or another tag, is a change.
  CHECK(MUST(claim_webhook_deploy(db, make_claim(p, "v1", "production"))).delivery.result
        == "accepted");
  // Running, then served: still unchanged, naming the running deploy, then none.
  MUST(transition_deployment(db, {first.queued.id, "running", ""}));
  auto running = MUST(claim_webhook_deploy(db, make_claim(p, "v1")));
  CHECK(running.delivery.result == "unchanged");
  CHECK(running.delivery.deployment_id == first.queued.id);
  MUST(transition_deployment(db, {first.queued.id, "succeeded", ""}));
  auto served = MUST(claim_webhook_deploy(db, make_claim(p, "v1")));
  CHECK(served.delivery.result == "unchanged");
  CHECK(served.delivery.deployment_id.empty());
  CHECK(contains(served.delivery.error, "already serves v1"));
  CHECK(deployments_of(db, p) == 2);
  // Forced, it deploys again.
  auto forced = make_claim(p, "v1");
  forced.force = true;
  CHECK(MUST(claim_webhook_deploy(db, forced)).delivery.result == "accepted");
  // Only the newest deploy on its way counts: v2 queued after v1 means v1 is a change.
  auto v2 = MUST(claim_webhook_deploy(db, make_claim(p, "v2")));
  CHECK(v2.delivery.result == "accepted");
  CHECK(MUST(claim_webhook_deploy(db, make_claim(p, "v1"))).delivery.result == "accepted");
  CHECK(deployments_of(db, p) == 5);
}

TEST_CASE_FIXTURE(store_fixture, "a webhook claim for another image is ignored, for its own it deploys") {
  auto spec = make_project("web");
  spec.image = "ghcr.io/acme/web";
  auto p = MUST(create_project(db, spec));
  auto other = make_claim(p, "v1", "", "gh-other");
  other.event_image = "ghcr.io/other-org/worker";
  auto got = MUST(claim_webhook_deploy(db, other));
  CHECK(got.delivery.result == "ignored");
  CHECK(got.delivery.code.empty());
  CHECK(got.queued.id.empty());
  CHECK(contains(got.delivery.error, "ghcr.io/other-org/worker"));
  CHECK(deployments_of(db, p) == 0);
  // The same image in another spelling (GitHub keeps the owner's case) is the project's.
  auto own = make_claim(p, "v1", "", "gh-own");
  own.event_image = "ghcr.io/Acme/Web";
  CHECK(MUST(claim_webhook_deploy(db, own)).delivery.result == "accepted");
  // A docker.io image is not ghcr.io's of the same path.
  auto hub = make_claim(p, "v2");
  hub.event_image = "acme/web";
  CHECK(MUST(claim_webhook_deploy(db, hub)).delivery.result == "ignored");
}

TEST_CASE_FIXTURE(store_fixture, "an API deploy of a tag on its way is unchanged unless forced, "
                                 "a served tag redeploys") {
  auto p = MUST(create_project(db, make_project("api")));
  auto ask = [&](const std::string& tag, bool force) {
    stage_deploy_claim c;
    c.dep.workload_id = p.workload_id;
    c.dep.stage_id = p.stages[0].id;
    c.dep.tag = tag;
    c.force = force;
    return MUST(claim_stage_deploy(db, c));
  };
  auto first = ask("v1", false);
  CHECK_FALSE(first.unchanged);
  CHECK(first.queued.status == "queued");
  auto twice = ask("v1", false);
  CHECK(twice.unchanged);
  CHECK(twice.queued.id == first.queued.id);
  CHECK(contains(twice.reason, "already queued"));
  auto forced = ask("v1", true);
  CHECK_FALSE(forced.unchanged);
  CHECK(forced.queued.id != first.queued.id);
  CHECK(deployments_of(db, p) == 2);
  // Served and nothing on its way: asking the API is a redeploy.
  MUST(supersede_deployments(db, {first.queued.id}, "test"));
  MUST(transition_deployment(db, {forced.queued.id, "running", ""}));
  MUST(transition_deployment(db, {forced.queued.id, "succeeded", ""}));
  auto redeploy = ask("v1", false);
  CHECK_FALSE(redeploy.unchanged);
  CHECK(deployments_of(db, p) == 3);
  // The checks of create_deployment still hold.
  stage_deploy_claim bad;
  bad.dep.workload_id = p.workload_id;
  bad.dep.stage_id = p.stages[0].id;
  bad.dep.tag = "no tag";
  CHECK(code_of(claim_stage_deploy(db, bad)) == "invalid_argument");
}

TEST_CASE("image_repository_key: one spelling for one image, nothing for what is none") {
  CHECK(image_repository_key("nginx") == "docker.io/library/nginx");
  CHECK(image_repository_key("docker.io/library/nginx:1.25") == "docker.io/library/nginx");
  CHECK(image_repository_key("index.docker.io/acme/web") == "docker.io/acme/web");
  CHECK(image_repository_key("tinyforge-test/web") == "docker.io/tinyforge-test/web");
  CHECK(image_repository_key("ghcr.io/Codertocat/hello-world:") == "ghcr.io/codertocat/hello-world");
  CHECK(image_repository_key("ghcr.io/acme/web@sha256:abc") == "ghcr.io/acme/web");
  CHECK(image_repository_key("registry:5000/team/api:v1") == "registry:5000/team/api");
  CHECK(image_repository_key("localhost/web") == "localhost/web");
  CHECK(image_repository_key("").empty());
  CHECK(image_repository_key("ghcr.io//web").empty());
  CHECK(image_repository_key("a b/c").empty());
  CHECK(image_repository_key(std::string(600, 'a')).empty());
}

TEST_CASE_FIXTURE(store_fixture, "the delivery log keeps ignored and unchanged results") {
  auto p = MUST(create_project(db, make_project("api")));
  for (const char* result : {"ignored", "unchanged"}) {
    webhook_delivery d;
    d.workload_id = p.workload_id;
    d.result = result;
    d.error = "why";
    CHECK(MUST(get_delivery(db, MUST(record_delivery(db, d)).id)).result == result);
  }
  webhook_delivery unknown;
  unknown.workload_id = p.workload_id;
  unknown.result = "skipped";
  CHECK(code_of(record_delivery(db, unknown)) == "invalid_argument");
  // A refusal says why, and only a refusal has a code.
  webhook_delivery no_code;
  no_code.workload_id = p.workload_id;
  no_code.result = "rejected";
  CHECK(code_of(record_delivery(db, no_code)) == "invalid_argument");
  webhook_delivery ignored_with_code;
  ignored_with_code.workload_id = p.workload_id;
  ignored_with_code.result = "ignored";
  ignored_with_code.code = "unauthorized";
  CHECK(code_of(record_delivery(db, ignored_with_code)) == "invalid_argument");
}

TEST_CASE_FIXTURE(store_fixture, "the delivery log keeps each workload's newest rows") {
  auto p = MUST(create_project(db, make_project("api")));
  auto other = MUST(create_project(db, make_project("web")));
  auto keep = max_deliveries_per_workload;
  MUST(claim_webhook_deploy(db, make_claim(other, "v1")));
  std::vector<std::string> ids;
  for (int64_t i = 0; i < keep + 3; ++i) {
    webhook_delivery d;
    d.workload_id = p.workload_id;
    d.result = "rejected";
    d.code = "unauthorized";
    d.error = "bad signature " + std::to_string(i);
    ids.push_back(MUST(record_delivery(db, d)).id);
  }
  auto page = MUST(list_deliveries(db, p.workload_id, 1, 0));
  CHECK(page.total == keep);
  CHECK(page.items.at(0).id == ids.back()); // newest first
  for (size_t i = 0; i < 3; ++i) // the three oldest went
    CHECK(code_of(get_delivery(db, ids[i])) == "not_found");
  CHECK(MUST(get_delivery(db, ids[3])).error == "bad signature 3");
  CHECK(MUST(list_deliveries(db, other.workload_id, 10, 0)).total == 1); // untouched
}

TEST_CASE_FIXTURE(store_fixture,
                  "a recorded delivery's signed key is its Tinyforge timestamp and MAC, else empty") {
  auto p = MUST(create_project(db, make_project("api")));
  struct shape {
    const char* signature;
    std::string headers;
    std::string key;
  };
  const std::vector<shape> shapes{
    {"tinyforge", R"({"x-tinyforge-timestamp":"1767225600","x-tinyforge-signature":"sha256=ab12"})",
     "1767225600 sha256=ab12"},
    {"tinyforge", R"({"x-tinyforge-signature":"sha256=ab12","x-tinyforge-timestamp":"1767225600","user-agent":"ci"})",
     "1767225600 sha256=ab12"},
    {"github", R"({"x-tinyforge-timestamp":"1767225600","x-tinyforge-signature":"sha256=ab12"})", ""},
    {"tinyforge", R"({"x-tinyforge-timestamp":"1767225600"})", ""},
    {"tinyforge", "{not json", ""},
    {"tinyforge", R"({"x-tinyforge-timestamp":1767225600,"x-tinyforge-signature":"sha256=ab12"})", ""},
    {"tinyforge", R"(["x-tinyforge-timestamp","x-tinyforge-signature"])", ""},
    {"tinyforge", R"({"x-tinyforge-timestamp":"1","x-tinyforge-signature":"s"} trailing)", ""},
    {"tinyforge", std::string(100000, '['), ""}, // cut to "{}" by the store
    {"tinyforge", std::string(4000, '['), ""},   // kept, and parsed without recursion
  };
  for (const auto& sh : shapes) {
    CAPTURE(sh.headers.substr(0, 80));
    webhook_delivery d;
    d.workload_id = p.workload_id;
    d.result = "ignored";
    d.signature = sh.signature;
    d.headers_json = sh.headers;
    auto stored = MUST(record_delivery(db, d));
    CHECK(sql_text(db, "SELECT signed_key FROM webhook_deliveries WHERE id = ?1", stored.id)
          == sh.key);
  }
}

TEST_CASE("log row ids grow with time, so inserts and prunes stay at the ends of the index") {
  auto is_id = [](const std::string& id) {
    return id.size() == 24
           && std::all_of(id.begin(), id.end(), [](char c) {
                return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
              });
  };
  auto first = new_log_id();
  CHECK(is_id(first));
  // Ids of the next millisecond sort after it (a busy loop until the clock moves on).
  auto later = new_log_id();
  while (later.compare(0, 12, first, 0, 12) == 0)
    later = new_log_id();
  CHECK(is_id(later));
  CHECK(later > first);
  // Within one millisecond the random half still tells them apart.
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i)
    seen.insert(new_log_id());
  CHECK(seen.size() == 1000);
}

TEST_CASE_FIXTURE(store_fixture, "deliveries and deploys are stored under ids that grow with time") {
  auto p = MUST(create_project(db, make_project("api")));
  auto a = MUST(claim_webhook_deploy(db, make_claim(p, "v1", "", "gh-1")));
  auto b = a;
  // The next claim's ids are of a later millisecond than the first's.
  while (b.delivery.id.compare(0, 12, a.delivery.id, 0, 12) == 0
         || b.queued.id.compare(0, 12, a.queued.id, 0, 12) == 0)
    b = MUST(claim_webhook_deploy(db, make_claim(p, b.delivery.tag == "v1" ? "v2" : "v1", "",
                                                 "gh-" + new_id())));
  CHECK(b.delivery.id > a.delivery.id);
  CHECK(b.queued.id > a.queued.id);
  CHECK(a.delivery.deployment_id == a.queued.id);
}

TEST_CASE_FIXTURE(store_fixture,
                  "claims committed as one batch settle each as alone, and one failing spares the rest") {
  auto p = MUST(create_project(db, make_project("api")));
  auto other = MUST(create_project(db, make_project("web")));
  auto gone = make_claim(p, "v9", "", "gh-gone");
  gone.delivery.workload_id = "no-such-workload";
  std::vector<webhook_deploy_claim> batch{
    make_claim(p, "v1", "", "gh-1"),      // queues v1
    gone,                                 // not_found: its savepoint alone is undone
    make_claim(p, "v1", "", "gh-1"),      // the same delivery id: sees the first, in the batch
    make_claim(p, "v1", "", "gh-2"),      // the tag already on its way: unchanged
    make_claim(other, "v1", "", "gh-1"),  // another workload: its own delivery ids
    make_claim(p, "v2", "nope", "gh-3")}; // no such stage: rejected, recorded
  auto got = claim_webhook_deploys(db, batch);
  REQUIRE(got.size() == batch.size());
  REQUIRE(got[0]);
  CHECK(got[0]->delivery.result == "accepted");
  CHECK(code_of(got[1]) == "not_found");
  REQUIRE(got[2]);
  CHECK(got[2]->delivery.result == "duplicate");
  CHECK(got[2]->delivery.deployment_id == got[0]->delivery.deployment_id);
  REQUIRE(got[3]);
  CHECK(got[3]->delivery.result == "unchanged");
  REQUIRE(got[4]);
  CHECK(got[4]->delivery.result == "accepted");
  REQUIRE(got[5]);
  CHECK(got[5]->delivery.result == "rejected");
  CHECK(got[5]->delivery.code == "no_stage");
  // Committed: every answered delivery is in the log, the failed one nowhere.
  CHECK(MUST(list_deliveries(db, p.workload_id, 10, 0)).total == 4);
  CHECK(MUST(list_deliveries(db, other.workload_id, 10, 0)).total == 1);
  CHECK(deployments_of(db, p) == 1);
  CHECK(MUST(get_deployment(db, got[0]->queued.id)).status == "queued");
  CHECK_FALSE(tf::store::transaction_open(db));
}

TEST_CASE_FIXTURE(store_fixture, "a batch of claims keeps the delivery log bounded") {
  auto p = MUST(create_project(db, make_project("api")));
  auto keep = max_deliveries_per_workload;
  std::vector<webhook_deploy_claim> batch;
  for (int64_t i = 0; i < keep + 5; ++i)
    batch.push_back(make_claim(p, "v" + std::to_string(i % 2 + 1), "", "gh-" + std::to_string(i)));
  auto got = claim_webhook_deploys(db, batch);
  for (const auto& x : got)
    REQUIRE(x);
  auto page = MUST(list_deliveries(db, p.workload_id, 1, 0));
  CHECK(page.total == keep);
  CHECK(page.items.at(0).id == got.back()->delivery.id); // the newest kept
  CHECK(code_of(get_delivery(db, got.front()->delivery.id)) == "not_found");
}

TEST_CASE_FIXTURE(store_fixture,
                  "the writer's batches prune a log once it holds its slack, back to the newest rows") {
  auto p = MUST(create_project(db, make_project("api")));
  auto other = MUST(create_project(db, make_project("web")));
  auto keep = max_deliveries_per_workload;
  auto slack = delivery_prune_slack;
  delivery_log_sizes sizes;
  int64_t n = 0;
  auto claims = [&](const project& to, int64_t count) {
    std::vector<webhook_deploy_claim> batch;
    for (int64_t i = 0; i < count; ++i, ++n)
      batch.push_back(make_claim(to, "v" + std::to_string(n % 2 + 1), "", "gh-" + std::to_string(n)));
    auto got = claim_webhook_deploys(db, batch, &sizes);
    for (const auto& x : got)
      REQUIRE(x);
    return got;
  };
  auto total = [&](const project& of) { return MUST(list_deliveries(db, of.workload_id, 1, 0)).total; };
  // A log the hints do not know is counted: rows recorded one by one before are seen.
  webhook_delivery refused;
  refused.workload_id = p.workload_id;
  refused.result = "rejected";
  refused.code = "unauthorized";
  auto oldest = MUST(record_delivery(db, refused)).id;
  auto first = claims(p, keep - 1);
  CHECK(total(p) == keep);
  REQUIRE(sizes.find(p.workload_id) != nullptr);
  CHECK(*sizes.find(p.workload_id) == keep);
  claims(p, slack - 1); // up to the bound and its slack, nothing is pruned
  CHECK(total(p) == keep + slack - 1);
  claims(other, 3); // another workload's log is its own
  auto last = claims(p, 1); // the slack is full: back to the newest rows
  CHECK(total(p) == keep);
  CHECK(*sizes.find(p.workload_id) == keep);
  CHECK(code_of(get_delivery(db, oldest)) == "not_found");
  for (int64_t i = 0; i < slack - 1; ++i) // the oldest slack rows went, the next stayed
    CHECK(code_of(get_delivery(db, first[static_cast<size_t>(i)]->delivery.id)) == "not_found");
  CHECK(MUST(get_delivery(db, first[static_cast<size_t>(slack - 1)]->delivery.id)).workload_id
        == p.workload_id);
  CHECK(MUST(list_deliveries(db, p.workload_id, 1, 0)).items.at(0).id == last.back()->delivery.id);
  CHECK(total(other) == 3);
  // A hint that says more than the log holds only prunes early: nothing kept is lost.
  sizes.set(other.workload_id, keep + slack);
  claims(other, 1);
  CHECK(total(other) == 4);
  // It then says the log may be full: the next prune comes after one more slack, finds
  // nothing beyond the bound, and deletes nothing.
  CHECK(*sizes.find(other.workload_id) == keep);
}

TEST_CASE_FIXTURE(store_fixture, "a transaction inside another undoes only its own statements") {
  auto outer = MUST(tf::store::transaction::begin(db));
  MUST(create_project(db, make_project("kept")));
  {
    auto inner = MUST(tf::store::transaction::begin(db));
    MUST(create_project(db, make_project("undone")));
  } // not committed: rolled back to its savepoint
  {
    auto inner = MUST(tf::store::transaction::begin(db));
    MUST(create_project(db, make_project("released")));
    CHECK_FALSE(inner.commit());
  }
  CHECK(tf::store::transaction_open(db)); // the outer one is still open
  CHECK_FALSE(outer.commit());
  CHECK_FALSE(tf::store::transaction_open(db));
  std::vector<std::string> names;
  for (const auto& x : MUST(list_projects(db, 10, 0)).items)
    names.push_back(x.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"kept", "released"});
}

// -- the daemon's instance id (issue 13, item 5) -----------------------------------------------

TEST_CASE_FIXTURE(store_fixture, "the instance id is generated once, kept, and not a setting of the API") {
  auto first = MUST(tf::store::ensure_instance_id(db));
  CHECK(first.size() == 32);
  CHECK(MUST(tf::store::ensure_instance_id(db)) == first);
  {
    // Another connection after a "restart" reads the same id.
    auto again = open_rw(path);
    CHECK(MUST(tf::store::ensure_instance_id(again)) == first);
  }
  auto settings = MUST(tf::store::read_settings(db));
  CHECK(settings.count(tf::store::instance_id_key) == 0);
  tf::settings_map change{{tf::store::instance_id_key, "\"forged\""}};
  CHECK(tf::error_code(tf::store::write_settings(db, change).error()) == tf::ec::invalid_argument);
  CHECK(MUST(tf::store::ensure_instance_id(db)) == first);
}

TEST_CASE("is_image_repository follows the distribution reference grammar") {
  using tf::store::is_image_repository;
  for (auto good : {"busybox", "ghcr.io/acme/web", "localhost:5000/a/b", "a/b_c.d-e", "a__b/c--d",
                    "registry.example.com:65535/team/api", "Registry.Example.com/team/api",
                    "127.0.0.1:5000/x", "a1.b2/c3"})
    CHECK_MESSAGE(is_image_repository(good), std::string{good});
  for (auto bad : {"", "../../etc/passwd", "-a", "a-", "a..b", ".", "..", "a.", "_a", "a___b",
                   "registry:99999999999/a", "registry:65536/a", "registry:0/a", "registry:/a",
                   ":5000/a", "a/", "/a", "a//b", "a/B", "a:tag", "a@sha256:00", "a/b:5000",
                   "-reg.io/a", "reg-.io/a", "a b", "a/%2e%2e"})
    CHECK_MESSAGE(!is_image_repository(bad), std::string{bad});
  CHECK_FALSE(is_image_repository(std::string(256, 'a')));
  CHECK(is_image_repository(std::string(255, 'a')));
}
