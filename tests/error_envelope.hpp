// The API's error answer, checked the same way by every test that drives the API, whichever
// client it reads the answer with: {"error":{"code":<code>,"message":<non-empty>}} as JSON.
#pragma once

#include "net.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>

namespace tf::test {

/// The string member `key` of the object `v`; fails the test when there is none.
inline std::string required_string(const rapidjson::Value& v, const char* key) {
  INFO("key: ", key);
  REQUIRE(v.IsObject());
  REQUIRE(v.HasMember(key));
  REQUIRE(v[key].IsString());
  return {v[key].GetString(), v[key].GetStringLength()};
}

/// An answer of `got_status`, `content_type` and `body` is the error envelope with `status`
/// and `code`, and its message contains `needle`.
inline void check_error_answer(int got_status, const std::string& content_type,
                               const std::string& body, int status, const std::string& code,
                               const std::string& needle) {
  INFO("body: ", body);
  CHECK(got_status == status);
  CHECK(content_type == "application/json");
  auto doc = parse_json(body);
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember("error"));
  CHECK(required_string(doc["error"], "code") == code);
  auto message = required_string(doc["error"], "message");
  CHECK_FALSE(message.empty());
  if (!needle.empty())
    CHECK_MESSAGE(message.find(needle) != std::string::npos, "message: ", message);
}

} // namespace tf::test
