// Static sites through the API of a real daemon, the real engine and Caddy (issue 15): a
// release is a .tar.gz made by GNU tar, unpacked by the daemon, served by a container that
// resolves /site/current per request; deploys switch that link, rollback switches it back,
// and a hostile archive is refused while the live site keeps serving.
#include "deploy_harness.hpp"
#include "expect.hpp"
#include "load.hpp"
#include "actors/webhook_signatures.hpp"
#include "net.hpp"

#include <condition_variable>
#include <mutex>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace tf::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The limits these tests run the daemon with: small enough to cross cheaply.
constexpr int64_t upload_limit = 8 << 20;
constexpr int64_t unpacked_limit = 4 << 20;
constexpr int64_t file_limit = 50;

env_options site_env(proxy_kind proxy = proxy_kind::caddy) {
  env_options o;
  o.proxy = proxy;
  o.extra_flags = {"--sites.image", "tinyforge-test/web:v1",
                   "--sites.upload_limit_bytes", std::to_string(upload_limit),
                   "--sites.max_unpacked_bytes", std::to_string(unpacked_limit),
                   "--sites.max_files", std::to_string(file_limit)};
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream{p, std::ios::binary} << text;
}

/// A directory of files, packed by GNU tar as a user's CI would (extra tar flags allowed).
class site_files {
public:
  explicit site_files(const temp_dir& tmp)
    : dir_{tmp.file("site-" + std::to_string(++made_))} {
    fs::create_directories(dir_);
  }
  site_files& add(const std::string& name, const std::string& text) {
    write_file(dir_ / name, text);
    return *this;
  }
  const fs::path& dir() const { return dir_; }

  /// The archive of `members` (default: the whole directory) with `flags` before them.
  std::string pack(const std::vector<std::string>& flags = {},
                   const std::vector<std::string>& members = {"."}) const {
    auto out = dir_.string() + ".tgz";
    std::vector<std::string> argv{"tar", "-czf", out, "-C", dir_.string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), members.begin(), members.end());
    auto r = run_command(argv);
    if (r.exit_code != 0)
      throw harness_error("tar failed: " + r.output);
    return read_file(out);
  }

private:
  static inline int made_ = 0;
  fs::path dir_;
};

/// A site with index, /up and /version (the body the checks read).
std::string release_archive(const temp_dir& tmp, const std::string& version) {
  return site_files{tmp}
    .add("index.html", "<!doctype html><title>site " + version + "</title>")
    .add("version", version)
    .add("assets/app.js", "console.log('" + version + "');")
    .pack();
}

/// A site created through the API (its containers removed by the env at the end).
class test_site {
public:
  explicit test_site(deploy_env& env) : env_{env} {
    subdomain = deploy_env::unique_subdomain("site");
    auto r = env.api().post("/api/sites", "{\"name\":" + quote(subdomain) + ",\"subdomain\":"
                                            + quote(subdomain) + ",\"keep_releases\":3}");
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto doc = json_of(r.body);
    id = str(doc, "id");
    workload_id = str(doc, "workload_id");
    REQUIRE(!workload_id.empty());
    env.track_workload(workload_id);
  }

  http_reply upload(const std::string& archive) const {
    return env_.api().post_body("/api/sites/" + id + "/deploy", archive, "application/gzip");
  }

  /// Uploads and waits for the deploy's end; its view.
  deployment_view deploy(const std::string& archive) const {
    auto r = upload(archive);
    INFO(r.body);
    REQUIRE(r.status == 202);
    return wait(str(json_of(r.body), "deployment_id"));
  }

  deployment_view rollback() const {
    auto r = env_.api().post("/api/sites/" + id + "/rollback");
    INFO(r.body);
    REQUIRE(r.status == 202);
    return wait(str(json_of(r.body), "deployment_id"));
  }

  deployment_view wait(const std::string& deployment_id) const {
    auto done = env_.wait_finished(deployment_id, 120s);
    INFO(env_.logs());
    REQUIRE(done);
    REQUIRE(done->finished());
    return *done;
  }

  /// What the proxy serves for the site's host at /version.
  std::string served() const { return proxy_get(env_.proxy_port(), subdomain, "/version").body; }

  /// The release directories on disk.
  size_t releases_on_disk() const {
    size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it{env_.tmp().file("data") + "/sites/" + id + "/releases", ec}, end;
         !ec && it != end; it.increment(ec))
      ++n;
    return n;
  }

  std::string id, workload_id, subdomain;

