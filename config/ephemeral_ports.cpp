#include "config/ephemeral_ports.hpp"

#include <cstdio>

namespace tf {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/// A decimal port 1-65535 at the front of `text`; consumes it.
std::optional<int64_t> take_port(std::string_view& text) {
  size_t i = 0;
  int64_t n = 0;
  while (i < text.size() && i < 6 && text[i] >= '0' && text[i] <= '9')
    n = n * 10 + (text[i++] - '0');
  if (i == 0 || i > 5 || n < 1 || n > 65535)
    return std::nullopt;
  text.remove_prefix(i);
  return n;
}

} // namespace

std::optional<port_range> parse_ephemeral_range(std::string_view text) {
  if (text.size() > 64)
    return std::nullopt;
  auto low = take_port(text);
  if (!low || text.empty() || !is_blank(text.front()))
    return std::nullopt;
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  auto high = take_port(text);
  if (!high || *low > *high)
    return std::nullopt;
  if (!text.empty() && text != "\n")
    return std::nullopt;
  return port_range{*low, *high};
}

std::optional<port_range> read_ephemeral_range(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f)
    return std::nullopt;
  char buf[65];
  auto n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  return parse_ephemeral_range(std::string_view{buf, n});
}

std::vector<ephemeral_overlap> ephemeral_overlaps(const config& cfg, const port_range& kernel) {
  std::vector<ephemeral_overlap> out;
  auto inside = [&](int64_t port) { return port >= kernel.low && port <= kernel.high; };
  if (cfg.listen_port != 0 && inside(cfg.listen_port))
    out.push_back({"listen", cfg.listen, kernel});
  if (cfg.slot_port_low <= kernel.high && cfg.slot_port_high >= kernel.low)
    out.push_back({"proxy.slot_ports", cfg.proxy_slot_ports, kernel});
  return out;
}

std::string describe(const ephemeral_overlap& x) {
  return "event=ephemeral-port-overlap key=" + x.key + " value=" + x.value
         + " kernel_range=" + std::to_string(x.kernel.low) + "-" + std::to_string(x.kernel.high)
         + " hint=\"ports in the kernel's ephemeral range (" + ephemeral_range_path
         + ") can be held by outgoing connections and fail to bind; pick ports outside it\"";
}

} // namespace tf
