// Unpacks a static site's upload: a .tar.gz that came over the network and is trusted in
// nothing. Every entry is checked before anything touches the disk, and the disk is written
// only through descriptors of the release directory that never follow a symbolic link, so
// no entry can land outside it, whatever its path, its type or the links before it.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tf {

struct archive_limits {
  int64_t max_bytes = int64_t{512} << 20; // unpacked bytes of all regular files together
  int64_t max_files = 20000;              // entries of any type
  int64_t max_path = 1024;                // bytes of one entry's path
};

struct unpacked_archive {
  int64_t files = 0; // regular files written
  int64_t bytes = 0; // their bytes
};

/// Unpacks a gzip-compressed tar (plain tar also accepted) held in `archive` into the new
/// directory `dir` (its parent must exist; `dir` itself must not). On any refusal nothing is
/// left behind (dir removed) and the error is ec::invalid_argument whose message names the
/// entry, e.g. `entry "../x": the path leaves the release`.
///
/// Files are 0644 (0755 with any x bit), directories 0755, owners and times not kept.
/// Symbolic links must stay inside the release, hard links must name a file unpacked before;
/// devices, FIFOs and sockets are refused, and so is a path that appears twice. The
/// directories an entry implies count against max_files like entries, and a hard link counts
/// in neither `files` nor `bytes` (it adds a name, not data). A failure of the disk itself
/// (ENOSPC, EIO, `dir` already there) is ec::internal.
caf::expected<unpacked_archive> unpack_site_archive(std::string_view archive,
                                                    const std::string& dir,
                                                    const archive_limits& limits);

} // namespace tf
