// A deploy's JSON object as the API shows it (GET /api/deployments) and as the live event
// stream sends it (a `deployment` event, without its log): one shape, one place.
#pragma once

#include "core/model.hpp"
#include "net/json.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace tf::net {

/// With `log`, the log's lines from `log_from` on and how many it has.
inline void write_deployment(json_writer& w, const deployment& d, bool log, size_t log_from = 0) {
  w.StartObject();
  field(w, "id", d.id);
  field(w, "workload_id", d.workload_id);
  nullable(w, "stage_id", d.stage_id);
  field(w, "status", d.status);
  nullable(w, "tag", d.tag);
  nullable(w, "previous_tag", d.previous_tag);
  field(w, "trigger", d.trigger);
  nullable(w, "triggered_by", d.triggered_by);
  nullable(w, "error", d.error);
  nullable(w, "phase", d.phase);
  field(w, "created_at", d.created_at);
  nullable(w, "started_at", d.started_at);
  nullable(w, "finished_at", d.finished_at);
  if (log) {
    w.Key("log");
    w.StartArray();
    for (auto i = std::min(log_from, d.log.size()); i < d.log.size(); ++i)
      write_string(w, d.log[i]);
    w.EndArray();
    field(w, "log_total", static_cast<int64_t>(d.log.size()));
  }
  w.EndObject();
}

} // namespace tf::net
