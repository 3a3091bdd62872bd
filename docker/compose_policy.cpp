#include "docker/compose_policy.hpp"

#include "core/errors.hpp"

#include <yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <set>
#include <string_view>

namespace tf::docker {

namespace {

/// compose's normalized output of a 1 MiB file stays far below this.
constexpr size_t max_config_bytes = 8 * 1024 * 1024;

/// A loaded YAML document, freed with its parser.
class yaml_doc {
public:
  yaml_doc() = default;
  yaml_doc(const yaml_doc&) = delete;
  yaml_doc& operator=(const yaml_doc&) = delete;
  ~yaml_doc() {
    if (loaded_)
      yaml_document_delete(&doc_);
    if (parser_ready_)
      yaml_parser_delete(&parser_);
  }

  caf::error load(const std::string& text) {
    if (text.size() > max_config_bytes)
      return make_error(ec::invalid_argument, "compose's configuration is over 8 MiB");
    if (!yaml_parser_initialize(&parser_))
      return make_error(ec::internal, "cannot start a YAML parser");
    parser_ready_ = true;
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    if (!yaml_parser_load(&parser_, &doc_))
      return make_error(ec::invalid_argument,
                        std::string{"compose's configuration is no YAML: "}
                          + (parser_.problem ? parser_.problem : "unreadable"));
    loaded_ = true;
    return {};
  }

