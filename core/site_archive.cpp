#include "core/site_archive.hpp"

#include "core/errors.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <utility>
#include <vector>

namespace tf {

namespace {

/// The longest name of one path component on Linux (NAME_MAX).
constexpr size_t max_name = 255;
/// How much of an uploader's path or of libarchive's text a message shows.
constexpr size_t max_shown = 200;
/// What one read of an entry's data asks for.
constexpr size_t chunk_size = 64 * 1024;

class fd_owner {
public:
  explicit fd_owner(int fd = -1) : fd_{fd} {}
  fd_owner(fd_owner&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}
  fd_owner& operator=(fd_owner&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }

private:
  int fd_;
};

/// A libarchive reader, freed with its buffers whatever way the unpacking ends.
struct reader_owner {
  archive* a = archive_read_new();
  reader_owner() = default;
  reader_owner(const reader_owner&) = delete;
  reader_owner& operator=(const reader_owner&) = delete;
  ~reader_owner() {
    if (a != nullptr)
      archive_read_free(a);
  }
};

/// Text the uploader chose, fit for a message: cut, and every byte that is not printable
/// ASCII escaped, quote and backslash too, since the message ends up in logs and JSON.
std::string shown(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, max_shown)) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max_shown)
    out += "...";
  return out;
}

caf::error refuse(std::string_view path, const std::string& why) {
  return make_error(ec::invalid_argument, "entry \"" + shown(path) + "\": " + why);
}

std::string not_a_tar_gz_text(archive* a) {
  const char* text = archive_error_string(a);
  return "the upload is not a .tar.gz: " + shown(text != nullptr ? text : "unreadable data");
}

/// A failure of the disk, not of the upload; errno is the failed call's.
caf::error disk_error(std::string_view path, const char* call) {
  int err = errno;
  return make_error(ec::internal, "entry \"" + shown(path) + "\": " + call + ": "
                                    + std::strerror(err));
}

// -- paths --------------------------------------------------------------------------------

using path_parts = std::vector<std::string>;

// What split_path finds wrong, after "the path ".
constexpr const char* path_empty = "is empty";
constexpr const char* path_absolute = "is absolute";
constexpr const char* path_leaves = "leaves the release";
constexpr const char* path_long_name = "has a name longer than 255 bytes";
constexpr const char* path_control = "holds a control character";

/// Splits an archive path into its names, dropping "." and empty ones (tar's leading "./",
/// a directory's trailing "/"); no names at all is the release itself. Returns what is
/// wrong with the path, or nullptr. Any ".." is refused, not resolved: a site has no use
/// for one, and a path without them cannot climb.
const char* split_path(std::string_view path, path_parts& parts) {
  parts.clear();
  if (path.empty())
    return path_empty;
  if (path.front() == '/')
    return path_absolute;
  for (size_t at = 0; at <= path.size();) {
    auto end = std::min(path.find('/', at), path.size());
    auto name = path.substr(at, end - at);
    at = end + 1;
    if (name.empty() || name == ".")
      continue;
    if (name == "..")
      return path_leaves;
    if (name.size() > max_name)
      return path_long_name;
    if (std::any_of(name.begin(), name.end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
      return path_control; // a newline in a file name breaks every line-based tool after us
    parts.emplace_back(name);
  }
  return nullptr;
}

std::string joined(const path_parts& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0)
      out += '/';
    out += parts[i];
  }
  return out;
}

/// Puts into `out` a symbolic link's target, normalized, for a link `depth` directories
/// below the release; returns what is wrong with it (after "the link "), or nullptr. The
/// link's own directory is a real one (no entry's parent may be a link), so climbing from it
/// is checked by counting; but ".." may only lead the target: after a name, the kernel
/// climbs from wherever that name leads, which may be another link ("d/l -> .." plus
/// "d/m -> l/../.." looks inside and is not). Descending through links is safe, since each
/// of them obeys the same rule.
const char* link_target(std::string_view target, size_t depth, std::string& out) {
  if (target.empty())
    return "has no target";
  if (target.front() == '/')
    return "points outside the release";
  size_t ups = 0;
  std::string down;
  for (size_t at = 0; at <= target.size();) {
    auto end = std::min(target.find('/', at), target.size());
    auto name = target.substr(at, end - at);
    at = end + 1;
    if (name.empty() || name == ".")
      continue;
    if (name == "..") {
      if (!down.empty())
        return "has \"..\" after a name in its target";
      if (++ups > depth)
        return "points outside the release";
      continue;
    }
    down += (down.empty() ? "" : "/") + std::string{name};
  }
  out.clear();
  for (size_t i = 0; i < ups; ++i)
    out += i == 0 ? ".." : "/..";
  if (!out.empty() && !down.empty())
    out += '/';
  out += down;
  if (out.empty())
    out = ".";
  return nullptr;
}

