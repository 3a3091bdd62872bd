#include "store/query.hpp"

#include "core/errors.hpp"
#include "store/env_json.hpp"

#include <algorithm>

namespace tf::store {

void bind_value(statement& st, int index, std::string_view value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, borrowed value) {
  st.bind_borrowed(index, value.text);
}

void bind_value(statement& st, int index, const std::string& value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, const char* value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, int64_t value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, int value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, bool value) {
  st.bind(index, value);
}

void bind_value(statement& st, int index, nullable value) {
  st.bind_or_null(index, value.value);
}

void bind_value(statement& st, int index, const env_map& value) {
  st.bind(index, encode_env(value));
}

void read_column(const statement& st, int column, std::string& field) {
  field = st.text(column);
}

void read_column(const statement& st, int column, int64_t& field) {
  field = st.integer(column);
}

void read_column(const statement& st, int column, bool& field) {
  field = st.integer(column) != 0;
}

void read_column(const statement& st, int column, env_map& field) {
  field = decode_env(st.text(column));
}

caf::error no_such(std::string_view what, std::string_view id) {
  return make_error(ec::not_found,
                    "no " + std::string{what} + " with id \"" + std::string{id} + "\"");
}

caf::error parent_gone(caf::error err, std::string_view what, std::string_view id) {
  if (err && error_code(err) == ec::conflict)
    return no_such(what, id);
  return err;
}

caf::error name_taken(std::string_view a_what, const std::string& name) {
  return make_error(ec::conflict,
                    std::string{a_what} + " named \"" + name + "\" already exists");
}

caf::error make_patch_field_error(const std::string& field) {
  return make_error(ec::invalid_argument, field + ": this field cannot be changed");
}

caf::expected<int64_t> first_integer(statement& st) {
  if (!st.step())
    return st.error() ? st.error() : make_error(ec::database, "count returned no row");
  return st.integer(0);
}

void clamp_page(int64_t& limit, int64_t& offset) {
  limit = std::clamp<int64_t>(limit, 1, 500);
  offset = std::max<int64_t>(offset, 0);
}

caf::error check_unique_name(database& db, std::string_view sql, std::string_view a_what,
                             const std::string& name, const std::string& id) {
  auto taken = exists(db, sql, name, id);
  if (!taken)
    return taken.error();
  return *taken ? name_taken(a_what, name) : caf::error{};
}

} // namespace tf::store
