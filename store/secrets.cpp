#include "store/secrets.hpp"

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/query.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace tf::store {

namespace {

constexpr std::string_view sealed_prefix = "v1:";
constexpr size_t nonce_size = 12;
constexpr size_t tag_size = 16;
/// What the check row seals: opening it proves the key is this database's.
constexpr std::string_view check_plain = "tinyforge secret key check";

std::string errno_text() {
  return std::strerror(errno);
}

caf::error key_error(const std::string& path, const std::string& why) {
  return make_error(ec::bad_config, "secret key file " + path + ": " + why);
}

/// Closes a file descriptor when it goes out of scope.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::string base64(const std::vector<unsigned char>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                           static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0)
    return std::nullopt;
  std::vector<unsigned char> out(text.size() / 4 * 3);
  auto n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // DecodeBlock counts the bytes '=' padding stands for; drop them.
  size_t pad = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

caf::error tampered() {
  return make_error(ec::database,
                    "a stored secret failed its integrity check: the row was altered, or the "
                    "key file is not the one this database was sealed with");
}

/// Every secret column of the workloads table, by id.
struct plain_row {
  std::string id;
  std::string notification_secret;
  std::string webhook_secret;
  std::string webhook_signing_secret;
};

} // namespace

// -- secret_box -----------------------------------------------------------------

secret_box::secret_box(secret_box&& other) noexcept : key_{other.key_} {
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
}

secret_box::~secret_box() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

caf::expected<secret_box> secret_box::load(const std::string& key_path) {
  fd_guard f{::open(key_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (f.fd < 0)
    return key_error(key_path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return key_error(key_path, "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode))
    return key_error(key_path, "not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return key_error(key_path, std::string{"mode "} + mode
                                 + " lets others read it; refused (chmod 600 it, and treat "
                                   "the secrets it protects as exposed)");
  }
  if (st.st_size != static_cast<off_t>(key_size))
    return key_error(key_path, "size " + std::to_string(st.st_size) + " bytes, expected "
                                 + std::to_string(key_size));
  secret_box box;
  size_t got = 0;
  while (got < key_size) {
    auto n = ::read(f.fd, box.key_.data() + got, key_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return key_error(key_path, "short read");
    got += static_cast<size_t>(n);
  }
  return box;
}

caf::expected<secret_box> secret_box::create(const std::string& key_path) {
  secret_box box;
  if (RAND_bytes(box.key_.data(), static_cast<int>(key_size)) != 1)
    return make_error(ec::internal, "RAND_bytes failed for the secret key");
  fd_guard f{::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600)};
  if (f.fd < 0)
    return key_error(key_path, "cannot create: " + errno_text());
  size_t put = 0;
  while (put < key_size) {
    auto n = ::write(f.fd, box.key_.data() + put, key_size - put);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::unlink(key_path.c_str());
      return key_error(key_path, "cannot write: " + errno_text());
    }
    put += static_cast<size_t>(n);
  }
  // The key must be on disk before anything sealed with it is committed.
  if (::fsync(f.fd) != 0) {
    ::unlink(key_path.c_str());
    return key_error(key_path, "cannot fsync: " + errno_text());
  }
  return box;
}

bool secret_box::is_sealed(std::string_view stored) {
  return stored.substr(0, sealed_prefix.size()) == sealed_prefix;
}

caf::expected<std::string> secret_box::seal(std::string_view plain) const {
  if (plain.empty())
    return std::string{};
  std::vector<unsigned char> out(nonce_size + plain.size() + tag_size);
  if (RAND_bytes(out.data(), static_cast<int>(nonce_size)) != 1)
    return make_error(ec::internal, "RAND_bytes failed for a nonce");
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx{EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free};
  int len = 0;
  int tail = 0;
  if (!ctx
      || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), out.data()) != 1
      || EVP_EncryptUpdate(ctx.get(), out.data() + nonce_size, &len,
                           reinterpret_cast<const unsigned char*>(plain.data()),
                           static_cast<int>(plain.size()))
           != 1
      || EVP_EncryptFinal_ex(ctx.get(), out.data() + nonce_size + len, &tail) != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                             out.data() + nonce_size + plain.size())
           != 1)
    return make_error(ec::internal, "AES-256-GCM sealing failed");
  return std::string{sealed_prefix} + base64(out);
}

caf::expected<std::string> secret_box::open(std::string_view stored) const {
  if (stored.empty())
    return std::string{};
  if (!is_sealed(stored))
    return make_error(ec::database, "a stored secret is not sealed (no \"v1:\" prefix)");
  auto bytes = unbase64(stored.substr(sealed_prefix.size()));
  if (!bytes || bytes->size() <= nonce_size + tag_size)
    return tampered();
  auto text_size = bytes->size() - nonce_size - tag_size;
  std::string plain(text_size, '\0');
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx{EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free};
  int len = 0;
  int tail = 0;
  if (!ctx
      || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes->data())
           != 1
      || EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                           bytes->data() + nonce_size, static_cast<int>(text_size))
           != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size),
                             bytes->data() + nonce_size + text_size)
           != 1)
    return make_error(ec::internal, "AES-256-GCM opening failed");
  // Final checks the tag: any changed byte of nonce, ciphertext or tag fails here.
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &tail)
      != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return tampered();
  }
  return plain;
}

std::string secret_box::lookup_hash(std::string_view secret) const {
  if (secret.empty())
    return {};
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_size),
       reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), mac, &n);
  return hex_of(mac, n);
}

// -- the store's secrets --------------------------------------------------------

std::string key_path_for(const std::string& db_path) {
  auto dir = std::filesystem::path{db_path}.parent_path();
  return (dir / "tinyforge.key").string();
}

