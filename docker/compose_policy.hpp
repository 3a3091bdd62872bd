// What a stack's compose file may not ask for, read from compose's own normalized
// `config` output (variables interpolated, extends and merge keys resolved, relative
// paths made absolute), so `privileged: ${P}` or a YAML anchor cannot slip past.
//
// The policy (README, "Stacks"): a stack runs as an ordinary container workload, for every
// user. Refused: privileged; the host's pid, ipc, uts, network, user or cgroup namespace;
// devices; capabilities that reach past the container (ALL, SYS_ADMIN, SYS_MODULE,
// SYS_PTRACE, SYS_RAWIO, SYS_BOOT, SYS_TIME, DAC_READ_SEARCH, BPF, PERFMON, MAC_ADMIN,
// MAC_OVERRIDE); unconfined seccomp or AppArmor; and bind mounts (or local volumes bound
// to a host path) of the host's root, its system directories, a Docker socket, or
// Tinyforge's own data directory and any directory holding it (its database and key).
// Named volumes and bind mounts of other host paths are allowed.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tf::docker {

/// The service names (sorted) of compose's `config` output; invalid_argument when it is
/// no compose document.
caf::expected<std::vector<std::string>> config_services(const std::string& config_yaml);

/// The service names once the policy allowed every service; invalid_argument naming the
/// service and what it asked for otherwise. `data_dir` is the daemon's, absolute;
/// `stack_dir` the stack's own directory inside it, whose subtree a stack may mount
/// (compose makes `./data` absolute there).
caf::expected<std::vector<std::string>> checked_services(const std::string& config_yaml,
                                                         const std::string& data_dir,
                                                         const std::string& stack_dir);

} // namespace tf::docker
