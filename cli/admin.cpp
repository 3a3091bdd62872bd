// `tinyforge admin create --username NAME`: adds an admin to the daemon's database, with
// the password read from stdin (never from an argument, which `ps` would show). Safe while
// the daemon runs: SQLite's WAL and busy timeout serialize this one write with the daemon's.
#include "core/errors.hpp"
#include "cli/commands.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/data_dir.hpp"
#include "store/password.hpp"
#include "store/users.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace tf::cli {

namespace {

/// One line from stdin (without its line end), or everything up to EOF when piped. The
/// echo is off when stdin is a terminal.
caf::expected<std::string> read_password() {
  const bool tty = isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::fprintf(stderr, "Password: ");
    tcgetattr(STDIN_FILENO, &saved);
    auto quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string text;
  int c = 0;
  while ((c = std::fgetc(stdin)) != EOF && c != '\n' && text.size() <= store::max_password_bytes)
    text.push_back(static_cast<char>(c));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fprintf(stderr, "\n");
  }
  if (!text.empty() && text.back() == '\r')
    text.pop_back();
  if (text.size() > store::max_password_bytes)
    return make_error(ec::invalid_argument, "the password is longer than "
                                              + std::to_string(store::max_password_bytes)
                                              + " bytes");
  if (auto err = store::check_new_password(text))
    return err;
  return text;
}

} // namespace

int admin_create(const config_sources& sources, const std::string& username) {
  auto cfg = load_config(sources);
  if (!cfg) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(cfg.error()).c_str());
    return 2;
  }
  if (auto err = store::validate_username(username)) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(err).c_str());
    return 2;
  }
  auto password = read_password();
  if (!password) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(password.error()).c_str());
    return 2;
  }
  auto fixed = store::secure_data_dir(cfg->data_dir);
  if (!fixed) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(fixed.error()).c_str());
    return 1;
  }
  for (const auto& fix : *fixed)
    std::fprintf(stderr, "tinyforge: warning: mode tightened (it was open to other users): %s\n",
                 store::describe(fix).c_str());
  auto path = (std::filesystem::path{cfg->data_dir} / "tinyforge.db").string();
  auto db = store::database::open(path, store::database::mode::read_write);
  if (!db) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(db.error()).c_str());
    return 1;
  }
  if (auto migrated = store::migrate(*db); !migrated) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(migrated.error()).c_str());
    return 1;
  }
  auto hash = store::hash_password(*password);
  if (!hash) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(hash.error()).c_str());
    return 1;
  }
  auto user = store::create_user(*db, new_user{username, *hash, true, false});
  if (!user) {
    std::fprintf(stderr, "tinyforge: %s\n", error_message(user.error()).c_str());
    return error_code(user.error()) == ec::conflict ? 3 : 1;
  }
  audit_entry audit{"cli", "user.create", "user", user->id, "{}", "local"};
  if (auto err = store::append_audit(*db, audit))
    std::fprintf(stderr, "tinyforge: warning: no audit row: %s\n", error_message(err).c_str());
  std::printf("created admin \"%s\" (id %s)\n", user->username.c_str(), user->id.c_str());
  return 0;
}

} // namespace tf::cli
