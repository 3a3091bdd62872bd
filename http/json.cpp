#include "http/json.hpp"

#include "actors/errors.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace tf::http {

namespace {

// A SAX pass that only measures depth, run before building the DOM, so a hostile body of
// ten thousand '[' cannot exhaust the stack of the DOM builder.
struct depth_guard : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, depth_guard> {
  int depth = 0;
  int max_depth;
  explicit depth_guard(int max) : max_depth{max} {}
  bool Default() { return true; }
  bool StartObject() { return ++depth <= max_depth; }
  bool EndObject(rapidjson::SizeType) { --depth; return true; }
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

} // namespace tf::http
