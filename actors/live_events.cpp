#include "actors/live_events.hpp"

#include "net/container_json.hpp"
#include "net/deployment_json.hpp"
#include "net/json.hpp"

namespace tf::live {

namespace {

/// A log line as the feed carries it: at most this many bytes, cut before a UTF-8
/// continuation byte so the JSON stays valid text (escaping may grow it up to six times,
/// within the feed's bound).
constexpr size_t max_line_bytes = 1200;

std::string_view cut_utf8(std::string_view s, size_t max) {
  if (s.size() <= max)
    return s;
  auto end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
    --end;
  return s.substr(0, end);
}

} // namespace

void container_written(live_feed* feed, const container_row& row) {
  if (feed == nullptr)
    return;
  std::string data;
  net::append_container_json(data, net::view_of(row)); // the row as GET /api/containers shows it
  feed->publish("container", std::move(data));
}

void container_removed(live_feed* feed, const std::string& id) {
  if (feed == nullptr)
    return;
  feed->publish("container", net::make_json([&](net::json_writer& w) {
                  w.StartObject();
                  net::field(w, "id", id);
                  w.Key("removed");
                  w.Bool(true);
                  w.EndObject();
                }));
}

void containers_changed(live_feed* feed, int64_t rows) {
  if (feed == nullptr || rows <= 0)
    return;
  feed->publish("containers", net::make_json([&](net::json_writer& w) {
                  w.StartObject();
                  net::field(w, "changed", rows);
                  w.EndObject();
                }));
}

void deployment_changed(live_feed* feed, const deployment& d) {
  if (feed == nullptr || d.id.empty())
    return;
  // The deploy as GET /api/deployments shows it, without its log; an error longer than an
  // event may be is cut (the feed keeps no event over its bound), in a copy made only then.
  auto publish = [feed](const deployment& shown) {
    feed->publish("deployment", net::make_json([&](net::json_writer& w) {
                    net::write_deployment(w, shown, false);
                  }));
  };
  if (d.error.size() <= max_line_bytes)
    return publish(d);
  deployment cut = d;
  cut.log.clear();
  cut.error = std::string{cut_utf8(d.error, max_line_bytes)};
  publish(cut);
}

void deployment_logged(live_feed* feed, const deployment_log_line& line, int64_t index) {
  if (feed == nullptr || index < 0)
    return;
  feed->publish("deployment-log", net::make_json([&](net::json_writer& w) {
                  w.StartObject();
                  net::field(w, "deployment_id", line.deployment_id);
                  net::field(w, "index", index);
                  net::field(w, "line", cut_utf8(line.line, max_line_bytes));
                  w.EndObject();
                }));
}

void deployment_stepped(live_feed* feed, const deployment_phase& p) {
  if (feed == nullptr)
    return;
  feed->publish("deployment-phase", net::make_json([&](net::json_writer& w) {
                  w.StartObject();
                  net::field(w, "id", p.id);
                  net::field(w, "phase", p.phase);
                  w.EndObject();
                }));
}

} // namespace tf::live
