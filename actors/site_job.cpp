#include "actors/site_job.hpp"

#include "actors/fault_point.hpp"
#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "docker/client.hpp"
#include "net/http_call.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace tf {

namespace fs = std::filesystem;

namespace {

/// How long a store or proxy request may take (the proxy applies configs).
constexpr auto site_ask_timeout = std::chrono::seconds{60};

/// The label that says which serving setup a site's container runs: a container whose value
/// differs (another image, command, port or slot) is replaced at the next deploy.
constexpr const char* serving_label = "tinyforge.site.serving";

constexpr const char* site_role = "web";

bool is_release_name(const std::string& name) {
  // new_release_name's shape; anything else in releases/ (an unpack in progress, a file
  // someone put there) is not a release.
  return name.size() >= 10 && name.size() <= 64 && name[0] >= '0' && name[0] <= '9'
         && std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == 'T' || c == 'Z'
                     || c == '.' || c == '-';
            });
}

std::string hex_sha256(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr);
  return hex_of(digest, std::min(n, 12u)); // 24 hex digits
}

/// Points `current` at the release with one rename: a reader sees the old link or the new
/// one, never none. The directory is synced so a crash after this keeps the switch.
caf::error point_current_at(const std::string& dir, const std::string& release) {
  auto tmp = dir + "/.current-" + new_id();
  if (::symlink(("releases/" + release).c_str(), tmp.c_str()) != 0)
    return make_error(ec::internal, "cannot create the link " + tmp + ": " + std::strerror(errno));
  if (::rename(tmp.c_str(), (dir + "/current").c_str()) != 0) {
    auto err = make_error(ec::internal, "cannot switch " + dir + "/current: " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return err;
  }
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return {};
}

} // namespace

std::string site_directory(const site_settings& s, const std::string& site_id) {
  return s.data_dir + "/sites/" + site_id;
}

std::string release_directory(const site_settings& s, const std::string& site_id,
                              const std::string& release) {
  return site_directory(s, site_id) + "/releases/" + release;
}

std::string new_release_name() {
  std::string t;
  for (char c : now_utc()) // 2026-12-05T17:15:03.123Z
    if (c != '-' && c != ':')
      t.push_back(c);
  return t + "-" + new_id().substr(0, 6);
}

