// A thin RAII layer over SQLite: a connection, prepared statements with bound parameters,
// and a transaction that rolls back unless committed. No SQL is ever built from strings.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tf::store {

class database;
class secret_box;
struct statement_cache;

/// A prepared statement. Bind parameters by 1-based index, then step() or run().
class statement {
public:
  statement() = default;
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  statement& bind(int index, std::string_view value);
  statement& bind(int index, const char* value) { return bind(index, std::string_view{value}); }
  statement& bind(int index, const std::string& value) { return bind(index, std::string_view{value}); }
  statement& bind(int index, int64_t value);
  statement& bind(int index, int value) { return bind(index, int64_t{value}); }
  statement& bind(int index, bool value) { return bind(index, int64_t{value ? 1 : 0}); }
  statement& bind(int index, double value);
  /// Binds NULL when the string is empty: used for nullable foreign keys.
  statement& bind_or_null(int index, std::string_view value);
  /// Binds text that SQLite reads in place, without its own copy: the bytes must stay as
  /// they are until the statement is bound again or finalized (a batch binding fields of
  /// rows it holds, run once per row).
  statement& bind_borrowed(int index, std::string_view value);

  /// Advances to the next row: true when a row is ready, false when done.
  /// Errors are kept and reported by error() / run().
  bool step();
  /// Runs a statement that returns no rows.
  caf::error run();
  /// Makes the statement ready to bind and run again (a prepared statement reused in a loop).
  void reset();
  /// The first error seen while binding or stepping, if any.
  const caf::error& error() const { return error_; }

  std::string text(int column) const;
  /// The column's text without a copy: valid until the next step(), reset() or release.
  std::string_view text_view(int column) const;
  int64_t integer(int column) const;
  double real(int column) const;
  bool is_null(int column) const;

  /// Rows changed by the last run() (sqlite3_changes of the connection).
  int64_t changes() const;

private:
  friend class database;
  statement(sqlite3* db, sqlite3_stmt* stmt, std::shared_ptr<statement_cache> home)
    : db_{db}, stmt_{stmt}, home_{std::move(home)} {}
  void fail(int rc, const char* where);
  /// Gives the statement back to its connection's cache (reset), or finalizes it.
  void release();

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  /// Shared, so a statement that outlives its database finds the cache closed, not freed.
  std::shared_ptr<statement_cache> home_;
  caf::error error_;
};

/// One SQLite connection. The store writer owns the only read-write one.
class database {
public:
  enum class mode { read_write, read_only };

  /// An unopened connection (the state of an actor before it takes one).
  database() = default;
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  database(database&& other) noexcept;
  database& operator=(database&& other) noexcept;
  ~database();

  /// Opens (creating when read_write) the file; turns on WAL, foreign keys and a busy timeout.
  /// A new file is created with mode 0600 before SQLite opens it: SQLite gives its -wal and
  /// -shm files the mode of the database file, so none of them is ever readable by others.
  static caf::expected<database> open(const std::string& path, mode m);

  /// A statement for this SQL: an idle one prepared before (the cache), else a new one.
  caf::expected<statement> prepare(std::string_view sql);
  /// Runs SQL that has no parameters (schema statements, pragmas).
  caf::error exec(std::string_view sql);
  /// Runs one statement without parameters through the cache: the transaction controls,
  /// which run for every claim of a webhook batch and were parsed anew each time by exec().
  caf::error exec_prepared(std::string_view sql);

  int64_t last_insert_rowid() const;
  sqlite3* handle() const { return db_; }

  /// The key that seals and opens the secrets on this connection (store/secrets.hpp);
  /// shared by the writer and the readers. Null until unlock_secrets() gives one.
  void use_secrets(std::shared_ptr<const secret_box> box) { secrets_ = std::move(box); }
  const secret_box* secrets() const { return secrets_.get(); }

private:
  explicit database(sqlite3* db);
  void close();
  sqlite3* db_ = nullptr;
  /// On the heap so statements keep their way home when the database object moves.
  std::shared_ptr<statement_cache> cache_;
  std::shared_ptr<const secret_box> secrets_;
};

/// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() succeeded.
/// Inside a transaction already open on the connection (the writer committing a batch of
/// webhook claims as one, store/webhooks.hpp), it is a SAVEPOINT instead: commit() releases
/// it into the outer transaction, and destruction undoes only its own statements.
class transaction {
public:
  static caf::expected<transaction> begin(database& db);
  transaction(transaction&& other) noexcept;
  transaction& operator=(transaction&&) = delete;
  transaction(const transaction&) = delete;
  ~transaction();
  caf::error commit();

private:
  transaction(database* db, bool nested) : db_{db}, nested_{nested} {}
  database* db_ = nullptr;
  bool nested_ = false;
};

/// Whether a transaction is open on the connection.
bool transaction_open(const database& db);

/// Makes the statements run while it lives see one snapshot of the database (a SAVEPOINT,
/// which also nests inside the writer's transaction), so a list's items and its total, or a
/// project and its stages, never come from two different commits.
class read_snapshot {
public:
  explicit read_snapshot(database& db);
  read_snapshot(const read_snapshot&) = delete;
  read_snapshot& operator=(const read_snapshot&) = delete;
  ~read_snapshot();
  /// Set when the snapshot could not be taken.
  const caf::error& error() const { return error_; }

private:
  database* db_;
  caf::error error_;
};


/// Maps an SQLite result code (with the connection's message) onto our error values:
/// constraint violations become ec::conflict, a full disk ec::unavailable (a message fit
/// for the client: space may come back), everything else ec::database.
caf::error sqlite_error(sqlite3* db, int rc, std::string_view what);

} // namespace tf::store
