// The daemon's memory when it holds an index and serves a UI, and whether it grows under a
// long mixed load. The daemon (TINYFORGE_BINARY serve, proxy provider none, slot gate none)
// talks to a fake Docker engine in this process (tcp://127.0.0.1:<port>, synthetic answers:
// every container it creates "runs", its slot port answered by this process), so the figures
// are Tinyforge's own cost and nothing on the shared engine is touched. Rows on stdout
// (bench/table.hpp), detail on stderr:
//
//   ui      10,000 container rows (seed_rows, 100 projects) and a UI client polling the
//           unfiltered GET /api/containers?limit=5000 every 2 s with an API token (limit=500
//           when the daemon refuses 5000; the row says so): the largest RSS over 12 s (6
//           polls) after the first poll; target <= 40 MB. Min/median of N runs, each on a
//           fresh copy of the seeded data dir.
//   load    the same daemon and rows, for S seconds: 4 readers (containers pages, the whole
//           index, projects, deployments), 1 writer (create and delete a project), 1 webhook
//           sender (a signed delivery every 500 ms, tags alternating, so deploys run through
//           the fake engine), the UI client as above. RSS after a 10 s warm-up ("start") and
//           at the end; target: growth <= 10%. One run (S = 600 by default). The row also
//           gives the growth over the second half: a bounded cache has filled by then, a
//           leak has not stopped. Each minute's line on stderr splits the RSS into the main
//           malloc arena, other anonymous memory (thread arenas, large blocks) and files.
//
// Usage: memory_load [N] [S] [ui|load|all]   (default 3, 600, all)
#include "deploy_harness.hpp"
#include "actors/webhook_signatures.hpp"
#include "store/database.hpp"
#include "store/secrets.hpp"
#include "store/workloads.hpp"
#include "table.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace tf::test;
using namespace std::chrono_literals;

namespace {

// -- the fake engine ----------------------------------------------------------------------

/// A Docker Engine API on loopback TCP with synthetic answers. Containers it "creates" are
/// kept in memory with their labels and host port; listing, inspect, start, stop, remove
/// answer from that map. Images are always present. /events holds the stream open.
class fake_engine {
public:
  fake_engine() {
    srv_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    auto h = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); };
    srv_.Get(".*", h);
    srv_.Post(".*", h);
    srv_.Delete(".*", h);
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread{[this] { srv_.listen_after_bind(); }};
    poll_until(10s, [&] { return srv_.is_running(); }, 1ms);
  }
  ~fake_engine() {
    stopping_ = true;
    srv_.stop();
    if (thread_.joinable())
      thread_.join();
  }
  std::string host() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  long requests() const { return requests_; }

