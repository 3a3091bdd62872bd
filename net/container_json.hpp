// A container row's JSON object as the API shows it, from views of its fields: the HTTP
// layer writes it from a container_row, the store reader straight from a statement's
// columns (no row object, no string copies). One shape, one place.
#pragma once

#include "core/model.hpp"
#include "net/json.hpp"

namespace tf::net {

/// {"id","workload_id","workload_kind","role","stage_id","subdomain","image_tag",
/// "container_id","state","image_ref","host","port","last_seen_at","created_at",
/// "updated_at"}: the optional texts empty are null.
inline void write_container_fields(json_writer& w, const container_view& c) {
  w.StartObject();
  field(w, "id", c.id);
  field(w, "workload_id", c.workload_id);
  field(w, "workload_kind", c.workload_kind);
  field(w, "role", c.role);
  nullable(w, "stage_id", c.stage_id);
  nullable(w, "subdomain", c.subdomain);
  nullable(w, "image_tag", c.image_tag);
  nullable(w, "container_id", c.container_id);
  field(w, "state", c.state);
  nullable(w, "image_ref", c.image_ref);
  field(w, "host", c.host);
  field(w, "port", c.port);
  nullable(w, "last_seen_at", c.last_seen_at);
  field(w, "created_at", c.created_at);
  field(w, "updated_at", c.updated_at);
  w.EndObject();
}

} // namespace tf::net
