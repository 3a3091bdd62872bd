// Every atom Tinyforge's actors exchange, in one namespace so they never clash with CAF's.
// Atom text is at most 10 characters (CAF 0.17).
#pragma once

#include <caf/atom.hpp>

namespace tf::atom {

using create = caf::atom_constant<caf::atom("create")>;
using update = caf::atom_constant<caf::atom("update")>;
using erase = caf::atom_constant<caf::atom("erase")>;
using get = caf::atom_constant<caf::atom("get")>;
using list = caf::atom_constant<caf::atom("list")>;
using ok = caf::atom_constant<caf::atom("ok")>;
using ping = caf::atom_constant<caf::atom("ping")>;
using rotate = caf::atom_constant<caf::atom("rotate")>;
using upsert = caf::atom_constant<caf::atom("upsert")>;
using reconcile = caf::atom_constant<caf::atom("reconcile")>;
using mark_missing = caf::atom_constant<caf::atom("missing")>;
using run = caf::atom_constant<caf::atom("run")>;
using append = caf::atom_constant<caf::atom("append")>;
using recover = caf::atom_constant<caf::atom("recover")>;
using tick = caf::atom_constant<caf::atom("tick")>;
using event = caf::atom_constant<caf::atom("event")>;
using status = caf::atom_constant<caf::atom("status")>;
using subscribe = caf::atom_constant<caf::atom("subscribe")>;
using done = caf::atom_constant<caf::atom("done")>;
using logs = caf::atom_constant<caf::atom("logs")>;
using docker_up = caf::atom_constant<caf::atom("docker_up")>;
using docker_down = caf::atom_constant<caf::atom("docker_dn")>;
using deploy = caf::atom_constant<caf::atom("deploy")>;
using rollback = caf::atom_constant<caf::atom("rollback")>;
using instance = caf::atom_constant<caf::atom("instance")>;
using apply = caf::atom_constant<caf::atom("apply")>;
using open = caf::atom_constant<caf::atom("open")>;
using close = caf::atom_constant<caf::atom("close")>;
using count = caf::atom_constant<caf::atom("count")>;
using step = caf::atom_constant<caf::atom("step")>;
using route = caf::atom_constant<caf::atom("route")>;
using expire = caf::atom_constant<caf::atom("expire")>;
using flush = caf::atom_constant<caf::atom("flush")>;
using start = caf::atom_constant<caf::atom("start")>;
using stop = caf::atom_constant<caf::atom("stop")>;
using restart = caf::atom_constant<caf::atom("restart")>;
using resolve = caf::atom_constant<caf::atom("resolve")>;
using touch = caf::atom_constant<caf::atom("touch")>;
using webhook = caf::atom_constant<caf::atom("webhook")>;
using delivery = caf::atom_constant<caf::atom("delivery")>;
using replay = caf::atom_constant<caf::atom("replay")>;
using notify = caf::atom_constant<caf::atom("notify")>;
using retry = caf::atom_constant<caf::atom("retry")>;
using post = caf::atom_constant<caf::atom("post")>;
using confirm = caf::atom_constant<caf::atom("confirm")>;
using queue = caf::atom_constant<caf::atom("queue")>;
using validate = caf::atom_constant<caf::atom("validate")>;
using compose = caf::atom_constant<caf::atom("compose")>;

// Kinds of rows, to tell apart messages that carry only an id.
using project = caf::atom_constant<caf::atom("project")>;
using stage = caf::atom_constant<caf::atom("stage")>;
using stack = caf::atom_constant<caf::atom("stack")>;
using site = caf::atom_constant<caf::atom("site")>;
using workload = caf::atom_constant<caf::atom("workload")>;
using container = caf::atom_constant<caf::atom("container")>;
using deployment = caf::atom_constant<caf::atom("deployment")>;
using user = caf::atom_constant<caf::atom("user")>;
using session = caf::atom_constant<caf::atom("session")>;
using token = caf::atom_constant<caf::atom("token")>;
using audit = caf::atom_constant<caf::atom("audit")>;
// The admin routes (settings, apps, proxies, stale resources, metrics).
using settings = caf::atom_constant<caf::atom("settings")>;
using app = caf::atom_constant<caf::atom("app")>;
using proxy = caf::atom_constant<caf::atom("proxy")>;
using stale = caf::atom_constant<caf::atom("stale")>;
using metrics = caf::atom_constant<caf::atom("metrics")>;
using image = caf::atom_constant<caf::atom("image")>;
using notification = caf::atom_constant<caf::atom("notificatn")>;

constexpr auto create_v = create::value;
constexpr auto update_v = update::value;
constexpr auto erase_v = erase::value;
constexpr auto get_v = get::value;
constexpr auto list_v = list::value;
constexpr auto ok_v = ok::value;
constexpr auto ping_v = ping::value;
constexpr auto rotate_v = rotate::value;
constexpr auto upsert_v = upsert::value;
constexpr auto reconcile_v = reconcile::value;
constexpr auto mark_missing_v = mark_missing::value;
constexpr auto run_v = run::value;
constexpr auto append_v = append::value;
constexpr auto recover_v = recover::value;
constexpr auto tick_v = tick::value;
constexpr auto event_v = event::value;
constexpr auto status_v = status::value;
constexpr auto subscribe_v = subscribe::value;
constexpr auto done_v = done::value;
constexpr auto logs_v = logs::value;
constexpr auto docker_up_v = docker_up::value;
constexpr auto docker_down_v = docker_down::value;
constexpr auto deploy_v = deploy::value;
constexpr auto rollback_v = rollback::value;
constexpr auto instance_v = instance::value;
constexpr auto apply_v = apply::value;
constexpr auto open_v = open::value;
constexpr auto close_v = close::value;
constexpr auto count_v = count::value;
constexpr auto step_v = step::value;
constexpr auto route_v = route::value;
constexpr auto expire_v = expire::value;
constexpr auto flush_v = flush::value;
constexpr auto start_v = start::value;
constexpr auto stop_v = stop::value;
constexpr auto restart_v = restart::value;
constexpr auto resolve_v = resolve::value;
constexpr auto touch_v = touch::value;
constexpr auto webhook_v = webhook::value;
constexpr auto delivery_v = delivery::value;
constexpr auto replay_v = replay::value;
constexpr auto notify_v = notify::value;
constexpr auto retry_v = retry::value;
constexpr auto post_v = post::value;
constexpr auto confirm_v = confirm::value;
constexpr auto queue_v = queue::value;
constexpr auto validate_v = validate::value;
constexpr auto compose_v = compose::value;
constexpr auto project_v = project::value;
constexpr auto stage_v = stage::value;
constexpr auto stack_v = stack::value;
constexpr auto site_v = site::value;
constexpr auto workload_v = workload::value;
constexpr auto container_v = container::value;
constexpr auto deployment_v = deployment::value;
constexpr auto user_v = user::value;
constexpr auto session_v = session::value;
constexpr auto token_v = token::value;
constexpr auto audit_v = audit::value;
constexpr auto settings_v = settings::value;
constexpr auto app_v = app::value;
constexpr auto proxy_v = proxy::value;
constexpr auto stale_v = stale::value;
constexpr auto metrics_v = metrics::value;
constexpr auto image_v = image::value;
constexpr auto notification_v = notification::value;

} // namespace tf::atom
