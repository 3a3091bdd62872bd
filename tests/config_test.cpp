#include "config/config.hpp"
#include "config/ephemeral_ports.hpp"

#include "core/errors.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

/// A unique directory under /tmp, removed with everything in it.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = "/tmp/tinyforge-config-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string write(const std::string& name, const std::string& text) const {
    auto file = path / name;
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
};

std::string shipped_file() {
  return std::string(TINYFORGE_SOURCE_DIR) + "/config/tinyforge.json";
}

void check_same(const tf::config& a, const tf::config& b) {
  CHECK(a.listen == b.listen);
  CHECK(a.listen_host == b.listen_host);
  CHECK(a.listen_port == b.listen_port);
  CHECK(a.data_dir == b.data_dir);
  CHECK(a.docker_host == b.docker_host);
  CHECK(a.reconcile_interval_s == b.reconcile_interval_s);
  CHECK(a.proxy_provider == b.proxy_provider);
  CHECK(a.rollback_grace_s == b.rollback_grace_s);
  CHECK(a.request_timeout_ms == b.request_timeout_ms);
  CHECK(a.max_body_bytes == b.max_body_bytes);
  CHECK(a.http_threads == b.http_threads);
  CHECK(a.log_level == b.log_level);
  CHECK(a.proxy_domain == b.proxy_domain);
  CHECK(a.proxy_slot_ports == b.proxy_slot_ports);
  CHECK(a.slot_port_low == b.slot_port_low);
  CHECK(a.slot_port_high == b.slot_port_high);
  CHECK(a.proxy_slot_gate == b.proxy_slot_gate);
  CHECK(a.caddy_admin == b.caddy_admin);
  CHECK(a.caddy_server == b.caddy_server);
  CHECK(a.caddy_listen == b.caddy_listen);
  CHECK(a.nginx_bin == b.nginx_bin);
  CHECK(a.nginx_conf == b.nginx_conf);
  CHECK(a.nginx_dir == b.nginx_dir);
  CHECK(a.nginx_listen == b.nginx_listen);
  CHECK(a.npm_url == b.npm_url);
  CHECK(a.npm_email == b.npm_email);
  CHECK(a.npm_password == b.npm_password);
  CHECK(a.deploy_health_deadline_s == b.deploy_health_deadline_s);
  CHECK(a.deploy_drain_timeout_s == b.deploy_drain_timeout_s);
  CHECK(a.deploy_stop_grace_s == b.deploy_stop_grace_s);
  CHECK(a.deploy_settle_ms == b.deploy_settle_ms);
  CHECK(a.notify_queue_max == b.notify_queue_max);
  CHECK(a.notify_max_attempts == b.notify_max_attempts);
  CHECK(a.notify_backoff_ms == b.notify_backoff_ms);
}

/// Loads expecting failure; checks the code and that the message is one line.
std::string load_error(const tf::config_sources& sources) {
  auto cfg = tf::load_config(sources);
  REQUIRE_FALSE(cfg);
  CHECK(tf::error_code(cfg.error()) == tf::ec::bad_config);
  auto msg = tf::error_message(cfg.error());
  INFO(msg);
  CHECK(msg.rfind("config: ", 0) == 0);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find('\r') == std::string::npos);
  return msg;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("config: no file, env or flags gives the defaults") {
  auto cfg = tf::load_config({});
  REQUIRE(cfg);
  check_same(*cfg, tf::config{});
  CHECK(cfg->listen == "127.0.0.1:8080");
  CHECK(cfg->listen_host == "127.0.0.1");
  CHECK(cfg->listen_port == 8080);
  CHECK(cfg->data_dir == "./data");
  CHECK(cfg->docker_host == "unix:///var/run/docker.sock");
  CHECK(cfg->reconcile_interval_s == 30);
  CHECK(cfg->proxy_provider == "none");
  CHECK(cfg->rollback_grace_s == 300);
  CHECK(cfg->request_timeout_ms == 5000);
  CHECK(cfg->max_body_bytes == 1048576);
  CHECK(cfg->http_threads == 32);
  CHECK(cfg->log_level == "info");
}

