// The site unpacker (core/site_archive) against uploads crafted entry by entry with
// libarchive's writer: each hostile entry is exactly what an attacker would send, not what a
// tar program would agree to make.
#include "expect.hpp"
#include "helpers.hpp"
#include "core/site_archive.hpp"

#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace tf;
using namespace tf::test;
namespace fs = std::filesystem;

namespace {

/// One entry as the test wants it in the archive.
struct entry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;     // a regular file's contents
  int64_t zeros = 0;    // that many zero bytes after the data (the bomb)
  std::string symlink;  // a symbolic link's target
  std::string hardlink; // a hard link's target
};

entry file(std::string path, std::string data, mode_t perm = 0644) {
  return {std::move(path), AE_IFREG, perm, std::move(data), 0, {}, {}};
}

/// A file of `size` zero bytes: what compresses best.
entry zeros(std::string path, int64_t size) {
  return {std::move(path), AE_IFREG, 0644, {}, size, {}, {}};
}

entry dir(std::string path, mode_t perm = 0755) {
  return {std::move(path), AE_IFDIR, perm, {}, 0, {}, {}};
}

entry slink(std::string path, std::string target) {
  return {std::move(path), AE_IFLNK, 0777, {}, 0, std::move(target), {}};
}

entry hlink(std::string path, std::string target) {
  return {std::move(path), AE_IFREG, 0644, {}, 0, {}, std::move(target)};
}

entry special(std::string path, mode_t type) {
  return {std::move(path), type, 0644, {}, 0, {}, {}};
}

la_ssize_t append(archive*, void* out, const void* data, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

void write_data(archive* a, const entry& e) {
  if (!e.data.empty())
    REQUIRE(archive_write_data(a, e.data.data(), e.data.size())
            == static_cast<la_ssize_t>(e.data.size()));
  std::string block(64 * 1024, '\0');
  for (int64_t left = e.zeros; left > 0;) {
    auto n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(block.size())));
    REQUIRE(archive_write_data(a, block.data(), n) == static_cast<la_ssize_t>(n));
    left -= static_cast<int64_t>(n);
  }
}

/// The entries as a pax tar (ustar headers where they suffice), gzipped unless `gzip` is
/// false. The writer takes every path and target as given: no "/" or ".." is stripped.
std::string tarball(const std::vector<entry>& entries, bool gzip = true) {
  std::string out;
  archive* a = archive_write_new();
  if (gzip)
    REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
  REQUIRE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
  archive_write_set_bytes_in_last_block(a, 1); // no padding to 10 KiB
  REQUIRE(archive_write_open2(a, &out, nullptr, append, nullptr, nullptr) == ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, e.perm);
    bool has_data = e.type == AE_IFREG && e.hardlink.empty();
    archive_entry_set_size(ae, has_data ? static_cast<int64_t>(e.data.size()) + e.zeros : 0);
    if (!e.symlink.empty())
      archive_entry_set_symlink(ae, e.symlink.c_str());
    if (!e.hardlink.empty())
      archive_entry_set_hardlink(ae, e.hardlink.c_str());
    if (e.type == AE_IFCHR || e.type == AE_IFBLK)
      archive_entry_set_rdev(ae, makedev(1, 3));
    // ARCHIVE_WARN: a name the C locale cannot convert, written as its bytes.
    auto rc = archive_write_header(a, ae);
    INFO(e.path << ": " << std::string{archive_error_string(a) ? archive_error_string(a) : ""});
    REQUIRE((rc == ARCHIVE_OK || rc == ARCHIVE_WARN));
    if (has_data)
      write_data(a, e);
    archive_entry_free(ae);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

int mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream{p, std::ios::binary} << text;
}

/// A site with every kind of entry that is allowed: "./", files (an executable one, one in a
/// directory nobody listed), links inside, a hard link, and a directory listed after it was
/// implied.
std::vector<entry> good_site() {
  return {
    dir("./"),
    file("./index.html", "<h1>hello</h1>\n"),
    dir("./assets/", 0700),
    file("./assets/app.js", "console.log(1)\n", 0775),
    file("./assets/css/site.css", "body{}\n", 0664),
    slink("./latest.js", "assets/app.js"),
    slink("./assets/css/home.html", "../../index.html"),
    hlink("./copy.html", "./index.html"),
    dir("./assets/css/"),
  };
}

