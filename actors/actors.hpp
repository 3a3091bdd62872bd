// Every typed actor interface of Tinyforge, in one place. Each message has one comment line.
// Rows and message structs are in core/model.hpp; atoms in actors/atoms.hpp.
#pragma once

#include "actors/atoms.hpp"
#include "actors/notifier_messages.hpp"
#include "actors/webhook_messages.hpp"
#include "docker/types.hpp"
#include "core/admin_model.hpp"
#include "core/auth_model.hpp"
#include "actors/messages.hpp"
#include "core/model.hpp"
#include "core/notification_model.hpp"
#include "core/webhook_model.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tf {

// -- the store, by domain ------------------------------------------------------------------
// The writer and the readers answer many messages, but each client needs a few: it holds
// only the narrow interfaces below that it uses (a wider handle converts to a narrower one).
// The full store_writer_actor and store_reader_actor are these put together.

/// CATALOG writes: projects and their stages, stacks, sites, workloads and apps.
using catalog_writer_actor = caf::typed_actor<
  // Creates a project, its stages and its workload row; replies with the stored project.
  caf::replies_to<atom::create, project>::with<project>,
  // Changes a project's name or image (and its workload's name).
  caf::replies_to<atom::update, patch<project>>::with<project>,
  // Deletes a project with its stages, workload, container rows and deployments.
  caf::replies_to<atom::erase, atom::project, std::string>::with<atom::ok>,
  // Adds a stage to the project named by stage.project_id.
  caf::replies_to<atom::create, stage>::with<stage>,
  // Changes a stage's settings (name, subdomain, port, instances, env, health, limits).
  caf::replies_to<atom::update, patch<stage>>::with<stage>,
  // Deletes a stage with its container rows and deployments.
  caf::replies_to<atom::erase, atom::stage, std::string>::with<atom::ok>,
  // Creates a compose stack and its workload row.
  caf::replies_to<atom::create, stack>::with<stack>,
  // Changes a stack's name, compose text or environment.
  caf::replies_to<atom::update, patch<stack>>::with<stack>,
  // Deletes a stack with its workload and container rows.
  caf::replies_to<atom::erase, atom::stack, std::string>::with<atom::ok>,
  // Creates a static site and its workload row.
  caf::replies_to<atom::create, site>::with<site>,
  // Changes a site's name, subdomain or how many releases it keeps.
  caf::replies_to<atom::update, patch<site>>::with<site>,
  // Deletes a site with its workload and container rows.
  caf::replies_to<atom::erase, atom::site, std::string>::with<atom::ok>,
  // Changes a workload's app, notification URL or signature requirement.
  caf::replies_to<atom::update, patch<workload>>::with<workload>,
  // Replaces a workload's webhook, signing and notification secrets together.
  caf::replies_to<atom::rotate, std::string>::with<workload>,
  // Creates an app (name, description); replies the stored app.
  caf::replies_to<atom::create, app>::with<app>,
  // Changes an app's name or description.
  caf::replies_to<atom::update, patch<app>>::with<app>,
  // Deletes an app; its workloads' app_id becomes NULL.
  caf::replies_to<atom::erase, atom::app, std::string>::with<atom::ok>>;

/// CATALOG reads.
using catalog_reader_actor = caf::typed_actor<
  // One project with its stages, by id.
  caf::replies_to<atom::get, atom::project, std::string>::with<project>,
  // A page of projects (limit, offset), by name.
  caf::replies_to<atom::list, atom::project, int64_t, int64_t>::with<page<project>>,
  // One stack, by id.
  caf::replies_to<atom::get, atom::stack, std::string>::with<stack>,
  // A page of stacks (limit, offset), by name.
  caf::replies_to<atom::list, atom::stack, int64_t, int64_t>::with<page<stack>>,
  // One site, by id.
  caf::replies_to<atom::get, atom::site, std::string>::with<site>,
  // A page of sites (limit, offset), by name.
  caf::replies_to<atom::list, atom::site, int64_t, int64_t>::with<page<site>>,
  // One workload, by id.
  caf::replies_to<atom::get, atom::workload, std::string>::with<workload>,
  // A page of workloads matching a filter (kind, app), by kind and name.
  caf::replies_to<atom::list, atom::workload, workload_filter>::with<page<workload>>,
  // One app, by id.
  caf::replies_to<atom::get, atom::app, std::string>::with<app>,
  // A page of apps (limit, offset), by name.
  caf::replies_to<atom::list, atom::app, int64_t, int64_t>::with<page<app>>>;

