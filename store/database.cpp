#include "store/database.hpp"

#include "core/errors.hpp"
#include "store/index_version.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <string_view>
#include <unistd.h>
#include <unordered_map>
#include <utility>

namespace tf::store {

namespace {

/// Our error for a failed SQLite call. A full disk clears once space returns and the
/// client can do nothing but retry later, so it is `unavailable` (503) with a message fit to
/// show; SQLite's own text stays in `msg`, which only the log sees for other codes.
caf::error classify(int rc, std::string msg) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return make_error(ec::conflict, std::move(msg));
    case SQLITE_FULL:
      return make_error(ec::unavailable,
                        "the database cannot be written: the disk of its data_dir is full");
    default: return make_error(ec::database, std::move(msg));
  }
}

} // namespace

caf::error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string msg{what};
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return classify(rc, std::move(msg));
}

// -- statement cache ----------------------------------------------------------

/// Idle prepared statements of one connection, by their SQL text. Preparing parses and plans
/// the SQL; a webhook delivery prepared a dozen statements and spent a third of its CPU
/// there. A statement in use is out of the cache, so the same SQL can run nested.
struct statement_cache {
  // Keys view sqlite3_sql(stmt), owned by the statement they index.
  std::unordered_map<std::string_view, sqlite3_stmt*> idle;
  /// False once the connection closes: statements still out then are finalized, not kept.
  bool open = true;

  void close() {
    open = false;
    for (auto& entry : idle)
      sqlite3_finalize(entry.second);
    idle.clear();
  }
};

// -- statement ----------------------------------------------------------------

statement::statement(statement&& other) noexcept
  : db_{std::exchange(other.db_, nullptr)},
    stmt_{std::exchange(other.stmt_, nullptr)},
    home_{std::move(other.home_)},
    error_{std::move(other.error_)} {
}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    release();
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    home_ = std::move(other.home_);
    error_ = std::move(other.error_);
  }
  return *this;
}

statement::~statement() {
  release();
}

void statement::release() {
  if (stmt_ == nullptr)
    return;
  auto* stmt = std::exchange(stmt_, nullptr);
  auto home = std::move(home_);
  if (home && home->open && sqlite3_reset(stmt) == SQLITE_OK) {
    sqlite3_clear_bindings(stmt);
    const char* sql = sqlite3_sql(stmt);
    if (sql != nullptr && home->idle.emplace(std::string_view{sql}, stmt).second)
      return;
  }
  // Not cached: no cache, a closed connection (SQLite closes it with its last statement), a
  // failed last run (reset reports it), or an idle twin.
  sqlite3_finalize(stmt);
}

void statement::fail(int rc, const char* where) {
  if (!error_)
    error_ = sqlite_error(db_, rc, where);
}

statement& statement::bind(int index, std::string_view value) {
  auto rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                              SQLITE_TRANSIENT);
  if (rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

statement& statement::bind_borrowed(int index, std::string_view value) {
  auto rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                              SQLITE_STATIC);
  if (rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

statement& statement::bind(int index, int64_t value) {
  auto rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

statement& statement::bind(int index, double value) {
  auto rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

statement& statement::bind_or_null(int index, std::string_view value) {
  if (!value.empty())
    return bind(index, value);
  auto rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK)
    fail(rc, "bind");
  return *this;
}

bool statement::step() {
  if (error_)
    return false;
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc != SQLITE_DONE)
    fail(rc, "step");
  return false;
}

caf::error statement::run() {
  while (step()) {
    // Statements run this way return no rows of interest; drain them anyway.
  }
  return error_;
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  error_ = caf::error{};
}

std::string statement::text(int column) const {
  auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr)
    return {};
  auto n = sqlite3_column_bytes(stmt_, column);
  return std::string{reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
}

std::string_view statement::text_view(int column) const {
  auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr)
    return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

int64_t statement::integer(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double statement::real(int column) const {
  return sqlite3_column_double(stmt_, column);
}

bool statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t statement::changes() const {
  return sqlite3_changes64(db_);
}

// -- database -----------------------------------------------------------------

database::database(sqlite3* db) : db_{db}, cache_{std::make_shared<statement_cache>()} {
}

database::database(database&& other) noexcept
  : db_{std::exchange(other.db_, nullptr)},
    cache_{std::move(other.cache_)},
    secrets_{std::move(other.secrets_)} {
}

database& database::operator=(database&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
    secrets_ = std::move(other.secrets_);
  }
  return *this;
}

database::~database() {
  close();
}

void database::close() {
  if (cache_)
    cache_->close(); // finalizes the idle statements before the connection goes
  cache_.reset();
  if (db_ != nullptr)
    sqlite3_close_v2(std::exchange(db_, nullptr));
}

namespace {

/// Creates the database file with mode 0600 when it does not exist yet. SQLite would create
/// it 0644 (less the umask), and copies the main file's mode onto -wal and -shm.
caf::error create_private(const std::string& path) {
  if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0)
    return {};
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno == EEXIST)
    return {};
  return make_error(ec::database, "create " + path + ": " + std::strerror(errno));
}

} // namespace