private:
  deploy_env& env_;
};

} // namespace

TEST_CASE("sites: release 1 then 2 serves 2, rollback serves 1, and the container is indexed") {
  deploy_env env{site_env()};
  test_site s{env};
  auto first = s.deploy(release_archive(env.tmp(), "r1"));
  INFO(first.log_text());
  REQUIRE(first.status == "succeeded");
  CHECK(poll_until(15s, [&] { return s.served() == "r1"; }));

  auto second = s.deploy(release_archive(env.tmp(), "r2"));
  REQUIRE(second.status == "succeeded");
  CHECK(s.served() == "r2"); // a switch is a rename: served at once, no waiting
  CHECK(second.tag != first.tag);
  auto row = json_of(env.api().get("/api/sites/" + s.id).body);
  CHECK(str(row, "current_release") == second.tag);

  auto back = s.rollback();
  CHECK(back.status == "succeeded");
  CHECK(back.tag == first.tag);
  CHECK(s.served() == "r1");
  CHECK(str(json_of(env.api().get("/api/sites/" + s.id).body), "current_release") == first.tag);
  // Nothing before the first release: a second rollback has nowhere to go.
  CHECK(env.api().post("/api/sites/" + s.id + "/rollback").status == 409);

  // One container serves the site, indexed as the site's "web" and running.
  auto rows = json_of(env.api().get("/api/containers?workload_id=" + s.workload_id).body);
  REQUIRE(rows["items"].Size() == 1);
  CHECK(str(rows["items"][0], "role") == "web");
  CHECK(str(rows["items"][0], "workload_kind") == "site");
  CHECK(poll_until(5s, [&] {
    auto r = json_of(env.api().get("/api/containers?workload_id=" + s.workload_id).body);
    return r["items"].Size() == 1 && str(r["items"][0], "state") == "running";
  }));

  // keep_releases 3: after five releases, three are on disk.
  for (const auto* v : {"r3", "r4", "r5"})
    REQUIRE(s.deploy(release_archive(env.tmp(), v)).status == "succeeded");
  CHECK(s.served() == "r5");
  CHECK(s.releases_on_disk() == 3);

  // Delete: container, route and files go.
  CHECK(env.api().del("/api/sites/" + s.id).status == 204);
  CHECK(env.api().get("/api/sites/" + s.id).status == 404);
  CHECK(!fs::exists(env.tmp().file("data") + "/sites/" + s.id));
  CHECK(poll_until(10s, [&] {
    return json_of(env.api().get("/api/containers?workload_id=" + s.workload_id).body)["items"]
             .Size()
           == 0;
  }));
  CHECK(proxy_get(env.proxy_port(), s.subdomain, "/version").body != "r5");
}

TEST_CASE("sites: 10 deploys under load through Caddy, no failed request") {
  deploy_env env{site_env()};
  test_site s{env};
  REQUIRE(s.deploy(release_archive(env.tmp(), "r0")).status == "succeeded");
  REQUIRE(poll_until(15s, [&] { return s.served() == "r0"; }));

  load_generator load{env.proxy_port(), s.subdomain, "/version", 8};
  REQUIRE(poll_until(10s, [&] { return load.answered() > 0; }));
  auto t0 = steady::now();
  for (int i = 1; i <= 10; ++i) {
    auto d = s.deploy(release_archive(env.tmp(), "r" + std::to_string(i)));
    REQUIRE(d.status == "succeeded");
  }
  auto counts = load.stop();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
  MESSAGE("10 site deploys under load in ", ms, " ms; requests: ", counts.describe());
  INFO(env.logs());
  CHECK(counts.failed() == 0);
  CHECK(counts.ok > 100);
  CHECK(counts.by_body.size() >= 2); // the load saw releases change under it
  CHECK(s.served() == "r10");
}