/// DEPLOY JOURNAL and PROXY ROUTE writes.
using journal_writer_actor = caf::typed_actor<
  // Records a queued deploy; replies the row with its id.
  caf::replies_to<atom::create, deployment>::with<deployment>,
  // Records a stage deploy unless (not forced) the same tag is already on its way.
  caf::replies_to<atom::create, stage_deploy_claim>::with<stage_deploy_claimed>,
  // Moves a deploy on (running, succeeded, failed, superseded); a success sets the stage's tag.
  caf::replies_to<atom::update, deployment_transition>::with<deployment>,
  // Ends the listed deploys that are still queued as superseded; replies how many changed.
  caf::replies_to<atom::update, deployment_supersession>::with<int64_t>,
  // Appends a line to a deploy's log; one-way, so a deploy never waits on its log.
  caf::reacts_to<atom::append, deployment_log_line>,
  // At boot: ends as failed the deploys a previous run left queued or running.
  caf::replies_to<atom::recover, std::string>::with<int64_t>,
  // The journal: a running deploy records the step it is about to take.
  caf::replies_to<atom::step, deployment_phase>::with<atom::ok>,
  // A stage's proxy route, created or grown to the claimed slot count (ports allocated here).
  caf::replies_to<atom::route, route_claim>::with<proxy_route>,
  // Records which slots of a route serve now (and Nginx Proxy Manager's host id).
  caf::replies_to<atom::update, proxy_route>::with<proxy_route>,
  // Deletes a stage's route (its slot ports become free).
  caf::replies_to<atom::erase, atom::route, std::string>::with<atom::ok>>;

/// DEPLOY JOURNAL and PROXY ROUTE reads.
using journal_reader_actor = caf::typed_actor<
  // One deploy with its log, by id.
  caf::replies_to<atom::get, atom::deployment, std::string>::with<deployment>,
  // A page of deploys (workload id or "" for all, limit, offset), newest first.
  caf::replies_to<atom::list, atom::deployment, std::string, int64_t, int64_t>::with<
    page<deployment>>,
  // Deploys a previous run left queued or running, oldest first (boot recovery).
  caf::replies_to<atom::list, atom::recover>::with<std::vector<deployment>>,
  // Every proxy route, to re-apply at boot.
  caf::replies_to<atom::list, atom::route>::with<std::vector<proxy_route>>,
  // One stage's route, by stage id (not_found when it has none yet).
  caf::replies_to<atom::get, atom::route, std::string>::with<proxy_route>,
  // A page of proxy routes (limit, offset) with their stages and projects, by host.
  caf::replies_to<atom::list, atom::proxy, int64_t, int64_t>::with<page<proxy_listing>>>;

/// CONTAINERS INDEX writes: the deployer's rows and the reconciler's view of Docker.
using container_index_writer_actor = caf::typed_actor<
  // The deployer's write: inserts or replaces every field of a container row.
  caf::replies_to<atom::upsert, container_row>::with<container_row>,
  // The deployer removed a container: deletes its row.
  caf::replies_to<atom::erase, atom::container, std::string>::with<atom::ok>,
  // The reconciler's write: Docker-derived fields only, for a whole batch at once.
  caf::replies_to<atom::reconcile, std::vector<observed_container>>::with<reconcile_result>,
  // Marks rows on a host whose container Docker no longer lists as missing; replies them.
  caf::replies_to<atom::mark_missing, missing_sweep>::with<std::vector<container_change>>>;

/// CONTAINERS INDEX reads.
using container_index_reader_actor = caf::typed_actor<
  // One container row, by id.
  caf::replies_to<atom::get, atom::container, std::string>::with<container_row>,
  // A page of container rows matching a filter.
  caf::replies_to<atom::list, atom::container, container_filter>::with<page<container_row>>,
  // GET /api/containers: the page as its JSON body, or not_modified for this If-None-Match.
  caf::replies_to<atom::list, atom::container, container_filter, std::string>::with<list_body>>;

