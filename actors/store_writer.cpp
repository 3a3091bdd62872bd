#include "actors/store_writer.hpp"

#include "actors/behavior_parts.hpp"
#include "actors/live_events.hpp"
#include "actors/reply.hpp"
#include "core/errors.hpp"
#include "store/apps.hpp"
#include "store/deployments.hpp"
#include "store/index_version.hpp"
#include "store/notifications.hpp"
#include "store/routes.hpp"
#include "store/settings.hpp"
#include "store/statistics.hpp"
#include "store/users.hpp"
#include "store/webhooks.hpp"
#include "store/containers.hpp"
#include "store/projects.hpp"
#include "store/sites.hpp"
#include "store/stacks.hpp"
#include "store/workloads.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>

namespace tf {

namespace {

// One part per narrow interface of store_writer_actor (actors/actors.hpp), in its order.

/// Runs a write and, when its commit changed the containers index (a removal takes its
/// workload's rows with it), publishes that on the live feed.
template <class Write>
auto watching_index(store::database& d, live_feed* feed, Write write) {
  auto before = store::current_index_version(d);
  auto answer = write();
  if (store::current_index_version(d) != before)
    live::containers_changed(feed, 1);
  return answer;
}

/// Publishes a deploy's row once it is stored.
template <class T>
caf::result<T> published(live_feed* feed, caf::expected<T> stored) {
  if (stored)
    live::deployment_changed(feed, *stored);
  return reply(std::move(stored));
}

auto catalog_writes(store::database& d, live_feed* feed) {
  return behavior_part<catalog_writer_actor>(
    // -- projects and stages --
    [&d](atom::create, project& p) { return reply(store::create_project(d, std::move(p))); },
    [&d](atom::update, const patch<project>& p) { return reply(store::update_project(d, p)); },
    [&d, feed](atom::erase, atom::project, const std::string& id) {
      return watching_index(d, feed, [&] { return reply(store::delete_project(d, id)); });
    },
    [&d](atom::create, stage& s) { return reply(store::create_stage(d, std::move(s))); },
    [&d](atom::update, const patch<stage>& p) { return reply(store::update_stage(d, p)); },
    [&d, feed](atom::erase, atom::stage, const std::string& id) {
      return watching_index(d, feed, [&] { return reply(store::delete_stage(d, id)); });
    },
    // -- stacks and sites --
    [&d](atom::create, stack& s) { return reply(store::create_stack(d, std::move(s))); },
    [&d](atom::update, const patch<stack>& p) { return reply(store::update_stack(d, p)); },
    [&d, feed](atom::erase, atom::stack, const std::string& id) {
      return watching_index(d, feed, [&] { return reply(store::delete_stack(d, id)); });
    },
    [&d](atom::create, site& s) { return reply(store::create_site(d, std::move(s))); },
    [&d](atom::update, const patch<site>& p) { return reply(store::update_site(d, p)); },
    [&d, feed](atom::erase, atom::site, const std::string& id) {
      return watching_index(d, feed, [&] { return reply(store::delete_site(d, id)); });
    },
    // -- workloads and apps --
    [&d](atom::update, const patch<workload>& p) { return reply(store::update_workload(d, p)); },
    [&d](atom::rotate, const std::string& id) { return reply(store::rotate_secrets(d, id)); },
    [&d](atom::create, app& a) { return reply(store::create_app(d, std::move(a))); },
    [&d](atom::update, const patch<app>& p) { return reply(store::update_app(d, p)); },
    [&d](atom::erase, atom::app, const std::string& id) {
      return reply(store::delete_app(d, id));
    });
}

auto journal_writes(store::database& d, live_feed* feed) {
  return behavior_part<journal_writer_actor>(
    // -- deployments --
    [&d, feed](atom::create, deployment& x) {
      return published(feed, store::create_deployment(d, std::move(x)));
    },
    [&d, feed](atom::create, stage_deploy_claim& c) {
      auto claimed = store::claim_stage_deploy(d, std::move(c));
      if (claimed && !claimed->unchanged)
        live::deployment_changed(feed, claimed->queued);
      return reply(std::move(claimed));
    },
    [&d, feed](atom::update, const deployment_transition& t) {
      return published(feed, store::transition_deployment(d, t));
    },
    [&d, feed](atom::update, const deployment_supersession& s) {
      auto changed = store::supersede_deployments(d, s.ids, s.reason);
      if (changed && *changed > 0)
        for (const auto& id : s.ids) {
          deployment ended;
          ended.id = id;
          ended.status = "superseded";
          ended.error = s.reason;
          live::deployment_changed(feed, ended);
        }
      return reply(std::move(changed));
    },
    [&d, feed](atom::append, const deployment_log_line& l) {
      auto index = store::append_deployment_log(d, l);
      if (!index)
        spdlog::warn("event=deployment-log-failed deployment={} error={}", l.deployment_id,
                     error_message(index.error()));
      else
        live::deployment_logged(feed, l, *index);
    },
    [&d](atom::recover, const std::string& reason) {
      return reply(store::fail_unfinished_deployments(d, reason));
    },
    [&d, feed](atom::step, const deployment_phase& p) -> caf::result<atom::ok> {
      if (auto err = store::record_deployment_phase(d, p))
        return err;
      live::deployment_stepped(feed, p);
      return atom::ok_v;
    },
    // -- proxy routes --
    [&d](atom::route, const route_claim& c) { return reply(store::claim_route(d, c)); },
    [&d](atom::update, const proxy_route& r) { return reply(store::update_route(d, r)); },
    [&d](atom::erase, atom::route, const std::string& stage_id) -> caf::result<atom::ok> {
      if (auto err = store::delete_route(d, stage_id))
        return err;
      return atom::ok_v;
    });
}

/// Refreshes the planner's statistics (store::optimize) after a reconcile batch that wrote
/// many rows: the statistics taken at start may describe a far smaller index. At most once
/// per interval, since a daemon with 10,000 containers writes that many on every tick.
struct optimize_after_large_batches {
  static constexpr int64_t large = 1000;
  static constexpr std::chrono::minutes interval{10};
  std::optional<std::chrono::steady_clock::time_point> last;

