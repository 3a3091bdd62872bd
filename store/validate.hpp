// The field rules the store's checks share. Each entity's own check (validate_project,
// validate_app, …) sits in that entity's file and is built from these; the store writer
// runs them before any transaction. Each failure is ec::invalid_argument with a message
// that names the field.
#pragma once

#include "core/model.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tf::store {

/// ec::invalid_argument: "<field>: <why>".
caf::error invalid(std::string field, std::string why);

/// Cuts outside input to a length the logs keep.
void cap(std::string& s, size_t n);

/// A lowercase DNS label: [a-z0-9-]{1,63}, not starting or ending with '-'.
bool is_dns_label(std::string_view s);

/// `name` must be a DNS label.
caf::error check_name(const std::string& field, const std::string& name);

/// `v` must lie within [lo, hi].
caf::error check_range(const std::string& field, int64_t v, int64_t lo, int64_t hi);

/// Environment variables: names [A-Za-z_][A-Za-z0-9_]*, no NUL, at most 500 and 256 KiB.
caf::error check_env(const std::string& field, const env_map& env);

/// A health check path: starts with '/', at most 1024 characters, no spaces or controls.
caf::error check_health_path(const std::string& path);

/// An image repository without its tag or digest ("registry:5000/team/api").
bool is_image_repository(std::string_view s);

/// One spelling for an image repository, so two names of one image compare equal:
/// lowercased, without a tag or digest, with Docker Hub's implied host and "library/"
/// written out ("nginx" and "docker.io/library/nginx:1" are both
/// "docker.io/library/nginx"; "ghcr.io/Acme/Web:v1" is "ghcr.io/acme/web").
/// "" when what is left is not an image repository.
std::string image_repository_key(std::string_view image);

} // namespace tf::store