/// AUTH writes: users, sessions, API tokens and the audit log.
using auth_writer_actor = caf::typed_actor<
  // Creates a user from an already computed password hash; replies the stored user.
  caf::replies_to<atom::create, new_user>::with<user_record>,
  // Stores a login's session (token hash only); replies the session's id.
  caf::replies_to<atom::create, new_session>::with<std::string>,
  // Logout: deletes the session with this token hash.
  caf::replies_to<atom::erase, atom::session, std::string>::with<atom::ok>,
  // Stores a new API token (hash only); replies it as listed.
  caf::replies_to<atom::create, new_api_token>::with<api_token_info>,
  // Revokes one of a user's API tokens (not_found when not theirs or revoked already).
  caf::replies_to<atom::erase, atom::token, token_revocation>::with<atom::ok>,
  // Sets a token's last_used_at unless set within the last minute; one-way.
  caf::reacts_to<atom::touch, atom::token, std::string>,
  // Appends an audit_log row (who, what, target); one-way, after the audited change.
  caf::reacts_to<atom::append, audit_entry>,
  // Turns a user's TOTP second factor on (with its secret) or off.
  caf::replies_to<atom::update, totp_setting>::with<atom::ok>>;

/// AUTH reads.
using auth_reader_actor = caf::typed_actor<
  // A user with the password hash, by username (login).
  caf::replies_to<atom::get, atom::user, std::string>::with<user_record>,
  // How many users exist (first start, setup token).
  caf::replies_to<atom::count, atom::user>::with<int64_t>,
  // The identity behind an unexpired session or unrevoked API token, by token hash.
  caf::replies_to<atom::resolve, credential>::with<identity>,
  // A page of a user's API tokens (user id, limit, offset; never their values), newest first.
  caf::replies_to<atom::list, atom::token, std::string, int64_t, int64_t>::with<
    page<api_token_info>>,
  // The newest audit_log rows (limit), newest first.
  caf::replies_to<atom::list, atom::audit, int64_t>::with<std::vector<audit_row>>>;

/// WEBHOOK DELIVERY LOG writes.
using delivery_log_writer_actor = caf::typed_actor<
  // Records a webhook delivery (a repeated delivery id becomes a duplicate); prunes the log.
  caf::replies_to<atom::create, webhook_delivery>::with<webhook_delivery>,
  // A trusted delivery for a project: dedupe, stage, queued deploy and record, one transaction
  // (claims that wait together commit together; the answer comes after the commit).
  caf::replies_to<atom::create, webhook_deploy_claim>::with<webhook_deploy_claimed>,
  // Commits the claims gathered since the last flush (the writer sends it to itself).
  caf::reacts_to<atom::flush>>;

/// WEBHOOK DELIVERY LOG reads, and the secret a delivery is addressed to.
using delivery_log_reader_actor = caf::typed_actor<
  // The workload a webhook secret belongs to (constant-time checked; not_found otherwise).
  caf::replies_to<atom::get, atom::webhook, std::string>::with<workload>,
  // One webhook delivery with its kept body, by id.
  caf::replies_to<atom::get, atom::delivery, std::string>::with<webhook_delivery>,
  // A page of a workload's webhook deliveries (workload id, limit, offset), newest first.
  caf::replies_to<atom::list, atom::delivery, std::string, int64_t, int64_t>::with<
    page<webhook_delivery>>>;

/// NOTIFICATION LOG writes.
using notification_log_writer_actor = caf::typed_actor<
  // Records a notification attempt and prunes the log; one-way, so the notifier never waits.
  caf::reacts_to<atom::append, notification_attempt>>;

/// NOTIFICATION LOG reads.
using notification_log_reader_actor = caf::typed_actor<
  // A page of a workload's notification attempts (workload id, limit, offset), newest first.
  caf::replies_to<atom::list, atom::notification, std::string, int64_t, int64_t>::with<
    page<notification_attempt>>>;

/// SETTINGS writes.
using settings_writer_actor = caf::typed_actor<
  // Writes settings (key -> JSON text) in one transaction, all or none; replies them all.
  caf::replies_to<atom::update, atom::settings, settings_map>::with<settings_map>>;

/// SETTINGS reads.
using settings_reader_actor = caf::typed_actor<
  // Every known setting: stored values over defaults.
  caf::replies_to<atom::get, atom::settings>::with<settings_map>>;

