// Parsers for the Engine API's JSON answers. Defensive: a field of the wrong type is an
// error (ec::unavailable: the engine answered something we cannot trust), a missing
// optional field takes its empty value, unknown fields are ignored.
#pragma once

#include "docker/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string_view>
#include <vector>

namespace tf::docker {

caf::expected<version_info> parse_version(std::string_view json);
caf::expected<std::vector<container_summary>> parse_container_list(std::string_view json);
caf::expected<container_details> parse_container_details(std::string_view json);
caf::expected<std::vector<image_summary>> parse_image_list(std::string_view json);
caf::expected<image_summary> parse_image_details(std::string_view json);
caf::expected<std::vector<network_summary>> parse_network_list(std::string_view json);
caf::expected<engine_event> parse_event(std::string_view json);
/// {"Id": "..."} of a create call.
caf::expected<std::string> parse_created_id(std::string_view json);

/// The error an engine answer with a status >= 400 stands for: its {"message"} with the
/// status mapped onto our codes (404 not_found, 409 conflict, 400 invalid_argument,
/// others unavailable).
caf::error engine_error(long status, std::string_view body, std::string_view what);

/// A "major.minor" API version as a comparable number (1.41 -> 1041); -1 when malformed.
int api_version_number(std::string_view v);

/// A container's logs: the engine multiplexes stdout and stderr into frames with an
/// 8-byte header unless the container has a TTY. Returns the text of all frames.
std::string demultiplex_logs(std::string_view raw);

} // namespace tf::docker
