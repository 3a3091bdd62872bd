#include "config/config.hpp"

#include "core/errors.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

extern char** environ;

namespace tf {

namespace {

// A config file is a few hundred bytes; the cap keeps a wrong path (a log, a device) from
// being slurped into memory.
constexpr size_t max_file_bytes = 1 << 20;

enum class json_type { string, integer };

/// One configuration key. `assign` parses and validates text and stores it; it returns false
/// when the value is invalid, and `expected` then tells the user what a valid value looks like.
struct key_desc {
  std::string key;
  std::string env;
  std::string default_value;
  std::string description;
  json_type type;
  std::string expected;
  std::function<bool(config&, const std::string&)> assign;
};

std::string env_name(const std::string& key) {
  std::string name = "TINYFORGE_";
  for (char c : key)
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

key_desc make_key(std::string key, std::string default_value, std::string description,
                  json_type type, std::string expected,
                  std::function<bool(config&, const std::string&)> assign) {
  auto env = env_name(key);
  return {std::move(key), std::move(env), std::move(default_value), std::move(description),
          type, std::move(expected), std::move(assign)};
}

// from_chars rejects whitespace and a leading '+', and reports overflow, which is exactly
// the strictness wanted for values typed into env vars and flags.
std::optional<int64_t> parse_int(std::string_view text) {
  int64_t value = 0;
  auto end = text.data() + text.size();
  auto [ptr, err] = std::from_chars(text.data(), end, value);
  if (err != std::errc{} || ptr != end)
    return std::nullopt;
  return value;
}

bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253)
    return false;
  // All digits and dots can only mean an IPv4 literal; "1.2.3" or "300.1.1.1" are typos.
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    in_addr addr;
    return inet_pton(AF_INET, std::string(host).c_str(), &addr) == 1;
  }
  size_t start = 0;
  while (start <= host.size()) {
    auto dot = std::min(host.find('.', start), host.size());
    auto label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
        return false;
    start = dot + 1;
  }
  return true;
}

/// Splits "host:port" or "[v6]:port"; the host comes back without brackets.
bool split_host_port(std::string_view text, std::string& host, uint16_t& port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
    in6_addr addr;
    if (inet_pton(AF_INET6, std::string(h).c_str(), &addr) != 1)
      return false;
  } else {
    auto colon = text.find(':');
    // A second colon means an unbracketed IPv6 address, whose port cannot be told apart.
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos)
      return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (!valid_hostname(h))
      return false;
  }
  auto n = parse_int(p);
  if (!n || *n < 0 || *n > 65535)
    return false;
  host = std::string(h);
  port = static_cast<uint16_t>(*n);
  return true;
}

bool valid_docker_host(const std::string& text) {
  constexpr std::string_view unix_scheme = "unix://", tcp_scheme = "tcp://";
  std::string_view v = text;
  if (v.substr(0, unix_scheme.size()) == unix_scheme) {
    auto path = v.substr(unix_scheme.size());
    return path.size() > 1 && path.front() == '/';
  }
  if (v.substr(0, tcp_scheme.size()) == tcp_scheme) {
    std::string host;
    uint16_t port = 0;
    // Port 0 means "any" only when binding; Docker has to be reached on a real port.
    return split_host_port(v.substr(tcp_scheme.size()), host, port) && port != 0;
  }
  return false;
}

key_desc text_key(std::string key, std::string config::*field, std::string description) {
  return make_key(std::move(key), config{}.*field, std::move(description), json_type::string,
                  "a non-empty string", [field](config& cfg, const std::string& value) {
                    if (value.empty())
                      return false;
                    cfg.*field = value;
                    return true;
                  });
}

/// A string that may be empty (an optional setting).
key_desc optional_text_key(std::string key, std::string config::*field, std::string description) {
  return make_key(std::move(key), config{}.*field, std::move(description), json_type::string,
                  "a string", [field](config& cfg, const std::string& value) {
                    cfg.*field = value;
                    return true;
                  });
}