TEST_CASE("config: config_keys lists every key with its env var and a valid default") {
  const auto& keys = tf::config_keys();
  std::vector<std::string> names;
  for (const auto& k : keys)
    names.push_back(k.key);
  CHECK(names == std::vector<std::string>{
                   "listen", "data_dir", "docker_host", "reconcile_interval_s", "proxy.provider",
                   "proxy.domain", "proxy.slot_ports", "proxy.slot_gate", "proxy.caddy_admin",
                   "proxy.caddy_server", "proxy.caddy_listen", "proxy.nginx_bin",
                   "proxy.nginx_conf", "proxy.nginx_dir", "proxy.nginx_listen", "proxy.npm_url",
                   "proxy.npm_email", "proxy.npm_password", "rollback_grace_s",
                   "deploy.health_deadline_s", "deploy.drain_timeout_s", "deploy.stop_grace_s", "deploy.settle_ms",
                   "request_timeout_ms", "max_body_bytes", "sites.image", "sites.command", "sites.port",
                   "sites.upload_limit_bytes", "sites.max_unpacked_bytes", "sites.max_files",
                   "http_threads", "http_head_timeout_ms",
                   "http_body_timeout_ms", "http_idle_timeout_ms", "http_max_connections",
                   "http_max_connections_per_client", "http_max_header_count",
                   "http_max_header_bytes", "http_public_names", "http_trusted_proxies",
                   "notify.queue_max",
                   "notify.max_attempts", "notify.backoff_ms", "notify.private_targets",
                   "log_level"});
  tf::config_sources all_defaults;
  for (const auto& k : keys) {
    INFO(k.key);
    CHECK_FALSE(k.description.empty());
    CHECK(k.description.find('\n') == std::string::npos);
    all_defaults.flags[k.key] = k.default_value;
  }
  CHECK(keys[4].env == "TINYFORGE_PROXY_PROVIDER");
  CHECK(keys[6].env == "TINYFORGE_PROXY_SLOT_PORTS");
  CHECK(keys[3].env == "TINYFORGE_RECONCILE_INTERVAL_S");
  CHECK(keys[3].default_value == "30");
  // Passing every documented default explicitly must change nothing.
  auto cfg = tf::load_config(all_defaults);
  REQUIRE(cfg);
  check_same(*cfg, tf::config{});
}

TEST_CASE("config: the shipped config/tinyforge.json gives exactly the defaults") {
  auto cfg = tf::load_config({shipped_file(), {}, {}});
  if (!cfg)
    FAIL(tf::error_message(cfg.error()));
  check_same(*cfg, tf::config{});

  // Every key is documented with its environment variable.
  std::ifstream in(shipped_file());
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& k : tf::config_keys()) {
    INFO(k.key);
    CHECK(contains(text.str(), k.env));
  }
}

TEST_CASE("config: precedence is default < file < environment < flag") {
  temp_dir dir;
  auto file = dir.write("layers.json", R"({
    // comments are allowed
    "listen": "0.0.0.0:9000",
    "data_dir": "/srv/file",
    "reconcile_interval_s": 60,
    "proxy": { "provider": "caddy" }, /* block comments too */
    "log_level": "debug"
  })");
  tf::config_sources sources{file,
                             {{"TINYFORGE_DATA_DIR", "/srv/env"},
                              {"TINYFORGE_RECONCILE_INTERVAL_S", "120"},
                              {"TINYFORGE_PROXY_PROVIDER", "nginx"},
                              {"TINYFORGE_ADMIN_PASSWORD", "read elsewhere"},
                              {"HOME", "/root"}},
                             {{"reconcile_interval_s", "240"}, {"proxy.provider", "npm"}}};
  auto cfg = tf::load_config(sources);
  if (!cfg)
    FAIL(tf::error_message(cfg.error()));
  CHECK(cfg->listen == "0.0.0.0:9000");         // file
  CHECK(cfg->listen_host == "0.0.0.0");
  CHECK(cfg->listen_port == 9000);
  CHECK(cfg->log_level == "debug");             // file
  CHECK(cfg->data_dir == "/srv/env");           // env over file
  CHECK(cfg->reconcile_interval_s == 240);      // flag over env over file
  CHECK(cfg->proxy_provider == "npm");          // flag over env over file
  CHECK(cfg->http_threads == 32);                // default
  CHECK(cfg->docker_host == "unix:///var/run/docker.sock");
}

