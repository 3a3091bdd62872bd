// Secrets at rest (issue 13, item 7): the data dir is 0700 and the database files and the key
// file 0600 from their creation, and looser ones are tightened at start with a warning; the
// workloads' webhook, signing and notification secrets are sealed with AES-256-GCM under the
// key file, so the database file alone (read raw, or copied elsewhere) does not reveal them,
// while the store still returns them and routes a webhook by its secret.
#include <doctest/doctest.h>

#include "actors/docker_worker.hpp"
#include "api_client.hpp"
#include "core/auth_model.hpp"
#include "core/model.hpp"
#include "deploy_api_fixture.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "process.hpp"
#include "signing.hpp"
#include "store/data_dir.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/password.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"
#include "store/totp.hpp"
#include "store/users.hpp"
#include "store/webhooks.hpp"
#include "store/workloads.hpp"
#include "store_sql.hpp"

#include <openssl/evp.h>

#include <sys/stat.h>

#include <httplib.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using namespace tf::store;
using namespace tf::test;

namespace {

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, "stat " << path);
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Every form a leaked secret could take in the file: its hex text in either case, its 32
/// raw bytes, and their base64.
std::vector<std::string> forms_of(const std::string& hex) {
  std::vector<std::string> out{hex};
  std::string upper;
  for (char c : hex)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  out.push_back(upper);
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  out.push_back(raw);
  std::string b64(4 * ((raw.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                           reinterpret_cast<const unsigned char*>(raw.data()),
                           static_cast<int>(raw.size()));
  b64.resize(static_cast<size_t>(n));
  out.push_back(b64);
  return out;
}

/// A database as start_store leaves it: created, migrated, its secrets unlocked.
caf::expected<database> open_store(const std::string& path) {
  auto db = database::open(path, database::mode::read_write);
  if (!db)
    return db.error();
  if (auto applied = migrate(*db); !applied)
    return applied.error();
  if (auto secrets = unlock_secrets(*db, key_path_for(path)); !secrets)
    return secrets.error();
  return db;
}

tf::project one_project(const std::string& name) {
  tf::project p;
  p.name = name;
  p.image = "registry.example.com/team/" + name;
  tf::stage s;
  s.name = "production";
  s.port = 8080;
  p.stages.push_back(s);
  return p;
}

/// A data dir with a database holding one project; its workload as the store returns it.
struct sealed_fixture {
  temp_dir tmp;
  std::string dir = tmp.file("data");
  std::string path = dir + "/tinyforge.db";
  tf::workload w;

  sealed_fixture() {
    MUST(secure_data_dir(dir));
    auto db = MUST(open_store(path));
    auto p = MUST(create_project(db, one_project("api")));
    w = MUST(get_workload(db, p.workload_id));
  }
};

} // namespace

TEST_CASE("a fresh data dir is 0700 and the database, its -wal and -shm and the key are 0600") {
  // A permissive umask: the modes must come from how the files are created, not from it.
  auto old_umask = ::umask(022);
  temp_dir tmp;
  auto dir = tmp.file("var/lib/data");
  auto fixes = MUST(secure_data_dir(dir));
  CHECK(fixes.empty());
  CHECK(mode_of(dir) == 0700);
  {
    auto db = MUST(open_store(dir + "/tinyforge.db"));
    MUST(create_project(db, one_project("api")));
    // While the connection is open, WAL mode keeps its -wal and -shm beside the file.
    for (const char* name : {"tinyforge.db", "tinyforge.db-wal", "tinyforge.db-shm",
                             "tinyforge.key"}) {
      INFO(name);
      REQUIRE(fs::exists(dir + "/" + name));
      CHECK(mode_of(dir + "/" + name) == 0600);
    }
    CHECK(fs::file_size(dir + "/tinyforge.key") == 32);
  }
  ::umask(old_umask);
}

TEST_CASE("an existing 0755 data dir with 0644 database files is tightened, each fix named") {
  temp_dir tmp;
  auto dir = tmp.file("data");
  fs::create_directories(dir);
  for (const char* name : {"tinyforge.db", "tinyforge.db-wal", "tinyforge.db-shm"})
    std::ofstream{dir + "/" + name};
  ::chmod(dir.c_str(), 0755);
  for (const char* name : {"tinyforge.db", "tinyforge.db-wal", "tinyforge.db-shm"})
    ::chmod((dir + "/" + name).c_str(), 0644);

  auto fixes = MUST(secure_data_dir(dir));
  REQUIRE(fixes.size() == 4);
  CHECK(fixes[0].path == dir);
  CHECK(fixes[0].old_mode == 0755);
  CHECK(describe(fixes[0]) == "path=" + dir + " old_mode=0755 new_mode=0700");
  CHECK(fixes[1].path == dir + "/tinyforge.db");
  CHECK(fixes[1].old_mode == 0644);
  CHECK(mode_of(dir) == 0700);
  for (const char* name : {"tinyforge.db", "tinyforge.db-wal", "tinyforge.db-shm"})
    CHECK(mode_of(dir + "/" + name) == 0600);
  // A second start has nothing left to fix.
  CHECK(MUST(secure_data_dir(dir)).empty());
}

TEST_CASE_FIXTURE(sealed_fixture, "the raw database holds no secret in any form, the store returns them") {
  REQUIRE(w.webhook_secret.size() == 64);
  REQUIRE(w.webhook_signing_secret.size() == 64);
  REQUIRE(w.notification_secret.size() == 64);
  // The connection is closed: everything is in the main file (and any -wal left over).
  auto raw = slurp(path);
  if (fs::exists(path + "-wal"))
    raw += slurp(path + "-wal");
  REQUIRE(raw.size() > 0);
  for (const auto* secret : {&w.webhook_secret, &w.webhook_signing_secret, &w.notification_secret})
    for (const auto& form : forms_of(*secret))
      CHECK_MESSAGE(raw.find(form) == std::string::npos, "found in the file: " << *secret);

  // What SQLite itself returns for the columns is the sealed form, a fresh nonce each.
  auto db = MUST(database::open(path, database::mode::read_only));
  for (const char* column : {"webhook_secret", "webhook_signing_secret", "notification_secret"}) {
    auto stored = sql_text(db, std::string{"SELECT "} + column + " FROM workloads");
    INFO(column << " = " << stored);
    CHECK(stored.rfind("v1:", 0) == 0);
    CHECK(stored.find(w.webhook_secret) == std::string::npos);
  }
  CHECK(sql_int(db, "SELECT COUNT(*) FROM workloads WHERE webhook_secret = ?1 "
                    "OR webhook_signing_secret = ?2 OR notification_secret = ?3",
                w.webhook_secret, w.webhook_signing_secret, w.notification_secret)
        == 0);

  // Reopened with its key: the same plain values, and a webhook finds its workload.
  auto rw = MUST(open_store(path));
  auto again = MUST(get_workload(rw, w.id));
  CHECK(again.webhook_secret == w.webhook_secret);
  CHECK(again.webhook_signing_secret == w.webhook_signing_secret);
  CHECK(again.notification_secret == w.notification_secret);
  auto project = MUST(get_project(rw, again.ref_id));
  CHECK(project.webhook_secret == w.webhook_secret);
  CHECK(MUST(find_workload_by_webhook_secret(rw, w.webhook_secret)).id == w.id);
  CHECK(code_of(find_workload_by_webhook_secret(rw, w.webhook_signing_secret)) == "not_found");
  auto wrong = w.webhook_secret;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  CHECK(code_of(find_workload_by_webhook_secret(rw, wrong)) == "not_found");

  // Rotation seals the new ones too and retires the old lookup.
  auto rotated = MUST(rotate_secrets(rw, w.id));
  CHECK(MUST(find_workload_by_webhook_secret(rw, rotated.webhook_secret)).id == w.id);
  CHECK(code_of(find_workload_by_webhook_secret(rw, w.webhook_secret)) == "not_found");
  CHECK(sql_int(rw, "SELECT COUNT(*) FROM workloads WHERE webhook_secret = ?1",
                rotated.webhook_secret)
        == 0);
}

TEST_CASE_FIXTURE(sealed_fixture, "a database copied without its key file cannot reveal its secrets") {
  temp_dir elsewhere;
  auto copy_dir = elsewhere.file("data");
  MUST(secure_data_dir(copy_dir));
  fs::copy_file(path, copy_dir + "/tinyforge.db");

  // No key beside it: refused at open, and no new key is made that would hide the loss.
  auto opened = open_store(copy_dir + "/tinyforge.db");
  CHECK(code_of(opened) == "bad_config");
  CHECK(message_of(opened).find("key file " + copy_dir + "/tinyforge.key is missing")
        != std::string::npos);
  CHECK_FALSE(fs::exists(copy_dir + "/tinyforge.key"));

  // Another daemon's key: refused too, it does not open the check value.
  MUST(secret_box::create(copy_dir + "/tinyforge.key"));
  opened = open_store(copy_dir + "/tinyforge.db");
  CHECK(code_of(opened) == "bad_config");
  CHECK(message_of(opened).find("is not the one") != std::string::npos);

  // With its own key the copy opens and reads.
  fs::remove(copy_dir + "/tinyforge.key");
  fs::copy_file(dir + "/tinyforge.key", copy_dir + "/tinyforge.key");
  auto db = MUST(open_store(copy_dir + "/tinyforge.db"));
  CHECK(MUST(get_workload(db, w.id)).notification_secret == w.notification_secret);
}

TEST_CASE_FIXTURE(sealed_fixture, "a key file readable by others or of the wrong size is refused") {
  auto key = dir + "/tinyforge.key";
  ::chmod(key.c_str(), 0644);
  auto opened = open_store(path);
  CHECK(code_of(opened) == "bad_config");
  CHECK(message_of(opened).find(key + ": mode 0644") != std::string::npos);
  CHECK(mode_of(key) == 0644); // refused, not quietly tightened: the key may have leaked

  ::chmod(key.c_str(), 0600);
  fs::resize_file(key, 31);
  opened = open_store(path);
  CHECK(code_of(opened) == "bad_config");
  CHECK(message_of(opened).find("size 31 bytes, expected 32") != std::string::npos);
}

TEST_CASE_FIXTURE(sealed_fixture, "a tampered sealed secret is detected, not returned") {
  auto db = MUST(open_store(path));
  auto stored = sql_text(db, "SELECT webhook_signing_secret FROM workloads WHERE id = ?1", w.id);
  // One character of the nonce, the ciphertext and the tag in turn.
  for (size_t at : {size_t{5}, stored.size() / 2, stored.size() - 3}) {
    auto changed = stored;
    changed[at] = changed[at] == 'A' ? 'B' : 'A';
    sql_run(db, "UPDATE workloads SET webhook_signing_secret = ?1 WHERE id = ?2", changed, w.id);
    auto read = get_workload(db, w.id);
    INFO("changed at " << at);
    CHECK(code_of(read) == "database");
    CHECK(message_of(read).find("integrity check") != std::string::npos);
  }
  sql_run(db, "UPDATE workloads SET webhook_signing_secret = ?1 WHERE id = ?2", stored, w.id);
  CHECK(MUST(get_workload(db, w.id)).webhook_signing_secret == w.webhook_signing_secret);
}

TEST_CASE_FIXTURE(sealed_fixture, "plain secrets of an older database are sealed at open, once") {
  {
    // The row as migration 7 left it: plain secrets, no lookup value.
    auto db = MUST(database::open(path, database::mode::read_write));
    sql_run(db, "UPDATE workloads SET webhook_secret = ?1, webhook_signing_secret = ?2, "
                "notification_secret = ?3, webhook_secret_lookup = '' WHERE id = ?4",
            w.webhook_secret, w.webhook_signing_secret, w.notification_secret, w.id);
  }
  std::string sealed;
  {
    auto db = MUST(open_store(path));
    sealed = sql_text(db, "SELECT webhook_secret || notification_secret || "
                          "webhook_signing_secret FROM workloads WHERE id = ?1", w.id);
    CHECK(sealed.find(w.webhook_secret) == std::string::npos);
    CHECK(sealed.find(w.notification_secret) == std::string::npos);
    CHECK(sealed.find(w.webhook_signing_secret) == std::string::npos);
    CHECK(MUST(find_workload_by_webhook_secret(db, w.webhook_secret)).id == w.id);
    CHECK(MUST(get_workload(db, w.id)).notification_secret == w.notification_secret);
  }
  // Idempotent: a second open finds nothing plain and changes nothing.
  auto db = MUST(open_store(path));
  CHECK(sql_text(db, "SELECT webhook_secret || notification_secret || webhook_signing_secret "
                     "FROM workloads WHERE id = ?1", w.id)
        == sealed);
}

TEST_CASE_FIXTURE(sealed_fixture, "a user's TOTP seed is sealed too, and an older plain one at open") {
  auto seed = new_totp_secret();
  std::string user_id;
  {
    auto db = MUST(open_store(path));
    user_id = MUST(create_user(db, tf::new_user{"alice", MUST(hash_password("a long enough password")), true, false})).id;
    MUST_OK(set_totp(db, tf::totp_setting{user_id, seed}));
    CHECK(MUST(find_user(db, "alice")).totp_secret == seed);
    auto stored = sql_text(db, "SELECT totp_secret FROM users WHERE id = ?1", user_id);
    CHECK(stored.rfind("v1:", 0) == 0);
    CHECK(stored.find(seed) == std::string::npos);
  }
  auto raw = slurp(path) + (fs::exists(path + "-wal") ? slurp(path + "-wal") : std::string{});
  CHECK(raw.find(seed) == std::string::npos);

  {
    // As an older version kept it: plain.
    auto db = MUST(database::open(path, database::mode::read_write));
    sql_run(db, "UPDATE users SET totp_secret = ?1 WHERE id = ?2", seed, user_id);
  }
  auto db = MUST(open_store(path));
  CHECK(sql_text(db, "SELECT totp_secret FROM users WHERE id = ?1", user_id).rfind("v1:", 0) == 0);
  CHECK(MUST(find_user(db, "alice")).totp_secret == seed);
  // Turning TOTP off stores nothing.
  MUST_OK(set_totp(db, tf::totp_setting{user_id, ""}));
  CHECK(MUST(find_user(db, "alice")).totp_secret.empty());
}

TEST_CASE("the daemon tightens an existing data dir at start and says so") {
  temp_dir tmp;
  auto dir = tmp.file("data");
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  {
    auto db = MUST(open_store(dir + "/tinyforge.db"));
  }
  ::chmod((dir + "/tinyforge.db").c_str(), 0644);
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", dir}};
  d.require_port();
  auto text = d.stderr_text();
  CHECK(text.find("event=data-dir-mode-fixed path=" + dir + " old_mode=0755 new_mode=0700")
        != std::string::npos);
  CHECK(text.find("event=data-dir-mode-fixed path=" + dir + "/tinyforge.db old_mode=0644")
        != std::string::npos);
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(dir + "/tinyforge.db") == 0600);
  CHECK(mode_of(dir + "/tinyforge.key") == 0600);
  expect_clean_stop(d, SIGTERM);
}