  yaml_node_t* root() { return yaml_document_get_root_node(&doc_); }
  yaml_node_t* node(int index) { return yaml_document_get_node(&doc_, index); }

private:
  yaml_parser_t parser_{};
  yaml_document_t doc_{};
  bool parser_ready_ = false;
  bool loaded_ = false;
};

std::string scalar(const yaml_node_t* n) {
  if (n == nullptr || n->type != YAML_SCALAR_NODE)
    return {};
  return std::string{reinterpret_cast<const char*>(n->data.scalar.value), n->data.scalar.length};
}

/// The value of `key` in mapping `m`, or null.
yaml_node_t* member(yaml_doc& d, yaml_node_t* m, std::string_view key) {
  if (m == nullptr || m->type != YAML_MAPPING_NODE)
    return nullptr;
  for (auto* p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; ++p)
    if (scalar(d.node(p->key)) == key)
      return d.node(p->value);
  return nullptr;
}

/// The items of sequence `s` (none for anything else).
std::vector<yaml_node_t*> items(yaml_doc& d, yaml_node_t* s) {
  std::vector<yaml_node_t*> out;
  if (s == nullptr || s->type != YAML_SEQUENCE_NODE)
    return out;
  for (auto* i = s->data.sequence.items.start; i < s->data.sequence.items.top; ++i)
    out.push_back(d.node(*i));
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool truthy(const std::string& v) {
  auto u = upper(v);
  return u == "TRUE" || u == "YES" || u == "ON" || u == "Y";
}

/// The path a host path names once symlinks are followed as far as it exists: a link to
/// "/" is "/".
std::filesystem::path resolved(const std::string& p) {
  std::error_code ec;
  auto r = std::filesystem::weakly_canonical(std::filesystem::path{p}, ec);
  return ec ? std::filesystem::path{p}.lexically_normal() : r;
}

bool within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (const auto& part : outer) {
    if (part.empty())
      continue;
    if (i == inner.end() || *i != part)
      return false;
    ++i;
  }
  return true;
}

/// Where a stack may and may not mount from.
struct mount_rules {
  std::string data_dir;  // Tinyforge's: refused, with every directory holding it
  std::string stack_dir; // the stack's own, inside it: allowed
};

/// Why a bind mount of host path `source` is refused, or "".
std::string refused_host_path(const std::string& source, const mount_rules& rules) {
  if (source.empty() || source.front() != '/')
    return {}; // a named volume
  auto p = resolved(source);
  if (!rules.stack_dir.empty() && within(p, resolved(rules.stack_dir)))
    return {};
  if (p == "/")
    return "a bind mount of the host's root";
  if (p.filename().string().find("docker.sock") != std::string::npos)
    return "a bind mount of the Docker socket " + p.string();
  static const char* system_dirs[]
    = {"/etc",  "/proc", "/sys",  "/dev", "/boot", "/root",  "/run",  "/var/run",
       "/var/lib/docker", "/var/lib/containerd", "/usr", "/bin", "/sbin", "/lib", "/lib64"};
  for (const char* dir : system_dirs)
    if (within(p, dir))
      return "a bind mount of the host's " + p.string();
  if (!rules.data_dir.empty()) {
    auto data = resolved(rules.data_dir);
    if (within(data, p) || within(p, data))
      return "a bind mount of Tinyforge's data directory (" + p.string() + ")";
  }
  return {};
}

/// The host path of one entry of a service's volumes: "src:dst[:mode]" or
/// {type: bind, source: …}.
std::string bind_source(yaml_doc& d, yaml_node_t* v) {
  if (v == nullptr)
    return {};
  if (v->type == YAML_SCALAR_NODE) {
    auto s = scalar(v);
    auto colon = s.find(':');
    return colon == std::string::npos ? std::string{} : s.substr(0, colon);
  }
  if (scalar(member(d, v, "type")) != "bind")
    return {};
  return scalar(member(d, v, "source"));
}

/// What a service asks for that the policy refuses, or "".
std::string refusal_of(yaml_doc& d, yaml_node_t* svc, const mount_rules& rules) {
  if (truthy(scalar(member(d, svc, "privileged"))))
    return "privileged: true";
  for (const char* ns : {"pid", "ipc", "uts", "userns_mode", "network_mode", "cgroup"})
    if (scalar(member(d, svc, ns)) == "host")
      return std::string{ns} + ": host";
  if (!items(d, member(d, svc, "devices")).empty())
    return "devices";
  static const std::set<std::string> caps{"ALL",     "SYS_ADMIN",  "SYS_MODULE", "SYS_PTRACE",
                                          "SYS_RAWIO", "SYS_BOOT", "SYS_TIME",
                                          "DAC_READ_SEARCH", "BPF", "PERFMON", "MAC_ADMIN",
                                          "MAC_OVERRIDE"};
  for (auto* c : items(d, member(d, svc, "cap_add"))) {
    auto cap = upper(scalar(c));
    if (cap.rfind("CAP_", 0) == 0)
      cap = cap.substr(4);
    if (caps.count(cap))
      return "cap_add: " + cap;
  }
  for (auto* o : items(d, member(d, svc, "security_opt"))) {
    auto opt = scalar(o);
    if (opt.find("unconfined") != std::string::npos)
      return "security_opt: " + opt;
  }
  for (auto* v : items(d, member(d, svc, "volumes")))
    if (auto why = refused_host_path(bind_source(d, v), rules); !why.empty())
      return why;
  return {};
}

caf::expected<std::vector<std::string>> services_of(yaml_doc& d, const mount_rules& rules,
                                                    bool check) {
  auto* services = member(d, d.root(), "services");
  if (services == nullptr || services->type != YAML_MAPPING_NODE)
    return make_error(ec::invalid_argument, "the compose file defines no service");
  std::vector<std::string> names;
  for (auto* p = services->data.mapping.pairs.start; p < services->data.mapping.pairs.top; ++p) {
    auto name = scalar(d.node(p->key));
    if (check)
      if (auto why = refusal_of(d, d.node(p->value), rules); !why.empty())
        return make_error(ec::invalid_argument,
                          "service \"" + name.substr(0, 80) + "\" asks for " + why
                            + ", which stacks may not (see the README's stack policy)");
    names.push_back(std::move(name));
  }
  if (names.empty())
    return make_error(ec::invalid_argument, "the compose file defines no service");
  if (check) {
    // A local volume bound to a host path is a bind mount by another name.
    auto* volumes = member(d, d.root(), "volumes");
    if (volumes != nullptr && volumes->type == YAML_MAPPING_NODE)
      for (auto* p = volumes->data.mapping.pairs.start; p < volumes->data.mapping.pairs.top;
           ++p) {
        auto* opts = member(d, d.node(p->value), "driver_opts");
        auto device = scalar(member(d, opts, "device"));
        if (auto why = refused_host_path(device, rules); !why.empty())
          return make_error(ec::invalid_argument,
                            "volume \"" + scalar(d.node(p->key)).substr(0, 80) + "\" is " + why
                              + ", which stacks may not (see the README's stack policy)");
      }
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

caf::expected<std::vector<std::string>> config_services(const std::string& config_yaml) {
  yaml_doc d;
  if (auto err = d.load(config_yaml))
    return err;
  return services_of(d, mount_rules{}, false);
}

caf::expected<std::vector<std::string>> checked_services(const std::string& config_yaml,
                                                         const std::string& data_dir,
                                                         const std::string& stack_dir) {
  yaml_doc d;
  if (auto err = d.load(config_yaml))
    return err;
  return services_of(d, mount_rules{data_dir, stack_dir}, true);
}

} // namespace tf::docker
