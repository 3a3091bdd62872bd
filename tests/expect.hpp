// Checks of expected<T> and error results shared by the store-level tests: the error's
// code as readable text, its message, and MUST(expr), which unwraps a value or fails the
// test at the caller's line with the error's message.
#pragma once

#include "core/errors.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace tf::test {

/// "ok" or the error's code name ("conflict", "not_found", ...): doctest prints strings on
/// failure, so a wrong code shows up as readable text.
inline std::string code_of(const caf::error& err) {
  return err ? to_string(error_code(err)) : "ok";
}

template <class T>
std::string code_of(const caf::expected<T>& x) {
  return x ? "ok" : code_of(x.error());
}

inline std::string message_of(const caf::error& err) {
  return err ? error_message(err) : "";
}

template <class T>
std::string message_of(const caf::expected<T>& x) {
  return x ? "" : message_of(x.error());
}

/// `x` holds no value but an error of `code` whose message contains `fragment`.
template <class T>
void check_failed(const caf::expected<T>& x, tf::ec code, const std::string& fragment) {
  REQUIRE_FALSE(x);
  CHECK(tf::error_code(x.error()) == code);
  auto msg = tf::error_message(x.error());
  INFO(msg);
  CHECK(msg.find(fragment) != std::string::npos);
}

inline bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

inline bool is_hex(const std::string& s, size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// Unwraps an expected value, failing the test (at the caller's line) with the error text.
#define MUST(expr)                                                                           \
  [&]() {                                                                                    \
    auto must_result_ = (expr);                                                              \
    REQUIRE_MESSAGE(static_cast<bool>(must_result_), #expr " failed: "                       \
                                                         << message_of(must_result_));       \
    return std::move(*must_result_);                                                         \
  }()

/// Asserts that a function returning caf::error succeeded.
#define MUST_OK(expr)                                                                        \
  do {                                                                                       \
    auto must_err_ = (expr);                                                                 \
    REQUIRE_MESSAGE(!must_err_, #expr " failed: " << message_of(must_err_));                 \
  } while (false)

} // namespace tf::test