TEST_CASE("config: listen and docker_host accept their documented forms") {
  auto load = [](std::string key, std::string value) {
    return tf::load_config({"", {}, {{std::move(key), std::move(value)}}});
  };
  auto cfg = load("listen", "127.0.0.1:0");
  REQUIRE(cfg);
  CHECK(cfg->listen_port == 0);
  cfg = load("listen", "[::1]:65535");
  REQUIRE(cfg);
  CHECK(cfg->listen_host == "::1");
  CHECK(cfg->listen_port == 65535);
  cfg = load("listen", "my-host.example.com:80");
  REQUIRE(cfg);
  CHECK(cfg->listen_host == "my-host.example.com");
  CHECK(load("docker_host", "tcp://docker.local:2375"));
  CHECK(load("docker_host", "tcp://[::1]:2375"));
  CHECK(load("docker_host", "unix:///run/user/1000/docker.sock"));
  CHECK(load("rollback_grace_s", "0"));
  CHECK(load("max_body_bytes", "1073741824"));
}

TEST_CASE("config: bad values name the key and the source") {
  struct bad_case {
    std::string name;
    tf::config_sources sources;
    std::vector<std::string> parts; // each must appear in the message
  };
  std::vector<bad_case> cases = {
    {"bad integer in env",
     {"", {{"TINYFORGE_RECONCILE_INTERVAL_S", "abc"}}, {}},
     {"config: reconcile_interval_s: expected an integer from 1 to 86400, got \"abc\" "
      "(from environment TINYFORGE_RECONCILE_INTERVAL_S)"}},
    {"trailing junk", {"", {}, {{"http_threads", "8x"}}}, {"http_threads", "flag --http_threads"}},
    {"leading space", {"", {}, {{"http_threads", " 8"}}}, {"http_threads", "flag --http_threads"}},
    {"empty integer", {"", {}, {{"http_threads", ""}}}, {"http_threads", "got \"\""}},
    {"overflow",
     {"", {{"TINYFORGE_MAX_BODY_BYTES", "99999999999999999999999"}}, {}},
     {"max_body_bytes", "environment TINYFORGE_MAX_BODY_BYTES"}},
    {"below range", {"", {}, {{"request_timeout_ms", "99"}}}, {"request_timeout_ms", "100 to 600000", "flag --request_timeout_ms"}},
    {"above range", {"", {}, {{"http_threads", "257"}}}, {"http_threads", "from 1 to 256", "got \"257\""}},
    {"bad enum in flag",
     {"", {}, {{"proxy.provider", "traefik"}}},
     {"config: proxy.provider: expected one of none, caddy, nginx, npm, got \"traefik\" "
      "(from flag --proxy.provider)"}},
    {"bad log level", {"", {{"TINYFORGE_LOG_LEVEL", "INFO"}}, {}}, {"log_level", "TINYFORGE_LOG_LEVEL"}},
    {"listen without host",
     {"", {}, {{"listen", "8080"}}},
     {"config: listen: expected host:port, got \"8080\" (from flag --listen)"}},
    {"listen empty host", {"", {}, {{"listen", ":8080"}}}, {"listen", "flag --listen"}},
    {"listen port too big", {"", {}, {{"listen", "localhost:65536"}}}, {"listen", "flag --listen"}},
    {"listen bad ipv4", {"", {}, {{"listen", "300.1.1.1:80"}}}, {"listen", "flag --listen"}},
    {"listen bare ipv6", {"", {}, {{"listen", "::1:80"}}}, {"listen", "flag --listen"}},
    {"listen bad ipv6", {"", {{"TINYFORGE_LISTEN", "[nope]:80"}}, {}}, {"listen", "environment TINYFORGE_LISTEN"}},
    {"docker_host scheme",
     {"", {{"TINYFORGE_DOCKER_HOST", "http://localhost:2375"}}, {}},
     {"docker_host", "environment TINYFORGE_DOCKER_HOST", "unix:///absolute/path or tcp://host:port"}},
    {"docker_host relative path", {"", {}, {{"docker_host", "unix://docker.sock"}}}, {"docker_host", "flag --docker_host"}},
    {"docker_host no port", {"", {}, {{"docker_host", "tcp://localhost"}}}, {"docker_host", "flag --docker_host"}},
    {"empty data_dir", {"", {{"TINYFORGE_DATA_DIR", ""}}, {}}, {"data_dir", "TINYFORGE_DATA_DIR"}},
    {"unknown flag", {"", {}, {{"reconcile_intervall_s", "5"}}}, {"unknown key \"reconcile_intervall_s\"", "flag --reconcile_intervall_s"}},
    {"notify.queue_max zero", {"", {}, {{"notify.queue_max", "0"}}}, {"notify.queue_max", "from 1 to 100000", "flag --notify.queue_max"}},
    {"notify.max_attempts too many",
     {"", {{"TINYFORGE_NOTIFY_MAX_ATTEMPTS", "21"}}, {}},
     {"notify.max_attempts", "from 1 to 20", "environment TINYFORGE_NOTIFY_MAX_ATTEMPTS"}},
    {"notify.backoff_ms not a number", {"", {}, {{"notify.backoff_ms", "1s"}}}, {"notify.backoff_ms", "got \"1s\""}},
    {"newline in value stays one line", {"", {}, {{"log_level", "info\nwarn"}}}, {"log_level", "\"info\\nwarn\""}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name.c_str()) {
      auto msg = load_error(c.sources);
      for (const auto& part : c.parts) {
        INFO(msg);
        CHECK(contains(msg, part));
      }
    }
  }
}