  void after(store::database& d, int64_t written) {
    auto now = std::chrono::steady_clock::now();
    if (written <= large || (last && now - *last < interval))
      return;
    last = now;
    if (auto err = store::optimize(d))
      spdlog::warn("event=optimize-failed after=reconcile error={}", error_message(err));
  }
};

template <class Self>
auto container_index_writes(Self* self, store::database& d, live_feed* feed) {
  auto optimizer = std::make_shared<optimize_after_large_batches>();
  return behavior_part<container_index_writer_actor>(
    [&d, feed](atom::upsert, container_row& c) {
      auto stored = store::upsert_container(d, std::move(c));
      if (stored)
        live::container_written(feed, *stored);
      return reply(std::move(stored));
    },
    [&d, feed](atom::erase, atom::container, const std::string& id) {
      auto err = store::delete_container(d, id);
      if (!err)
        live::container_removed(feed, id);
      return reply(std::move(err));
    },
    [self, &d, optimizer, feed](atom::reconcile, const std::vector<observed_container>& xs) {
      // The reply goes first: the reconciler reports and notifies while ANALYZE runs.
      auto rp = self->template make_response_promise<reconcile_result>();
      auto result = store::reconcile_containers(d, xs);
      auto written = result ? result->written : 0;
      if (result) {
        // A tick that only saw every container as it was changes nothing a page shows.
        live::containers_changed(feed, result->moved);
        rp.deliver(std::move(*result));
      } else {
        rp.deliver(std::move(result.error()));
      }
      optimizer->after(d, written);
      return rp;
    },
    [&d, feed](atom::mark_missing, const missing_sweep& s) {
      auto swept = store::sweep_missing(d, s);
      if (swept)
        live::containers_changed(feed, static_cast<int64_t>(swept->size()));
      return reply(std::move(swept));
    });
}

auto auth_writes(store::database& d) {
  return behavior_part<auth_writer_actor>(
    [&d](atom::create, const new_user& u) { return reply(store::create_user(d, u)); },
    [&d](atom::create, const new_session& s) { return reply(store::create_session(d, s)); },
    [&d](atom::erase, atom::session, const std::string& token_hash) {
      return reply(store::delete_session(d, token_hash));
    },
    [&d](atom::create, const new_api_token& t) { return reply(store::create_api_token(d, t)); },
    [&d](atom::erase, atom::token, const token_revocation& r) {
      return reply(store::revoke_api_token(d, r));
    },
    [&d](atom::touch, atom::token, const std::string& id) {
      if (auto err = store::touch_api_token(d, id, 60))
        spdlog::warn("event=token-touch-failed token_id={} error={}", id, error_message(err));
    },
    [&d](atom::append, const audit_entry& e) {
      if (auto err = store::append_audit(d, e))
        spdlog::error("event=audit-write-failed action={} target={} error={}", e.action,
                      e.target_id, error_message(err));
    },
    [&d](atom::update, const totp_setting& t) { return reply(store::set_totp(d, t)); });
}

/// Group commit of webhook claims. A claim waits in the state and the first one sends the
/// writer a flush; the mailbox is FIFO, so every claim queued before that flush joins the
/// batch. One commit (and its WAL write) then serves a whole burst: alone, a claim spent
/// more in its commit than in its statements (bench/webhook_burst). A claim that arrives
/// alone waits for nothing but its own flush, the next message.
template <class Self>
auto delivery_log_writes(Self* self, store::database& d, live_feed* feed) {
  return behavior_part<delivery_log_writer_actor>(
    [&d](atom::create, webhook_delivery& x) {
      return reply(store::record_delivery(d, std::move(x)));
    },
    [self](atom::create, webhook_deploy_claim& c) {
      auto& claims = self->state.claims;
      auto rp = self->template make_response_promise<webhook_deploy_claimed>();
      claims.push_back(pending_claim{std::move(c), rp});
      if (claims.size() == 1)
        self->send(caf::actor_cast<delivery_log_writer_actor>(self), atom::flush_v);
      return rp;
    },
    [self, &d, feed](atom::flush) {
      auto batch = std::move(self->state.claims);
      self->state.claims.clear();
      std::vector<webhook_deploy_claim> cs;
      cs.reserve(batch.size());
      for (auto& p : batch)
        cs.push_back(std::move(p.claim));
      auto answers = store::claim_webhook_deploys(d, std::move(cs), &self->state.log_sizes);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (answers[i])
          live::deployment_changed(feed, answers[i]->queued); // none unless accepted
        if (answers[i])
          batch[i].answer.deliver(std::move(*answers[i]));
        else
          batch[i].answer.deliver(std::move(answers[i].error()));
      }
    });
}

auto notification_log_writes(store::database& d) {
  return behavior_part<notification_log_writer_actor>(
    [&d](atom::append, notification_attempt& a) {
      auto workload_id = a.workload_id;
      if (auto err = store::record_notification_attempt(d, std::move(a)))
        spdlog::warn("event=notification-record-failed workload={} error={}", workload_id,
                     error_message(err));
    });
}

auto settings_writes(store::database& d) {
  return behavior_part<settings_writer_actor>(
    [&d](atom::update, atom::settings, const settings_map& changes) {
      return reply(store::write_settings(d, changes));
    });
}

} // namespace

store_writer_actor::behavior_type
store_writer(store_writer_actor::stateful_pointer<store_writer_state> self, store::database db,
             std::shared_ptr<live_feed> feed) {
  self->state.db = std::move(db);
  self->state.feed = std::move(feed);
  auto& d = self->state.db;
  auto* events = self->state.feed.get();
  // The connection comes migrated: statistics for what the database holds now, before the
  // first statement is planned (the plans of the hot statements do not depend on them; the
  // others' may).
  if (auto err = store::optimize(d))
    spdlog::warn("event=optimize-failed after=start error={}", error_message(err));
  return combine_parts<store_writer_actor>(
    catalog_writes(d, events), journal_writes(d, events), container_index_writes(self, d, events),
    auth_writes(d), delivery_log_writes(self, d, events), notification_log_writes(d),
    settings_writes(d));
}

} // namespace tf
