#include "actors/store_reader.hpp"

#include "actors/behavior_parts.hpp"
#include "actors/reply.hpp"
#include "core/body_pool.hpp"
#include "core/errors.hpp"
#include "net/container_json.hpp"
#include "store/admin_reads.hpp"
#include "store/apps.hpp"
#include "store/deployments.hpp"
#include "store/notifications.hpp"
#include "store/containers.hpp"
#include "store/projects.hpp"
#include "store/sites.hpp"
#include "store/stacks.hpp"
#include "store/workloads.hpp"
#include "store/routes.hpp"
#include "store/settings.hpp"
#include "store/users.hpp"
#include "store/webhooks.hpp"

#include <algorithm>
#include <memory>

namespace tf {

namespace {

// One part per narrow interface of store_reader_actor (actors/actors.hpp), in its order.

auto catalog_reads(store::database& d) {
  return behavior_part<catalog_reader_actor>(
    [&d](atom::get, atom::project, const std::string& id) {
      return reply(store::get_project(d, id));
    },
    [&d](atom::list, atom::project, int64_t limit, int64_t offset) {
      return reply(store::list_projects(d, limit, offset));
    },
    [&d](atom::get, atom::stack, const std::string& id) { return reply(store::get_stack(d, id)); },
    [&d](atom::list, atom::stack, int64_t limit, int64_t offset) {
      return reply(store::list_stacks(d, limit, offset));
    },
    [&d](atom::get, atom::site, const std::string& id) { return reply(store::get_site(d, id)); },
    [&d](atom::list, atom::site, int64_t limit, int64_t offset) {
      return reply(store::list_sites(d, limit, offset));
    },
    [&d](atom::get, atom::workload, const std::string& id) {
      return reply(store::get_workload(d, id));
    },
    [&d](atom::list, atom::workload, const workload_filter& f) {
      return reply(store::list_workloads(d, f));
    },
    [&d](atom::get, atom::app, const std::string& id) { return reply(store::get_app(d, id)); },
    [&d](atom::list, atom::app, int64_t limit, int64_t offset) {
      return reply(store::list_apps(d, limit, offset));
    });
}

auto journal_reads(store::database& d) {
  return behavior_part<journal_reader_actor>(
    [&d](atom::get, atom::deployment, const std::string& id) {
      return reply(store::get_deployment(d, id));
    },
    [&d](atom::list, atom::deployment, const std::string& workload_id, int64_t limit,
         int64_t offset) { return reply(store::list_deployments(d, workload_id, limit, offset)); },
    [&d](atom::list, atom::recover) { return reply(store::list_unfinished_deployments(d)); },
    [&d](atom::list, atom::route) { return reply(store::list_routes(d)); },
    [&d](atom::get, atom::route, const std::string& stage_id) {
      return reply(store::get_route(d, stage_id));
    },
    [&d](atom::list, atom::proxy, int64_t limit, int64_t offset) {
      return reply(store::list_proxies(d, limit, offset));
    });
}

auto container_index_reads(store::database& d) {
  // What this reader keeps of the index while its version stays (the reader's own thread).
  auto cache = std::make_shared<store::container_index_cache>();
  return behavior_part<container_index_reader_actor>(
    [&d](atom::get, atom::container, const std::string& id) {
      return reply(store::get_container(d, id));
    },
    [&d](atom::list, atom::container, const container_filter& f) {
      return reply(store::list_containers(d, f));
    },
    [&d, cache](atom::list, atom::container, const container_filter& f,
                 const std::string& if_none_match) -> caf::result<list_body> {
      // The version before the rows: the page is never older than its tag.
      auto at = store::current_index_version(d);
      list_body out;
      out.etag = store::etag_of(at);
      if (!if_none_match.empty() && store::if_none_match_hits(if_none_match, out.etag)) {
        out.not_modified = true;
        return out;
      }
      auto& body = out.body;
      // A buffer already faulted in when one was handed back (core/body_pool.hpp); about
      // 450 bytes a row: one allocation for most pages.
      body = body_pool::take();
      body.reserve(static_cast<size_t>(std::clamp<int64_t>(f.limit, 1, 1000)) * 480 + 64);
      body += "{\"items\":[";
      bool first = true;
      auto walk = store::walk_containers(d, f, at, *cache, [&](const container_view& c) {
        if (!first)
          body += ',';
        first = false;
        net::append_container_json(body, c);
      });
      if (!walk)
        return std::move(walk.error());
      body += "],\"total\":";
      net::append_json_int(body, walk->total);
      body += ",\"next_after\":";
      net::append_json_nullable(body, walk->next_after);
      body += '}';
      return out;
    });
}

auto auth_reads(store::database& d) {
  return behavior_part<auth_reader_actor>(
    [&d](atom::get, atom::user, const std::string& username) {
      return reply(store::find_user(d, username));
    },
    [&d](atom::count, atom::user) { return reply(store::count_users(d)); },
    [&d](atom::resolve, const credential& c) { return reply(store::resolve_credential(d, c)); },
    [&d](atom::list, atom::token, const std::string& user_id, int64_t limit, int64_t offset) {
      return reply(store::list_api_tokens(d, user_id, limit, offset));
    },
    [&d](atom::list, atom::audit, int64_t limit) { return reply(store::list_audit(d, limit)); });
}

auto delivery_log_reads(store::database& d) {
  return behavior_part<delivery_log_reader_actor>(
    [&d](atom::get, atom::webhook, const std::string& secret) {
      return reply(store::find_workload_by_webhook_secret(d, secret));
    },
    [&d](atom::get, atom::delivery, const std::string& id) {
      return reply(store::get_delivery(d, id));
    },
    [&d](atom::list, atom::delivery, const std::string& workload_id, int64_t limit,
         int64_t offset) { return reply(store::list_deliveries(d, workload_id, limit, offset)); });
}

auto notification_log_reads(store::database& d) {
  return behavior_part<notification_log_reader_actor>(
    [&d](atom::list, atom::notification, const std::string& workload_id, int64_t limit,
         int64_t offset) {
      return reply(store::list_notification_attempts(d, workload_id, limit, offset));
    });
}

auto settings_reads(store::database& d) {
  return behavior_part<settings_reader_actor>(
    [&d](atom::get, atom::settings) { return reply(store::read_settings(d)); });
}

auto overview_reads(store::database& d) {
  return behavior_part<store_overview_reader_actor>(
    [&d](atom::ping) -> caf::result<atom::ok> {
      auto st = d.prepare("SELECT COUNT(*) FROM schema_migrations");
      if (!st)
        return std::move(st.error());
      if (!st->step())
        return st->error() ? st->error() : make_error(ec::database, "no schema");
      return atom::ok_v;
    },
    [&d](atom::get, atom::stale) { return reply(store::read_tracked_resources(d)); },
    [&d](atom::get, atom::metrics) { return reply(store::read_store_metrics(d)); });
}

} // namespace

store_reader_actor::behavior_type
store_reader(store_reader_actor::stateful_pointer<store_reader_state> self, store::database db) {
  self->state.db = std::move(db);
  auto& d = self->state.db;
  return combine_parts<store_reader_actor>(catalog_reads(d), journal_reads(d),
                                           container_index_reads(d), auth_reads(d),
                                           delivery_log_reads(d), notification_log_reads(d),
                                           settings_reads(d), overview_reads(d));
}

} // namespace tf
