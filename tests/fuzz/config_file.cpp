// The config file (JSON with // comments) and the same keys as --key flags or TINYFORGE_*
// variables: the loader answers a config or a bad_config error, whatever it is given.
#include "core/errors.hpp"
#include "config/config.hpp"
#include "fuzz_input.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = tf::fuzz::as_text(data, size);
  auto cfg = tf::config_from_file_text(text, "fuzz.json");
  if (cfg && (cfg->slot_port_low > cfg->slot_port_high || cfg->listen_host.empty()))
    std::abort(); // validation let an unusable value through

  // The same text as "key=value" lines: every key's text form, as flags and as env vars.
  tf::config_sources flags, env;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    std::string key{line.substr(0, eq)};
    std::string value{line.substr(eq + 1)};
    flags.flags[key] = value;
    for (const auto& info : tf::config_keys())
      if (info.key == key)
        env.env[info.env] = value;
  }
  (void) tf::load_config(flags);
  (void) tf::load_config(env);
  return 0;
}
