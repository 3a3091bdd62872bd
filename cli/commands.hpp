// The command-line verbs. main() parses arguments and calls one of these.
#pragma once

#include "config/config.hpp"

#include <string>

namespace tf::cli {

/// `tinyforge serve`: runs the daemon until SIGTERM or SIGINT; returns the exit code.
int serve(const config_sources& sources);

/// `tinyforge admin create --username NAME`: the password comes from stdin. Exit code 3
/// when the name is taken.
int admin_create(const config_sources& sources, const std::string& username);

} // namespace tf::cli
