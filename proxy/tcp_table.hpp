// Reading the kernel's TCP socket tables (/proc/net/tcp, /proc/net/tcp6) without trusting
// their shape: the pure parsing half of established_connections, apart so a test can feed
// it bad input.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tf::proxy {

/// Rows of `table` (the text of /proc/net/tcp or tcp6, header line included) in state
/// ESTABLISHED (01) whose local port is one of `ports`. Lines that do not parse (wrong
/// field count, bad hex, a port out of range) are skipped, never an error: a row the
/// kernel may add in another format must not stop a drain.
int64_t count_established(std::string_view table, const std::vector<int64_t>& ports);

} // namespace tf::proxy
