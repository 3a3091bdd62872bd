// What SQLite plans for the statements the reconciler runs on every tick (issue 14): each must
// find its rows through an index, never scan the containers table or sort in a temporary
// B-tree, on a new database and on one with 10,000 rows whose statistics ANALYZE has written
// (the planner weighs indexes by those statistics, so a plan can change once they exist).
// A failure names the statement and the plan lines that cost in proportion to the table.

#include "core/model.hpp"
#include "store/container_reconcile.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/statistics.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"
#include "store/stacks.hpp"
#include "store/webhooks.hpp"

#include "expect.hpp"
#include "helpers.hpp"
#include "query_plan.hpp"
#include "store_sql.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace tf;
using namespace tf::test;

constexpr int64_t many_rows = 10000;

/// The index each statement must search: the one whose search yields the rows the statement
/// touches, so a row's write costs that row (a search on the workload's index is no scan,
/// yet reads every row of the workload for each one written). A statement without an entry
/// fails the test: a new hot statement says which index it searches.
const std::map<std::string_view, std::vector<std::string_view>> expected_indexes{
  {"row as observed, by id", {"USING INDEX sqlite_autoindex_containers_1 (id=?)"}},
  {"project row by id", {"USING INDEX sqlite_autoindex_containers_1 (id=?)"}},
  {"project rows by container id, read",
   {"USING INDEX idx_containers_container_id (container_id=?)"}},
  {"project rows by container id", {"USING INDEX idx_containers_container_id (container_id=?)"}},
  {"stack or site row upsert", {}}, // an insert by its conflict target, the primary key
  {"failed rows", {"USING COVERING INDEX idx_containers_state (state=?)"}},
  {"failed row's change", {"USING INTEGER PRIMARY KEY (rowid=?)"}},
  {"missing sweep", {"USING INDEX idx_containers_live (host=?)"}},
  {"host listing", {"USING INDEX sqlite_autoindex_host_listings_1 (host=?)"}},
  {"host listing recorded", {}}, // an insert by its conflict target, the primary key
  {"workload kind", {"USING INDEX sqlite_autoindex_workloads_1 (id=?)"}},
  {"stack of a compose project",
   {"USING INDEX idx_stacks_compose_project (compose_project_name=?)",
    "USING INDEX sqlite_autoindex_workloads_2 (kind=? AND ref_id=?)"}},
};

/// Fails unless `sql`'s plan has a line naming `index` (a search of it), showing the plan.
void check_searches(database& db, std::string_view name, std::string_view sql,
                    std::string_view index) {
  auto plan = query_plan(db, sql);
  std::string shown;
  for (const auto& line : plan)
    shown += "\n  " + line;
  auto found = std::any_of(plan.begin(), plan.end(), [&](const std::string& line) {
    return line.find(index) != std::string::npos;
  });
  CHECK_MESSAGE(found, name << " does not search " << index << ":" << shown);
}

/// A migrated database in a fresh directory, as the store writer has it after start-up.
struct plan_fixture {
  temp_dir dir;
  std::string path = dir.file("tinyforge.db");
  database db = [this] {
    auto opened = database::open(path, database::mode::read_write);
    REQUIRE_MESSAGE(static_cast<bool>(opened), "open: " << message_of(opened));
    MUST(store::migrate(*opened));
    MUST(store::unlock_secrets(*opened, store::key_path_for(path)));
    return std::move(*opened);
  }();

  /// Every hot statement of the reconcile and the sweep searches its index, and nothing
  /// costs in proportion to a table.
  void require_indexed_plans() {
    auto statements = store::reconcile_statements();
    REQUIRE(statements.size() == expected_indexes.size());
    for (const auto& [name, sql] : statements) {
      require_indexed_plan(db, name, sql);
      auto expected = expected_indexes.find(name);
      REQUIRE_MESSAGE(expected != expected_indexes.end(), "no expected index for " << name);
      for (auto index : expected->second)
        check_searches(db, name, sql, index);
    }
  }
};

struct workload_ref {
  std::string id;
  std::string kind;
};

std::vector<workload_ref> make_workloads(database& db, int projects, int stacks) {
  std::vector<workload_ref> out;
  for (int i = 0; i < projects; ++i) {
    project p;
    p.name = "api-" + std::to_string(i);
    p.image = "registry.example.com/team/api";
    stage s;
    s.name = "prod";
    s.port = 8080;
    p.stages.push_back(s);
    out.push_back({MUST(store::create_project(db, p)).workload_id, "project"});
  }
  for (int i = 0; i < stacks; ++i) {
    stack s;
    s.name = "shop-" + std::to_string(i);
    s.compose = "services:\n  web:\n    image: nginx\n";
    out.push_back({MUST(store::create_stack(db, s)).workload_id, "stack"});
  }
  return out;
}

