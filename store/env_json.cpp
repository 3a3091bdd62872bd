#include "store/env_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tf::store {

std::string encode_env(const env_map& env) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  for (const auto& [k, v] : env) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

env_map decode_env(const std::string& json) {
  env_map out;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return out;
  for (const auto& m : doc.GetObject())
    if (m.value.IsString())
      out.emplace(std::string{m.name.GetString(), m.name.GetStringLength()},
                  std::string{m.value.GetString(), m.value.GetStringLength()});
  return out;
}

std::string encode_string_array(const std::vector<std::string>& xs) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartArray();
  for (const auto& x : xs)
    w.String(x.data(), static_cast<rapidjson::SizeType>(x.size()));
  w.EndArray();
  return {buf.GetString(), buf.GetSize()};
}

} // namespace tf::store