/// "low-high", two loopback port numbers with low <= high.
key_desc port_range_key(std::string key, std::string description) {
  return make_key(std::move(key), config{}.proxy_slot_ports, std::move(description),
                  json_type::string, "a port range low-high (1024 to 65535)",
                  [](config& cfg, const std::string& value) {
                    auto dash = value.find('-');
                    if (dash == std::string::npos)
                      return false;
                    auto lo = parse_int(std::string_view{value}.substr(0, dash));
                    auto hi = parse_int(std::string_view{value}.substr(dash + 1));
                    if (!lo || !hi || *lo < 1024 || *hi > 65535 || *lo > *hi)
                      return false;
                    cfg.proxy_slot_ports = value;
                    cfg.slot_port_low = *lo;
                    cfg.slot_port_high = *hi;
                    return true;
                  });
}

key_desc integer_key(std::string key, int64_t config::*field, int64_t lo, int64_t hi,
                     std::string description) {
  auto expected = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  description += " (" + std::to_string(lo) + " to " + std::to_string(hi) + ")";
  return make_key(std::move(key), std::to_string(config{}.*field), std::move(description),
                  json_type::integer, std::move(expected),
                  [field, lo, hi](config& cfg, const std::string& value) {
                    auto n = parse_int(value);
                    if (!n || *n < lo || *n > hi)
                      return false;
                    cfg.*field = *n;
                    return true;
                  });
}

key_desc enum_key(std::string key, std::string config::*field, std::vector<std::string> choices,
                  std::string description) {
  std::string list;
  for (const auto& choice : choices)
    list += (list.empty() ? "" : ", ") + choice;
  description += " (one of " + list + ")";
  return make_key(std::move(key), config{}.*field, std::move(description), json_type::string,
                  "one of " + list,
                  [field, choices = std::move(choices)](config& cfg, const std::string& value) {
                    if (std::find(choices.begin(), choices.end(), value) == choices.end())
                      return false;
                    cfg.*field = value;
                    return true;
                  });
}

key_desc listen_key(std::string description) {
  return make_key("listen", config{}.listen, std::move(description), json_type::string,
                  "host:port", [](config& cfg, const std::string& value) {
                    std::string host;
                    uint16_t port = 0;
                    if (!split_host_port(value, host, port))
                      return false;
                    cfg.listen = value;
                    cfg.listen_host = std::move(host);
                    cfg.listen_port = port;
                    return true;
                  });
}

key_desc docker_host_key(std::string description) {
  return make_key("docker_host", config{}.docker_host, std::move(description), json_type::string,
                  "unix:///absolute/path or tcp://host:port",
                  [](config& cfg, const std::string& value) {
                    if (!valid_docker_host(value))
                      return false;
                    cfg.docker_host = value;
                    return true;
                  });
}