TEST_CASE("config: bad files name the file and the key") {
  temp_dir dir;
  auto load_file = [&](const std::string& text) {
    auto file = dir.write("bad.json", text);
    return std::make_pair(file, load_error({file, {}, {}}));
  };

  SUBCASE("unknown key") {
    auto [file, msg] = load_file(R"({"reconcile_intervall_s": 5})");
    CHECK(msg == "config: unknown key \"reconcile_intervall_s\" in " + file);
  }
  SUBCASE("unknown nested key") {
    auto [file, msg] = load_file(R"({"proxy": {"providr": "caddy"}})");
    CHECK(msg == "config: unknown key \"proxy.providr\" in " + file);
  }
  SUBCASE("dotted key given as a plain value") {
    auto [file, msg] = load_file(R"({"proxy": "caddy"})");
    CHECK(msg == "config: unknown key \"proxy\" in " + file);
  }
  SUBCASE("integer given as a string") {
    auto [file, msg] = load_file(R"({"reconcile_interval_s": "30"})");
    CHECK(msg == "config: reconcile_interval_s: expected an integer from 1 to 86400, got a "
                 "string \"30\" (from " + file + ")");
  }
  SUBCASE("integer given as a float") {
    auto [file, msg] = load_file(R"({"http_threads": 1.5})");
    CHECK(contains(msg, "http_threads"));
    CHECK(contains(msg, "(from " + file + ")"));
  }
  SUBCASE("string given as a number") {
    auto [file, msg] = load_file(R"({"data_dir": 5})");
    CHECK(msg == "config: data_dir: expected a non-empty string, got 5 (from " + file + ")");
  }
  SUBCASE("integer out of range") {
    auto [file, msg] = load_file(R"({"http_threads": 0})");
    CHECK(msg == "config: http_threads: expected an integer from 1 to 256, got 0 (from " + file +
                 ")");
  }
  SUBCASE("bad enum") {
    auto [file, msg] = load_file(R"({"proxy": {"provider": "traefik"}})");
    CHECK(msg == "config: proxy.provider: expected one of none, caddy, nginx, npm, got "
                 "\"traefik\" (from " + file + ")");
  }
  SUBCASE("key set twice") {
    auto [file, msg] = load_file(R"({"log_level": "info", "log_level": "warn"})");
    CHECK(contains(msg, "log_level"));
    CHECK(contains(msg, file));
  }
  SUBCASE("malformed JSON") {
    auto [file, msg] = load_file("{\n  \"listen\": \"127.0.0.1:1\",\n}\n");
    CHECK(contains(msg, file));
    CHECK(contains(msg, "offset"));
    CHECK(contains(msg, "line 3"));
  }
  SUBCASE("empty file") {
    auto [file, msg] = load_file("");
    CHECK(contains(msg, file));
  }
  SUBCASE("top level is not an object") {
    auto [file, msg] = load_file("[1, 2]");
    CHECK(contains(msg, file));
  }
  SUBCASE("file over 1 MiB") {
    auto [file, msg] = load_file("{}" + std::string(1 << 20, ' '));
    CHECK(contains(msg, file));
    CHECK(contains(msg, "larger than"));
  }
  SUBCASE("missing file") {
    auto file = (dir.path / "missing.json").string();
    auto msg = load_error({file, {}, {}});
    CHECK(contains(msg, file));
    CHECK(contains(msg, "No such file"));
  }
  SUBCASE("directory instead of a file") {
    auto msg = load_error({dir.path.string(), {}, {}});
    CHECK(contains(msg, dir.path.string()));
  }
}

