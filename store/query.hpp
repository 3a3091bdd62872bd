// The query and write helpers every store file uses, so none repeats prepare, bind, step
// and the error checks by hand. Parameters are always bound, never spliced into SQL.
//
// Conventions: values bind to ?1, ?2, … in the order given; a paged list takes LIMIT ?1
// OFFSET ?2 and its filters from ?3 on (its count statement uses the same ?3…).
#pragma once

#include "core/model.hpp"
#include "store/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tf::store {

/// Two pieces of SQL text as one (a shared SELECT and its WHERE).
inline std::string concat(std::string_view a, std::string_view b) {
  return std::string{a} + std::string{b};
}

// -- binding and reading columns ------------------------------------------------

/// Binds NULL when empty: a nullable foreign key.
struct nullable {
  std::string_view value;
};

/// A statement's value for one parameter. An env map is stored as its JSON text.
/// Text SQLite reads in place (statement::bind_borrowed): the caller keeps it alive until
/// the statement is bound again.
struct borrowed {
  std::string_view text;
};

void bind_value(statement& st, int index, std::string_view value);
void bind_value(statement& st, int index, borrowed value);
void bind_value(statement& st, int index, const std::string& value);
void bind_value(statement& st, int index, const char* value);
void bind_value(statement& st, int index, int64_t value);
void bind_value(statement& st, int index, int value);
void bind_value(statement& st, int index, bool value);
void bind_value(statement& st, int index, nullable value);
void bind_value(statement& st, int index, const env_map& value);

/// Binds `values` to ?first, ?first+1, …
template <class... Values>
statement& bind_from(statement& st, int first, const Values&... values) {
  int index = first;
  (bind_value(st, index++, values), ...);
  return st;
}

/// Binds `values` to ?1, ?2, …
template <class... Values>
statement& bind_all(statement& st, const Values&... values) {
  return bind_from(st, 1, values...);
}

/// One column of the current row into a field of the matching type (a bool from an
/// integer, an env map from its JSON text).
void read_column(const statement& st, int column, std::string& field);
void read_column(const statement& st, int column, int64_t& field);
void read_column(const statement& st, int column, bool& field);
void read_column(const statement& st, int column, env_map& field);

/// Readers of a one-column row.
inline std::string text_of_first_column(const statement& st) {
  return st.text(0);
}
inline int64_t integer_of_first_column(const statement& st) {
  return st.integer(0);
}

/// Column 0, 1, … of the current row into `fields`, in order.
template <class... Fields>
void read_row(const statement& st, Fields&... fields) {
  int column = 0;
  (read_column(st, column++, fields), ...);
}

/// A reader of rows of T whose columns are, in order, the given members.
template <class T, class... Members>
auto columns(Members T::*... members) {
  return [=](const statement& st) {
    T row;
    read_row(st, (row.*members)...);
    return row;
  };
}

// -- errors -------------------------------------------------------------------

/// ec::not_found: no <what> with id "<id>".
caf::error no_such(std::string_view what, std::string_view id);

/// An insert's error where its foreign key failed (ec::conflict) means the row it belongs
/// to is gone: ec::not_found (no <what> with id "<id>"). Other errors pass unchanged.
caf::error parent_gone(caf::error err, std::string_view what, std::string_view id);

/// ec::conflict: <a_what> named "<name>" already exists (`a_what` with its article).
caf::error name_taken(std::string_view a_what, const std::string& name);

/// ec::invalid_argument: <field>: this field cannot be changed.
caf::error make_patch_field_error(const std::string& field);

/// make_patch_field_error for the first field of the patch not in `allowed`.
template <class T>
caf::error check_patch_fields(const patch<T>& p, const std::vector<const char*>& allowed) {
  for (const auto& f : p.fields) {
    bool ok = false;
    for (const auto* a : allowed)
      ok = ok || f == a;
    if (!ok)
      return make_patch_field_error(f);
  }
  return {};
}

// -- reading ------------------------------------------------------------------

/// `sql` prepared with `values` bound.
template <class... Values>
caf::expected<statement> prepared(database& db, std::string_view sql, const Values&... values) {
  auto st = db.prepare(sql);
  if (st)
    bind_all(*st, values...);
  return st;
}

/// Runs a statement that has its parameters bound and reads every row.
template <class Reader>
auto collect(statement& st, Reader read) -> caf::expected<std::vector<decltype(read(st))>> {
  std::vector<decltype(read(st))> out;
  while (st.step())
    out.push_back(read(st));
  if (st.error())
    return st.error();
  return out;
}

/// Every row of `sql`, with `values` bound.
template <class Reader, class... Values>
auto select_all(database& db, std::string_view sql, Reader read, const Values&... values)
  -> caf::expected<std::vector<decltype(read(std::declval<statement&>()))>> {
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  return collect(*st, read);
}

/// The first row of `sql`, with `values` bound; nothing when there is none.
template <class Reader, class... Values>
auto find_one(database& db, std::string_view sql, Reader read, const Values&... values)
  -> caf::expected<std::optional<decltype(read(std::declval<statement&>()))>> {
  using row = decltype(read(std::declval<statement&>()));
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  if (st->step())
    return std::optional<row>{read(*st)};
  if (st->error())
    return st->error();
  return std::optional<row>{};
}