private:
  struct container {
    std::string id, name, image;
    std::map<std::string, std::string> labels;
    int host_port = 0;
    bool running = false;
  };

  static void json(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  }

  static std::string labels_json(const std::map<std::string, std::string>& labels) {
    std::string s = "{";
    for (const auto& [k, v] : labels)
      s += (s.size() > 1 ? "," : "") + quote(k) + ":" + quote(v);
    return s + "}";
  }

  std::string summary(const container& c) const {
    return "{\"Id\":" + quote(c.id) + ",\"Names\":[" + quote("/" + c.name) + "],\"Image\":"
           + quote(c.image) + ",\"ImageID\":\"sha256:fake\",\"State\":"
           + (c.running ? "\"running\"" : "\"exited\"") + ",\"Status\":\"Up\",\"Labels\":"
           + labels_json(c.labels) + ",\"Created\":1700000000,\"Ports\":[{\"PrivatePort\":8080,"
           + "\"PublicPort\":" + std::to_string(c.host_port)
           + ",\"Type\":\"tcp\",\"IP\":\"127.0.0.1\"}]}";
  }

  std::string details(const container& c) const {
    return "{\"Id\":" + quote(c.id) + ",\"Name\":" + quote("/" + c.name) + ",\"Image\":"
           + "\"sha256:fake\",\"RestartCount\":0,\"State\":{\"Status\":"
           + (c.running ? "\"running\",\"Running\":true" : "\"exited\",\"Running\":false")
           + ",\"ExitCode\":0,\"StartedAt\":\"2026-01-01T00:00:00Z\",\"FinishedAt\":"
           + "\"0001-01-01T00:00:00Z\"},\"Config\":{\"Image\":" + quote(c.image)
           + ",\"Labels\":" + labels_json(c.labels) + ",\"Env\":[]},\"NetworkSettings\":"
           + "{\"Ports\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":"
           + quote(std::to_string(c.host_port)) + "}]}}}";
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    std::string path = req.path;
    if (path.size() > 2 && path[1] == 'v' && std::isdigit(static_cast<unsigned char>(path[2])))
      path = path.substr(path.find('/', 1)); // /v1.43/containers/json -> /containers/json
    if (path == "/_ping")
      return res.set_header("Api-Version", "1.43"), res.set_content("OK", "text/plain");
    if (path == "/version")
      return json(res, 200, "{\"Version\":\"24.0.0\",\"ApiVersion\":\"1.43\","
                            "\"MinAPIVersion\":\"1.12\",\"Os\":\"linux\",\"Arch\":\"amd64\"}");
    if (path == "/events") {
      res.set_chunked_content_provider("application/json", [this](size_t, httplib::DataSink&) {
        std::this_thread::sleep_for(200ms); // nothing happens on this engine but what it is asked
        return !stopping_.load();
      });
      return;
    }
    if (path == "/images/json" || path == "/networks")
      return json(res, 200, "[]");
    if (path.rfind("/images/create", 0) == 0)
      return json(res, 200, "{\"status\":\"Downloaded\"}\n");
    if (path.rfind("/images/", 0) == 0)
      return json(res, 200, "{\"Id\":\"sha256:fake\",\"RepoTags\":[],\"Created\":\"2026-01-01T00:"
                            "00:00Z\",\"Size\":1,\"Config\":{\"Labels\":{}}}");
    if (path == "/networks/create")
      return json(res, 201, "{\"Id\":\"fakenet\"}");
    if (path.rfind("/networks/", 0) == 0)
      return json(res, 200, "{}");
    std::lock_guard<std::mutex> lock{mx_};
    if (path == "/containers/json") {
      std::string s = "[";
      for (const auto& [id, c] : containers_)
        s += (s.size() > 1 ? "," : "") + summary(c);
      return json(res, 200, s + "]");
    }
    if (path == "/containers/create") {
      auto doc = json_of(req.body);
      container c;
      c.id = tf::hmac_sha256_hex("fake", std::to_string(++made_)); // 64 hex digits
      c.name = req.has_param("name") ? req.get_param_value("name") : c.id.substr(0, 12);
      c.image = str(doc, "Image");
      if (doc.IsObject() && doc.HasMember("Labels") && doc["Labels"].IsObject())
        for (const auto& m : doc["Labels"].GetObject())
          if (m.value.IsString())
            c.labels[m.name.GetString()] = m.value.GetString();
      // HostConfig.PortBindings {"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"21004"}]}
      if (doc.IsObject() && doc.HasMember("HostConfig") && doc["HostConfig"].IsObject()) {
        const auto& hc = doc["HostConfig"];
        if (hc.HasMember("PortBindings") && hc["PortBindings"].IsObject())
          for (const auto& m : hc["PortBindings"].GetObject())
            if (m.value.IsArray() && !m.value.Empty())
              c.host_port = std::atoi(str(m.value[0], "HostPort").c_str());
      }
      auto id = c.id;
      containers_[id] = std::move(c);
      return json(res, 201, "{\"Id\":" + quote(id) + ",\"Warnings\":[]}");
    }
    if (path.rfind("/containers/", 0) == 0) {
      auto rest = path.substr(12);
      auto slash = rest.find('/');
      auto id = rest.substr(0, slash);
      auto what = slash == std::string::npos ? std::string{} : rest.substr(slash + 1);
      auto it = containers_.find(id);
      if (it == containers_.end())
        for (auto i = containers_.begin(); i != containers_.end(); ++i)
          if (i->first.rfind(id, 0) == 0 || i->second.name == id)
            it = i;
      if (it == containers_.end())
        return json(res, 404, "{\"message\":\"No such container: " + id + "\"}");
      if (req.method == "DELETE") {
        containers_.erase(it);
        return json(res, 204, "");
      }
      if (what == "json")
        return json(res, 200, details(it->second));
      if (what == "start") {
        it->second.running = true;
        return json(res, 204, "");
      }
      if (what == "stop" || what == "kill") {
        it->second.running = false;
        return json(res, 204, "");
      }
      if (what == "logs")
        return res.set_content("", "application/octet-stream");
    }
    json(res, 404, "{\"message\":\"fake engine: no answer for " + req.method + " " + path + "\"}");
  }

  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<long> requests_{0};
  std::mutex mx_;
  std::map<std::string, container> containers_;
  long made_ = 0;
};