TEST_CASE("config: a file just under 1 MiB still loads") {
  temp_dir dir;
  auto file = dir.write("big.json", "{}" + std::string((1 << 20) - 2, ' '));
  CHECK(tf::load_config({file, {}, {}}));
}

TEST_CASE("config: a file's text read from memory gives what the file gives") {
  temp_dir dir;
  const std::string text = R"({"listen": "[::1]:9090", // a comment
    "proxy": {"provider": "caddy", "slot_ports": "21000-21099"}})";
  auto from_file = tf::load_config({dir.write("c.json", text), {}, {}});
  auto from_text = tf::config_from_file_text(text, "c.json");
  REQUIRE(from_file);
  REQUIRE(from_text);
  check_same(*from_text, *from_file);
  CHECK(from_text->listen_host == "::1");
  CHECK(from_text->slot_port_high == 21099);

  // The refusals are the file's, naming the source it was given.
  for (std::string bad : {std::string{"{"}, std::string{"[1]"}, std::string{R"({"listen": 5})"},
                          std::string{R"({"a\u0000b": 1})"}, "{}" + std::string(1 << 20, ' ')}) {
    INFO(bad.substr(0, 40));
    auto cfg = tf::config_from_file_text(bad, "the-text");
    REQUIRE_FALSE(cfg);
    CHECK(tf::error_code(cfg.error()) == tf::ec::bad_config);
    CHECK(contains(tf::error_message(cfg.error()), "the-text"));
  }
}

TEST_CASE("config: tinyforge_environment reads only TINYFORGE_* variables") {
  setenv("TINYFORGE_CONFIG_TEST_VAR", "a=b", 1);
  setenv("NOT_TINYFORGE_CONFIG_TEST_VAR", "x", 1);
  auto env = tf::tinyforge_environment();
  unsetenv("TINYFORGE_CONFIG_TEST_VAR");
  unsetenv("NOT_TINYFORGE_CONFIG_TEST_VAR");
  CHECK(env["TINYFORGE_CONFIG_TEST_VAR"] == "a=b");
  CHECK(env.count("NOT_TINYFORGE_CONFIG_TEST_VAR") == 0);
  for (const auto& [name, value] : env)
    CHECK(name.rfind("TINYFORGE_", 0) == 0);
}

// -- the kernel's ephemeral port range (issue 11, item 6) ---------------------------------

namespace {

/// The config of `flags` over the defaults, or fails the test.
tf::config config_with(const std::map<std::string, std::string>& flags) {
  auto cfg = tf::load_config({"", {}, flags});
  REQUIRE_MESSAGE(cfg, tf::error_message(cfg.error()));
  return *cfg;
}

std::vector<std::string> overlap_keys(const tf::config& cfg, tf::port_range kernel) {
  std::vector<std::string> keys;
  for (const auto& x : tf::ephemeral_overlaps(cfg, kernel))
    keys.push_back(x.key);
  return keys;
}

} // namespace