std::vector<std::string> list_releases(const site_settings& s, const std::string& site_id) {
  std::vector<std::string> out;
  std::error_code ec_ignored;
  for (fs::directory_iterator it{site_directory(s, site_id) + "/releases", ec_ignored}, end;
       !ec_ignored && it != end; it.increment(ec_ignored)) {
    auto name = it->path().filename().string();
    if (is_release_name(name) && it->is_directory(ec_ignored))
      out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string current_release(const site_settings& s, const std::string& site_id) {
  std::error_code ec_ignored;
  auto target = fs::read_symlink(site_directory(s, site_id) + "/current", ec_ignored);
  if (ec_ignored)
    return {};
  auto name = target.filename().string();
  return is_release_name(name) ? name : std::string{};
}

caf::expected<std::string> unpack_release(const site_settings& s, const std::string& site_id,
                                          const std::string& archive) {
  auto releases = site_directory(s, site_id) + "/releases";
  std::error_code ec;
  fs::create_directories(releases, ec);
  if (ec)
    return make_error(ec::internal, "cannot create " + releases + ": " + ec.message());
  auto name = new_release_name();
  auto unpacked = unpack_site_archive(archive, releases + "/" + name, s.limits);
  if (!unpacked)
    return unpacked.error();
  spdlog::info("event=site-release-unpacked site={} release={} files={} bytes={}", site_id,
               name, unpacked->files, unpacked->bytes);
  return name;
}

caf::error remove_site_files(const site_settings& s, const std::string& site_id) {
  std::error_code ec;
  fs::remove_all(site_directory(s, site_id), ec);
  if (ec)
    return make_error(ec::internal, "cannot remove the files of site " + site_id + ": "
                                      + ec.message());
  return {};
}

namespace {

/// One deploy, its state and its steps.
class site_run {
public:
  site_run(caf::blocking_actor* self, site_job_spec spec, site_settings settings,
           site_handles handles, docker::endpoint engine)
    : self_{self},
      spec_{std::move(spec)},
      settings_{std::move(settings)},
      handles_{std::move(handles)},
      docker_{std::move(engine), settings_.cancel,
              docker::client_options{settings_.docker_timeout, std::chrono::minutes{30}}} {}

  site_outcome run() {
    site_outcome out;
    out.site_id = spec_.site_id;
    out.deployment_id = spec_.dep.id;
    auto err = deploy();
    if (cancelled())
      return out; // no status: the journal keeps it running; the next start runs it again
    out.status = err ? "failed" : "succeeded";
    if (err) {
      out.error = error_message(err);
      log("failed: " + out.error);
    }
    auto ended = ask<deployment>(handles_.writer, atom::update_v,
                                 deployment_transition{spec_.dep.id, out.status, out.error});
    if (!ended)
      spdlog::error("event=site-deploy-unrecorded deployment={} error={}", spec_.dep.id,
                    error_message(ended.error()));
    return out;
  }

  bool cancelled() const { return settings_.cancel && settings_.cancel->cancelled(); }

private:
  caf::error deploy() {
    if (spec_.dep.status == "running") {
      // Left running by a daemon that stopped: each step is idempotent, so it runs again.
      log("the daemon restarted during this deploy (phase "
          + (spec_.dep.phase.empty() ? std::string{"start"} : spec_.dep.phase)
          + "): running it again");
    } else {
      auto started = ask<deployment>(handles_.writer, atom::update_v,
                                     deployment_transition{spec_.dep.id, "running", ""});
      if (!started)
        return started.error();
    }
    auto st = ask<site>(handles_.readers->next(), atom::get_v, atom::site_v, spec_.site_id);
    if (!st)
      return st.error();
    st_ = std::move(*st);
    const auto& release = spec_.dep.tag;
    std::error_code ec_ignored;
    if (release.empty() || !fs::is_directory(release_directory(settings_, st_.id, release), ec_ignored))
      return make_error(ec::not_found, "release " + release + " of site " + st_.name
                                         + " is not on disk");
    auto dir = site_directory(settings_, st_.id);
    auto previous = current_release(settings_, st_.id);
    if (auto err = step("switch"))
      return err;
    fault_point("site-switch");
    if (previous != release) {
      if (auto err = point_current_at(dir, release))
        return err;
      log("switched " + st_.name + " to release " + release
          + (previous.empty() ? "" : " (was " + previous + ")"));
    }
    fault_point("site-switched");
    if (auto err = step("serve"))
      return err;
    if (auto err = make_sure_it_serves()) {
      if (!previous.empty() && previous != release && !cancelled()) {
        log("switching back to " + previous);
        (void)point_current_at(dir, previous);
      }
      return err;
    }
    patch<site> p;
    p.id = st_.id;
    p.value.current_release = release;
    p.fields = {"current_release"};
    auto recorded = ask<site>(handles_.writer, atom::update_v, std::move(p));
    if (!recorded)
      return recorded.error();
    prune_releases(release, previous);
    return {};
  }

  // -- the serving container --------------------------------------------------

  /// The route claimed and applied, and one running container of the current serving
  /// setup on its slot; anything else of the site's is replaced.
  caf::error make_sure_it_serves() {
    route_claim claim;
    claim.owner_id = st_.workload_id;
    claim.owner_kind = "site";
    claim.host = st_.subdomain.empty() ? st_.name : st_.subdomain;
    if (!settings_.proxy_domain.empty())
      claim.host += "." + settings_.proxy_domain;
    claim.health_path = "/";
    claim.slot_count = 1;
    claim.port_low = settings_.slot_port_low;
    claim.port_high = settings_.slot_port_high;
    auto route = ask<proxy_route>(handles_.writer, atom::route_v, claim);
    if (!route)
      return route.error();
    route_ = std::move(*route);
    slot_ = route_.slots.at(0);
    serving_ = hex_sha256(settings_.image + "\n" + join(settings_.command) + "\n"
                          + std::to_string(settings_.port) + "\n" + std::to_string(slot_));
    auto status = self_->request(handles_.proxy, site_ask_timeout, atom::status_v);
    caf::error status_err;
    status.receive([&](std::string&, bool gated) { gated_ = gated; },
                   [&](caf::error& e) { status_err = std::move(e); });
    if (status_err)
      return status_err;
    auto listed = serving_containers();
    if (!listed)
      return listed.error();
    bool keep = listed->size() == 1 && listed->front().state == "running"
                && label_of(listed->front(), serving_label) == serving_;
    if (!keep) {
      for (const auto& c : *listed) {
        log("removing container " + c.id.substr(0, 12) + " of an older serving setup");
        if (auto err = docker_.remove_container(c.id, true);
            err && error_code(err) != ec::not_found)
          return err;
      }
      if (auto err = start_container())
        return err;
    }
    if (auto err = ask_ok(handles_.proxy, atom::open_v, std::vector<int64_t>{slot_}))
      return err;
    if (route_.serving != std::vector<int64_t>{slot_}) {
      route_.serving = {slot_};
      auto saved = ask<proxy_route>(handles_.writer, atom::update_v, route_);
      if (!saved)
        return saved.error();
      route_ = std::move(*saved);
    }
    auto applied = ask<proxy_route>(handles_.proxy, atom::apply_v, route_);
    if (!applied)
      return applied.error();
    if (applied->npm_proxy_id != route_.npm_proxy_id)
      (void)ask<proxy_route>(handles_.writer, atom::update_v, *applied);
    return {};
  }

  caf::error start_container() {
    docker::container_spec c;
    c.name = "tf-site-" + st_.name;
    c.image = settings_.image;
    c.entrypoint = settings_.command;
    c.binds = {site_directory(settings_, st_.id) + ":/site:ro"};
    c.labels = {{docker::label::managed, "true"},
                {docker::label::workload_id, st_.workload_id},
                {docker::label::workload_kind, "site"},
                {docker::label::role, site_role},
                {docker::label::slot, std::to_string(slot_)},
                {docker::label::deployment_id, spec_.dep.id},
                {serving_label, serving_}};
    if (!settings_.instance_id.empty())
      c.labels[docker::label::instance] = settings_.instance_id;
    c.container_port = settings_.port;
    c.host_ip = "127.0.0.1";
    c.host_port = slot_;
    c.restart_policy = "unless-stopped";
    if (!docker_.inspect_image(c.image)) {
      auto colon = c.image.rfind(':');
      bool tagged = colon != std::string::npos && c.image.find('/', colon) == std::string::npos;
      log("pulling " + c.image);
      if (auto err = docker_.pull_image(tagged ? c.image.substr(0, colon) : c.image,
                                        tagged ? c.image.substr(colon + 1) : "latest",
                                        [](const std::string&) {}))
        return err;
    }
    auto id = docker_.create_container(c);
    if (!id && error_code(id.error()) == ec::conflict) {
      docker_.remove_container(c.name, true); // a container of that name from an older run
      id = docker_.create_container(c);
    }
    if (!id)
      return id.error();
    // The index row comes from the reconciler, as a stack's do: one per (workload, role),
    // whichever container holds it now (a row written here too would race it into two).
    if (auto err = docker_.start_container(*id))
      return err;
    log("started " + id->substr(0, 12) + " (" + c.image + ") on 127.0.0.1:"
        + std::to_string(slot_));
    return wait_answering(*id);
  }

  /// Waits until the container answers HTTP on its slot (any answer below 500: a site
  /// without an index page still serves its files).
  caf::error wait_answering(const std::string& id) {
    using clock_type = std::chrono::steady_clock;
    auto deadline = clock_type::now() + settings_.health_deadline;
    net::http_request req;
    req.url = "http://127.0.0.1:" + std::to_string(slot_) + "/";
    req.timeout = std::chrono::seconds{2};
    if (gated_)
      req.source_address = "127.0.0.2";
    req.max_response_bytes = 64 * 1024;
    for (;;) {
      if (cancelled())
        return make_error(ec::unavailable, "the daemon is stopping");
      auto res = net::http_call(req);
      if (res && res->status > 0 && res->status < 500) {
        log("serving: " + id.substr(0, 12) + " answers on 127.0.0.1:" + std::to_string(slot_));
        return {};
      }
      auto details = docker_.inspect_container(id);
      if (!details)
        return details.error();
      if (!details->running)
        return make_error(ec::unavailable, "the site's container exited (code "
                                             + std::to_string(details->exit_code)
                                             + ") before it answered");
      if (clock_type::now() >= deadline)
        return make_error(ec::timeout, "the site's container did not answer within "
                                         + std::to_string(settings_.health_deadline.count())
                                         + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
  }

  caf::expected<std::vector<docker::container_summary>> serving_containers() {
    docker::filters f{{"label", {std::string{docker::label::workload_id} + "=" + st_.workload_id}}};
    return docker_.list_containers(f, true);
  }

  static std::string label_of(const docker::container_summary& c, const char* key) {
    auto it = c.labels.find(key);
    return it == c.labels.end() ? std::string{} : it->second;
  }

  static std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words)
      out += (out.empty() ? "" : " ") + w;
    return out;
  }

  // -- releases ---------------------------------------------------------------

  /// Keeps the newest keep_releases releases, and always the current and the previous one
  /// (a rollback's target); older ones go. A request still reading a release two switches
  /// old is the only one that could notice, and it would have to outlive a whole deploy.
  void prune_releases(const std::string& current, const std::string& previous) {
    auto all = list_releases(settings_, st_.id);
    auto keep = static_cast<size_t>(std::max<int64_t>(st_.keep_releases, 1));
    if (all.size() <= keep)
      return;
    size_t removed = 0;
    for (size_t i = 0; i + keep < all.size(); ++i) {
      if (all[i] == current || all[i] == previous)
        continue;
      std::error_code ec_ignored;
      fs::remove_all(release_directory(settings_, st_.id, all[i]), ec_ignored);
      if (!ec_ignored)
        ++removed;
    }
    if (removed > 0)
      log("removed " + std::to_string(removed) + " old release(s); keeping "
          + std::to_string(keep));
  }

  // -- journal and asks -------------------------------------------------------

  caf::error step(const char* phase) {
    return ask_ok(handles_.writer, atom::step_v, deployment_phase{spec_.dep.id, phase});
  }

  void log(std::string line) {
    if (line.size() > 2000)
      line.resize(2000);
    self_->send(handles_.writer, atom::append_v,
                deployment_log_line{spec_.dep.id, std::move(line)});
  }

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& handle, Ts&&... xs) {
    caf::expected<R> result{make_error(ec::unavailable, "no answer")};
    self_->request(handle, site_ask_timeout, std::forward<Ts>(xs)...)
      .receive([&](R& r) { result = std::move(r); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  template <class Handle, class... Ts>
  caf::error ask_ok(const Handle& handle, Ts&&... xs) {
    auto r = ask<atom::ok>(handle, std::forward<Ts>(xs)...);
    return r ? caf::error{} : std::move(r.error());
  }

  caf::blocking_actor* self_;
  site_job_spec spec_;
  site_settings settings_;
  site_handles handles_;
  docker::client docker_;
  site st_;
  proxy_route route_;
  int64_t slot_ = 0;
  std::string serving_;
  bool gated_ = false;
};

} // namespace

void site_job(caf::blocking_actor* self, site_job_spec spec, site_settings settings,
              site_handles handles, docker::endpoint engine, site_deployer_actor deployer) {
  site_run job{self, std::move(spec), std::move(settings), std::move(handles), std::move(engine)};
  auto outcome = job.run();
  if (!job.cancelled())
    self->send(deployer, atom::done_v, std::move(outcome));
}

caf::error remove_site_containers(const site_settings& settings, const docker::endpoint& engine,
                                  const std::string& workload_id) {
  docker::client docker{engine, settings.cancel,
                        docker::client_options{settings.docker_timeout, std::chrono::minutes{1}}};
  docker::filters f{{"label", {std::string{docker::label::workload_id} + "=" + workload_id}}};
  auto listed = docker.list_containers(f, true);
  if (!listed)
    return listed.error();
  for (const auto& c : *listed)
    if (auto err = docker.remove_container(c.id, true); err && error_code(err) != ec::not_found)
      return err;
  return {};
}

} // namespace tf