/// Answers 200 to anything on every port of `slots`: the "containers" of the fake engine,
/// for the deploy jobs' health checks.
class slot_answers {
public:
  explicit slot_answers(const slot_range& slots) {
    for (int p = slots.low(); p <= slots.high(); ++p) {
      auto srv = std::make_unique<httplib::Server>();
      srv->new_task_queue = [] { return new httplib::ThreadPool(2); };
      srv->Get(".*", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok", "text/plain");
      });
      if (!srv->bind_to_port("127.0.0.1", p))
        continue;
      auto* s = srv.get();
      threads_.emplace_back([s] { s->listen_after_bind(); });
      servers_.push_back(std::move(srv));
    }
  }
  ~slot_answers() {
    for (auto& s : servers_)
      s->stop();
    for (auto& t : threads_)
      t.join();
  }

private:
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
};

// -- the daemon ---------------------------------------------------------------------------

long rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return 0;
}

/// Where the RSS of `pid` is, from /proc/<pid>/smaps: "heap 9.1 anon 20.3 file 9.0 MB,
/// 14 threads" -- the main malloc arena ([heap]), other anonymous mappings (thread arenas,
/// thread stacks, mmapped blocks) and file-backed pages (the binary, libraries, the
/// database's shared memory), so a step in the RSS can be told apart from a leak.
std::string rss_parts(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/smaps"};
  std::string line, kind;
  long heap = 0, anon = 0, file = 0;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    bool header = colon == std::string::npos || line.find(' ') < colon;
    if (header) {
      // "addr perms offset dev inode [path]"
      std::istringstream h{line};
      std::string f[6];
      for (auto& x : f)
        h >> x;
      kind = f[5] == "[heap]" ? "heap" : (f[4] == "0" && f[5].find('/') != 0) ? "anon" : "file";
      continue;
    }
    if (line.rfind("Rss:", 0) == 0) {
      long kb = std::atol(line.c_str() + 4);
      (kind == "heap" ? heap : kind == "anon" ? anon : file) += kb;
    }
  }
  long threads = 0;
  std::ifstream st{"/proc/" + std::to_string(pid) + "/status"};
  while (std::getline(st, line))
    if (line.rfind("Threads:", 0) == 0)
      threads = std::atol(line.c_str() + 8);
  char b[128];
  std::snprintf(b, sizeof b, "heap %.1f anon %.1f file %.1f MB, %ld threads", heap / 1024.0,
                anon / 1024.0, file / 1024.0, threads);
  return b;
}

/// The daemon on a copy of the seeded data dir, talking to the fake engine.
struct daemon_on_fake {
  temp_dir tmp;
  slot_range slots;
  fake_engine engine;
  slot_answers answers{slots};
  std::unique_ptr<daemon_process> daemon;

  explicit daemon_on_fake(const std::string& seeded) {
    auto data = tmp.file("data");
    std::filesystem::copy(seeded, data, std::filesystem::copy_options::recursive);
    daemon = std::make_unique<daemon_process>(
      std::vector<std::string>{"--listen", "127.0.0.1:0", "--data_dir", data, "--docker_host",
                               engine.host(), "--proxy.provider", "none", "--proxy.slot_gate",
                               "none", "--proxy.slot_ports", slots.flag(), "--rollback_grace_s",
                               "0", "--deploy.health_deadline_s", "5", "--log_level", "info"},
      tmp.file("daemon.log"));
  }
  ~daemon_on_fake() {
    if (daemon)
      daemon->process().stop(20s);
  }
  pid_t pid() { return daemon->process().pid(); }
  const api_client& api() { return daemon->api(); }
};

/// The UI client: the unfiltered index every 2 s. Remembers the limit the daemon accepted.
class ui_client {
public:
  explicit ui_client(const api_client& api) : api_{api} {
    if (api_.get("/api/containers?limit=5000").status != 200)
      limit_ = 500;
    thread_ = std::thread{[this] {
      while (!stop_) {
        auto r = api_.get("/api/containers?limit=" + std::to_string(limit_));
        ++polls_;
        if (r.status != 200)
          ++failed_;
        for (int i = 0; i < 20 && !stop_; ++i)
          std::this_thread::sleep_for(100ms);
      }
    }};
  }
  ~ui_client() {
    stop_ = true;
    thread_.join();
  }
  int limit() const { return limit_; }
  int polls() const { return polls_; }
  int failed() const { return failed_; }

private:
  const api_client& api_;
  int limit_ = 5000;
  std::atomic<bool> stop_{false};
  std::atomic<int> polls_{0}, failed_{0};
  std::thread thread_;
};

std::string mb(double kib) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", kib / 1024);
  return b;
}