TEST_CASE("sites: each hostile archive is refused with a 400 naming the entry, and the live site still serves") {
  deploy_env env{site_env()};
  test_site s{env};
  REQUIRE(s.deploy(release_archive(env.tmp(), "r1")).status == "succeeded");
  REQUIRE(poll_until(15s, [&] { return s.served() == "r1"; }));

  auto refused = [&](const std::string& what, const std::string& archive,
                     const std::string& names) {
    auto r = s.upload(archive);
    INFO(what, ": ", r.status, " ", r.body);
    CHECK(r.status == 400);
    CHECK(contains(r.body, names));
    CHECK(s.served() == "r1");
    CHECK(s.releases_on_disk() == 1);
  };

  site_files traversal{env.tmp()};
  traversal.add("evil", "x");
  refused("path traversal", traversal.pack({"-P", "--transform", "s,^,../,"}, {"evil"}),
          "../evil");
  refused("absolute path", traversal.pack({"-P", "--transform", "s,^,/tmp/,"}, {"evil"}),
          "/tmp/evil");

  site_files link_out{env.tmp()};
  fs::create_symlink("/etc/passwd", link_out.dir() / "passwd");
  refused("symlink out", link_out.pack(), "passwd");

  site_files up_link{env.tmp()};
  up_link.add("index.html", "x");
  fs::create_symlink("../../../..", up_link.dir() / "up");
  refused("relative symlink out", up_link.pack(), "up");

  // A hard link whose target leaves the release (GNU tar rewrites only the link's target).
  site_files hard{env.tmp()};
  hard.add("a", "x");
  fs::create_hard_link(hard.dir() / "a", hard.dir() / "b");
  refused("hard link out", hard.pack({"-P", "--transform", "s,^a$,../../etc/passwd,RSh"}, {"a", "b"}),
          "b");

  site_files device{env.tmp()};
  if (run_command({"mknod", (device.dir() / "null").string(), "c", "1", "3"}).exit_code == 0)
    refused("device file", device.pack(), "null");
  else
    MESSAGE("mknod is not permitted here: the device case runs in site_archive_test only");

  site_files big{env.tmp()};
  big.add("big.bin", std::string(static_cast<size_t>(unpacked_limit) + 4096, 'x'));
  refused("larger than the unpacked limit", big.pack(), "big.bin");

  site_files many{env.tmp()};
  for (int i = 0; i <= file_limit; ++i)
    many.add("f" + std::to_string(i), "x");
  refused("too many files", many.pack(), std::to_string(file_limit));

  // 64 MiB of zeros packs to well under 100 KiB: the bomb is refused at the limit.
  site_files bomb{env.tmp()};
  bomb.add("zeros.bin", std::string(64u << 20, '\0'));
  auto bomb_archive = bomb.pack();
  CHECK(bomb_archive.size() < 1u << 20);
  refused("gzip bomb", bomb_archive, "zeros.bin");

  refused("not an archive", "this is not a tarball", "tar.gz");
  CHECK(s.upload("").status == 400);

  // A body over sites.upload_limit_bytes never reaches the deployer.
  auto over = s.upload(std::string(static_cast<size_t>(upload_limit) + 1, 'x'));
  CHECK(over.status == 413);
  CHECK(s.served() == "r1");
}

TEST_CASE("sites: a daemon killed before or after the switch finishes the deploy at its next start") {
  for (std::string point : {"site-switch", "site-switched"}) {
    CAPTURE(point);
    deploy_env env{site_env()};
    test_site s{env};
    REQUIRE(s.deploy(release_archive(env.tmp(), "r1")).status == "succeeded");
    REQUIRE(poll_until(15s, [&] { return s.served() == "r1"; }));
    env.stop_daemon();
    env.start_daemon({{"TINYFORGE_FAULT_KILL_AT", point}});
    auto r = s.upload(release_archive(env.tmp(), "r2"));
    // A site's switch is a rename, reached milliseconds after the deploy is queued: the
    // kill may come before the 202 is written, and the connection then drops unanswered.
    INFO(r.body);
    REQUIRE((r.status == 202 || r.status == 0));
    auto id = r.status == 202 ? str(json_of(r.body), "deployment_id") : std::string{};
    auto& proc = env.daemon().process();
    REQUIRE(poll_until(60s, [&] { return !proc.running(); }, 20ms));
    env.start_daemon(); // no fault point: the journal's running deploy runs again
    if (id.empty()) { // the newest deploy of the site is the one the kill interrupted
      auto newest = json_of(
        env.api().get("/api/deployments?workload_id=" + s.workload_id + "&limit=1").body);
      REQUIRE(newest["items"].Size() == 1);
      id = str(newest["items"][0], "id");
    }
    auto done = s.wait(id);
    CHECK(done.status == "succeeded");
    CHECK(s.served() == "r2");
    CHECK(str(json_of(env.api().get("/api/sites/" + s.id).body), "current_release") == done.tag);
    // Still one container: the second run found the first one serving.
    auto rows = json_of(env.api().get("/api/containers?workload_id=" + s.workload_id).body);
    CHECK(rows["items"].Size() == 1);
  }
}

