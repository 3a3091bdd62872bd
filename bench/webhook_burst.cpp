// Webhooks under load, against the real daemon (build/tinyforge serve, proxy provider none,
// real Docker, tinyforge-test/web):
//
//   (a) latency   200 concurrent senders, each posting K signed deliveries (Tinyforge's
//                 signature, a fresh X-Tinyforge-Delivery each, one connection per request,
//                 tags v1 and v2 alternating) to one project's webhook: p50 / p99 / max of
//                 the time to the answer: 202 (a deploy queued), or 200 when the tag is the
//                 one the stage's queued or running deploy already brings (it joins that one).
//   (b) burst     1,000 deliveries for one stage of another project within about a second:
//                 999 of tag v1 from 50 senders at once, then one of v2 once they have all
//                 been answered. Printed: how many deploys ran (target <= 2), how many ended
//                 superseded, how many deliveries were lost (neither 202 nor 200: target 0), and which tag the stage ends on (target v2: the newest wins).
//   anchor       first, in the same run: the same 200 senders against a bare cpp-httplib server
//                 in this process (as many threads as the daemon's HTTP workers) that answers 202 at once, so
//                 (a) reads against what HTTP and the client alone cost on this machine;
//                 and the same server doing the least durable work a delivery needs before
//                 its answer (signature checked, one committed SQLite transaction with the
//                 delivery's and a deploy's rows, one writer at a time), so (a) also reads
//                 against what recording each delivery costs here.
// Figures only: nothing here asserts on time. Rows (bench/table.hpp) on stdout, min/median of
// R runs (each: the anchor, (a), (b)); the detail of each run on stderr. Targets (issue 14):
// p99 <= 2x the anchor's, deliveries/s >= 0.5x the anchor's, the burst <= 2 deploys, 0 lost.
//
// Build and run (needs Docker and the test images: tests/images/build):
//   cmake --build build --target webhook_burst tinyforge && build/bench/webhook_burst [K] [T] [S] [R]
// (K deliveries per sender, default 100: at 5, the anchor's whole run lasted 0.1-0.2 s and
// its figure moved by half between runs; at 20 Tinyforge's run lasted ~1.6 s, of which the
// first ~100 ms (each worker's first request) and the first deploy's container start on the
// same two cores (~0.5 s at ~2/3 of the rate after it: the per-100 ms counts in the detail)
// were half, so it measured a start-up more than a rate; T the daemon's http_threads, default its own 32; S its
// deploy.settle_ms, default its own 500: 0 shows what the burst does without settling; R runs,
// default 3).
// Everything it creates (temp dir, the daemon, the projects' containers) is removed at the end.
#include "deploy_harness.hpp"
#include "table.hpp"
#include "actors/webhook_signatures.hpp"
#include "http/server.hpp"
#include "store/database.hpp"
#include "store/secrets.hpp"
#include "store/workloads.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct webhook_target {
  project_ids ids;
  std::string secret;
  std::string signing_secret;
};