TEST_CASE("the daemon refuses to start on a database whose key file is missing") {
  sealed_fixture sealed;
  fs::remove(sealed.dir + "/tinyforge.key");
  child_process d{{"serve", "--listen", "127.0.0.1:0", "--data_dir", sealed.dir}};
  expect_exit(d, 1, std::chrono::steady_clock::now());
  CHECK(d.stderr_text().find("event=store-open-failed") != std::string::npos);
  CHECK(d.stderr_text().find("tinyforge.key is missing") != std::string::npos);
  CHECK_FALSE(fs::exists(sealed.dir + "/tinyforge.key"));
}

namespace {

/// The real API server over the store, with the host's docker worker and the deployers, as
/// the workloads API tests run it.
struct api_fixture : deploy_api_fixture {
  api_fixture() : deploy_api_fixture{"secrets-test"} { start_with_docker_worker(); }
};

} // namespace

TEST_CASE_FIXTURE(api_fixture, "the API shows the secrets once and a webhook deploys, none of them in the file") {
  auto p = create_project(R"({"name":"sealed","image":"tinyforge-test/web","stages":[)"
                          R"({"name":"production","port":8080,"instances":1,"health_path":"/up"}]})");
  auto wl = str(p, "workload_id");
  auto res = bearer_client(port, token, {5s, 40s, 20s})
               .Post(("/api/workloads/" + wl + "/rotate-secrets").c_str(), "", "application/json");
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 200, res->body);
  auto rotated = json_of(res->body);
  auto url = str(rotated, "webhook_url");
  auto webhook_secret = url.substr(std::string{"/api/webhooks/"}.size());
  auto signing = str(rotated, "webhook_signing_secret");
  auto notification = str(rotated, "notification_secret");
  REQUIRE(webhook_secret.size() == 64);
  REQUIRE(signing.size() == 64);
  REQUIRE(notification.size() == 64);

  // The daemon's files as they are now, the -wal included (the store is running).
  auto db_path = dir.file("tinyforge.db");
  auto raw = slurp(db_path) + (fs::exists(db_path + "-wal") ? slurp(db_path + "-wal") : "");
  for (const auto* secret : {&webhook_secret, &signing, &notification})
    for (const auto& form : forms_of(*secret))
      CHECK_MESSAGE(raw.find(form) == std::string::npos, "found in the file: " << *secret);

  // The secret in the URL still routes the webhook to a deploy, and the signing secret
  // read back from its sealed form still verifies (new workloads require a signature).
  httplib::Client c{"127.0.0.1", port};
  c.set_read_timeout(40, 0);
  const std::string body = R"({"tag":"v1"})";
  auto ts = std::to_string(tf::test::unix_now());
  httplib::Headers signed_headers{
    {"X-Tinyforge-Timestamp", ts},
    {"X-Tinyforge-Signature", "sha256=" + tf::test::hmac_hex(signing, ts + "." + body)}};
  auto accepted = c.Post(url.c_str(), signed_headers, body, "application/json");
  REQUIRE(accepted);
  INFO("body: ", accepted->body);
  CHECK(accepted->status == 202);
  CHECK_FALSE(str(json_of(accepted->body), "deployment_id").empty());
}
