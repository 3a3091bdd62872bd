#include "store/index_version.hpp"

#include "store/database.hpp"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>

namespace tf::store {

uint64_t change_versions::random_epoch() {
  std::random_device rd;
  return rd() | (uint64_t{rd()} << 32);
}

/// The hooks, friends of change_versions.
struct change_hooks {
  static void on_row_change(void* data, int, const char*, const char* table, sqlite3_int64) {
    auto* v = static_cast<change_versions*>(data);
    if (std::strcmp(table, "workloads") == 0) {
      v->containers_dirty_.store(true, std::memory_order_relaxed);
      v->workloads_dirty_.store(true, std::memory_order_relaxed);
    } else if (std::strcmp(table, "containers") == 0
               // A host's listing time is the last sighting of its live rows.
               || std::strcmp(table, "host_listings") == 0)
      v->containers_dirty_.store(true, std::memory_order_relaxed);
    else if (std::strcmp(table, "api_tokens") == 0 || std::strcmp(table, "sessions") == 0
             || std::strcmp(table, "users") == 0)
      v->credentials_dirty_.store(true, std::memory_order_relaxed);
  }

  static int on_commit(void* data) {
    auto* v = static_cast<change_versions*>(data);
    if (v->containers_dirty_.load(std::memory_order_relaxed))
      v->containers_.fetch_add(1, std::memory_order_release);
    if (v->credentials_dirty_.load(std::memory_order_relaxed))
      v->credentials_.fetch_add(1, std::memory_order_release);
    if (v->workloads_dirty_.load(std::memory_order_relaxed))
      v->workloads_.fetch_add(1, std::memory_order_release);
    return 0; // never vetoes the commit
  }

  static void on_rollback(void* data) {
    auto* v = static_cast<change_versions*>(data);
    v->containers_dirty_.store(false, std::memory_order_relaxed);
    v->credentials_dirty_.store(false, std::memory_order_relaxed);
    v->workloads_dirty_.store(false, std::memory_order_relaxed);
  }

  /// Runs after a commit is in the WAL and visible to new readers.
  static int on_wal_commit(void* data, sqlite3* db, const char* name, int pages) {
    auto* v = static_cast<change_versions*>(data);
    if (v->containers_dirty_.exchange(false, std::memory_order_relaxed))
      v->containers_.fetch_add(1, std::memory_order_release);
    if (v->credentials_dirty_.exchange(false, std::memory_order_relaxed))
      v->credentials_.fetch_add(1, std::memory_order_release);
    if (v->workloads_dirty_.exchange(false, std::memory_order_relaxed))
      v->workloads_.fetch_add(1, std::memory_order_release);
    // A WAL hook replaces SQLite's auto-checkpoint (which is one): do what it does, a
    // passive checkpoint once the WAL holds 1000 pages.
    if (pages >= 1000)
      sqlite3_wal_checkpoint(db, name);
    return SQLITE_OK;
  }
};

namespace {

/// One set of versions per file path (sqlite3_db_filename: absolute). Kept for the
/// process's life: the hooks hold a raw pointer and SQLite has no hook destructor; a
/// process opens few files (one in the daemon, one per test case in a test binary).
change_versions& versions_for(const char* path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<change_versions>, std::less<>> all;
  std::lock_guard<std::mutex> lock{mutex};
  std::string_view key = path == nullptr ? "" : path;
  auto it = all.find(key);
  if (it == all.end())
    it = all.emplace(std::string{key}, std::make_unique<change_versions>()).first;
  return *it->second;
}

} // namespace

void watch_index_changes(sqlite3* db) {
  auto* v = &versions_for(sqlite3_db_filename(db, "main"));
  sqlite3_update_hook(db, change_hooks::on_row_change, v);
  sqlite3_commit_hook(db, change_hooks::on_commit, v);
  sqlite3_rollback_hook(db, change_hooks::on_rollback, v);
  sqlite3_wal_hook(db, change_hooks::on_wal_commit, v);
}

const change_versions& versions_of(const database& db) {
  return versions_for(sqlite3_db_filename(db.handle(), "main"));
}

std::string etag_of(const index_version& v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"c%llx.%llx\"", static_cast<unsigned long long>(v.epoch),
                static_cast<unsigned long long>(v.count));
  return buf;
}

bool if_none_match_hits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto end = header.find(',');
    auto item = header.substr(0, end);
    header.remove_prefix(end == std::string_view::npos ? header.size() : end + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
      item.remove_suffix(1);
    if (item == "*")
      return true;
    if (item.substr(0, 2) == "W/")
      item.remove_prefix(2);
    if (item == etag)
      return true;
  }
  return false;
}

} // namespace tf::store