void ui_rows(const std::string& seeded, int runs) {
  std::vector<double> peaks;
  int limit = 5000;
  for (int i = 0; i < runs; ++i) {
    daemon_on_fake d{seeded};
    ui_client ui{d.api()};
    limit = ui.limit();
    long peak = 0;
    for (int s = 0; s < 120; ++s) { // 12 s
      peak = std::max(peak, rss_kib(d.pid()));
      std::this_thread::sleep_for(100ms);
    }
    std::fprintf(stderr, "memory_load: ui run %d: peak RSS %s MB, %d polls of limit=%d (%d failed)\n",
                 i + 1, mb(static_cast<double>(peak)).c_str(), ui.polls(), limit, ui.failed());
    peaks.push_back(static_cast<double>(peak) / 1024);
  }
  auto s = tf::bench::spread_of(peaks);
  std::string what = "RSS, 10,000 rows + UI client (GET /api/containers?limit="
                     + std::to_string(limit) + " every 2 s)";
  if (limit != 5000)
    what += "; limit=5000 refused";
  tf::bench::print_row(what, tf::bench::show(s, "MB"), "-", 0, "<= 40 MB", s.median <= 40);
}

struct webhook_target {
  std::string secret, signing_secret;
};

webhook_target webhook_of(const std::string& data_dir, const std::string& workload_id) {
  auto db_path = data_dir + "/tinyforge.db";
  auto db = tf::store::database::open(db_path, tf::store::database::mode::read_only);
  if (!db)
    throw harness_error("open the daemon's database: " + describe(db.error()));
  auto key = tf::store::secret_box::load(tf::store::key_path_for(db_path));
  if (!key)
    throw harness_error("load the daemon's key: " + describe(key.error()));
  db->use_secrets(std::make_shared<const tf::store::secret_box>(std::move(*key)));
  auto w = tf::store::get_workload(*db, workload_id);
  if (!w)
    throw harness_error("read the workload: " + describe(w.error()));
  return {w->webhook_secret, w->webhook_signing_secret};
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void load_row(const std::string& seeded, int seconds) {
  daemon_on_fake d{seeded};
  const auto& api = d.api();
  auto made = api.post("/api/projects", project_body("memload", stage_options{"production",
                                                                             "memload-hook"}));
  auto doc = json_of(made.body);
  if (made.status != 201)
    throw harness_error("create the webhook project: " + std::to_string(made.status) + " "
                        + made.body);
  auto hook = webhook_of(d.tmp.file("data"), str(doc, "workload_id"));

  std::atomic<bool> stop{false};
  std::atomic<long> requests{0}, failed{0};
  std::mutex fm;
  std::map<std::string, int> failures; // "GET /api/... 503" -> count
  auto count = [&](const std::string& what, const http_reply& r, int want_lo, int want_hi) {
    ++requests;
    if (r.status >= want_lo && r.status <= want_hi)
      return;
    ++failed;
    std::lock_guard<std::mutex> lock{fm};
    ++failures[what + " " + std::to_string(r.status)];
  };
  auto pause = [&](std::chrono::milliseconds ms) {
    for (auto until = steady::now() + ms; !stop && steady::now() < until;)
      std::this_thread::sleep_for(10ms);
  };
  std::vector<std::thread> clients;
  const char* reads[] = {"/api/containers", "/api/containers?limit=500", "/api/projects",
                         "/api/deployments?limit=20", "/api/containers?limit=50&offset=5000"};
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = c; !stop; ++i) {
        const char* path = reads[i % 5];
        count(std::string{"GET "} + path, api.get(path), 200, 299);
        pause(20ms);
      }
    });
  clients.emplace_back([&] { // writer: a project made and deleted
    for (int i = 0; !stop; ++i) {
      auto r = api.post("/api/projects",
                        project_body("memw" + std::to_string(i), stage_options{"production",
                                     "memw-" + std::to_string(i)}));
      count("POST /api/projects", r, 201, 201);
      auto id = str(json_of(r.body), "id");
      if (!id.empty())
        count("DELETE /api/projects/{id}", api.del("/api/projects/" + id), 200, 299);
      pause(200ms);
    }
  });
  clients.emplace_back([&] { // webhooks
    for (int i = 0; !stop; ++i) {
      std::string body = std::string{"{\"tag\":\""} + (i % 2 ? "v1" : "v2")
                         + "\",\"bench_delivery\":" + std::to_string(i) + "}";
      auto ts = std::to_string(unix_now());
      httplib::Client c{"127.0.0.1", api.port()};
      auto res = c.Post(("/api/webhooks/" + hook.secret).c_str(),
                        httplib::Headers{{"X-Tinyforge-Timestamp", ts},
                                         {"X-Tinyforge-Delivery", "memload-" + std::to_string(i)},
                                         {"X-Tinyforge-Signature",
                                          "sha256=" + tf::hmac_sha256_hex(hook.signing_secret,
                                                                          ts + "." + body)}},
                        body, "application/json");
      count("POST /api/webhooks/{secret}", to_reply(res), 200, 299);
      pause(500ms);
    }
  });
  ui_client ui{api};

  auto t0 = steady::now();
  std::this_thread::sleep_for(10s);
  auto start = rss_kib(d.pid());
  long peak = start, half = 0;
  while (steady::now() - t0 < std::chrono::seconds{seconds}) {
    std::this_thread::sleep_for(1s);
    peak = std::max(peak, rss_kib(d.pid()));
    if (!half && steady::now() - t0 >= std::chrono::seconds{seconds / 2})
      half = rss_kib(d.pid());
    auto el = std::chrono::duration_cast<std::chrono::seconds>(steady::now() - t0).count();
    if (el % 60 == 0)
      std::fprintf(stderr, "memory_load: %lds: RSS %s MB (%s), %ld requests, %ld unexpected\n",
                   static_cast<long>(el), mb(static_cast<double>(rss_kib(d.pid()))).c_str(),
                   rss_parts(d.pid()).c_str(), requests.load(), failed.load());
  }
  auto end = rss_kib(d.pid());
  stop = true;
  for (auto& t : clients)
    t.join();
  auto deps = json_of(api.get("/api/deployments?limit=500").body);
  std::map<std::string, int> statuses; // of the newest 500
  std::string failed_deploys; // what the first few failed deploys say
  if (deps.IsObject() && deps.HasMember("items") && deps["items"].IsArray())
    for (const auto& it : deps["items"].GetArray())
      if (++statuses[str(it, "status")] <= 3 && str(it, "status") == "failed")
        failed_deploys += "\nmemory_load: failed deploy " + str(it, "id") + ": " + str(it, "error");
  std::string by_status;
  for (const auto& [st, n] : statuses)
    by_status += " " + std::to_string(n) + " " + st;
  std::fprintf(stderr,
               "memory_load: load %d s: RSS start (after 10 s) %s MB, end %s MB, peak %s MB; "
               "%ld requests, %ld unexpected answers, %d UI polls, deployments %lld, fake engine "
               "requests %ld; the newest 500 deployments:%s%s\n",
               seconds, mb(static_cast<double>(start)).c_str(), mb(static_cast<double>(end)).c_str(),
               mb(static_cast<double>(peak)).c_str(), requests.load(), failed.load(), ui.polls(),
               static_cast<long long>(integer(deps, "total")), d.engine.requests(),
               by_status.c_str(), failed_deploys.c_str());
  for (const auto& [what, n] : failures)
    std::fprintf(stderr, "    %dx %s\n", n, what.c_str());
  double growth = start > 0 ? 100.0 * static_cast<double>(end - start) / static_cast<double>(start) : 0;
  char fig[128];
  // The second half alone: a cache filling to its bound grows early and stops; a leak keeps
  // growing with the requests, so its second half is not ~0.
  std::snprintf(fig, sizeof fig, "%s -> %s MB (%+.1f%%; second half %+.1f MB)",
                mb(static_cast<double>(start)).c_str(), mb(static_cast<double>(end)).c_str(),
                growth, static_cast<double>(end - half) / 1024);
  tf::bench::print_row("RSS growth over " + std::to_string(seconds)
                         + " s of mixed load (reads, writes, webhooks; fake engine; RSS at 10 s -> end; 1 run)",
                       fig, "-", 0, "growth <= 10%", growth <= 10.0);
}

} // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 3;
  int seconds = argc > 2 ? std::atoi(argv[2]) : 600;
  std::string part = argc > 3 ? argv[3] : "all";
  if (runs < 1 || runs > 50 || seconds < 20 || seconds > 36000
      || (part != "ui" && part != "load" && part != "all")) {
    std::fprintf(stderr, "usage: memory_load [N 1-50] [S 20-36000] [ui|load|all]\n");
    return 2;
  }
  try {
    temp_dir seed;
    auto seeded = seed.file("seeded");
    auto r = run_command({SEED_ROWS_BINARY, seeded, "10000", "100"});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "memory_load: seed_rows failed: %s\n", r.output.c_str());
      return 1;
    }
    if (part != "load")
      ui_rows(seeded, runs);
    if (part != "ui")
      load_row(seeded, seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memory_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
