// nginx through generated files: one "<nginx_dir>/tinyforge-<id>.conf" per route (the main
// configuration includes the directory), checked with `nginx -t` and applied with a
// graceful `nginx -s reload`. The upstream lists every slot with max_fails=0 and retries a
// refused one on the next (bench/proxy/nginx-upstream-slots.conf: with the default
// max_fails=1 a slot refused once stays skipped for 10 s and switches answer 502).
#include "core/errors.hpp"
#include "proxy/providers.hpp"
#include "core/run_command.hpp"

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace tf::proxy {

namespace {

/// nginx's own files are small; anything larger at our path is not one we wrote.
constexpr size_t max_file_bytes = 1 << 20;

std::string render(const proxy_route& route, const std::string& listen) {
  auto up = "tf_" + route.id;
  std::ostringstream out;
  out << "# Written by tinyforge for route " << route.id << "; replaced on every change.\n";
  out << "upstream " << up << " {\n";
  for (auto port : route.slots)
    out << "  server 127.0.0.1:" << port << " max_fails=0;\n";
  out << "  keepalive 16;\n";
  out << "}\n\n";
  out << "server {\n";
  out << "  listen " << listen << ";\n";
  out << "  server_name " << route.host << ";\n\n";
  out << "  location / {\n";
  out << "    proxy_pass http://" << up << ";\n";
  out << "    proxy_http_version 1.1;\n";
  out << "    proxy_set_header Connection \"\";\n";
  out << "    proxy_set_header Host $host;\n";
  out << "    proxy_connect_timeout 1s;\n";
  out << "    proxy_next_upstream error timeout http_502 http_503;\n";
  out << "    proxy_next_upstream_tries " << 2 * route.slots.size() << ";\n";
  out << "    proxy_next_upstream_timeout 5s;\n";
  out << "    add_header " << upstream_header << " $upstream_addr always;\n";
  out << "  }\n";
  out << "}\n";
  return out.str();
}

/// The file's content; nothing when it does not exist.
caf::expected<std::optional<std::string>> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return std::optional<std::string>{};
    return make_error(ec::unavailable, "nginx: cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = std::string{std::strerror(errno)};
      ::close(fd);
      return make_error(ec::unavailable, "nginx: cannot read " + path + ": " + err);
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_file_bytes) {
      ::close(fd);
      return make_error(ec::internal, "nginx: " + path + " is larger than expected");
    }
  }
  ::close(fd);
  return std::optional<std::string>{std::move(text)};
}

/// Writes through a temporary file and a rename, so nginx never reads half a file. The
/// temporary name does not end in ".conf": an include of "*.conf" never picks it up.
caf::error write_atomically(const std::string& path, const std::string& content) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(ec::unavailable, "nginx: cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = std::string{std::strerror(errno)};
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(ec::unavailable, "nginx: cannot write " + tmp + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = std::string{std::strerror(errno)};
    ::unlink(tmp.c_str());
    return make_error(ec::unavailable, "nginx: cannot write " + tmp + ": " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = std::string{std::strerror(errno)};
    ::unlink(tmp.c_str());
    return make_error(ec::unavailable, "nginx: cannot rename " + tmp + ": " + err);
  }
  return caf::none;
}

/// Puts back what was there before: the old content, or no file.
caf::error restore(const std::string& path, const std::optional<std::string>& previous) {
  if (previous)
    return write_atomically(path, *previous);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return make_error(ec::internal,
                      "nginx: cannot remove " + path + ": " + std::strerror(errno));
  return caf::none;
}

bool listen_ok(const std::string& s) {
  if (s.empty() || s.size() > 128)
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '.' || c == ':' || c == '[' || c == ']' || c == ' ' || c == '_'))
      return false;
  return true;
}

class nginx_provider : public provider {
public:
  explicit nginx_provider(const config& cfg)
    : bin_{cfg.nginx_bin}, conf_{cfg.nginx_conf}, dir_{cfg.nginx_dir}, listen_{cfg.nginx_listen} {
  }

  std::string name() const override { return "nginx"; }
  bool routes_all_slots() const override { return true; }

  caf::expected<proxy_route> apply(const proxy_route& route) override {
    if (auto err = validate_route(route))
      return err;
    if (!listen_ok(listen_))
      return make_error(ec::bad_config, "proxy.nginx_listen: \"" + short_text(listen_)
                                          + "\" is not an nginx listen address");
    auto path = file_of(route);
    auto previous = read_file(path);
    if (!previous)
      return previous.error();
    auto content = render(route, listen_);
    if (*previous && **previous == content)
      return route; // nothing changed: no reload
    if (auto err = write_atomically(path, content))
      return err;
    if (auto err = test_config()) {
      if (auto undo = restore(path, *previous))
        return make_error(ec::internal, error_message(err) + "; and restoring " + path
                                          + " failed: " + error_message(undo));
      return err;
    }
    if (auto err = reload()) {
      // nginx did not take it: keep the files as nginx runs them.
      if (auto undo = restore(path, *previous))
        return make_error(ec::internal, error_message(err) + "; and restoring " + path
                                          + " failed: " + error_message(undo));
      return err;
    }
    return route;
  }

  caf::error remove(const proxy_route& route) override {
    if (auto err = validate_route(route))
      return err;
    auto path = file_of(route);
    auto previous = read_file(path);
    if (!previous)
      return previous.error();
    if (!*previous)
      return caf::none;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return make_error(ec::unavailable,
                        "nginx: cannot remove " + path + ": " + std::strerror(errno));
    if (auto err = reload()) {
      if (auto undo = restore(path, *previous))
        return make_error(ec::internal, error_message(err) + "; and restoring " + path
                                          + " failed: " + error_message(undo));
      return err;
    }
    return caf::none;
  }

private:
  std::string file_of(const proxy_route& route) const {
    auto dir = dir_;
    while (dir.size() > 1 && dir.back() == '/')
      dir.pop_back();
    return dir + "/tinyforge-" + route.id + ".conf";
  }

  caf::error test_config() {
    auto res = run_command({bin_, "-t", "-q", "-c", conf_});
    if (!res)
      return res.error();
    if (res->exit_code != 0)
      return make_error(ec::bad_config,
                        "nginx -t rejected the configuration: " + one_line(res->output));
    return caf::none;
  }

  caf::error reload() {
    auto res = run_command({bin_, "-c", conf_, "-s", "reload"});
    if (!res)
      return res.error();
    if (res->exit_code != 0)
      return make_error(ec::unavailable, "nginx -s reload failed (exit "
                                           + std::to_string(res->exit_code)
                                           + "): " + one_line(res->output));
    return caf::none;
  }

  std::string bin_;
  std::string conf_;
  std::string dir_;
  std::string listen_;
};

} // namespace

std::unique_ptr<provider> make_nginx_provider(const config& cfg) {
  return std::make_unique<nginx_provider>(cfg);
}

} // namespace tf::proxy
