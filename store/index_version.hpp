// Versions of what a client polls or sends on every request, as numbers the one writer
// connection of a database file raises after each commit that changed them, read without
// touching the database:
//  - the containers index as the API shows it (the rows of `containers`, `workloads`,
//    whose app_id a filter reads, and `host_listings`, the last sighting of live rows): GET /api/containers answers its ETag from it, so a
//    client polling an unchanged index pays no read at all;
//  - the credentials (users, sessions, api_tokens): the HTTP guard keeps the identities it
//    resolved while it is unchanged, so a revoked token or an ended session is refused from
//    the commit that ended it on.
//
// Ordering: the writer raises a number when the commit begins (SQLite's commit hook) and
// again once it is visible to readers (the WAL hook, after the commit); a reader reads the
// number before its snapshot. So what was read is never older than the version it is
// tagged with, except between those two raises, and the second raise retags it: nothing
// old is kept under a current tag.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;

namespace tf::store {

class database;

struct index_version {
  /// Random per process and file: a count restarted by a new daemon is another version.
  uint64_t epoch = 0;
  uint64_t count = 0;
  bool operator==(const index_version& o) const { return epoch == o.epoch && count == o.count; }
  bool operator!=(const index_version& o) const { return !(*this == o); }
};

/// The versions of one database file. Any thread may read them.
class change_versions {
public:
  index_version containers() const { return {epoch_, containers_.load(std::memory_order_acquire)}; }
  index_version credentials() const {
    return {epoch_, credentials_.load(std::memory_order_acquire)};
  }
  /// The workloads table alone: its secrets and webhook settings (the webhook router keeps
  /// what a secret resolved to while this holds).
  index_version workloads() const { return {epoch_, workloads_.load(std::memory_order_acquire)}; }

private:
  friend struct change_hooks;
  const uint64_t epoch_ = random_epoch();
  std::atomic<uint64_t> containers_{0};
  std::atomic<uint64_t> credentials_{0};
  std::atomic<uint64_t> workloads_{0};
  /// Set by the update hook during a write transaction; only one connection writes a file
  /// at a time, so one flag per file serves every connection.
  std::atomic<bool> containers_dirty_{false};
  std::atomic<bool> credentials_dirty_{false};
  std::atomic<bool> workloads_dirty_{false};
  static uint64_t random_epoch();
};

/// Raises the versions after this read-write connection's commits (installs the update,
/// commit, rollback and WAL hooks; the WAL hook also checkpoints as SQLite's default one
/// does, at 1000 pages, which a WAL hook replaces). database::open calls it for the writer.
void watch_index_changes(sqlite3* db);

/// The versions of the database file `db` is open on (any connection of this process). The
/// object lives as long as the process.
const change_versions& versions_of(const database& db);

/// The containers index version of `db`'s file.
inline index_version current_index_version(const database& db) {
  return versions_of(db).containers();
}

/// A version as an HTTP entity tag: "c<epoch>.<count>" in hex, quotes included.
std::string etag_of(const index_version& v);

/// True when an If-None-Match header value names `etag` (RFC 9110 13.1.2: "*", or a
/// comma-separated list of tags compared weakly, so W/"x" matches "x").
bool if_none_match_hits(std::string_view header, std::string_view etag);

} // namespace tf::store