namespace {

caf::expected<std::optional<std::string>> stored_check(database& db) {
  return find_one(db, "SELECT sealed FROM secret_key_check WHERE id = 1", text_of_first_column);
}

/// Seals the secrets of every workload row and every user's TOTP seed still in plain form
/// (from before migration 8) and fills in the webhook lookup column; one transaction, so a
/// crash leaves all or none.
caf::error seal_plain_rows(database& db, const secret_box& box) {
  return in_transaction(db, [&]() -> caf::error {
    auto rows = select_all(
      db,
      "SELECT id, notification_secret, webhook_secret, webhook_signing_secret FROM workloads "
      "WHERE (notification_secret != '' AND notification_secret NOT LIKE 'v1:%') "
      "OR (webhook_secret != '' AND webhook_secret NOT LIKE 'v1:%') "
      "OR (webhook_signing_secret != '' AND webhook_signing_secret NOT LIKE 'v1:%')",
      columns(&plain_row::id, &plain_row::notification_secret, &plain_row::webhook_secret,
              &plain_row::webhook_signing_secret));
    if (!rows)
      return rows.error();
    for (auto& r : *rows) {
      std::string lookup;
      for (auto* field : {&r.notification_secret, &r.webhook_secret, &r.webhook_signing_secret}) {
        if (field->empty() || secret_box::is_sealed(*field))
          continue;
        if (field == &r.webhook_secret)
          lookup = box.lookup_hash(*field);
        auto sealed = box.seal(*field);
        if (!sealed)
          return sealed.error();
        *field = std::move(*sealed);
      }
      if (auto err = run(db,
                         "UPDATE workloads SET notification_secret = ?1, webhook_secret = ?2, "
                         "webhook_signing_secret = ?3, "
                         "webhook_secret_lookup = CASE WHEN ?4 = '' THEN webhook_secret_lookup "
                         "ELSE ?4 END WHERE id = ?5",
                         r.notification_secret, r.webhook_secret, r.webhook_signing_secret,
                         lookup, r.id))
        return err;
    }
    // The users' TOTP seeds.
    auto seeds = select_all(db,
                            "SELECT id, totp_secret FROM users "
                            "WHERE totp_secret != '' AND totp_secret NOT LIKE 'v1:%'",
                            [](const statement& st) {
                              return std::pair{st.text(0), st.text(1)};
                            });
    if (!seeds)
      return seeds.error();
    for (const auto& [id, seed] : *seeds) {
      auto sealed = box.seal(seed);
      if (!sealed)
        return sealed.error();
      if (auto err = run(db, "UPDATE users SET totp_secret = ?1 WHERE id = ?2", *sealed, id))
        return err;
    }
    return {};
  });
}

} // namespace

caf::expected<std::shared_ptr<const secret_box>> unlock_secrets(database& db,
                                                                const std::string& key_path) {
  auto check = stored_check(db);
  if (!check)
    return check.error();
  std::error_code fs_err;
  bool have_key = std::filesystem::exists(std::filesystem::symlink_status(key_path, fs_err));
  if (!have_key && *check)
    return make_error(ec::bad_config,
                      "the database's secrets are sealed, but their key file " + key_path
                        + " is missing: restore it with the database (a database copied "
                          "without its key file cannot reveal its secrets)");
  auto loaded = have_key ? secret_box::load(key_path) : secret_box::create(key_path);
  if (!loaded)
    return loaded.error();
  auto box = std::make_shared<const secret_box>(std::move(*loaded));
  if (*check) {
    auto opened = box->open(**check);
    if (!opened || *opened != check_plain)
      return make_error(ec::bad_config, "the key file " + key_path
                                          + " is not the one this database's secrets were "
                                            "sealed with");
  } else {
    auto sealed = box->seal(check_plain);
    if (!sealed)
      return sealed.error();
    if (auto err = run(db, "INSERT INTO secret_key_check(id, sealed) VALUES (1, ?1)", *sealed))
      return err;
  }
  if (auto err = seal_plain_rows(db, *box))
    return err;
  db.use_secrets(box);
  return box;
}

caf::expected<std::string> seal_secret(const database& db, std::string_view plain) {
  if (db.secrets() == nullptr)
    return make_error(ec::unavailable, "secrets are unavailable: no key is loaded");
  return db.secrets()->seal(plain);
}

caf::error reveal_secret(const database& db, std::string& field) {
  if (field.empty())
    return {};
  if (db.secrets() == nullptr)
    return make_error(ec::unavailable, "secrets are unavailable: no key is loaded");
  auto plain = db.secrets()->open(field);
  if (!plain)
    return plain.error();
  field = std::move(*plain);
  return {};
}

caf::expected<sealed_secrets> new_sealed_secrets(const database& db) {
  if (db.secrets() == nullptr)
    return make_error(ec::unavailable, "secrets are unavailable: no key is loaded");
  const auto& box = *db.secrets();
  sealed_secrets out;
  auto webhook = new_secret();
  out.webhook_lookup = box.lookup_hash(webhook);
  for (auto [field, plain] : {std::pair{&out.notification, new_secret()},
                              std::pair{&out.webhook, webhook},
                              std::pair{&out.signing, new_secret()}}) {
    auto sealed = box.seal(plain);
    if (!sealed)
      return sealed.error();
    *field = std::move(*sealed);
  }
  return out;
}

caf::expected<std::string> webhook_lookup(const database& db, std::string_view secret) {
  if (db.secrets() == nullptr)
    return make_error(ec::unavailable, "secrets are unavailable: no key is loaded");
  return db.secrets()->lookup_hash(secret);
}

} // namespace tf::store