/// Reads over the whole STORE: its health, the stale scan's facts, the metrics.
using store_overview_reader_actor = caf::typed_actor<
  // Answers when the database can be read (the health check).
  caf::replies_to<atom::ping>::with<atom::ok>,
  // What the store tracks (workloads, container ids, kept image tags): the stale scan's facts.
  caf::replies_to<atom::get, atom::stale>::with<tracked_resources>,
  // The store's counts for /metrics.
  caf::replies_to<atom::get, atom::metrics>::with<store_metrics>>;

/// The STORE WRITER: the only writer of the database. Each message is one transaction.
using store_writer_actor = catalog_writer_actor::extend_with<
  journal_writer_actor, container_index_writer_actor, auth_writer_actor,
  delivery_log_writer_actor, notification_log_writer_actor, settings_writer_actor>;

/// A STORE READER: answers reads on its own read-only connection, beside the writer.
using store_reader_actor = catalog_reader_actor::extend_with<
  journal_reader_actor, container_index_reader_actor, auth_reader_actor,
  delivery_log_reader_actor, notification_log_reader_actor, settings_reader_actor,
  store_overview_reader_actor>;

// -- what the store's clients hold (each only the store interfaces it uses) ---------------
// The reconciler writes through container_index_writer_actor, the webhook router through
// delivery_log_writer_actor, the notifier through notification_log_writer_actor.

/// The deletes of a project or a stage, which the PROJECT DEPLOYER sends once it has
/// removed their containers and routes.
using project_removal_writer_actor = caf::typed_actor<
  caf::replies_to<atom::erase, atom::project, std::string>::with<atom::ok>,
  caf::replies_to<atom::erase, atom::stage, std::string>::with<atom::ok>>;

/// What the PROJECT DEPLOYER and its deploy jobs write: the journal, routes, container rows,
/// and the deletes of projects and stages.
using deploy_store_writer_actor =
  journal_writer_actor::extend_with<container_index_writer_actor, project_removal_writer_actor>;

/// What they read: projects and workloads, the journal and routes, container rows.
using deploy_store_reader_actor =
  catalog_reader_actor::extend_with<journal_reader_actor, container_index_reader_actor>;

/// What the WEBHOOK ROUTER reads: the secret's workload, recorded deliveries, projects.
using webhook_store_reader_actor = delivery_log_reader_actor::extend_with<catalog_reader_actor>;

/// What the NOTIFIER reads: workloads, projects (a stage's name), container rows.
using notifier_store_reader_actor =
  catalog_reader_actor::extend_with<container_index_reader_actor>;

/// A DOCKER WORKER: makes blocking Engine API calls on its own thread for one owner, so
/// a slow engine never stalls the scheduler. Errors come back as values (503 for HTTP).
using docker_actor = caf::typed_actor<
  // Negotiates the API version and replies what the engine runs.
  caf::replies_to<atom::ping>::with<docker::version_info>,
  // Lists containers in every state that match the filters.
  caf::replies_to<atom::list, atom::container, docker::filters>::with<
    std::vector<docker::container_summary>>,
  // The last N lines of a container's stdout and stderr.
  caf::replies_to<atom::logs, std::string, int64_t>::with<std::string>,
  // Starts a stopped container.
  caf::replies_to<atom::start, std::string>::with<atom::ok>,
  // Stops a container (SIGTERM, then SIGKILL after the grace seconds).
  caf::replies_to<atom::stop, std::string, int64_t>::with<atom::ok>,
  // Restarts a container (stop with the grace seconds, then start).
  caf::replies_to<atom::restart, std::string, int64_t>::with<atom::ok>,
  // Lists images that match the filters.
  caf::replies_to<atom::list, atom::image, docker::filters>::with<std::vector<docker::image_summary>>,
  // Removes a container, running or not, with its anonymous volumes.
  caf::replies_to<atom::erase, atom::container, std::string>::with<atom::ok>,
  // Removes an image reference (a repo:tag untags; the image goes with its last tag).
  caf::replies_to<atom::erase, atom::image, std::string>::with<atom::ok>>;