constexpr int64_t good_site_bytes = 15 + 15 + 7;

void check_good_site(const fs::path& release, const unpacked_archive& got) {
  CHECK(got.files == 3);
  CHECK(got.bytes == good_site_bytes);
  CHECK(read_file(release / "index.html") == "<h1>hello</h1>\n");
  CHECK(read_file(release / "assets/css/site.css") == "body{}\n");
  CHECK(mode_of(release) == 0755);
  CHECK(mode_of(release / "index.html") == 0644);
  CHECK(mode_of(release / "assets") == 0755);
  CHECK(mode_of(release / "assets/app.js") == 0755);
  CHECK(mode_of(release / "assets/css") == 0755);
  CHECK(mode_of(release / "assets/css/site.css") == 0644);
  CHECK(fs::read_symlink(release / "latest.js") == "assets/app.js");
  CHECK(fs::read_symlink(release / "assets/css/home.html") == "../../index.html");
  CHECK(read_file(release / "assets/css/home.html") == "<h1>hello</h1>\n");
  auto index = stat_of(release / "index.html");
  auto copy = stat_of(release / "copy.html");
  CHECK(copy.st_ino == index.st_ino);
  CHECK(index.st_nlink == 2);
}

/// The upload is refused with `why`, naming the entry `name` (when not empty), and the temp
/// dir holds what it held before: no release, nothing an entry aimed beside it, and the host
/// file "outside" untouched and linked nowhere.
void check_refused(const std::string& upload, const std::string& name, const std::string& why,
                   const archive_limits& limits = {}) {
  temp_dir tmp;
  write_file(tmp.path() / "outside", "host file\n");
  auto got = unpack_site_archive(upload, tmp.file("release"), limits);
  check_failed(got, ec::invalid_argument, why);
  if (!name.empty())
    CHECK(contains(message_of(got), "entry \"" + name + "\": "));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"outside"});
  CHECK(read_file(tmp.path() / "outside") == "host file\n");
  CHECK(stat_of(tmp.path() / "outside").st_nlink == 1);
}

} // namespace

TEST_CASE("site archive: a site unpacks with its files, modes and links, whatever the umask") {
  temp_dir tmp;
  auto old_umask = ::umask(077);
  auto got = unpack_site_archive(tarball(good_site()), tmp.file("release"), {});
  ::umask(old_umask);
  REQUIRE_MESSAGE(got, message_of(got));
  check_good_site(tmp.path() / "release", *got);
}

TEST_CASE("site archive: a plain tar unpacks like the .tar.gz") {
  temp_dir tmp;
  auto got = unpack_site_archive(tarball(good_site(), false), tmp.file("release"), {});
  REQUIRE_MESSAGE(got, message_of(got));
  check_good_site(tmp.path() / "release", *got);
}

TEST_CASE("site archive: a name outside ASCII unpacks as its bytes") {
  temp_dir tmp;
  auto got = MUST(unpack_site_archive(tarball({file("caf\xc3\xa9/na\xc3\xafve.html", "x")}),
                                      tmp.file("release"), {}));
  CHECK(got.files == 1);
  CHECK(read_file(tmp.path() / "release/caf\xc3\xa9/na\xc3\xafve.html") == "x");
}

TEST_CASE("site archive: the release directory must be new and its parent must exist") {
  temp_dir tmp;
  auto upload = tarball(good_site());
  fs::create_directory(tmp.path() / "taken");
  write_file(tmp.path() / "taken/keep", "mine");
  check_failed(unpack_site_archive(upload, tmp.file("taken"), {}), ec::internal, "File exists");
  CHECK(read_file(tmp.path() / "taken/keep") == "mine"); // not removed: it was not ours
  check_failed(unpack_site_archive(upload, tmp.file("no/such"), {}), ec::internal,
               "No such file");
}

