// Checks of what a client may write, run by the store writer before any transaction.
// Each failure is ec::invalid_argument with a message that names the field.
#pragma once

#include "core/model.hpp"

#include <caf/error.hpp>

#include <string_view>

namespace tf::store {

/// A lowercase DNS label: [a-z0-9-]{1,63}, not starting or ending with '-'.
bool is_dns_label(std::string_view s);

/// A state the containers index knows ("" is a row not observed yet).
bool is_container_state(std::string_view s);

/// project, stack or site.
bool is_workload_kind(std::string_view s);

/// One spelling for an image repository, so two names of one image compare equal:
/// lowercased, without a tag or digest, with Docker Hub's implied host and "library/"
/// written out ("nginx" and "docker.io/library/nginx:1" are both
/// "docker.io/library/nginx"; "ghcr.io/Acme/Web:v1" is "ghcr.io/acme/web").
/// "" when what is left is not an image repository.
std::string image_repository_key(std::string_view image);

caf::error validate_project(const project& p);
caf::error validate_stage(const stage& s);
caf::error validate_stack(const stack& s);
caf::error validate_site(const site& s);
caf::error validate_workload(const workload& w);
caf::error validate_container(const container_row& c);

} // namespace tf::store
