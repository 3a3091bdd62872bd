// Environment maps are stored as a JSON object of strings in *_env_json columns.
#pragma once

#include "core/model.hpp"

#include <string>
#include <vector>

namespace tf::store {

std::string encode_env(const env_map& env);

/// A column that does not hold a JSON object of strings decodes to an empty map:
/// the writer only ever stores what encode_env produced.
env_map decode_env(const std::string& json);

/// A JSON array of strings, for binding a set to `json_each(?)`.
std::string encode_string_array(const std::vector<std::string>& xs);

} // namespace tf::store
