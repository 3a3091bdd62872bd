// The create step: one container per slot of the target colour, created, recorded in the
// container index, then started; the slots stay closed to the proxy until they are healthy
// (closed slots send new connections on to the serving colour, so the proxy sees them
// healthy and the switch waits for none of its health checks).
#include "actors/deploy_job/run.hpp"

#include "actors/fault_point.hpp"
#include "docker/client.hpp"

namespace tf {

/// Creates and starts one container per target slot; the slots are closed to the proxy
/// until the containers are healthy.
caf::error deploy_run::create_colour(const std::vector<int64_t>& target) {
  if (auto err = phase("create"))
    return err;
  std::vector<std::string> leftovers;
  for (const auto& c : in_slots(target))
    leftovers.push_back(c.id);
  if (!leftovers.empty())
    log("removing " + std::to_string(leftovers.size()) + " old container(s) from slots "
        + ports_text(target));
  remove_containers(leftovers, false);
  if (auto err = ask_ok(handles_.proxy, atom::close_v, target, serving_now_))
    return err;
  // Nothing serves: the other colour's slots may hold a rule from a port's earlier owner
  // (a crash before a route's removal ended): they reset until this deploy's drain.
  if (serving_now_.empty())
    if (auto err = ask_ok(handles_.proxy, atom::close_v, colour_without(target),
                          std::vector<int64_t>{}))
      return err;
  for (auto slot : target)
    if (auto err = create_container(slot))
      return err;
  return {};
}

/// One container: created (its index row written before it starts, so a kill after the
/// start leaves a row naming it), started, then recorded running.
caf::error deploy_run::create_container(int64_t slot) {
  auto c = container_spec_for(slot);
  auto id = docker_.create_container(c);
  if (!id && error_code(id.error()) == ec::conflict) {
    // A container of that name survived an earlier run: it holds no serving slot.
    docker_.remove_container(c.name, true);
    id = docker_.create_container(c);
  }
  if (!id)
    return id.error();
  created_.push_back({*id, slot});
  auto saved = ask<container_row>(handles_.writer, atom::upsert_v, index_row_for(*id, slot));
  if (!saved)
    return saved.error();
  rows_.push_back(*saved);
  if (auto err = docker_.start_container(*id))
    return err;
  if (created_.size() == 1)
    fault_point("created-1");
  auto row = *saved;
  row.state = "running";
  // Not awaited: nothing waits on this row's state (the reconciler corrects it either way,
  // and a crash before it lands leaves the "created" row a crash after the start leaves), and
  // the writer may be busy with the reconcile the start's engine event set off -- up to
  // ~150 ms on the way to serving. The writer's mailbox keeps it before this job's later
  // writes (one sender, one queue), so the deployment ends after the row says running.
  caf::anon_send(handles_.writer, atom::upsert_v, std::move(row));
  log("started " + id->substr(0, 12) + " (" + image_ref_ + ") on 127.0.0.1:"
      + std::to_string(slot));
  return {};
}

/// The container of `slot`: its name, image, environment, labels, port and limits.
docker::container_spec deploy_run::container_spec_for(int64_t slot) const {
  docker::container_spec c;
  c.name = "tf-" + proj_.name + "-" + stg_.name + "-" + std::to_string(slot);
  c.image = image_ref_;
  for (const auto& [k, v] : stg_.env)
    c.env.push_back(k + "=" + v);
  c.labels = {{docker::label::managed, "true"},
              {docker::label::workload_id, proj_.workload_id},
              {docker::label::workload_kind, "project"},
              {docker::label::role, stg_.name},
              {docker::label::stage_id, stg_.id},
              {docker::label::slot, std::to_string(slot)},
              {docker::label::deployment_id, spec_.dep.id},
              {docker::label::image_tag, spec_.dep.tag}};
  // Which daemon made it: its stale scans and cleanups touch only its own (a job started
  // with settings that name no instance id labels none).
  if (!settings_.instance_id.empty())
    c.labels[docker::label::instance] = settings_.instance_id;
  c.container_port = stg_.port;
  c.host_ip = "127.0.0.1";
  c.host_port = slot;
  c.memory_bytes = stg_.memory_limit_bytes;
  c.nano_cpus = stg_.cpu_limit_millis * 1000000;
  c.restart_policy = stg_.restart_policy;
  return c;
}

/// The container index row of a container just created in `slot`.
container_row deploy_run::index_row_for(const std::string& container_id, int64_t slot) const {
  container_row row;
  row.workload_id = proj_.workload_id;
  row.workload_kind = "project";
  row.role = stg_.name;
  row.stage_id = stg_.id;
  row.subdomain = stg_.subdomain;
  row.proxy_route_id = route_.id;
  row.npm_proxy_id = route_.npm_proxy_id;
  row.image_tag = spec_.dep.tag;
  row.container_id = container_id;
  row.image_ref = image_ref_;
  row.host = settings_.host;
  row.state = "created";
  row.port = slot;
  return row;
}

} // namespace tf