TEST_CASE("site archive: paths that leave the release are refused") {
  temp_dir tmp;
  auto absolute = tmp.file("absolute-evil"); // aimed into a dir the check looks at
  check_refused(tarball({file("../evil", "x")}), "../evil", "the path leaves the release");
  check_refused(tarball({file("a/../../evil", "x")}), "a/../../evil",
                "the path leaves the release");
  check_refused(tarball({file("ok.html", "x"), file(absolute, "x")}), absolute,
                "the path is absolute");
  check_refused(tarball({file("/etc/tf-site-archive-evil", "x")}), "/etc/tf-site-archive-evil",
                "the path is absolute");
  CHECK_FALSE(fs::exists("/etc/tf-site-archive-evil"));
  CHECK_FALSE(fs::exists(absolute));
  check_refused(tarball({file("a\nb", "x")}), "a\\x0ab", "the path holds a control character");
}

TEST_CASE("site archive: links that point outside the release are refused") {
  check_refused(tarball({slink("x", "/etc")}), "x", "the link points outside the release");
  check_refused(tarball({slink("x", "../../outside")}), "x",
                "the link points outside the release");
  check_refused(tarball({slink("x", "../outside")}), "x", "the link points outside the release");
  check_refused(tarball({dir("d/"), slink("d/x", "../../outside")}), "d/x",
                "the link points outside the release");
  // Lexically d/l/../.. is the release; but d/l is the release, and its ".." is outside.
  check_refused(tarball({slink("d/l", ".."), slink("d/m", "l/../../outside")}), "d/m",
                "has \"..\" after a name in its target");
  check_refused(tarball({slink("x", "")}), "x", "the link has no target");
}

TEST_CASE("site archive: nothing is written through a link") {
  check_refused(tarball({dir("sub/"), slink("d", "sub"), file("d/f", "x")}), "d/f",
                "its parent \"d\" is a symbolic link");
  check_refused(tarball({slink("d", "."), dir("d/e/")}), "d/e/",
                "its parent \"d\" is a symbolic link");
  check_refused(tarball({file("f", "x"), file("f/g", "x")}), "f/g", "its parent \"f\" is a file");
}

TEST_CASE("site archive: hard links only to a file of the same archive") {
  temp_dir tmp;
  check_refused(tarball({hlink("h", "../outside")}), "h",
                "the hard link points outside the release");
  check_refused(tarball({hlink("h", "/etc/passwd")}), "h",
                "the hard link points outside the release");
  check_refused(tarball({hlink("h", tmp.file("outside"))}), "h",
                "the hard link points outside the release");
  check_refused(tarball({hlink("h", "later.html"), file("later.html", "x")}), "h",
                "the hard link points to no file unpacked before it");
  check_refused(tarball({dir("d/"), hlink("h", "d")}), "h",
                "the hard link points to no file unpacked before it");
  check_refused(tarball({file("f", "x"), slink("l", "f"), hlink("h", "l")}), "h",
                "the hard link points to no file unpacked before it");
}

TEST_CASE("site archive: devices, FIFOs and sockets are refused") {
  check_refused(tarball({file("a.html", "x"), special("dev/null", AE_IFCHR)}), "dev/null",
                "device files are not allowed");
  check_refused(tarball({special("disk", AE_IFBLK)}), "disk", "device files are not allowed");
  check_refused(tarball({special("pipe", AE_IFIFO)}), "pipe", "FIFOs are not allowed");
}

TEST_CASE("site archive: the byte limit holds for one file and for the files together") {
  archive_limits limits;
  limits.max_bytes = 100;
  check_refused(tarball({file("big.bin", std::string(101, 'x'))}), "big.bin",
                "the site is larger than 100 bytes unpacked", limits);
  limits.max_bytes = 1000;
  check_refused(tarball({file("a.txt", std::string(400, 'a')), file("b.txt", std::string(400, 'b')),
                         file("c.txt", std::string(400, 'c'))}),
                "c.txt", "the site is larger than 1000 bytes unpacked", limits);
  temp_dir tmp;
  auto got = MUST(unpack_site_archive(
    tarball({file("a.txt", std::string(500, 'a')), file("b.txt", std::string(500, 'b'))}),
    tmp.file("release"), limits));
  CHECK(got.files == 2);
  CHECK(got.bytes == 1000);
}

