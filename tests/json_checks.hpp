// Assertions on the JSON answers of the in-process API tests: a member that must be there,
// a JSON answer with its status, and the error envelope with its code and message.
//
// These fail the test when a member is missing; deploy_harness.hpp has lenient readers of
// the same names (no doctest there), so a test includes one or the other.
#pragma once

#include "error_envelope.hpp"
#include "net.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <string>

namespace tf::test {

/// The string member `key` of the object `v`; fails the test when there is none.
inline std::string str(const rapidjson::Value& v, const char* key) { return required_string(v, key); }

/// The integer member `key` of `v`; fails the test when there is none.
inline int64_t num(const rapidjson::Value& v, const char* key) {
  INFO("key: ", key);
  REQUIRE(v.HasMember(key));
  REQUIRE(v[key].IsInt64());
  return v[key].GetInt64();
}

/// The error envelope with `status`, `code` and a message containing `needle`.
inline void check_error(const httplib::Result& res, int status, const std::string& code,
                        const std::string& needle = "") {
  REQUIRE(res);
  check_error_answer(res->status, res->get_header_value("Content-Type"), res->body, status, code,
                     needle);
}

/// A JSON answer with `status`; the parsed body.
inline rapidjson::Document check_json(const httplib::Result& res, int status) {
  REQUIRE(res);
  INFO("body: ", res->body);
  REQUIRE(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  return parse_json(res->body);
}

} // namespace tf::test