TEST_CASE("sites: a site deployed through its webhook, with the archive as the body") {
  deploy_env env{site_env()};
  test_site s{env};
  auto rotated = env.api().post("/api/workloads/" + s.workload_id + "/rotate-secrets");
  REQUIRE(rotated.status == 200);
  auto doc = json_of(rotated.body);
  auto url = str(doc, "webhook_url");
  auto signing = str(doc, "webhook_signing_secret");
  REQUIRE(!url.empty());

  // Signed as CI signs it: HMAC-SHA256 of "<timestamp>.<body>", the archive's bytes.
  auto send = [&](const std::string& body) {
    auto ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    httplib::Headers h{{"X-Tinyforge-Timestamp", ts},
                       {"X-Tinyforge-Signature",
                        "sha256=" + tf::hmac_sha256_hex(signing, ts + "." + body)}};
    httplib::Client c{"127.0.0.1", env.api().port()};
    c.set_read_timeout(std::chrono::seconds{60});
    return to_reply(c.Post(url.c_str(), h, body, "application/gzip"));
  };
  auto archive = release_archive(env.tmp(), "w1");
  {
    httplib::Client c{"127.0.0.1", env.api().port()};
    CHECK(to_reply(c.Post(url.c_str(), archive, "application/gzip")).status == 401); // unsigned
  }
  auto sent = send(archive);
  INFO(sent.body);
  REQUIRE(sent.status == 202);
  auto done = s.wait(str(json_of(sent.body), "deployment_id"));
  CHECK(done.status == "succeeded");
  CHECK(str(json_of(env.api().get("/api/deployments/" + done.id).body), "trigger") == "webhook");
  CHECK(poll_until(15s, [&] { return s.served() == "w1"; }));

  // A hostile archive through the webhook: refused, recorded, the site unchanged.
  site_files traversal{env.tmp()};
  traversal.add("evil", "x");
  auto bad = send(traversal.pack({"-P", "--transform", "s,^,../,"}, {"evil"}));
  CHECK(bad.status == 400);
  CHECK(contains(bad.body, "../evil"));
  CHECK(s.served() == "w1");
}

TEST_CASE("sites: a deploy posts deploy.started and deploy.succeeded to the site's notification_url") {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> events;
  loopback_server hook{[&](httplib::Server& srv) {
    srv.Post(".*", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock{m};
      events.push_back(req.get_header_value("X-Tinyforge-Event") + " "
                       + str(json_of(req.body), "kind"));
      cv.notify_all();
      res.status = 200;
    });
  }};
  auto opts = site_env(proxy_kind::none);
  opts.extra_flags.insert(opts.extra_flags.end(), {"--notify.private_targets", "allow"});
  deploy_env env{opts};
  test_site s{env};
  auto set = env.api().patch("/api/workloads/" + s.workload_id,
                             "{\"notification_url\":\"http://127.0.0.1:" + std::to_string(hook.port())
                               + "/hook\"}");
  REQUIRE(set.status == 200);
  REQUIRE(s.deploy(release_archive(env.tmp(), "n1")).status == "succeeded");
  std::unique_lock<std::mutex> lock{m};
  cv.wait_for(lock, 30s, [&] { return events.size() >= 2; });
  REQUIRE(events.size() >= 2);
  CHECK(events[0] == "deploy.started site");
  CHECK(events[1] == "deploy.succeeded site");
}

TEST_CASE("sites: a site's container whose rows vanished behind the daemon's back is removed as an orphan") {
  deploy_env env{site_env(proxy_kind::none)};
  test_site s{env};
  REQUIRE(s.deploy(release_archive(env.tmp(), "s1")).status == "succeeded");
  auto listed = run_command({"docker", "ps", "-q", "--no-trunc", "--filter",
                             "label=tinyforge.workload.id=" + s.workload_id});
  auto id = listed.output.substr(0, listed.output.find('\n'));
  REQUIRE(id.size() == 64);
  // The site's rows go while the daemon is down (a restored backup, a hand-edited database):
  // its container is this daemon's (instance label) and names a workload that is gone.
  env.stop_daemon();
  auto db = env.tmp().file("data") + "/tinyforge.db";
  auto del = run_command({"sqlite3", db, "PRAGMA foreign_keys=ON; DELETE FROM workloads WHERE id = '"
                                           + s.workload_id + "'; DELETE FROM static_sites WHERE id = '"
                                           + s.id + "';"});
  REQUIRE_MESSAGE(del.exit_code == 0, del.output);
  env.start_daemon();
  INFO(env.logs());
  CHECK(poll_until(30s, [&] { return run_command({"docker", "inspect", id}).exit_code != 0; }));
  CHECK(contains(env.daemon().process().log_tail(200), "event=orphan-remove"));
}