// -- the disk -----------------------------------------------------------------------------

caf::error write_all(int fd, const char* data, size_t size, std::string_view path) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return disk_error(path, "write");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

/// The directory `name` in `parent`, never through a link; made (0755 whatever the umask)
/// when it is missing.
caf::expected<fd_owner> open_dir(int parent, const std::string& name, std::string_view path) {
  constexpr int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  fd_owner fd{::openat(parent, name.c_str(), flags)};
  if (fd.get() >= 0)
    return fd;
  if (errno != ENOENT)
    return disk_error(path, "openat");
  if (::mkdirat(parent, name.c_str(), 0755) != 0)
    return disk_error(path, "mkdirat");
  fd = fd_owner{::openat(parent, name.c_str(), flags)};
  if (fd.get() < 0)
    return disk_error(path, "openat");
  if (::fchmod(fd.get(), 0755) != 0)
    return disk_error(path, "fchmod");
  return fd;
}

int remove_one(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP || type == FTW_DNR)
    ::rmdir(path);
  else
    ::unlink(path);
  return 0;
}

/// Removes the release being written unless it was finished: depth first, links removed
/// and never followed, and never onto another file system.
class release_guard {
public:
  explicit release_guard(std::string dir) : dir_{std::move(dir)} {}
  release_guard(const release_guard&) = delete;
  release_guard& operator=(const release_guard&) = delete;
  ~release_guard() {
    if (!kept_)
      ::nftw(dir_.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  }
  void keep() { kept_ = true; }

private:
  std::string dir_;
  bool kept_ = false;
};

// -- entries ------------------------------------------------------------------------------

/// What a path of the release already is.
enum class node : uint8_t { implied_dir, dir, file, link };

/// Writes the entries of one archive into the release, remembering what each path became:
/// that is what decides whether a later entry may go under it or link to it.
class unpacker {
public:
  unpacker(int root, const archive_limits& limits)
    : root_{root}, limits_{limits}, buffer_(chunk_size) {}

  /// Checks and writes the entry archive_read_next_header just returned.
  caf::error add(archive* a, archive_entry* e) {
    const char* name = archive_entry_pathname(e);
    std::string_view path = name != nullptr ? name : "";
    path_parts parts;
    if (auto err = check_path(path, parts))
      return err;
    const char* hard_target = archive_entry_hardlink(e);
    auto type = hard_target != nullptr ? AE_IFREG : archive_entry_filetype(e);
    if (parts.empty()) // tar's "./": the release, which is there already
      return type == AE_IFDIR ? caf::error{} : refuse(path, "the entry is the release itself");
    if (auto err = check_size(path, e, hard_target == nullptr && type == AE_IFREG))
      return err;
    if (auto err = check_parents(path, parts))
      return err;
    if (hard_target != nullptr)
      return add_hard_link(path, parts, hard_target);
    switch (type) {
      case AE_IFREG:
        return add_file(a, e, path, parts);
      case AE_IFDIR:
        return add_dir(path, parts);
      case AE_IFLNK:
        return add_symlink(e, path, parts);
      case AE_IFCHR:
      case AE_IFBLK:
        return refuse(path, "device files are not allowed");
      case AE_IFIFO:
        return refuse(path, "FIFOs are not allowed");
      case AE_IFSOCK:
        return refuse(path, "sockets are not allowed");
      default:
        return refuse(path, "entries of this type are not allowed");
    }
  }

  const unpacked_archive& result() const { return result_; }

private:
  caf::error count(std::string_view path) {
    if (++count_ > limits_.max_files)
      return refuse(path, "more than " + std::to_string(limits_.max_files) + " files");
    return {};
  }

  /// Counts the entry and splits its path into `parts`, or refuses it.
  caf::error check_path(std::string_view path, path_parts& parts) {
    if (auto err = count(path))
      return err;
    if (static_cast<int64_t>(path.size()) > limits_.max_path)
      return refuse(path, "the path is longer than " + std::to_string(limits_.max_path)
                            + " bytes");
    if (const char* why = split_path(path, parts))
      return refuse(path, std::string{"the path "} + why);
    return {};
  }