/// The row of `sql` (id bound to ?1), or ec::not_found naming what was looked for (with
/// at most `shown` characters of the id).
template <class Reader>
auto one(database& db, std::string_view sql, std::string_view what, const std::string& id,
         Reader read, size_t shown = std::string::npos)
  -> caf::expected<decltype(read(std::declval<statement&>()))> {
  auto found = find_one(db, sql, read, id);
  if (!found)
    return found.error();
  if (!*found)
    return no_such(what, std::string_view{id}.substr(0, shown));
  return std::move(**found);
}

/// The integer in the first column of the first row (a COUNT, a MAX).
caf::expected<int64_t> first_integer(statement& st);

/// The integer `sql` selects (COUNT(*), COALESCE(MAX(…))), with `values` bound.
template <class... Values>
caf::expected<int64_t> count(database& db, std::string_view sql, const Values&... values) {
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  return first_integer(*st);
}

/// Moves a result into `into`; replies its error instead when it has one.
template <class T>
caf::error take(T& into, caf::expected<T> from) {
  if (!from)
    return from.error();
  into = std::move(*from);
  return {};
}

/// Runs `body` (returning caf::error or caf::expected) on one snapshot of the database, so
/// what it reads in several statements comes from one commit.
template <class Body>
auto in_snapshot(database& db, Body&& body) -> decltype(body()) {
  read_snapshot snapshot{db};
  if (snapshot.error())
    return snapshot.error();
  return body();
}

/// `one`, with `attach(row)` (which reads what belongs to the row) on the same snapshot.
template <class Reader, class Attach>
auto one_with(database& db, std::string_view sql, std::string_view what, const std::string& id,
              Reader read, Attach attach)
  -> caf::expected<decltype(read(std::declval<statement&>()))> {
  return in_snapshot(db, [&]() -> caf::expected<decltype(read(std::declval<statement&>()))> {
    auto row = one(db, sql, what, id, read);
    if (!row)
      return row;
    if (auto err = attach(*row))
      return err;
    return row;
  });
}

/// Lists are bounded: limit is clamped to 1..500 and offset to >= 0.
void clamp_page(int64_t& limit, int64_t& offset);

/// The statements of a paged list: `items` with LIMIT ?1 OFFSET ?2, and `total` counting
/// the same rows; both take the filters from ?3.
struct page_sql {
  std::string_view items;
  std::string_view total;
};

/// A page of rows and the total they were cut from, both from one snapshot.
template <class Reader, class... Filters>
auto paged(database& db, const page_sql& sql, int64_t limit, int64_t offset, Reader read,
           const Filters&... filters) -> caf::expected<page<decltype(read(std::declval<statement&>()))>> {
  using row = decltype(read(std::declval<statement&>()));
  clamp_page(limit, offset);
  return in_snapshot(db, [&]() -> caf::expected<page<row>> {
    page<row> out;
    auto st = prepared(db, sql.items, limit, offset);
    if (!st)
      return st.error();
    if (auto err = take(out.items, collect(bind_from(*st, 3, filters...), read)))
      return err;
    auto total = prepared(db, sql.total);
    if (!total)
      return total.error();
    if (auto err = take(out.total, first_integer(bind_from(*total, 3, filters...))))
      return err;
    return out;
  });
}

// -- writing ------------------------------------------------------------------

/// Runs `sql`, which returns no rows, with `values` bound.
template <class... Values>
caf::error run(database& db, std::string_view sql, const Values&... values) {
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  return st->run();
}

/// Runs `sql` with `values` bound; replies how many rows it changed.
template <class... Values>
caf::expected<int64_t> run_changes(database& db, std::string_view sql, const Values&... values) {
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  if (auto err = st->run())
    return err;
  return st->changes();
}

/// Runs `sql` with `values` bound; ec::not_found (no <what> with id "<id>") when it changed
/// no row. `id` is also what is bound, first.
template <class... Values>
caf::error run_on_one(database& db, std::string_view sql, std::string_view what,
                      const std::string& id, const Values&... values) {
  auto changed = run_changes(db, sql, values...);
  if (!changed)
    return changed.error();
  return *changed == 0 ? no_such(what, id) : caf::error{};
}

/// True when `sql` returns a row.
template <class... Values>
caf::expected<bool> exists(database& db, std::string_view sql, const Values&... values) {
  auto st = prepared(db, sql, values...);
  if (!st)
    return st.error();
  auto found = st->step();
  if (st->error())
    return st->error();
  return found;
}

/// name_taken when `sql` (name ?1, id != ?2) finds another row with the name.
caf::error check_unique_name(database& db, std::string_view sql, std::string_view a_what,
                             const std::string& name, const std::string& id);

inline bool failed(const caf::error& err) {
  return static_cast<bool>(err);
}

template <class T>
bool failed(const caf::expected<T>& x) {
  return !x;
}

/// Runs `body` (returning caf::error or caf::expected) in one transaction, committed when it
/// succeeds and rolled back when it fails.
template <class Body>
auto in_transaction(database& db, Body&& body) -> decltype(body()) {
  auto tx = transaction::begin(db);
  if (!tx)
    return tx.error();
  auto result = body();
  if (failed(result))
    return result;
  if (auto err = tx->commit())
    return err;
  return result;
}

} // namespace tf::store