/// The PROXY actor: applies route changes to the reverse proxy and opens or closes slot
/// ports, one change at a time (detached: providers and iptables block).
using proxy_actor = caf::typed_actor<
  // Makes the provider route the host to the route's slots (create or change).
  caf::replies_to<atom::apply, proxy_route>::with<proxy_route>,
  // Removes the route from the provider and its slots' rules from the gate.
  caf::replies_to<atom::erase, proxy_route>::with<atom::ok>,
  // Lets the proxy reach these slot ports again (a colour joins the rotation).
  caf::replies_to<atom::open, std::vector<int64_t>>::with<atom::ok>,
  // Takes these slot ports out of rotation: new connections go on to the second list's
  // slots (the serving colour), or are reset when it is empty; connections open stay.
  caf::replies_to<atom::close, std::vector<int64_t>, std::vector<int64_t>>::with<atom::ok>,
  // Established TCP connections to these ports now (what a drain waits on).
  caf::replies_to<atom::count, std::vector<int64_t>>::with<int64_t>,
  // Points a single-upstream provider (npm, none) at route.serving; replies the route.
  caf::replies_to<atom::update, proxy_route>::with<proxy_route>,
  // The provider's name and whether the switch is gated (for logs, /api/proxies).
  caf::replies_to<atom::status>::with<std::string, bool>>;

/// The PROJECT DEPLOYER: one deploy per stage at a time, newer requests coalesced; each
/// deploy runs as a journaled job on its own thread and reports back here.
using project_deployer_actor = caf::typed_actor<
  // Queues a deploy of a tag to a stage; replies the queued row at once, or (not forced)
  // the deploy of that tag already on its way, marked unchanged.
  caf::replies_to<atom::deploy, deploy_request>::with<stage_deploy_claimed>,
  // Queues a rollback of a stage to its previous tag; replies the queued row.
  caf::replies_to<atom::rollback, deploy_request>::with<stage_deploy_claimed>,
  // Stops, starts or restarts one container after checking it belongs to the URL's stage.
  caf::replies_to<atom::instance, instance_action>::with<container_row>,
  // Runs or queues a deploy the webhook router's claim already recorded (one-way).
  caf::reacts_to<atom::queue, deployment>,
  // A job ended: start the stage's queued deploy, if any.
  caf::reacts_to<atom::done, deploy_outcome>,
  // A settling stage's quiet period may be over: start its waiting deploy, or look again later.
  caf::reacts_to<atom::start, std::string>,
  // The grace period of a stage's warm colour is over (generation guards a newer deploy).
  caf::reacts_to<atom::expire, std::string, uint64_t>,
  // Boot: finishes or undoes deploys a previous run left, re-applies routes; replies the count.
  caf::replies_to<atom::recover>::with<int64_t>,
  // Deletes a project: its containers, routes, then rows; a conflict while a deploy of it
  // runs or waits.
  caf::replies_to<atom::erase, atom::project, std::string>::with<atom::ok>,
  // Deletes one stage (project id, stage id or name) the same way.
  caf::replies_to<atom::erase, atom::stage, std::string, std::string>::with<atom::ok>>;

/// What the SITE DEPLOYER writes: its deploys' journal and log, the serving container's row
/// and route, and the site's current release.
using site_store_writer_actor = deploy_store_writer_actor::extend_with<catalog_writer_actor>;

/// The SITE DEPLOYER: static sites. An upload is unpacked (refused with a 400 naming the
/// entry) before its deploy is queued; one deploy per site at a time, a newer waiting one
/// replaces the older. Unpacking and deploys run on threads of their own.
using site_deployer_actor = caf::typed_actor<
  // Unpacks the archive into a new release, then queues its deploy; replies the queued row.
  caf::replies_to<atom::deploy, site_request>::with<deployment>,
  // Queues a switch back to the release before the current one; replies the queued row.
  caf::replies_to<atom::rollback, site_request>::with<deployment>,
  // Deletes a site: its container, route, files, then rows; a conflict while it deploys.
  caf::replies_to<atom::erase, atom::site, std::string>::with<atom::ok>,
  // A deploy ended: start the site's waiting deploy, if any.
  caf::reacts_to<atom::done, site_outcome>,
  // Boot: runs again the site deploys a previous run left; replies how many.
  caf::replies_to<atom::recover>::with<int64_t>>;

/// What the STACK DEPLOYER writes: stacks, their deploys' journal and log.
using stack_store_writer_actor = journal_writer_actor::extend_with<catalog_writer_actor>;