TEST_CASE("ephemeral ports: the /proc text parses, anything else means no check") {
  auto r = tf::parse_ephemeral_range("32768\t60999\n");
  REQUIRE(r);
  CHECK(r->low == 32768);
  CHECK(r->high == 60999);
  auto spaces = tf::parse_ephemeral_range("1024  65535");
  REQUIRE(spaces);
  CHECK(spaces->low == 1024);
  CHECK(spaces->high == 65535);

  for (const auto& bad : std::vector<std::string>{
         "", "\n", "32768", "32768\n", "32768 \n", "abc def\n", "32768-60999\n", "60999 32768\n",
        "0 100\n", "32768 65536\n", "-1 60999\n", "32768 60999 1\n", "32768 60999\n\n",
        "032768 60999\n", "32768 99999999999999999999\n", " 32768 60999\n",
        std::string(100, '1'), std::string("32768\0 60999\n", 13)}) {
    CAPTURE(bad);
    CHECK_FALSE(tf::parse_ephemeral_range(bad));
  }
}

TEST_CASE("ephemeral ports: a missing or garbled file means no check") {
  temp_dir dir;
  CHECK_FALSE(tf::read_ephemeral_range((dir.path / "absent").string()));
  CHECK_FALSE(tf::read_ephemeral_range(dir.write("garbled", "not a range\n")));
  CHECK_FALSE(tf::read_ephemeral_range(dir.write("long", std::string(4096, '9'))));
  auto good = tf::read_ephemeral_range(dir.write("good", "40000\t50000\n"));
  REQUIRE(good);
  CHECK(good->low == 40000);
  CHECK(good->high == 50000);
}

TEST_CASE("ephemeral ports: listen and slot_ports inside the kernel's range are named") {
  tf::port_range kernel{32768, 60999};
  CHECK(overlap_keys(config_with({}), kernel).empty()); // 8080 and 20000-20999

  auto both = config_with({{"listen", "127.0.0.1:40000"}, {"proxy.slot_ports", "32000-33000"}});
  auto overlaps = tf::ephemeral_overlaps(both, kernel);
  REQUIRE(overlaps.size() == 2);
  CHECK(overlaps[0].key == "listen");
  CHECK(overlaps[0].value == "127.0.0.1:40000");
  CHECK(overlaps[1].key == "proxy.slot_ports");
  CHECK(overlaps[1].value == "32000-33000");
  auto text = tf::describe(overlaps[1]);
  CHECK(text.find("proxy.slot_ports") != std::string::npos);
  CHECK(text.find("32000-33000") != std::string::npos);
  CHECK(text.find("32768-60999") != std::string::npos);

  struct overlap_case {
    std::string key, value;
    std::vector<std::string> overlapping;
  };
  for (const auto& c : std::vector<overlap_case>{
         // The edges, and a range that only touches the kernel's at one end.
         {"proxy.slot_ports", "60999-61000", {"proxy.slot_ports"}},
         {"proxy.slot_ports", "20000-32768", {"proxy.slot_ports"}},
         {"proxy.slot_ports", "20000-32767", {}},
         {"proxy.slot_ports", "61000-62000", {}},
         // A range that holds the kernel's whole range.
         {"proxy.slot_ports", "1024-65535", {"proxy.slot_ports"}},
         {"listen", "[::1]:32768", {"listen"}},
         {"listen", "127.0.0.1:32767", {}},
         // Port 0: the kernel picks one from its own range on purpose.
         {"listen", "127.0.0.1:0", {}}}) {
    CAPTURE(c.value);
    CHECK(overlap_keys(config_with({{c.key, c.value}}), kernel) == c.overlapping);
  }
}

TEST_CASE("ephemeral ports: the default listen port and slot_ports lie outside this machine's "
          "range") {
  auto kernel = tf::read_ephemeral_range();
  REQUIRE_MESSAGE(kernel, tf::ephemeral_range_path, " is unreadable here");
  MESSAGE("kernel range ", kernel->low, "-", kernel->high);
  auto defaults = config_with({});
  CHECK(defaults.proxy_slot_ports == "20000-20999");
  CHECK(tf::ephemeral_overlaps(defaults, *kernel).empty());
}
