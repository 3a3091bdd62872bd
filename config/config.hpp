// Daemon configuration: built-in defaults, overridden by a JSON file (with // comments),
// then by TINYFORGE_* environment variables, then by --key flags.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

/// busybox's nc as a super-server (each -l raises its listen backlog by one: 64 keeps a
/// burst from being dropped) that runs busybox httpd in inetd mode per connection, so each
/// request resolves /site/current afresh (httpd alone resolves it once, at start).
inline constexpr const char* default_sites_command
  = "/bin/busybox nc -llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll -p 8080 "
    "-e /bin/busybox httpd -i -h /site/current";

struct config {
  std::string listen = "127.0.0.1:8080";
  /// `listen` split up; an IPv6 host is stored without its brackets, ready for bind().
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  std::string data_dir = "./data";
  std::string docker_host = "unix:///var/run/docker.sock";
  int64_t reconcile_interval_s = 30;
  std::string proxy_provider = "none";
  /// Appended to a stage's subdomain to make the host name a route matches ("" = as is).
  std::string proxy_domain;
  /// Loopback ports the deployer hands out as slots, "low-high" (two per instance of a stage).
  std::string proxy_slot_ports = "20000-20999";
  int64_t slot_port_low = 20000;
  int64_t slot_port_high = 20999;
  /// Close a draining colour's slot ports with iptables (needs CAP_NET_ADMIN); without it a
  /// switch only waits for the proxy to move and requests in flight may be cut.
  std::string proxy_slot_gate = "iptables";
  std::string caddy_admin = "http://127.0.0.1:2019";
  std::string caddy_server = "tinyforge";
  std::string caddy_listen = ":80";
  std::string nginx_bin = "nginx";
  std::string nginx_conf = "/etc/nginx/nginx.conf";
  std::string nginx_dir = "/etc/nginx/conf.d";
  std::string nginx_listen = "80";
  std::string npm_url = "http://127.0.0.1:81";
  std::string npm_email;
  std::string npm_password;
  int64_t deploy_health_deadline_s = 60;
  int64_t deploy_drain_timeout_s = 30;
  int64_t deploy_stop_grace_s = 10;
  int64_t rollback_grace_s = 300;
  int64_t deploy_settle_ms = 500;
  int64_t request_timeout_ms = 5000;
  int64_t max_body_bytes = 1048576;
  /// Static sites: the image and command of the container that serves a site (its
  /// directory is mounted at /site; the command must serve /site/current and resolve that
  /// link per request, so a release switch is an atomic rename), the port it listens on,
  /// and the bounds of an upload and of what it unpacks to.
  std::string sites_image = "busybox:stable";
  std::string sites_command = default_sites_command;
  int64_t sites_port = 8080;
  int64_t sites_upload_limit_bytes = 104857600;
  int64_t sites_max_unpacked_bytes = 536870912;
  int64_t sites_max_files = 20000;
  /// Workers wait on the actors (a webhook for its claim to commit), not on the CPU: their
  /// number caps the requests in flight, and each idle one costs ~20 KB (bench/webhook_burst:
  /// 8 -> 32 took deliveries/s from ~2,000 to ~2,500 and p99 from ~210 to ~140 ms).
  int64_t http_threads = 32;
  /// Whole-request deadlines, idle keep-alive and the caps the request gate enforces.
  int64_t http_head_timeout_ms = 5000;
  int64_t http_body_timeout_ms = 15000;
  int64_t http_idle_timeout_ms = 5000;
  int64_t http_max_connections = 512;
  int64_t http_max_connections_per_client = 256;
  int64_t http_max_header_count = 100;
  int64_t http_max_header_bytes = 32768;
  /// Comma-separated names the Host header may carry, "name" (any port) or "name:port";
  /// empty: the listen host and localhost, 127.0.0.1, [::1].
  std::string http_public_names;
  /// Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed.
  std::string http_trusted_proxies;
  /// Notifications waiting to be posted (or to be retried); beyond it the oldest is dropped.
  int64_t notify_queue_max = 1000;
  /// Attempts per notification, the first included.
  int64_t notify_max_attempts = 5;
  /// The wait before the first retry; it doubles with each further one.
  int64_t notify_backoff_ms = 1000;
  /// "allow": notification URLs may reach loopback, link-local and private addresses (a
  /// receiver inside the network); "refuse" (the default) keeps them from probing it.
  std::string notify_private_targets = "refuse";
  std::string log_level = "info";
};

/// Where the layers come from. `file` empty = no file (defaults only, plus env and flags).
struct config_sources {
  std::string file;
  std::map<std::string, std::string> env;    // e.g. {"TINYFORGE_LISTEN", "..."}; other vars ignored
  std::map<std::string, std::string> flags;  // key -> value, e.g. {"proxy.provider", "caddy"}
};

/// One entry per key: its name, env var, default (as text) and a one-line description.
struct config_key_info {
  std::string key, env, default_value, description;
};

const std::vector<config_key_info>& config_keys();

/// Reads the environment's TINYFORGE_* variables (from `environ`).
std::map<std::string, std::string> tinyforge_environment();

/// The defaults overridden by a config file's contents, validated as load_config does; `name`
/// (the file's path) is what errors name as the source.
caf::expected<config> config_from_file_text(std::string_view text, const std::string& name);

/// Layers defaults, file, environment and flags; validates every key.
/// Error: tf::ec::bad_config with a one-line message naming the key and its source.
caf::expected<config> load_config(const config_sources& sources);

} // namespace tf