/// A project with one stage, and its secrets read from the daemon's database (read-only:
/// no route shows them yet).
webhook_target make_target(deploy_env& env, const std::string& what) {
  auto [r, p] = env.create_project(unique_name("whb", what), stage_options{});
  if (!p)
    throw harness_error("create project: " + std::to_string(r.status) + " " + r.body);
  auto db_path = env.tmp().file("data") + "/tinyforge.db";
  auto db = tf::store::database::open(db_path, tf::store::database::mode::read_only);
  if (!db)
    throw harness_error("open the daemon's database: " + describe(db.error()));
  // The secrets are sealed: open them with the daemon's key file.
  auto key = tf::store::secret_box::load(tf::store::key_path_for(db_path));
  if (!key)
    throw harness_error("load the daemon's key: " + describe(key.error()));
  db->use_secrets(std::make_shared<const tf::store::secret_box>(std::move(*key)));
  auto w = tf::store::get_workload(*db, p->workload_id);
  if (!w)
    throw harness_error("read the workload: " + describe(w.error()));
  return {*p, w->webhook_secret, w->webhook_signing_secret};
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// What the deliveries that did not get a 202 got instead (negative: no answer, the client's
/// httplib::Error), for the report.
std::mutex other_mutex;
std::map<int, int> other_statuses;
std::map<int, std::string> other_bodies; // the first body of each, for the report

std::string others() {
  std::lock_guard<std::mutex> lock{other_mutex};
  std::string s;
  for (auto [status, n] : other_statuses)
    s += " " + std::to_string(n) + "x" + std::to_string(status)
         + (other_bodies[status].empty() ? "" : " (" + other_bodies[status].substr(0, 160) + ")");
  other_statuses.clear();
  other_bodies.clear();
  return s.empty() ? " none" : s;
}

/// Deliveries answered 200: a tag the stage's queued or running deploy already brings
/// ("unchanged", the delivery joins that deploy).
std::atomic<long> coalesced{0};

/// Whether a delivery got its answer: 202 (a deploy queued) or 200 (it joins the queued or
/// running deploy of the same tag).
bool answered(int status) {
  return status == 202 || status == 200;
}

/// One signed delivery on its own connection; the status (negative when no answer).
int send_one(uint16_t port, const webhook_target& t, const std::string& tag,
             const std::string& delivery) {
  // The delivery id in the body too: the daemon deduplicates a signed delivery by its
  // timestamp and MAC, so without it deliveries of one tag within a second are one.
  std::string body = "{\"tag\":\"" + tag + "\",\"bench_delivery\":\"" + delivery + "\"}";
  auto ts = std::to_string(unix_now());
  httplib::Headers h{{"X-Tinyforge-Timestamp", ts},
                     {"X-Tinyforge-Delivery", delivery},
                     {"X-Tinyforge-Signature",
                      "sha256=" + tf::hmac_sha256_hex(t.signing_secret, ts + "." + body)}};
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(10s);
  c.set_read_timeout(60s);
  auto res = c.Post(("/api/webhooks/" + t.secret).c_str(), h, body, "application/json");
  int status = res ? res->status : -static_cast<int>(res.error()); // no answer: -httplib::Error
  if (status == 200)
    ++coalesced;
  if (!answered(status)) {
    std::lock_guard<std::mutex> lock{other_mutex};
    if (++other_statuses[status] == 1 && res)
      other_bodies[status] = res->body;
  }
  return status;
}

/// Every deployment of a workload (paged), polled until none is queued or running.
std::vector<deployment_view> settled_deployments(deploy_env& env, const std::string& workload,
                                                 std::chrono::seconds limit) {
  std::vector<deployment_view> all;
  poll_until(
    limit,
    [&] {
      all.clear();
      for (int offset = 0;; offset += 500) {
        auto r = env.api().get("/api/deployments?limit=500&offset=" + std::to_string(offset)
                               + "&workload_id=" + workload);
        auto doc = json_of(r.body);
        if (r.status != 200 || !doc.IsObject() || !doc["items"].IsArray())
          return false;
        for (const auto& it : doc["items"].GetArray())
          if (auto d = parse_deployment(it))
            all.push_back(*d);
        if (doc["items"].Size() < 500)
          break;
      }
      return std::all_of(all.begin(), all.end(), [](const auto& d) { return d.finished(); });
    },
    200ms);
  return all;
}

/// Runs `send(s)` on `senders` threads released together; the moment they were released,
/// once all have ended.
template <class Send>
steady::time_point all_at_once(int senders, Send send) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      while (!go)
        std::this_thread::yield();
      send(s);
    });
  auto t0 = steady::now();
  go = true;
  for (auto& th : threads)
    th.join();
  return t0;
}

constexpr int latency_senders = 200;

/// What `senders` threads each sending `per_sender` times at once saw: the 202 latencies
/// (ms), the wall time (s), and how many answers came in each 100 ms of it (a rate that
/// starts slow or dips shows, e.g. while the first deploy starts a container on the same
/// cores, instead of hiding in the average).
struct sent_figures {
  std::vector<double> ms;
  double wall = 0;
  std::vector<int> per_tenth;
};