  /// Refuses an entry whose header alone passes the budget, before a byte is inflated.
  caf::error check_size(std::string_view path, archive_entry* e, bool regular) {
    auto size = archive_entry_size_is_set(e) ? std::max<int64_t>(archive_entry_size(e), 0) : 0;
    if (size > limits_.max_bytes - inflated_)
      return too_large(path);
    // The data of any other entry (a pax hard link may carry some) is inflated to be
    // skipped: that work counts too, or many entries declaring 500 MiB each are a slow bomb.
    if (!regular)
      inflated_ += size;
    return {};
  }

  caf::error too_large(std::string_view path) const {
    return refuse(path, "the site is larger than " + std::to_string(limits_.max_bytes)
                          + " bytes unpacked");
  }

  /// Refuses an entry under a path that is no directory of this archive, and notes the
  /// directories it implies (open_parent makes them), which count like entries: a path of
  /// 500 names each new would otherwise make 500 directories for one entry.
  caf::error check_parents(std::string_view path, const path_parts& parts) {
    for (size_t i = 1; i < parts.size(); ++i) {
      auto [at, added] = nodes_.try_emplace(joined(parts, i), node::implied_dir);
      if (added) {
        if (auto err = count(path))
          return err;
      } else if (at->second == node::link) {
        return refuse(path, "its parent \"" + shown(at->first) + "\" is a symbolic link");
      } else if (at->second == node::file) {
        return refuse(path, "its parent \"" + shown(at->first) + "\" is a file");
      }
    }
    return {};
  }

  caf::error claim(std::string_view path, const path_parts& parts, node kind) {
    if (!nodes_.try_emplace(joined(parts, parts.size()), kind).second)
      return refuse(path, "the path appears twice");
    return {};
  }

  /// The directory that holds the entry, opened name by name from the release with
  /// O_NOFOLLOW: a link where a directory should be fails the walk instead of leading out.
  caf::expected<fd_owner> open_parent(std::string_view path, const path_parts& parts) {
    fd_owner dir{::fcntl(root_, F_DUPFD_CLOEXEC, 0)};
    if (dir.get() < 0)
      return disk_error(path, "fcntl");
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto next = open_dir(dir.get(), parts[i], path);
      if (!next)
        return std::move(next.error());
      dir = std::move(*next);
    }
    return dir;
  }

  caf::error add_dir(std::string_view path, const path_parts& parts) {
    auto at = nodes_.find(joined(parts, parts.size()));
    if (at != nodes_.end() && at->second == node::implied_dir) {
      at->second = node::dir; // made for an earlier entry, with the same mode
      return {};
    }
    if (auto err = claim(path, parts, node::dir))
      return err;
    auto parent = open_parent(path, parts);
    if (!parent)
      return std::move(parent.error());
    auto made = open_dir(parent->get(), parts.back(), path);
    return made ? caf::error{} : std::move(made.error());
  }

