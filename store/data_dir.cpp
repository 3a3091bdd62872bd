#include "store/data_dir.hpp"

#include "core/errors.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

namespace tf::store {

namespace {

caf::error dir_error(const std::string& what, const std::string& path) {
  return make_error(ec::bad_config, what + " " + path + ": " + std::strerror(errno));
}

/// Tightens `path` to `wanted` when group or others have any access; nothing when absent.
/// The dir may be a symbolic link (a data dir on another disk); the files may not.
caf::error tighten(const std::string& path, unsigned wanted, bool follow,
                   std::vector<mode_fix>& fixes) {
  struct stat st {};
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0)
    return errno == ENOENT ? caf::error{} : dir_error("cannot stat", path);
  if (S_ISLNK(st.st_mode))
    return make_error(ec::bad_config, path + " is a symbolic link; refused");
  auto mode = static_cast<unsigned>(st.st_mode & 07777);
  if ((mode & 077) == 0)
    return {};
  if (::chmod(path.c_str(), wanted) != 0)
    return dir_error("cannot chmod", path);
  fixes.push_back(mode_fix{path, mode, wanted});
  return {};
}

} // namespace

caf::expected<std::vector<mode_fix>> secure_data_dir(const std::string& dir) {
  std::vector<mode_fix> fixes;
  std::error_code fs_err;
  auto path = std::filesystem::path{dir};
  if (!std::filesystem::exists(path, fs_err)) {
    // Parents as any directory; the data dir itself private from its first moment.
    if (path.has_parent_path() && !path.parent_path().empty())
      std::filesystem::create_directories(path.parent_path(), fs_err);
    if (fs_err)
      return make_error(ec::bad_config, "cannot create " + path.parent_path().string() + ": "
                                          + fs_err.message());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return dir_error("cannot create", dir);
  }
  if (auto err = tighten(dir, 0700, true, fixes))
    return err;
  for (const char* name : {"tinyforge.db", "tinyforge.db-wal", "tinyforge.db-shm"})
    if (auto err = tighten((path / name).string(), 0600, false, fixes))
      return err;
  return fixes;
}

std::string describe(const mode_fix& fix) {
  char text[64];
  std::snprintf(text, sizeof text, " old_mode=%04o new_mode=%04o", fix.old_mode, fix.new_mode);
  return "path=" + fix.path + text;
}

} // namespace tf::store