template <class Send>
sent_figures under_senders(int senders, int per_sender, Send send) {
  std::mutex m;
  sent_figures out;
  std::vector<steady::time_point> answered_at;
  answered_at.reserve(static_cast<size_t>(senders) * static_cast<size_t>(per_sender));
  auto t0 = all_at_once(senders, [&](int s) {
    for (int i = 0; i < per_sender; ++i) {
      auto sent = steady::now();
      auto status = send(s, i);
      auto now = steady::now();
      if (!answered(status))
        continue;
      std::lock_guard<std::mutex> lock{m};
      out.ms.push_back(std::chrono::duration<double, std::milli>(now - sent).count());
      answered_at.push_back(now);
    }
  });
  out.wall = std::chrono::duration<double>(steady::now() - t0).count();
  for (auto at : answered_at) {
    auto tenth = static_cast<size_t>(std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(at - t0).count() / 100));
    if (out.per_tenth.size() <= tenth)
      out.per_tenth.resize(tenth + 1);
    ++out.per_tenth[tenth];
  }
  return out;
}

/// The detail lines of a run: its rate, then its answers per 100 ms.
void print_rate(const char* what, const sent_figures& f) {
  std::string tenths;
  for (auto n : f.per_tenth)
    tenths += " " + std::to_string(n);
  std::fprintf(stderr, "    answered per 100 ms (%s):%s\n", what, tenths.c_str());
}

/// The anchor, measured in the same run: a bare cpp-httplib server in this process with the
/// daemon's HTTP thread count, answering 202 to the same signed POST (one connection per
/// request, same body), so the daemon's figures can be read against what HTTP alone costs.
/// p99 of the 202 latency (ms) and deliveries answered 202 per second.
struct latency_figures {
  double p99 = 0;
  double per_s = 0;
  long unanswered = 0; // neither 202 nor 200
};

/// The second anchor: the same server doing the least durable work a delivery needs before
/// its answer, as any SQLite writer must: the signature checked (HMAC-SHA256 of timestamp
/// and body, compared in constant time), then one transaction inserting the delivery's row
/// and a queued deploy's row, committed (WAL, synchronous=NORMAL, as the daemon's
/// database), one writer at a time. What the daemon does beyond this (dedupe, coalescing,
/// the deploy queue, actors) is its own cost; this is the machine's.
class durable_writer {
public:
  explicit durable_writer(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      throw std::runtime_error("anchor: cannot open " + path);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE deliveries(id TEXT PRIMARY KEY, workload_id TEXT NOT NULL, "
         "received_at TEXT NOT NULL, body TEXT NOT NULL)");
    exec("CREATE TABLE deployments(id TEXT PRIMARY KEY, workload_id TEXT NOT NULL, "
         "tag TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL)");
    sqlite3_prepare_v2(db_, "INSERT INTO deliveries VALUES (?1, 'w', ?2, ?3)", -1, &delivery_,
                       nullptr);
    sqlite3_prepare_v2(db_, "INSERT INTO deployments VALUES (?1, 'w', 'v1', 'queued', ?2)", -1,
                       &deployment_, nullptr);
  }
  ~durable_writer() {
    sqlite3_finalize(delivery_);
    sqlite3_finalize(deployment_);
    sqlite3_close(db_);
  }
  durable_writer(const durable_writer&) = delete;
  durable_writer& operator=(const durable_writer&) = delete;

  /// Records one delivery: true once committed.
  bool record(const std::string& id, const std::string& body) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto now = std::to_string(unix_now());
    exec("BEGIN IMMEDIATE");
    bool ok = insert(delivery_, id, now, &body) && insert(deployment_, id, now, nullptr);
    exec(ok ? "COMMIT" : "ROLLBACK");
    return ok;
  }

private:
  void exec(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }
  static bool insert(sqlite3_stmt* st, const std::string& id, const std::string& now,
                     const std::string* body) {
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, now.data(), static_cast<int>(now.size()), SQLITE_TRANSIENT);
    if (body)
      sqlite3_bind_text(st, 3, body->data(), static_cast<int>(body->size()), SQLITE_TRANSIENT);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    return ok;
  }

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* delivery_ = nullptr;
  sqlite3_stmt* deployment_ = nullptr;
};

enum class anchor_kind { bare, durable };

