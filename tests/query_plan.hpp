// What SQLite plans for a statement (EXPLAIN QUERY PLAN), for the tests that keep the hot
// statements on an index: a full scan of a table or a temporary B-tree (a sort the index does
// not give) in a hot statement is a cost that grows with the table, so it fails the test.
#pragma once

#include "store_sql.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tf::test {

/// The plan's lines ("SEARCH c USING INDEX idx_containers_created (created_at>?)", ...).
inline std::vector<std::string> query_plan(database& db, std::string_view sql) {
  auto st = db.prepare(std::string{"EXPLAIN QUERY PLAN "} + std::string{sql});
  REQUIRE_MESSAGE(static_cast<bool>(st), "prepare of " << sql << ": " << message_of(st));
  std::vector<std::string> lines;
  while (st->step())
    lines.push_back(st->text(3));
  REQUIRE_MESSAGE(!st->error(), "plan of " << sql << ": " << message_of(st->error()));
  return lines;
}

/// The lines of the plan that cost in proportion to a table: a SCAN of a real table (a
/// virtual table such as json_each scans the bound array, which is the input itself) or a
/// temporary B-tree for ORDER BY, GROUP BY or DISTINCT.
inline std::vector<std::string> plan_problems(database& db, std::string_view sql) {
  std::vector<std::string> problems;
  for (auto& line : query_plan(db, sql)) {
    auto scan = line.rfind("SCAN ", 0) == 0 && line.find("VIRTUAL TABLE") == std::string::npos
                && line.find("CONSTANT ROW") == std::string::npos;
    auto temp_tree = line.find("USE TEMP B-TREE") != std::string::npos;
    if (scan || temp_tree)
      problems.push_back(line);
  }
  return problems;
}

/// Fails the test case when `sql`'s plan has a problem, naming the statement and the lines.
inline void require_indexed_plan(database& db, std::string_view name, std::string_view sql) {
  auto problems = plan_problems(db, sql);
  std::string shown;
  for (auto& p : problems)
    shown += "\n  " + p;
  CHECK_MESSAGE(problems.empty(), name << " scans or sorts:" << shown << "\nfor: " << sql);
}

} // namespace tf::test
