#include "net/json.hpp"

#include "core/errors.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <set>
#include <string>
#include <vector>

namespace tf::net {

namespace {

/// A string as RapidJSON decoded it holds a lone UTF-16 surrogate. The raw body is checked
/// as UTF-8 already (kParseValidateEncodingFlag), but RapidJSON 1.1.0 decodes an escaped
/// low surrogate without a high one ("\udc00") to the bytes ED B0 80, which are no UTF-8:
/// the string would reach the database and our answers as invalid text (found by fuzzing
/// request bodies; tests/http_test.cpp keeps the case). In valid UTF-8, ED is followed only
/// by 80-9F.
bool has_lone_surrogate(const char* s, rapidjson::SizeType n) {
  for (rapidjson::SizeType i = 0; i + 1 < n; ++i)
    if (static_cast<unsigned char>(s[i]) == 0xED && static_cast<unsigned char>(s[i + 1]) >= 0xA0)
      return true;
  return false;
}

// A SAX pass that measures depth, run before building the DOM, so a hostile body of ten
// thousand '[' cannot exhaust the stack of the DOM builder; it also refuses strings and keys
// that decode to a lone surrogate, and a key given twice in one object: the DOM would keep
// both and FindMember answers the first, so {"image":"ok","image":"../x"} would pass a check
// on one value while another reader (a proxy, a log, a later parser) sees the other.
struct depth_guard : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, depth_guard> {
  int depth = 0;
  int max_depth;
  bool lone_surrogate = false;
  std::string duplicate_key; // the first key seen twice in one object
  std::vector<std::set<std::string>> keys; // the keys of each open object
  explicit depth_guard(int max) : max_depth{max} {}
  bool Default() { return true; }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    lone_surrogate = has_lone_surrogate(s, n);
    return !lone_surrogate;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (!String(s, n, copy))
      return false;
    if (!keys.empty() && !keys.back().emplace(s, n).second) {
      duplicate_key.assign(s, n);
      return false;
    }
    return true;
  }
  bool StartObject() {
    keys.emplace_back();
    return ++depth <= max_depth;
  }
  bool EndObject(rapidjson::SizeType) {
    keys.pop_back();
    --depth;
    return true;
  }
  bool StartArray() { return ++depth <= max_depth; }
  bool EndArray(rapidjson::SizeType) { --depth; return true; }
};

} // namespace

caf::expected<rapidjson::Document> parse_object(std::string_view body, int max_depth) {
  // RapidJSON stops at a NUL byte and would ignore what follows; JSON text never holds
  // a raw NUL (inside strings it must be escaped), so refuse it outright.
  if (auto nul = body.find('\0'); nul != std::string_view::npos)
    return make_error(ec::invalid_argument,
                      "malformed JSON at offset " + std::to_string(nul) + ": a NUL byte");
  {
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms{body.data(), body.size()};
    depth_guard guard{max_depth};
    auto ok = reader.Parse<rapidjson::kParseValidateEncodingFlag>(ms, guard);
    if (!ok) {
      if (guard.depth > max_depth)
        return make_error(ec::invalid_argument, "JSON nested deeper than "
                                                  + std::to_string(max_depth) + " levels");
      if (guard.lone_surrogate)
        return make_error(ec::invalid_argument,
                          "malformed JSON at offset " + std::to_string(ok.Offset())
                            + ": a \\u escape of a lone surrogate, which is no character");
      if (!guard.duplicate_key.empty())
        return make_error(ec::invalid_argument,
                          "\"" + guard.duplicate_key.substr(0, 64)
                            + "\": a key given twice in one object (at offset "
                            + std::to_string(ok.Offset()) + ")");
      return make_error(ec::invalid_argument,
                        std::string{"malformed JSON at offset "}
                          + std::to_string(ok.Offset()) + ": "
                          + rapidjson::GetParseError_En(ok.Code()));
    }
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError())
    return make_error(ec::invalid_argument,
                      std::string{"malformed JSON at offset "}
                        + std::to_string(doc.GetErrorOffset()) + ": "
                        + rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject())
    return make_error(ec::invalid_argument, "the body must be a JSON object");
  return doc;
}

} // namespace tf::net