// The one place a key is declared; defaults come from the member initializers in config.
const std::vector<key_desc>& key_table() {
  static const std::vector<key_desc> table = {
    listen_key("Address the HTTP API listens on, host:port or [v6]:port; port 0 picks a free "
               "port"),
    text_key("data_dir", &config::data_dir,
             "Directory holding the SQLite database and other daemon state"),
    docker_host_key("Docker Engine API endpoint, unix:///path/to/docker.sock or tcp://host:port"),
    integer_key("reconcile_interval_s", &config::reconcile_interval_s, 1, 86400,
                "Seconds between full reconciles of the containers index with what Docker runs (events fill the gaps)"),
    enum_key("proxy.provider", &config::proxy_provider, {"none", "caddy", "nginx", "npm"},
             "Reverse proxy that receives the routes; npm is Nginx Proxy Manager"),
    optional_text_key("proxy.domain", &config::proxy_domain,
                      "Domain appended to a stage's subdomain to form the host its route matches; empty uses the subdomain as the host"),
    port_range_key("proxy.slot_ports",
                   "Loopback host ports handed out as blue-green slots, two per instance of a stage"),
    enum_key("proxy.slot_gate", &config::proxy_slot_gate, {"iptables", "none"},
             "How a draining colour is closed to new proxy connections: iptables (needs CAP_NET_ADMIN) or none"),
    text_key("proxy.caddy_admin", &config::caddy_admin, "Base URL of Caddy's admin API"),
    text_key("proxy.caddy_server", &config::caddy_server,
             "Name of the Caddy HTTP server that holds Tinyforge's routes (created when missing)"),
    text_key("proxy.caddy_listen", &config::caddy_listen,
             "Address the Caddy server listens on when Tinyforge creates it"),
    text_key("proxy.nginx_bin", &config::nginx_bin, "The nginx binary, for -t and -s reload"),
    text_key("proxy.nginx_conf", &config::nginx_conf, "nginx's main configuration file"),
    text_key("proxy.nginx_dir", &config::nginx_dir,
             "Directory included by nginx's configuration where Tinyforge writes one file per route"),
    text_key("proxy.nginx_listen", &config::nginx_listen,
             "The listen directive of the server blocks Tinyforge generates"),
    text_key("proxy.npm_url", &config::npm_url, "Base URL of Nginx Proxy Manager's API"),
    optional_text_key("proxy.npm_email", &config::npm_email, "Nginx Proxy Manager user"),
    optional_text_key("proxy.npm_password", &config::npm_password,
                      "Nginx Proxy Manager password (never logged)"),
    integer_key("rollback_grace_s", &config::rollback_grace_s, 0, 86400,
                "Seconds the previous colour stays warm after a deploy, so a rollback is a proxy switch; 0 removes it at once"),
    integer_key("deploy.health_deadline_s", &config::deploy_health_deadline_s, 1, 3600,
                "Seconds a new container has to pass its health check before the deploy fails"),
    integer_key("deploy.drain_timeout_s", &config::deploy_drain_timeout_s, 0, 3600,
                "Seconds the old colour's requests in flight may take to finish after the switch"),
    integer_key("deploy.stop_grace_s", &config::deploy_stop_grace_s, 0, 3600,
                "Seconds between SIGTERM and SIGKILL when a container is stopped"),
    integer_key("deploy.settle_ms", &config::deploy_settle_ms, 0, 60000,
                "Milliseconds a deploy that waited behind a running one still holds back after the newest request for its stage, so a burst ends in one deploy of its newest tag (at most ten times this); 0 starts it at once"),
    integer_key("request_timeout_ms", &config::request_timeout_ms, 100, 600000,
                "Milliseconds an HTTP handler waits for an actor's answer before replying 503"),
    integer_key("max_body_bytes", &config::max_body_bytes, 1024, 1073741824,
                "Largest accepted JSON request body in bytes; larger bodies get 413"),
    text_key("sites.image", &config::sites_image,
             "Image of the container that serves a static site (its directory mounted read-only at /site)"),
    text_key("sites.command", &config::sites_command,
             "Command (words split at spaces, no shell) of a site's container: it must serve /site/current and resolve that link per request"),
    integer_key("sites.port", &config::sites_port, 1, 65535,
                "Port the site's container listens on"),
    integer_key("sites.upload_limit_bytes", &config::sites_upload_limit_bytes, 1024, 17179869184,
                "Largest accepted site upload (.tar.gz body) in bytes; larger get 413"),
    integer_key("sites.max_unpacked_bytes", &config::sites_max_unpacked_bytes, 1024, 68719476736,
                "Largest total size of a site release's files once unpacked; an archive beyond it gets 400"),
    integer_key("sites.max_files", &config::sites_max_files, 1, 10000000,
                "Most entries one site archive may hold; more get 400"),
    integer_key("http_threads", &config::http_threads, 1, 256,
                "Number of threads serving HTTP requests"),
    integer_key("http_head_timeout_ms", &config::http_head_timeout_ms, 100, 600000,
                "Milliseconds a client has to send a request's whole head, from its first byte; then 408 and close"),
    integer_key("http_body_timeout_ms", &config::http_body_timeout_ms, 100, 3600000,
                "Milliseconds a client has to send a request's whole body after its head; then 408 and close"),
    integer_key("http_idle_timeout_ms", &config::http_idle_timeout_ms, 100, 600000,
                "Milliseconds an idle keep-alive connection stays open between requests"),
    integer_key("http_max_connections", &config::http_max_connections, 1, 65536,
                "Open HTTP connections in total; beyond it new ones get 503 and are closed"),
    integer_key("http_max_connections_per_client", &config::http_max_connections_per_client, 1, 65536,
                "Open HTTP connections from one client address; beyond it new ones get 503 and are closed"),
    integer_key("http_max_header_count", &config::http_max_header_count, 1, 10000,
                "Header lines in one request; more get 431"),
    integer_key("http_max_header_bytes", &config::http_max_header_bytes, 1024, 1048576,
                "Bytes of one request's head (request line and headers); more get 431"),
    optional_text_key("http_public_names", &config::http_public_names,
                      "Comma-separated host names (name or name:port) the Host header may carry; others get 421. Empty: the listen host, localhost, 127.0.0.1 and [::1]"),
    optional_text_key("http_trusted_proxies", &config::http_trusted_proxies,
                      "Comma-separated addresses of reverse proxies whose X-Forwarded-For names the client (for login limits and audit); empty trusts none"),
    integer_key("notify.queue_max", &config::notify_queue_max, 1, 100000,
                "Notifications held for posting or retrying; when full the oldest is dropped (and the drop recorded)"),
    integer_key("notify.max_attempts", &config::notify_max_attempts, 1, 20,
                "Attempts to post one notification, the first included"),
    integer_key("notify.backoff_ms", &config::notify_backoff_ms, 10, 3600000,
                "Milliseconds before a notification's first retry; each further retry waits twice as long"),
    enum_key("notify.private_targets", &config::notify_private_targets, {"refuse", "allow"},
             "Whether a notification_url may reach loopback, link-local (169.254/16, fe80::/10) "
             "and private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) addresses, checked "
             "after resolving the name; allow only for a receiver inside your network"),
    enum_key("log_level", &config::log_level, {"trace", "debug", "info", "warn", "error", "off"},
             "Log verbosity"),
  };
  return table;
}