latency_figures anchor(int per_sender, int http_threads, anchor_kind kind,
                       const std::filesystem::path& dir) {
  httplib::Server srv;
  srv.new_task_queue = [http_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(http_threads)); // as the daemon's
  };
  std::unique_ptr<durable_writer> writer;
  webhook_target t{{}, "anchor", "anchor-signing-secret"};
  if (kind == anchor_kind::durable) {
    auto path = dir / "anchor.db";
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path.string() + suffix);
    writer = std::make_unique<durable_writer>(path.string());
  }
  srv.Post("/api/webhooks/anchor", [&](const httplib::Request& req, httplib::Response& res) {
    if (writer) {
      auto ts = req.get_header_value("X-Tinyforge-Timestamp");
      auto want = "sha256=" + tf::hmac_sha256_hex(t.signing_secret, ts + "." + req.body);
      const auto& got = req.get_header_value("X-Tinyforge-Signature");
      if (got.size() != want.size() || CRYPTO_memcmp(got.data(), want.data(), want.size()) != 0) {
        res.status = 401;
        return;
      }
      if (!writer->record(req.get_header_value("X-Tinyforge-Delivery"), req.body)) {
        res.status = 500;
        return;
      }
    }
    res.status = 202;
    res.set_content("{\"deployment_id\":\"" + std::to_string(req.body.size()) + "\"}",
                    "application/json");
  });
  auto port = srv.bind_to_any_port("127.0.0.1");
  // httplib 0.11 listens with 5, which would refuse 200 senders: widened as the daemon does.
  tf::http::widen_listen_backlog(static_cast<uint16_t>(port), 1024);
  std::thread serving{[&] { srv.listen_after_bind(); }};
  poll_until(10s, [&] { return srv.is_running(); }, 1ms);
  auto sent = under_senders(latency_senders, per_sender, [&](int s, int i) {
    return send_one(static_cast<uint16_t>(port), t, "v1",
                    "anchor-" + std::to_string(s) + "-" + std::to_string(i));
  });
  srv.stop();
  serving.join();
  const auto& ms = sent.ms;
  auto wall = sent.wall;
  std::fprintf(stderr, "(anchor) %s, %d threads: %d senders x %d, %zu answered "
              "202; %.1f s, %.0f requests/s\n",
              kind == anchor_kind::bare ? "bare httplib, 202 at once"
                                        : "httplib + signature check + one committed "
                                          "SQLite transaction per delivery",
              http_threads, latency_senders, per_sender, ms.size(), wall,
              static_cast<double>(ms.size()) / wall);
  std::fprintf(stderr, "    202 latency ms: p50 %.1f  p99 %.1f  max %.1f; other answers:%s\n",
              pct(ms, 50), pct(ms, 99), pct(ms, 100), others().c_str());
  print_rate("anchor", sent);
  return {pct(ms, 99), static_cast<double>(ms.size()) / wall,
          latency_senders * per_sender - static_cast<long>(ms.size())};
}

latency_figures latency(deploy_env& env, int per_sender) {
  auto t = make_target(env, "lat");
  auto port = env.api().port();
  auto sent = under_senders(latency_senders, per_sender, [&](int s, int i) {
    // Tags alternate, so most deliveries queue a deploy (202) rather than join one (200).
    return send_one(port, t, (s + i) % 2 ? "v2" : "v1",
                    "lat-" + std::to_string(s) + "-" + std::to_string(i));
  });
  const auto& ms = sent.ms;
  auto wall = sent.wall;
  std::fprintf(stderr, "(a) latency: %d senders x %d deliveries, %zu answered 202 or 200 (%ld 200), %d not; %.1f s, "
              "%.0f deliveries/s\n",
              latency_senders, per_sender, ms.size(), coalesced.exchange(0),
              latency_senders * per_sender - static_cast<int>(ms.size()), wall,
              static_cast<double>(ms.size()) / wall);
  std::fprintf(stderr, "    202 latency ms: p50 %.1f  p99 %.1f  max %.1f; other answers:%s\n",
              pct(ms, 50), pct(ms, 99), pct(ms, 100), others().c_str());
  print_rate("Tinyforge", sent);
  auto deps = settled_deployments(env, t.ids.workload_id, 300s);
  auto ran = std::count_if(deps.begin(), deps.end(), [](const auto& d) { return !d.started_at.empty(); });
  std::fprintf(stderr, "    deployments %zu, of which ran %ld\n", deps.size(), static_cast<long>(ran));
  return {pct(ms, 99), static_cast<double>(ms.size()) / wall,
          latency_senders * per_sender - static_cast<long>(ms.size())};
}

/// How many deploys a burst ran and how many deliveries it lost.
struct burst_figures {
  long ran = 0;
  long lost = 0;
  bool newest_won = false;
};