TEST_CASE("site archive: a gzip bomb stops at the limit and leaves nothing") {
  auto bomb = tarball({file("index.html", "hi"), zeros("bomb.bin", 64 << 20)});
  MESSAGE("64 MiB of zeros in " << bomb.size() << " bytes");
  REQUIRE(bomb.size() < 256 * 1024);
  archive_limits limits;
  limits.max_bytes = 1 << 20;
  auto t0 = std::chrono::steady_clock::now();
  // The release is gone: whatever was written of the bomb went with it.
  check_refused(bomb, "bomb.bin", "the site is larger than 1048576 bytes unpacked", limits);
  MESSAGE("refused in " << ms_since(t0) << " ms");
  // Exactly the limit is allowed.
  temp_dir tmp;
  auto got = MUST(
    unpack_site_archive(tarball({zeros("full.bin", 1 << 20)}), tmp.file("release"), limits));
  CHECK(got.bytes == 1 << 20);
  CHECK(fs::file_size(tmp.path() / "release/full.bin") == 1 << 20);
}

TEST_CASE("site archive: the file count limit holds") {
  archive_limits limits;
  limits.max_files = 3;
  check_refused(tarball({file("a", "a"), file("b", "b"), file("c", "c"), file("d", "d")}), "d",
                "more than 3 files", limits);
  // Directories an entry implies count as well: one deep path is no way around the limit.
  check_refused(tarball({file("a/b/c/d", "x")}), "a/b/c/d", "more than 3 files", limits);
  temp_dir tmp;
  auto got = MUST(unpack_site_archive(tarball({file("a", "a"), dir("d/"), file("d/b", "b")}),
                                      tmp.file("release"), limits));
  CHECK(got.files == 2);
}

TEST_CASE("site archive: what is not a .tar.gz is refused with libarchive's words") {
  std::mt19937 random{42};
  std::string noise(4096, '\0');
  for (auto& c : noise)
    c = static_cast<char>(random());
  check_refused(noise, "", "the upload is not a .tar.gz: ");
  check_refused("", "", "the upload is not a .tar.gz: ");
  auto good = tarball(good_site());
  check_refused(good.substr(0, good.size() / 2), "", "the upload is not a .tar.gz: ");
  auto plain = tarball({file("a.html", std::string(5000, 'a'))}, false);
  check_refused(plain.substr(0, 2048), "a.html", "the upload is not a .tar.gz: ");
}

TEST_CASE("site archive: setuid, setgid and sticky bits are dropped") {
  temp_dir tmp;
  auto release = tmp.path() / "release";
  MUST(unpack_site_archive(tarball({file("suid", "x", 04755), file("sgid", "x", 02644),
                                    file("sticky", "x", 01777), file("private", "x", 0600),
                                    dir("d/", 07777)}),
                           release.string(), {}));
  CHECK(mode_of(release / "suid") == 0755);
  CHECK(mode_of(release / "sgid") == 0644);
  CHECK(mode_of(release / "sticky") == 0755);
  CHECK(mode_of(release / "private") == 0644);
  CHECK(mode_of(release / "d") == 0755);
}

TEST_CASE("site archive: a path longer than max_path is refused") {
  archive_limits limits;
  limits.max_path = 20;
  temp_dir tmp;
  MUST(unpack_site_archive(tarball({file("dir/exactly-20-bytes", "x")}), tmp.file("release"),
                           limits));
  check_refused(tarball({file("dir/exactly-21-bytes!", "x")}), "dir/exactly-21-bytes!",
                "the path is longer than 20 bytes", limits);
  // The default, with a long name as pax writes it.
  std::string name(255, 'n');
  auto long_path = name + "/" + name + "/" + name + "/" + name + "/xy";
  REQUIRE(long_path.size() == 1026);
  check_refused(tarball({file(long_path, "x")}), name.substr(0, 200) + "...",
                "the path is longer than 1024 bytes");
  check_refused(tarball({file(std::string(256, 'n'), "x")}), "",
                "the path has a name longer than 255 bytes");
}

TEST_CASE("site archive: a path that appears twice is refused") {
  check_refused(tarball({file("a.html", "1"), file("a.html", "2")}), "a.html",
                "the path appears twice");
  check_refused(tarball({file("a.html", "1"), file("./a.html", "2")}), "./a.html",
                "the path appears twice");
  check_refused(tarball({dir("d/"), dir("d/")}), "d/", "the path appears twice");
  check_refused(tarball({dir("d/"), file("d", "x")}), "d", "the path appears twice");
  check_refused(tarball({file("f", "x"), slink("f", "g")}), "f", "the path appears twice");
}