TEST_CASE("sites: an upload whose deploy cannot be recorded leaves no release, and deleting a site takes its route off Caddy, its files and its rows") {
  deploy_env env{site_env()};
  test_site s{env};
  REQUIRE(s.deploy(release_archive(env.tmp(), "s1")).status == "succeeded");
  REQUIRE(poll_until(20s, [&] { return s.served() == "s1"; }));

  // The store refuses the deploy's row (a trigger the test adds beside the running daemon):
  // the upload is unpacked first, and its release must not stay behind, named by nothing.
  auto db = env.tmp().file("data") + "/tinyforge.db";
  auto sql = [&](const std::string& statement) {
    auto r = run_command({"sqlite3", "-cmd", ".timeout 5000", db, statement});
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  };
  sql("CREATE TRIGGER test_refuses_deploys BEFORE INSERT ON deployments WHEN NEW.workload_id = '"
      + s.workload_id + "' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
  auto releases = s.releases_on_disk();
  auto refused = s.upload(release_archive(env.tmp(), "s2"));
  INFO(refused.body);
  CHECK(refused.status >= 400); // the store's refusal, as its error maps
  CHECK(s.releases_on_disk() == releases);
  CHECK(s.served() == "s1");
  sql("DROP TRIGGER test_refuses_deploys;");

  // Deleted: once the DELETE is answered, Caddy no longer has the site's route, the store
  // lists neither the route nor the site, and its files are gone.
  std::string route;
  auto proxies = json_of(env.api().get("/api/proxies").body);
  for (const auto& it : proxies["items"].GetArray())
    if (str(it, "workload_id") == s.workload_id)
      route = str(it, "id");
  REQUIRE(!route.empty());
  auto in_caddy = "/id/tinyforge-route-" + route;
  REQUIRE(raw_get_status(env.caddy_admin_port(), in_caddy) == 200);
  auto del = env.api().del("/api/sites/" + s.id);
  INFO(del.body);
  REQUIRE(del.status == 204);
  CHECK(raw_get_status(env.caddy_admin_port(), in_caddy) == 404);
  CHECK_FALSE(contains(env.api().get("/api/proxies").body, s.workload_id));
  CHECK(env.api().get("/api/sites/" + s.id).status == 404);
  CHECK_FALSE(fs::exists(env.tmp().file("data") + "/sites/" + s.id));
  CHECK(s.served() != "s1");
}

TEST_CASE("sites: API errors: bad names and fields 400, unknown site 404, and nothing is created") {
  deploy_env env{site_env(proxy_kind::none)};
  CHECK(env.api().post("/api/sites", R"({"name":"Not A Label"})").status == 400);
  CHECK(env.api().post("/api/sites", R"({"name":"ok-name","keep_releases":0})").status == 400);
  CHECK(env.api().post("/api/sites", R"({"name":"ok-name","keep_releases":"3"})").status == 400);
  CHECK(env.api().post("/api/sites", R"({"name":5})").status == 400);
  CHECK(json_of(env.api().get("/api/sites").body)["items"].Size() == 0);
  CHECK(env.api().get("/api/sites/nope").status == 404);
  CHECK(env.api().post_body("/api/sites/nope/deploy", release_archive(env.tmp(), "x"),
                            "application/gzip")
          .status
        == 404);
  CHECK(env.api().post("/api/sites/nope/rollback").status == 404);
  CHECK(env.api().del("/api/sites/nope").status == 404);
  test_site s{env};
  CHECK(env.api().post("/api/sites/" + s.id + "/rollback").status == 409);
  // The served release is the deployer's to set, never a PATCH's.
  env.api().patch("/api/sites/" + s.id, R"({"current_release":"20990101T000000.000Z-abcdef"})");
  CHECK(!json_of(env.api().get("/api/sites/" + s.id).body)["current_release"].IsString());
  auto patched = env.api().patch("/api/sites/" + s.id, R"({"keep_releases":7})");
  CHECK(patched.status == 200);
  CHECK(json_of(patched.body)["keep_releases"].GetInt64() == 7);
}
