// SQL helpers for the store tests, which look at the tables behind the store's back (the
// store itself never builds SQL from strings). Each failure stops the test case.
#pragma once

#include "expect.hpp"
#include "store/database.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tf::test {

using store::database;
using store::statement;

template <class... Ts>
statement sql_prepared(database& db, std::string_view sql, const Ts&... args) {
  auto st = db.prepare(sql);
  REQUIRE_MESSAGE(static_cast<bool>(st), "prepare of " << sql << ": " << message_of(st));
  [[maybe_unused]] int index = 0;
  (st->bind(++index, args), ...);
  return std::move(*st);
}

/// Runs SQL that returns no rows, with bound parameters.
template <class... Ts>
void sql_run(database& db, std::string_view sql, const Ts&... args) {
  auto st = sql_prepared(db, sql, args...);
  auto err = st.run();
  REQUIRE_MESSAGE(!err, sql << ": " << message_of(err));
}

/// The first column of the first row, as an integer.
template <class... Ts>
int64_t sql_int(database& db, std::string_view sql, const Ts&... args) {
  auto st = sql_prepared(db, sql, args...);
  REQUIRE_MESSAGE(st.step(), sql << " returned no row " << message_of(st.error()));
  return st.integer(0);
}

/// The first column of the first row, as text.
template <class... Ts>
std::string sql_text(database& db, std::string_view sql, const Ts&... args) {
  auto st = sql_prepared(db, sql, args...);
  REQUIRE_MESSAGE(st.step(), sql << " returned no row " << message_of(st.error()));
  return st.text(0);
}

/// The first column of every row, as text.
template <class... Ts>
std::vector<std::string> sql_texts(database& db, std::string_view sql, const Ts&... args) {
  auto st = sql_prepared(db, sql, args...);
  std::vector<std::string> out;
  while (st.step())
    out.push_back(st.text(0));
  REQUIRE_MESSAGE(!st.error(), sql << ": " << message_of(st.error()));
  return out;
}

} // namespace tf::test
