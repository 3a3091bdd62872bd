// Every statement a list of container rows runs (store/containers.hpp's
// container_list_statements) is planned on an index: no scan of the table and no temporary
// B-tree for its order, on an empty database and on 10,000 rows after ANALYZE, whose
// statistics may change the planner's mind. The statement the list ran before migration
// 0010 fails the same check: the check bites.
#include <doctest/doctest.h>

#include "query_plan.hpp"

#include "core/ids.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "store/containers.hpp"
#include "store/migrations.hpp"
#include "store_sql.hpp"

#include <cstdio>
#include <string>

using namespace tf::test;

namespace {

/// A migrated database in a fresh directory.
struct plan_fixture {
  temp_dir dir;
  database db = MUST(database::open(dir.file("tinyforge.db"), database::mode::read_write));
  plan_fixture() { MUST(tf::store::migrate(db)); }
};

/// The count of the whole table is SQLite's count of the smallest index's b-tree (it reads
/// no row); it runs once per change of the index (container_index_cache). It is the one
/// statement allowed a SCAN, and only of that form.
bool is_bare_count(const tf::store::list_statement& s) {
  return s.sql == "SELECT COUNT(*) FROM containers";
}

void check_every_statement(database& db) {
  auto statements = tf::store::container_list_statements();
  REQUIRE(statements.size() >= 12);
  for (const auto& s : statements) {
    CAPTURE(s.name);
    if (is_bare_count(s)) {
      auto plan = query_plan(db, s.sql);
      REQUIRE(plan.size() == 1);
      CHECK(plan[0].rfind("SCAN containers USING COVERING INDEX", 0) == 0);
      continue;
    }
    require_indexed_plan(db, s.name, s.sql);
  }
}

/// 10,000 rows over 100 project workloads (and their stages), half of them in one app, in
/// one transaction, written with SQL: the plan depends on the table's shape, not on how
/// rows came.
void fill(database& db) {
  sql_run(db, "BEGIN");
  sql_run(db, "INSERT INTO apps(id, name, created_at, updated_at) VALUES ('app-1', 'shop', "
              "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')");
  for (int w = 0; w < 100; ++w) {
    auto n = std::to_string(w);
    sql_run(db,
            "INSERT INTO projects(id, name, image, created_at, updated_at) "
            "VALUES (?1, ?1, 'tinyforge-test/web', '2026-01-01T00:00:00.000Z', "
            "'2026-01-01T00:00:00.000Z')",
            "p" + n);
    sql_run(db,
            "INSERT INTO workloads(id, kind, ref_id, name, app_id, created_at, updated_at) "
            "VALUES (?1, 'project', ?2, ?2, NULLIF(?3, ''), '2026-01-01T00:00:00.000Z', "
            "'2026-01-01T00:00:00.000Z')",
            "w" + n, "p" + n, std::string{w % 2 ? "app-1" : ""});
    sql_run(db,
            "INSERT INTO stages(id, project_id, name, port, created_at, updated_at) "
            "VALUES (?1, ?2, 'prod', 8080, '2026-01-01T00:00:00.000Z', "
            "'2026-01-01T00:00:00.000Z')",
            "s" + n, "p" + n);
  }
  const char* states[] = {"running", "stopped", "missing", "created"};
  for (int i = 0; i < 10000; ++i) {
    auto w = std::to_string(i % 100);
    char at[32];
    std::snprintf(at, sizeof at, "2026-01-01T%02d:%02d:%02d.%03dZ", i / 3600000 % 24,
                  i / 60000 % 60, i / 1000 % 60, i % 1000);
    sql_run(db,
            "INSERT INTO containers(id, workload_id, workload_kind, role, stage_id, state, "
            "container_id, created_at, updated_at) "
            "VALUES (?1, ?2, 'project', 'prod', ?3, ?4, ?5, ?6, ?6)",
            tf::new_id(), "w" + w, "s" + w, std::string{states[i % 4]}, tf::new_id(),
            std::string{at});
  }
  sql_run(db, "COMMIT");
  sql_run(db, "ANALYZE");
}

} // namespace

TEST_CASE_FIXTURE(plan_fixture, "every container list statement searches an index, empty") {
  check_every_statement(db);
}

TEST_CASE_FIXTURE(plan_fixture, "every container list statement searches an index, 10,000 rows after ANALYZE") {
  fill(db);
  CHECK(sql_int(db, "SELECT COUNT(*) FROM containers") == 10000);
  check_every_statement(db);
}

TEST_CASE_FIXTURE(plan_fixture, "the list statement from before migration 0010 fails the check") {
  // store/containers.cpp's list until issue 14: one statement for every filter, the join
  // always, and an order no index gave.
  const std::string old_items =
    "SELECT c.id FROM containers c LEFT JOIN workloads w ON w.id = c.workload_id "
    "WHERE (?3 = '' OR c.workload_id = ?3) AND (?4 = '' OR c.workload_kind = ?4) "
    "AND (?5 = '' OR c.state = ?5) AND (?6 = '' OR w.app_id = ?6) "
    "AND (?7 = '' OR c.stage_id = ?7) ORDER BY c.created_at, c.id LIMIT ?1 OFFSET ?2";
  CHECK_FALSE(plan_problems(db, old_items).empty());
  fill(db);
  CHECK_FALSE(plan_problems(db, old_items).empty());
}