/// What it reads: stacks and workloads, the journal.
using stack_store_reader_actor = catalog_reader_actor::extend_with<journal_reader_actor>;

/// The STACK DEPLOYER: compose stacks, one compose run per stack at a time; a deploy
/// waiting behind a run is replaced by a newer one. Compose runs on threads of their own.
using stack_deployer_actor = caf::typed_actor<
  // Checks the compose file with compose itself, then stores the new stack; replies it.
  caf::replies_to<atom::create, stack>::with<stack>,
  // Checks a changed compose file or environment the same way, then stores the change.
  caf::replies_to<atom::update, patch<stack>>::with<stack>,
  // Queues a deploy of a stack (files written, compose up); replies the queued row.
  caf::replies_to<atom::deploy, stack_request>::with<deployment>,
  // stop | start | restart | down | down-volumes; replies compose's output once it ran.
  caf::replies_to<atom::compose, stack_request>::with<std::string>,
  // Deletes a stack: compose down (volumes kept), its directory, then its rows.
  caf::replies_to<atom::erase, atom::stack, std::string>::with<atom::ok>,
  // Runs or queues a deploy (stack id, row) a webhook claim already recorded (one-way).
  caf::reacts_to<atom::queue, std::string, deployment>,
  // A compose run ended: start the stack's waiting deploy, if any.
  caf::reacts_to<atom::done, stack_outcome>,
  // Boot: runs again the stack deploys a previous run left; replies how many.
  caf::replies_to<atom::recover>::with<int64_t>,
  // Looks for the host's compose (sent to itself a moment after start, off start-up's path).
  caf::reacts_to<atom::ping>,
  // Which compose the host has: "v1 1.29.2", "none", or "unknown" before the first look.
  caf::replies_to<atom::status>::with<std::string>>;

/// The WEBHOOK ROUTER: turns deliveries to /api/webhooks/{secret} into deploys. Scheduled and
/// never blocking: it asks the store and the deployer and answers when they have.
using webhook_router_actor = caf::typed_actor<
  // A delivery: resolve, verify, dedupe, deploy, record; replies the HTTP answer.
  caf::replies_to<atom::webhook, webhook_request>::with<webhook_answer>,
  // Re-runs a recorded delivery as a new one (no signature check, no dedupe).
  caf::replies_to<atom::replay, webhook_replay>::with<webhook_answer>>;

/// The NOTIFIER: posts a workload's events to its notification URL, signed, from a bounded
/// queue, retried with backoff. Senders never wait: every event arrives one-way.
using notifier_actor = caf::typed_actor<
  // An event (deploy.started ...) for its workload; dropped when it has no notification_url.
  caf::reacts_to<atom::notify, notification_event>,
  // The backoff of a held delivery (by sequence number) is over: it may be sent again.
  caf::reacts_to<atom::retry, uint64_t>,
  // A container.missing held back a moment (by sequence number): post it if still missing.
  caf::reacts_to<atom::confirm, uint64_t>,
  // The counters: held, in flight, delivered, failed, dropped.
  caf::replies_to<atom::status>::with<notifier_stats>>;

/// The NOTIFIER's SENDER: makes one blocking POST at a time on its own thread.
using notify_sender_actor = caf::typed_actor<
  // Posts; replies the status answered or why there was none (never an error message).
  caf::replies_to<atom::post, notification_post>::with<notification_post_result>>;

/// The RECONCILER of one Docker host: keeps the containers index true to what it runs.
using reconciler_actor = caf::typed_actor<
  // Reconciles now, or right after the run in flight (runs never overlap).
  caf::reacts_to<atom::run>,
  // The periodic safety net; a tick of an old generation is ignored.
  caf::reacts_to<atom::tick, uint64_t>,
  // A container event from the engine's stream: reconcile soon.
  caf::reacts_to<atom::event, docker::engine_event>,
  // The event stream is connected: the engine is back, catch up at once.
  caf::reacts_to<atom::docker_up>,
  // The event stream is lost, with the reason.
  caf::reacts_to<atom::docker_down, std::string>,
  // Sends (done, reconcile_report) to this actor after every run.
  caf::reacts_to<atom::subscribe, caf::actor>,
  // Whether the engine answered last: "ok" or "unavailable".
  caf::replies_to<atom::status>::with<std::string>>;

} // namespace tf
