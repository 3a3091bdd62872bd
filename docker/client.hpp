// A blocking client for the Docker Engine HTTP API (never the docker CLI). Not thread-safe:
// each actor or thread that calls Docker owns one. Run it only off the CAF scheduler
// (detached actors), since every call blocks for up to its timeout.
#pragma once

#include "docker/parse.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tf::docker {

struct client_options {
  /// How long an ordinary call may take.
  std::chrono::milliseconds timeout{30000};
  /// How long a pull may take in all.
  std::chrono::milliseconds pull_timeout{std::chrono::minutes{30}};
};

class client {
public:
  /// The newest API version this client speaks; older engines are spoken to in theirs.
  static constexpr const char* max_api_version = "1.41";
  /// The oldest API version whose answers this client understands.
  static constexpr const char* min_api_version = "1.24";

  client(endpoint ep, cancel_token cancel, client_options opts = {});

  // -- engine --
  /// GET /_ping.
  caf::error ping();
  /// GET /version; also fixes the API version every later call uses.
  caf::expected<version_info> version();
  /// The negotiated version ("" before the first successful version()).
  const std::string& api_version() const { return api_; }

  // -- containers --
  caf::expected<std::vector<container_summary>> list_containers(const filters& f, bool all = true);
  caf::expected<container_details> inspect_container(const std::string& id);
  /// Replies the new container's id.
  caf::expected<std::string> create_container(const container_spec& spec);
  /// Success too when the container already runs (the engine's 304).
  caf::error start_container(const std::string& id);
  /// Sends SIGTERM, then SIGKILL after `grace`. Success too when the container already is
  /// stopped (the engine's 304).
  caf::error stop_container(const std::string& id, std::chrono::seconds grace);
  caf::error kill_container(const std::string& id, const std::string& signal = "KILL");
  caf::error remove_container(const std::string& id, bool force);
  /// The last `tail` lines of stdout and stderr, at most `max_bytes`.
  caf::expected<std::string> container_logs(const std::string& id, int tail,
                                            size_t max_bytes = 4 * 1024 * 1024);

  // -- images --
  caf::expected<std::vector<image_summary>> list_images(const filters& f);
  caf::expected<image_summary> inspect_image(const std::string& ref);
  /// Pulls repository:tag, handing each progress line (status text) to `on_progress`.
  caf::error pull_image(const std::string& repository, const std::string& tag,
                        const std::function<void(const std::string&)>& on_progress);
  caf::error remove_image(const std::string& ref, bool force);

  // -- networks --
  caf::expected<std::vector<network_summary>> list_networks(const filters& f);
  /// Replies the new network's id.
  caf::expected<std::string> create_network(const std::string& name, const label_map& labels);
  caf::error connect_network(const std::string& network, const std::string& container);

  // -- events --
  /// Follows GET /events until the engine ends the stream, `on_event` returns false, or
  /// the cancel token is set. `on_connected` runs once the engine has answered 200.
  caf::error watch_events(const filters& f, const std::function<void()>& on_connected,
                          const std::function<bool(const engine_event&)>& on_event);

private:
  /// Fixes the API version from /_ping's API-Version header (or /version without one).
  caf::error negotiate();
  /// Speaks `engine_api`, capped at max_api_version; refuses one older than min_api_version.
  caf::error speak(const std::string& engine_api);
  /// A versioned path ("/v1.41" + path), negotiating first when needed.
  caf::expected<std::string> versioned(const std::string& path);
  /// A call whose 2xx answer body is returned and whose other answers become errors.
  caf::expected<std::string> expect_ok(std::string_view method, const std::string& path,
                                       const std::string& body, std::string_view what,
                                       std::chrono::milliseconds timeout);
  caf::expected<std::string> expect_ok(std::string_view method, const std::string& path,
                                       const std::string& body, std::string_view what) {
    return expect_ok(method, path, body, what, opts_.timeout);
  }
  /// A POST that moves a container into a state: 2xx, and 304 (already in that state), are
  /// success; other answers become errors.
  caf::error expect_done(const std::string& path, std::string_view what,
                         std::chrono::milliseconds timeout);

  transport http_;
  client_options opts_;
  std::string api_;
};

/// Percent-encodes a query value.
std::string url_encode(std::string_view s);

/// The JSON text of filters, for the `filters` query parameter.
std::string filters_json(const filters& f);

} // namespace tf::docker