/// Container rows [from, to) spread over `workloads`; `mixed` gives them several states, two
/// hosts and some not started yet (no container id), else all run on one host.
void insert_rows(database& db, const std::vector<workload_ref>& workloads, int64_t from,
                 int64_t to, bool mixed) {
  static const char* const states[] = {"running", "running", "running", "stopped",
                                       "failed",  "missing", "created", "restarting"};
  MUST_OK(db.exec("BEGIN"));
  for (int64_t i = from; i < to; ++i) {
    const auto& w = workloads[static_cast<size_t>(i) % workloads.size()];
    auto n = std::to_string(i);
    std::string host = mixed && i % 10 == 0 ? "remote" : "local";
    std::string container_id = mixed && i % 20 == 1 ? "" : "docker-" + n;
    std::string state = mixed ? states[i % 8] : "running";
    sql_run(db,
            "INSERT INTO containers(id, workload_id, workload_kind, role, host, container_id, "
            "state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            "row-" + n, w.id, w.kind, "web-" + n, host, container_id, state,
            "2026-01-01T00:00:00.000Z");
  }
  MUST_OK(db.exec("COMMIT"));
}

/// `many_rows` rows (insert_rows), then ANALYZE, so the planner weighs the indexes by what
/// the table holds.
void fill_and_analyze(database& db, const std::vector<workload_ref>& workloads, bool mixed) {
  insert_rows(db, workloads, 0, many_rows, mixed);
  MUST_OK(db.exec("ANALYZE"));
  REQUIRE(sql_int(db, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'containers'") > 0);
}

/// The row count the container index's statistics were taken at; -1 when there are none.
int64_t analyzed_rows(database& db) {
  if (sql_int(db, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'") == 0)
    return -1;
  if (sql_int(db, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'containers'") == 0)
    return -1;
  return sql_int(db, "SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 WHERE tbl = 'containers' "
                     "AND idx = 'sqlite_autoindex_containers_1'");
}

} // namespace

TEST_CASE_FIXTURE(plan_fixture,
                  "the reconcile's and the sweep's statements search an index on a new database") {
  require_indexed_plans();
}

TEST_CASE_FIXTURE(plan_fixture, "the reconcile's and the sweep's statements search an index "
                                "with 10,000 rows of one workload, after ANALYZE") {
  fill_and_analyze(db, make_workloads(db, 1, 0), false);
  require_indexed_plans();
}

TEST_CASE_FIXTURE(plan_fixture, "the reconcile's and the sweep's statements search an index "
                                "with 10,000 rows over 100 workloads, states and hosts mixed, "
                                "after ANALYZE") {
  fill_and_analyze(db, make_workloads(db, 50, 50), true);
  require_indexed_plans();
}

TEST_CASE_FIXTURE(plan_fixture, "optimize takes the container index's statistics when it has "
                                "none, and again once it grew tenfold") {
  auto workloads = make_workloads(db, 1, 0);
  MUST_OK(store::optimize(db));
  CHECK(analyzed_rows(db) == -1); // no rows: nothing to learn

  insert_rows(db, workloads, 0, 100, true);
  MUST_OK(store::optimize(db));
  CHECK(analyzed_rows(db) == 100);

  insert_rows(db, workloads, 100, 900, true); // grown 9-fold: the statistics still serve
  MUST_OK(store::optimize(db));
  CHECK(analyzed_rows(db) == 100);

  insert_rows(db, workloads, 900, 1000, true);
  MUST_OK(store::optimize(db));
  // ANALYZE reads a sample (analysis_limit): past it, the row count is an estimate.
  CHECK(analyzed_rows(db) >= 500);
  require_indexed_plans();
}

TEST_CASE_FIXTURE(plan_fixture, "a webhook claim's lookups of a delivery seen before search the "
                                "partial indexes of accepted rows, after ANALYZE of a full log") {
  // Two workloads' full logs, most of them not accepted: the rows the lookups cannot want.
  auto workloads = make_workloads(db, 2, 0);
  MUST_OK(db.exec("BEGIN"));
  for (int i = 0; i < 2 * static_cast<int>(store::max_deliveries_per_workload); ++i) {
    auto n = std::to_string(i);
    sql_run(db,
            "INSERT INTO webhook_deliveries(id, workload_id, received_at, delivery_id, "
            "signature, result, signed_key) VALUES (?1, ?2, ?3, ?4, 'tinyforge', ?5, ?6)",
            "delivery-" + n, workloads[static_cast<size_t>(i % 2)].id,
            "2026-01-01T00:00:00.000Z", "gh-" + n, std::string{i % 4 == 0 ? "accepted" : "unchanged"},
            "1767225600 sha256=" + n);
  }
  MUST_OK(db.exec("COMMIT"));
  MUST_OK(db.exec("ANALYZE"));
  const std::map<std::string_view, std::string_view> expected{
    {"accepted by delivery id",
     "USING INDEX idx_webhook_deliveries_dedupe (workload_id=? AND delivery_id=?)"},
    {"accepted by signed key",
     "USING INDEX idx_webhook_deliveries_signed (workload_id=? AND signed_key=?)"}};
  auto statements = store::delivery_dedupe_statements();
  REQUIRE(statements.size() == expected.size());
  for (const auto& [name, sql] : statements) {
    CAPTURE(name);
    // No scan. A sort may follow the search (the statistics say a key matches one row, and
    // the planner then sorts rather than weigh the order): it sorts the rows of one delivery
    // id, not the log.
    for (const auto& line : query_plan(db, sql))
      CHECK_MESSAGE(line.rfind("SCAN ", 0) != 0, name << " scans: " << line);
    check_searches(db, name, sql, expected.at(name));
  }
}