burst_figures burst(deploy_env& env) {
  constexpr int senders = 50;
  constexpr int each = 20; // 1,000 in all: 999 of v1, then the last of v2
  auto t = make_target(env, "burst");
  auto port = env.api().port();
  std::atomic<int> accepted{0}, refused{0};
  auto t0 = all_at_once(senders, [&](int s) {
    for (int i = 0; i < each; ++i) {
      if (s == senders - 1 && i == each - 1)
        break; // the 1,000th goes last, below
      auto status = send_one(port, t, "v1", "burst-" + std::to_string(s) + "-" + std::to_string(i));
      (answered(status) ? accepted : refused)++;
    }
  });
  auto last = send_one(port, t, "v2", "burst-last");
  (answered(last) ? accepted : refused)++;
  auto window = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
  auto deps = settled_deployments(env, t.ids.workload_id, 300s);
  long ran = 0, superseded = 0, failed = 0;
  for (const auto& d : deps) {
    ran += !d.started_at.empty();
    superseded += d.status == "superseded";
    failed += d.status == "failed";
  }
  auto project = json_of(env.api().get("/api/projects/" + t.ids.id).body);
  std::string final_tag;
  if (project.IsObject() && project["stages"].IsArray() && project["stages"].Size() > 0)
    final_tag = str(project["stages"][0], "current_tag");
  // Lost: no 202/200 answer. (Since deliveries of a tag already on its way are answered 200
  // and join that deploy, the deployment rows no longer count the deliveries.)
  long lost = static_cast<long>(1000 - accepted.load());
  std::fprintf(stderr, "(b) burst: 1000 deliveries sent in %.0f ms: %d answered 202 or 200 (%ld "
                       "200: joined a deploy of the same tag), %d not:%s\n",
              window, accepted.load(), coalesced.exchange(0), refused.load(), others().c_str());
  std::fprintf(stderr, "    deployments %zu: ran %ld (target <= 2), superseded %ld, failed %ld; lost %ld "
              "(target 0); the stage ends on %s, the newest tag sent v2\n",
              deps.size(), ran, superseded, failed, lost, final_tag.c_str());
  return {ran, lost, final_tag == "v2"};
}


/// "min/median" of counts.
std::string counts(tf::bench::spread s) {
  char b[64];
  std::snprintf(b, sizeof b, "%.0f/%.0f", s.min, s.median);
  return b;
}