const key_desc* find_key(const std::string& key) {
  for (const auto& desc : key_table())
    if (desc.key == key)
      return &desc;
  return nullptr;
}

bool is_section(const std::string& name) {
  auto prefix = name + ".";
  for (const auto& desc : key_table())
    if (desc.key.compare(0, prefix.size(), prefix) == 0)
      return true;
  return false;
}

/// JSON-quotes a value for a message: escapes keep the message on one line, and long values
/// are cut so a pasted blob does not flood the log.
std::string quote(const std::string& value) {
  constexpr size_t max_len = 80;
  auto cut = value.size();
  if (cut > max_len) {
    cut = max_len;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
      --cut; // do not split a UTF-8 sequence
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(cut));
  std::string out = buf.GetString();
  if (cut < value.size())
    out.insert(out.size() - 1, "...");
  return out;
}

std::string describe_json(const rapidjson::Value& value) {
  if (value.IsString())
    return "a string " + quote(std::string(value.GetString(), value.GetStringLength()));
  if (value.IsObject())
    return "an object";
  if (value.IsArray())
    return "an array";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  value.Accept(writer);
  return buf.GetString();
}

caf::error config_error(std::string message) {
  // File names and keys come from the user; the message must stay one line regardless.
  for (auto& c : message)
    if (static_cast<unsigned char>(c) < 0x20)
      c = '?';
  return make_error(ec::bad_config, "config: " + message);
}

caf::error invalid_value(const key_desc& desc, const std::string& got, const std::string& source) {
  return config_error(desc.key + ": expected " + desc.expected + ", got " + got + " (from " +
                      source + ")");
}

caf::error apply_text(config& cfg, const key_desc& desc, const std::string& value,
                      const std::string& source) {
  if (desc.assign(cfg, value))
    return {};
  return invalid_value(desc, quote(value), source);
}

caf::error apply_json(config& cfg, const key_desc& desc, const rapidjson::Value& value,
                      const std::string& file) {
  if (desc.type == json_type::integer) {
    if (!value.IsInt64())
      return invalid_value(desc, describe_json(value), file);
    auto text = std::to_string(value.GetInt64());
    return desc.assign(cfg, text) ? caf::error{} : invalid_value(desc, text, file);
  }
  if (!value.IsString())
    return invalid_value(desc, describe_json(value), file);
  return apply_text(cfg, desc, std::string(value.GetString(), value.GetStringLength()), file);
}