  caf::error add_file(archive* a, archive_entry* e, std::string_view path,
                      const path_parts& parts) {
    if (auto err = claim(path, parts, node::file))
      return err;
    auto parent = open_parent(path, parts);
    if (!parent)
      return std::move(parent.error());
    fd_owner out{::openat(parent->get(), parts.back().c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (out.get() < 0)
      return disk_error(path, "openat");
    if (auto err = copy_data(a, out.get(), path))
      return err;
    // Of the uploader's mode only "executable" means something for a site: no setuid,
    // setgid or sticky bit, no write bit for others, whatever the archive says.
    mode_t mode = (archive_entry_perm(e) & 0111) != 0 ? 0755 : 0644;
    if (::fchmod(out.get(), mode) != 0)
      return disk_error(path, "fchmod");
    ++result_.files;
    return {};
  }

  /// Copies the entry's data, counting the bytes as they come out of the decompressor: the
  /// header's size was checked, but it is the data that fills the disk.
  caf::error copy_data(archive* a, int fd, std::string_view path) {
    for (;;) {
      auto n = archive_read_data(a, buffer_.data(), buffer_.size());
      if (n == 0)
        return {};
      if (n < 0)
        return refuse(path, not_a_tar_gz_text(a));
      if (n > limits_.max_bytes - inflated_)
        return too_large(path);
      inflated_ += n;
      result_.bytes += n;
      if (auto err = write_all(fd, buffer_.data(), static_cast<size_t>(n), path))
        return err;
    }
  }

  caf::error add_symlink(archive_entry* e, std::string_view path, const path_parts& parts) {
    const char* raw = archive_entry_symlink(e);
    std::string_view target = raw != nullptr ? raw : "";
    if (static_cast<int64_t>(target.size()) > limits_.max_path)
      return refuse(path, "the link's target is longer than " + std::to_string(limits_.max_path)
                            + " bytes");
    std::string normal;
    if (const char* why = link_target(target, parts.size() - 1, normal))
      return refuse(path, std::string{"the link "} + why);
    if (auto err = claim(path, parts, node::link))
      return err;
    auto parent = open_parent(path, parts);
    if (!parent)
      return std::move(parent.error());
    if (::symlinkat(normal.c_str(), parent->get(), parts.back().c_str()) != 0)
      return disk_error(path, "symlinkat");
    return {};
  }

  /// A second name for a file this archive wrote before; linkat would link anything it can
  /// reach (a file of the host, another release's), so nothing else is accepted.
  caf::error add_hard_link(std::string_view path, const path_parts& parts,
                           std::string_view target) {
    path_parts target_parts;
    const char* why = split_path(target, target_parts);
    if (why == path_absolute || why == path_leaves)
      return refuse(path, "the hard link points outside the release");
    if (why != nullptr)
      return refuse(path, std::string{"the hard link's target "} + why);
    auto at = nodes_.find(joined(target_parts, target_parts.size()));
    if (at == nodes_.end() || at->second != node::file)
      return refuse(path, "the hard link points to no file unpacked before it");
    if (auto err = claim(path, parts, node::file))
      return err;
    auto from = open_parent(path, target_parts);
    if (!from)
      return std::move(from.error());
    auto parent = open_parent(path, parts);
    if (!parent)
      return std::move(parent.error());
    if (::linkat(from->get(), target_parts.back().c_str(), parent->get(), parts.back().c_str(),
                 0)
        != 0)
      return disk_error(path, "linkat");
    return {};
  }

  int root_;
  const archive_limits& limits_;
  /// Every path written or implied, its names joined with '/'.
  std::map<std::string, node> nodes_;
  /// Entries and implied directories so far.
  int64_t count_ = 0;
  /// Bytes inflated so far: the files' data, and the data skipped over.
  int64_t inflated_ = 0;
  unpacked_archive result_;
  std::vector<char> buffer_;
};

caf::expected<unpacked_archive> unpack(std::string_view bytes, const std::string& dir,
                                       const archive_limits& limits) {
  reader_owner reader;
  if (reader.a == nullptr)
    return make_error(ec::internal, "libarchive: out of memory");
  // tar alone, bare or in gzip: any other reader is attack surface a site does not need.
  // Anything but ARCHIVE_OK from the gzip filter means an external gzip program, which
  // hostile bytes must never reach.
  if (archive_read_support_filter_gzip(reader.a) != ARCHIVE_OK
      || archive_read_support_format_tar(reader.a) != ARCHIVE_OK)
    return make_error(ec::internal, "libarchive cannot read gzip and tar by itself");
  if (archive_read_open_memory(reader.a, bytes.data(), bytes.size()) != ARCHIVE_OK)
    return make_error(ec::invalid_argument, not_a_tar_gz_text(reader.a));
  if (::mkdir(dir.c_str(), 0755) != 0) {
    int err = errno;
    return make_error(ec::internal, "cannot create " + dir + ": " + std::strerror(err));
  }
  release_guard guard{dir};
  fd_owner root{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (root.get() < 0 || ::fchmod(root.get(), 0755) != 0) {
    int err = errno;
    return make_error(ec::internal, "cannot open " + dir + ": " + std::strerror(err));
  }
  unpacker unpacker{root.get(), limits};
  for (;;) {
    archive_entry* entry = nullptr;
    auto rc = archive_read_next_header(reader.a, &entry);
    if (rc == ARCHIVE_EOF)
      break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      return make_error(ec::invalid_argument, not_a_tar_gz_text(reader.a));
    if (auto err = unpacker.add(reader.a, entry))
      return err;
  }
  guard.keep();
  return unpacker.result();
}

} // namespace

caf::expected<unpacked_archive> unpack_site_archive(std::string_view archive,
                                                    const std::string& dir,
                                                    const archive_limits& limits) {
  try {
    return unpack(archive, dir, limits);
  } catch (const std::exception& e) { // bad_alloc: the release is removed on the way out
    return make_error(ec::internal, std::string{"unpacking a site: "} + e.what());
  }
}

} // namespace tf