/// Prints the rows (bench/table.hpp) of N runs.
void print_rows(const std::vector<latency_figures>& anchors,
                const std::vector<latency_figures>& durables,
                const std::vector<latency_figures>& daemon, const std::vector<burst_figures>& bursts,
                int per_sender) {
  using namespace tf::bench;
  const std::string senders = std::to_string(latency_senders) + " senders x "
                              + std::to_string(per_sender);
  const std::string sent = std::to_string(latency_senders * per_sender);
  std::vector<double> ap, ad, au, tp, td, tu, dp, dd;
  for (const auto& a : anchors) {
    ap.push_back(a.p99);
    ad.push_back(a.per_s);
    au.push_back(static_cast<double>(a.unanswered));
  }
  for (const auto& d : durables) {
    dp.push_back(d.p99);
    dd.push_back(d.per_s);
  }
  for (const auto& t : daemon) {
    tp.push_back(t.p99);
    td.push_back(t.per_s);
    tu.push_back(static_cast<double>(t.unanswered));
  }
  auto a99 = spread_of(ap), t99 = spread_of(tp), aps = spread_of(ad), tps = spread_of(td);
  double r99 = a99.median > 0 ? t99.median / a99.median : 0;
  double rps = aps.median > 0 ? tps.median / aps.median : 0;
  print_row("webhook answer latency p99 (202, or 200 when it joins a deploy), " + senders,
            show(t99, "ms"),
            "bare httplib: " + show(a99, "ms"), r99, "<= 2x anchor", r99 > 0 && r99 <= 2.0);
  print_row("webhook deliveries/s, " + senders, show(tps, "/s", 0),
            "bare httplib: " + show(aps, "/s", 0), rps, ">= 0.5x anchor", rps >= 0.5);
  // The same figures beside the durable anchor: the gap to bare HTTP that recording each
  // delivery before its answer costs on this machine, measured, not argued.
  auto d99 = spread_of(dp), dps = spread_of(dd);
  double q99 = d99.median > 0 ? t99.median / d99.median : 0;
  double qps = dps.median > 0 ? tps.median / dps.median : 0;
  const std::string durable = "httplib + signature check + one committed SQLite transaction "
                              "(delivery and deploy rows) per delivery: ";
  print_row("webhook answer latency p99, " + senders
              + ", beside the least durable work a delivery needs",
            show(t99, "ms"), durable + show(d99, "ms"), q99, "<= 2x anchor",
            q99 > 0 && q99 <= 2.0);
  print_row("webhook deliveries/s, " + senders + ", beside the least durable work a delivery needs",
            show(tps, "/s", 0), durable + show(dps, "/s", 0), qps, ">= 0.5x anchor",
            qps >= 0.5);
  auto tun = spread_of(tu);
  print_row("webhook deliveries of those " + sent + " with no 202/200 (503, no answer)", counts(tun),
            "bare httplib: " + counts(spread_of(au)), 0, "0",
            *std::max_element(tu.begin(), tu.end()) == 0);
  std::vector<double> ran, lost;
  bool newest = true;
  for (const auto& b : bursts) {
    ran.push_back(static_cast<double>(b.ran));
    lost.push_back(static_cast<double>(b.lost));
    newest = newest && b.newest_won;
  }
  auto r = spread_of(ran), l = spread_of(lost);
  double max_ran = ran.empty() ? 0 : *std::max_element(ran.begin(), ran.end());
  double max_lost = lost.empty() ? 0 : *std::max_element(lost.begin(), lost.end());
  print_row(std::string{"burst of 1,000 deliveries to one stage: deploys run"}
              + (newest ? "" : " (the newest tag did not win in every run)"),
            counts(r) + " (max " + std::to_string(static_cast<long>(max_ran)) + ")", "-", 0,
            "<= 2", max_ran <= 2 && newest);
  print_row("burst of 1,000 deliveries: deliveries lost",
            counts(l) + " (max " + std::to_string(static_cast<long>(max_lost)) + ")", "-", 0,
            "0", max_lost == 0);
}

} // namespace

int main(int argc, char** argv) {
  int per_sender = argc > 1 ? std::atoi(argv[1]) : 100;
  int http_threads = argc > 2 ? std::atoi(argv[2]) : 32; // the daemon's default
  int settle_ms = argc > 3 ? std::atoi(argv[3]) : 500;  // the daemon's default
  int runs = argc > 4 ? std::atoi(argv[4]) : 3;
  if (per_sender < 1 || http_threads < 1 || http_threads > 256 || settle_ms < 0
      || settle_ms > 60000 || runs < 1 || runs > 50) {
    std::fprintf(stderr, "usage: webhook_burst [deliveries per sender] [http_threads 1..256] "
                         "[deploy.settle_ms 0..60000] [runs 1..50]\n");
    return 2;
  }
  try {
    std::fprintf(stderr, "http_threads %d (daemon and anchor), deploy.settle_ms %d, %d runs\n",
                 http_threads, settle_ms, runs);
    auto opts = with(proxy_kind::none, 0, 30);
    // The daemon logs at its default level, as a user's does: the harness's debug level
    // (for tests that read the log) adds an access line per request.
    opts.log_level = "info";
    opts.extra_flags = {"--http_threads", std::to_string(http_threads), "--deploy.settle_ms",
                        std::to_string(settle_ms)};
    deploy_env env{opts};
    std::vector<latency_figures> anchors, durables, daemon;
    std::vector<burst_figures> bursts;
    auto scratch = std::filesystem::temp_directory_path()
                   / ("tinyforge-webhook-anchor-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scratch);
    for (int i = 0; i < runs; ++i) {
      std::fprintf(stderr, "-- run %d of %d\n", i + 1, runs);
      anchors.push_back(anchor(per_sender, http_threads, anchor_kind::bare, scratch));
      durables.push_back(anchor(per_sender, http_threads, anchor_kind::durable, scratch));
      daemon.push_back(latency(env, per_sender));
      bursts.push_back(burst(env));
    }
    std::filesystem::remove_all(scratch);
    print_rows(anchors, durables, daemon, bursts, per_sender);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhook_burst: %s\n", e.what());
    return 1;
  }
  return 0;
}
