// The events the store writer publishes on the live feed (core/live_feed.hpp) after its
// commits, as GET /api/events sends them: each a type and one JSON object.
//   container        a row the deployer wrote (as GET /api/containers shows it) or removed:
//                    {id, removed: true}
//   containers       the reconciler or a removal changed rows: {changed}; read the index again
//   deployment       a deploy was queued or moved on: as GET /api/deployments shows it
//   deployment-log   a line appended to a deploy's log: {deployment_id, index, line}
//   deployment-phase a running deploy's next step: {id, phase}
#pragma once

#include "core/live_feed.hpp"
#include "core/model.hpp"

#include <cstdint>
#include <string>

namespace tf::live {

void container_written(live_feed* feed, const container_row& row);
void container_removed(live_feed* feed, const std::string& id);
void containers_changed(live_feed* feed, int64_t rows);
void deployment_changed(live_feed* feed, const deployment& d);
void deployment_logged(live_feed* feed, const deployment_log_line& line, int64_t index);
void deployment_stepped(live_feed* feed, const deployment_phase& p);

} // namespace tf::live