caf::expected<database> database::open(const std::string& path, mode m) {
  // Before the library initialises (the first open): without memory statistics, which no
  // one reads, every allocation skips a process-wide mutex that the writer and the readers
  // would otherwise share. Refused (SQLITE_MISUSE, ignored) when SQLite is already set up.
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  if (m == mode::read_write)
    if (auto err = create_private(path))
      return err;
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= m == mode::read_write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                 : SQLITE_OPEN_READONLY;
  auto rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  database db{raw};
  if (rc != SQLITE_OK)
    return sqlite_error(raw, rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  // Readers and the writer share the file; a reader may briefly wait on a checkpoint.
  sqlite3_busy_timeout(raw, 5000);
  if (m == mode::read_write) {
    // WAL lets readers run beside the single writer; NORMAL is durable across
    // application crashes and only loses the last commits on power loss.
    if (auto err = db.exec("PRAGMA journal_mode=WAL"))
      return err;
    if (auto err = db.exec("PRAGMA synchronous=NORMAL"))
      return err;
    // Savepoints (each claim of a batch of webhook claims has one) keep their undo
    // journal in memory, not in a temporary file opened and written per statement.
    if (auto err = db.exec("PRAGMA temp_store=MEMORY"))
      return err;
    // The reconciler rewrites every row of a host in one transaction: with SQLite's default
    // 2 MB page cache a 10,000-row index and its indexes (more than 4 MB of pages) no longer
    // fit, and each tick spills and re-reads pages mid-transaction (bench/reconcile_bench:
    // 86 -> 62 ms a tick; a first tick creating 10,000 rows 520 -> 217 ms; 4 MB was still
    // slower). The cache grows only as pages are read, so a small index pays nothing; with
    // 10,000 rows it costs ~3 MB of RSS (bench/run's memory rows: 37.3 MB, limit 40).
    if (auto err = db.exec("PRAGMA cache_size=-8192"))
      return err;
    // The list's ETag counts this connection's commits to the containers index.
    watch_index_changes(raw);
  }
  if (auto err = db.exec("PRAGMA foreign_keys=ON"))
    return err;
  return db;
}

caf::expected<statement> database::prepare(std::string_view sql) {
  if (cache_) {
    auto i = cache_->idle.find(sql);
    if (i != cache_->idle.end()) {
      auto* idle = i->second;
      cache_->idle.erase(i);
      return statement{db_, idle, cache_};
    }
  }
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return sqlite_error(db_, rc, "prepare");
  }
  return statement{db_, stmt, cache_};
}

caf::error database::exec(std::string_view sql) {
  std::string copy{sql};
  char* msg = nullptr;
  auto rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK)
    return {};
  std::string text = msg != nullptr ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  return classify(rc, "exec: " + text);
}

caf::error database::exec_prepared(std::string_view sql) {
  auto st = prepare(sql);
  if (!st)
    return st.error();
  return st->run();
}

int64_t database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

// -- transaction --------------------------------------------------------------

caf::expected<transaction> transaction::begin(database& db) {
  if (transaction_open(db)) {
    if (auto err = db.exec_prepared("SAVEPOINT tf_tx"))
      return err;
    return transaction{&db, true};
  }
  // IMMEDIATE takes the write lock now, so a transaction never fails half-way on BUSY.
  if (auto err = db.exec_prepared("BEGIN IMMEDIATE"))
    return err;
  return transaction{&db, false};
}

transaction::transaction(transaction&& other) noexcept
  : db_{std::exchange(other.db_, nullptr)}, nested_{other.nested_} {
}

transaction::~transaction() {
  if (db_ == nullptr)
    return;
  if (!nested_) {
    // An error SQLite ended the transaction with left nothing to roll back.
    if (transaction_open(*db_))
      db_->exec_prepared("ROLLBACK");
    return;
  }
  // An error that ended the outer transaction (a full disk, an I/O error) took the
  // savepoint with it: there is nothing left to undo, and the outer owner sees it ended.
  if (transaction_open(*db_)) {
    db_->exec_prepared("ROLLBACK TO tf_tx");
    db_->exec_prepared("RELEASE tf_tx");
  }
}

caf::error transaction::commit() {
  if (db_ == nullptr)
    return make_error(ec::internal, "commit of a finished transaction");
  if (auto err = db_->exec_prepared(nested_ ? "RELEASE tf_tx" : "COMMIT"))
    return err;
  db_ = nullptr;
  return {};
}

bool transaction_open(const database& db) {
  return db.handle() != nullptr && sqlite3_get_autocommit(db.handle()) == 0;
}

// -- optimize -----------------------------------------------------------------

// -- read_snapshot ------------------------------------------------------------

read_snapshot::read_snapshot(database& db) : db_{&db} {
  error_ = db.exec_prepared("SAVEPOINT tf_read");
  if (error_)
    db_ = nullptr;
}

read_snapshot::~read_snapshot() {
  if (db_ != nullptr)
    db_->exec_prepared("RELEASE tf_read");
}

} // namespace tf::store
