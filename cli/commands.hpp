// The command-line verbs. main() parses arguments and calls one of these.
#pragma once

#include "config/config.hpp"

namespace tf::cli {

/// `tinyforge serve`: runs the daemon until SIGTERM or SIGINT; returns the exit code.
int serve(const config_sources& sources);

} // namespace tf::cli
