// The data dir holds the database and the key that seals its secrets: only the daemon's
// user may enter it or read them.
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace tf::store {

/// A mode this start tightened, for the caller to log as a warning.
struct mode_fix {
  std::string path;
  unsigned old_mode;
  unsigned new_mode;
};

/// Creates `dir` with mode 0700 (its parents as usual) or, when it exists with a looser mode,
/// tightens it to 0700; tightens tinyforge.db, -wal and -shm in it to 0600. The key file is
/// not touched here: secret_box::load refuses a loose one instead. Returns what it changed.
caf::expected<std::vector<mode_fix>> secure_data_dir(const std::string& dir);

/// "path=… old_mode=0755 new_mode=0700", for the log line.
std::string describe(const mode_fix& fix);

} // namespace tf::store
