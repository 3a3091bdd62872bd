// A static site's upload as core/site_archive unpacks it: whatever the bytes, the answer is
// an error that leaves nothing behind, or a release within the limits that holds only files
// of mode 0644 or 0755, directories of 0755 and links that stay inside, and nothing is
// written beside it. The limits are small so that the fuzzer reaches them.
#include "core/site_archive.hpp"
#include "fuzz_input.hpp"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

constexpr int64_t max_bytes = 1 << 20;
constexpr int64_t max_files = 64;

/// This process's own directory for the releases, emptied after every input and removed at
/// exit (a plain array: a std::string would be destroyed before the atexit handler runs).
const char* base() {
  static char dir[] = "/tmp/tf-fuzz-site-archive-XXXXXX";
  static const bool made = [] {
    if (::mkdtemp(dir) == nullptr)
      std::abort();
    std::atexit([] { ::rmdir(dir); });
    return true;
  }();
  (void)made;
  return dir;
}

/// What the walk of a release found (nftw's callback takes no context).
struct tally {
  size_t root_size = 0;
  std::set<ino_t> files;
  int64_t bytes = 0;
  int64_t nodes = 0;
};
tally found;

/// How many directories below the release `path` is (a walk gives only release paths).
size_t depth_of(const char* path) {
  size_t depth = 0;
  for (const char* p = path + found.root_size + 1; *p != '\0'; ++p)
    depth += *p == '/' ? 1 : 0;
  return depth;
}

/// A link's target may climb only at its start, and no higher than the link's directory.
bool stays_inside(const std::string& target, size_t depth) {
  if (target.empty() || target.front() == '/')
    return false;
  size_t ups = 0;
  bool named = false;
  for (size_t at = 0; at <= target.size();) {
    auto end = std::min(target.find('/', at), target.size());
    auto name = target.substr(at, end - at);
    at = end + 1;
    if (name == "..") {
      if (named || ++ups > depth)
        return false;
    } else if (!name.empty() && name != ".") {
      named = true;
    }
  }
  return true;
}

/// A plain tar gets the checksums of its headers recomputed, so that a mutated header reaches
/// the unpacker instead of stopping at libarchive's "Damaged tar archive"; a .tar.gz (1f 8b)
/// goes as it is. Walks header to header by the octal size field; a wrong one just desyncs.
void repair_checksums(std::string& tar) {
  if (tar.size() >= 2 && tar[0] == '\x1f' && tar[1] == '\x8b')
    return;
  for (size_t at = 0; at + 512 <= tar.size();) {
    auto* h = reinterpret_cast<unsigned char*>(&tar[at]);
    if (std::all_of(h, h + 512, [](unsigned char c) { return c == 0; }))
      return;
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i)
      sum += h[i];
    std::snprintf(reinterpret_cast<char*>(h + 148), 8, "%06o", sum);
    uint64_t size = 0;
    for (size_t i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; ++i)
      size = size * 8 + (h[i] - '0');
    at += 512 + (size + 511) / 512 * 512;
  }
}

int look(const char* path, const struct stat* st, int type, struct FTW* walk) {
  if (walk->level == 0)
    return 0;
  ++found.nodes;
  auto mode = st->st_mode & 07777;
  if (type == FTW_D) {
    if (mode != 0755)
      std::abort();
  } else if (type == FTW_F) {
    if (!S_ISREG(st->st_mode) || (mode != 0644 && mode != 0755))
      std::abort(); // a device, a FIFO, a setuid bit
    if (found.files.insert(st->st_ino).second)
      found.bytes += st->st_size;
  } else if (type == FTW_SL || type == FTW_SLN) {
    char target[4096];
    auto n = ::readlink(path, target, sizeof(target));
    if (n < 0 || !stays_inside(std::string(target, static_cast<size_t>(n)), depth_of(path)))
      std::abort();
  } else {
    std::abort(); // unreadable: not made by the unpacker
  }
  return 0;
}

int remove_one(const char* path, const struct stat*, int type, struct FTW*) {
  return type == FTW_DP ? ::rmdir(path) : ::unlink(path);
}

/// Whether `dir` holds nothing, or only `name`.
bool holds_only(const char* dir, const char* name) {
  auto* d = ::opendir(dir);
  if (d == nullptr)
    std::abort();
  bool only = true;
  while (auto* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0
        && (name == nullptr || std::strcmp(e->d_name, name) != 0))
      only = false;
  }
  ::closedir(d);
  return only;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tf::archive_limits limits;
  limits.max_bytes = max_bytes;
  limits.max_files = max_files;
  limits.max_path = 128;
  auto release = std::string{base()} + "/release";
  std::string upload{tf::fuzz::as_text(data, size)};
  repair_checksums(upload);
  auto got = tf::unpack_site_archive(upload, release, limits);
  if (!got) {
    if (!holds_only(base(), nullptr))
      std::abort(); // a refusal left something behind
    return 0;
  }
  if (!holds_only(base(), "release"))
    std::abort(); // an entry landed beside the release
  found = tally{};
  found.root_size = release.size();
  if (::nftw(release.c_str(), look, 16, FTW_PHYS) != 0)
    std::abort();
  if (got->bytes > max_bytes || found.bytes != got->bytes
      || static_cast<int64_t>(found.files.size()) != got->files || found.nodes > max_files)
    std::abort();
  if (::nftw(release.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
    std::abort();
  return 0;
}
