// What the Docker Engine API answers, as typed values. Only the fields Tinyforge uses are
// kept; each parser (docker/parse.hpp) checks types and ignores what it does not know.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tf::docker {

using label_map = std::map<std::string, std::string>;

/// Docker labels on every managed container (spec section 2).
namespace label {
constexpr const char* managed = "tinyforge.managed";
// The instance id of the daemon that created it (store::ensure_instance_id): a daemon's stale
// scan and cleanups only touch its own containers, never another daemon's on the same engine.
constexpr const char* instance = "tinyforge.instance";
constexpr const char* workload_id = "tinyforge.workload.id";
constexpr const char* workload_kind = "tinyforge.workload.kind";
constexpr const char* role = "tinyforge.role";
// A project container's place in its stage (set by the deployer, read back after a restart).
constexpr const char* stage_id = "tinyforge.stage.id";
constexpr const char* slot = "tinyforge.slot";
constexpr const char* deployment_id = "tinyforge.deployment.id";
constexpr const char* image_tag = "tinyforge.image.tag";
constexpr const char* compose_project = "com.docker.compose.project";
constexpr const char* compose_service = "com.docker.compose.service";
} // namespace label

struct port_binding {
  int64_t private_port = 0;
  int64_t public_port = 0; // 0 when not published
  std::string type;        // tcp | udp
  std::string ip;          // host address it is published on
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, port_binding& x) {
  return f(caf::meta::type_name("port_binding"), x.private_port, x.public_port, x.type, x.ip);
}

/// One entry of GET /containers/json.
struct container_summary {
  std::string id;
  std::vector<std::string> names;
  std::string image;
  std::string image_id;
  std::string state; // created | running | paused | restarting | removing | exited | dead
  std::string status;
  label_map labels;
  std::vector<port_binding> ports;
  int64_t created = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_summary& x) {
  return f(caf::meta::type_name("container_summary"), x.id, x.names, x.image, x.image_id,
           x.state, x.status, x.labels, x.ports, x.created);
}

/// GET /containers/{id}/json, the parts a deploy checks.
struct container_details {
  std::string id;
  std::string name;
  std::string image;    // as asked for (Config.Image)
  std::string image_id; // what runs (Image)
  std::string state;    // State.Status
  bool running = false;
  int64_t exit_code = 0;
  std::string health; // State.Health.Status, empty without a health check
  std::string started_at;
  std::string finished_at;
  int64_t restart_count = 0;
  label_map labels;
  std::vector<std::string> env;
  std::vector<port_binding> ports;
};

/// One entry of GET /images/json (and the parts of an inspect a deploy needs).
struct image_summary {
  std::string id;
  std::vector<std::string> repo_tags;
  label_map labels;
  int64_t size = 0;
  int64_t created = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_summary& x) {
  return f(caf::meta::type_name("image_summary"), x.id, x.repo_tags, x.labels, x.size,
           x.created);
}

struct network_summary {
  std::string id;
  std::string name;
  std::string driver;
  label_map labels;
};

/// One object of the GET /events stream.
struct engine_event {
  std::string type;   // container | image | network | ...
  std::string action; // start | stop | die | destroy | ...
  std::string id;
  label_map attributes; // for containers: its labels, plus name and image
  int64_t time_nano = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, engine_event& x) {
  return f(caf::meta::type_name("engine_event"), x.type, x.action, x.id, x.attributes,
           x.time_nano);
}

/// GET /version.
struct version_info {
  std::string version;
  std::string api_version;
  std::string min_api_version;
  std::string os;
  std::string arch;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, version_info& x) {
  return f(caf::meta::type_name("version_info"), x.version, x.api_version, x.min_api_version,
           x.os, x.arch);
}

/// What POST /containers/create needs for a deploy.
struct container_spec {
  std::string name;
  std::string image;
  std::vector<std::string> entrypoint; // empty: the image's own
  std::vector<std::string> cmd; // empty: the image's own
  std::vector<std::string> binds; // "host-path:container-path[:ro]"
  std::vector<std::string> env; // KEY=value
  label_map labels;
  int64_t container_port = 0; // published on host_ip:host_port/tcp when > 0
  std::string host_ip = "127.0.0.1";
  int64_t host_port = 0; // 0: Docker picks a free port
  int64_t memory_bytes = 0;
  int64_t nano_cpus = 0;
  std::string restart_policy; // "", no, always, unless-stopped, on-failure
  std::string network;
};

/// Filters as the Engine API takes them: {"label":["a=b"],"status":["running"]}.
using filters = std::map<std::string, std::vector<std::string>>;

} // namespace tf::docker