caf::error apply_object(config& cfg, const rapidjson::Value& object, const std::string& prefix,
                        const std::string& file, std::set<std::string>& seen) {
  for (const auto& member : object.GetObject()) {
    auto name = prefix + std::string(member.name.GetString(), member.name.GetStringLength());
    if (auto desc = find_key(name)) {
      // RapidJSON keeps duplicate members; silently taking the last would hide a mistake.
      if (!seen.insert(name).second)
        return config_error(name + ": set more than once in " + file);
      if (auto err = apply_json(cfg, *desc, member.value, file))
        return err;
    } else if (member.value.IsObject() && is_section(name)) {
      if (auto err = apply_object(cfg, member.value, name + ".", file, seen))
        return err;
    } else {
      return config_error("unknown key " + quote(name) + " in " + file);
    }
  }
  return {};
}

caf::error read_file(const std::string& path, std::string& text) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file)
    return config_error("cannot open " + path + ": " + std::strerror(errno));
  text.resize(max_file_bytes + 1);
  auto n = std::fread(text.data(), 1, text.size(), file.get());
  if (std::ferror(file.get()))
    return config_error("cannot read " + path + ": " + std::strerror(errno));
  if (n > max_file_bytes)
    return config_error(path + " is larger than " + std::to_string(max_file_bytes) + " bytes");
  text.resize(n);
  return {};
}

/// `text` is the file's contents; `path` names it in errors.
caf::error apply_file_text(config& cfg, std::string_view text, const std::string& path) {
  if (text.size() > max_file_bytes)
    return config_error(path + " is larger than " + std::to_string(max_file_bytes) + " bytes");
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseCommentsFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    auto offset = doc.GetErrorOffset();
    auto line = 1 + std::count(text.begin(), text.begin() + std::min(offset, text.size()), '\n');
    return config_error(path + ": invalid JSON at offset " + std::to_string(offset) + " (line " +
                        std::to_string(line) +
                        "): " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject())
    return config_error(path + ": expected a JSON object at the top level");
  std::set<std::string> seen;
  return apply_object(cfg, doc, "", path, seen);
}

caf::error apply_file(config& cfg, const std::string& path) {
  std::string text;
  if (auto err = read_file(path, text))
    return err;
  return apply_file_text(cfg, text, path);
}

} // namespace

const std::vector<config_key_info>& config_keys() {
  static const std::vector<config_key_info> keys = [] {
    std::vector<config_key_info> out;
    for (const auto& desc : key_table())
      out.push_back({desc.key, desc.env, desc.default_value, desc.description});
    return out;
  }();
  return keys;
}

std::map<std::string, std::string> tinyforge_environment() {
  constexpr std::string_view prefix = "TINYFORGE_";
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view var = *entry;
    auto eq = var.find('=');
    if (eq == std::string_view::npos || var.substr(0, prefix.size()) != prefix)
      continue;
    out.emplace(std::string(var.substr(0, eq)), std::string(var.substr(eq + 1)));
  }
  return out;
}

caf::expected<config> config_from_file_text(std::string_view text, const std::string& name) {
  config cfg;
  if (auto err = apply_file_text(cfg, text, name))
    return err;
  return cfg;
}

caf::expected<config> load_config(const config_sources& sources) {
  config cfg;
  if (!sources.file.empty())
    if (auto err = apply_file(cfg, sources.file))
      return err;
  // Unknown TINYFORGE_* variables are left alone: other parts of the daemon read their own.
  for (const auto& desc : key_table()) {
    auto it = sources.env.find(desc.env);
    if (it != sources.env.end())
      if (auto err = apply_text(cfg, desc, it->second, "environment " + desc.env))
        return err;
  }
  for (const auto& [key, value] : sources.flags) {
    auto desc = find_key(key);
    if (!desc)
      return config_error("unknown key " + quote(key) + " (from flag --" + key + ")");
    if (auto err = apply_text(cfg, *desc, value, "flag --" + key))
      return err;
  }
  return cfg;
}

} // namespace tf
