// /api/containers (the containers index, from the store readers, also per workload under
// /api/workloads/{id}/containers; a container's logs, from the docker worker) and /api/instances (stop, start or restart one container of a stage,
// through the project deployer).
#include "core/body_pool.hpp"
#include "http/ask.hpp"
#include "http/auth.hpp"
#include "http/handler_steps.hpp"
#include "http/json_model.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"
#include "store/containers.hpp"
#include "store/index_version.hpp"
#include "store/workloads.hpp"

#include <httplib.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace tf::http {

namespace {

constexpr int64_t default_log_tail = 200;
constexpr int64_t max_log_tail = 10000;

/// The filters of GET /api/containers, each checked: an id filter is a bounded printable
/// string, kind and state are among the values the index holds. Absent or empty: no filter.
caf::expected<container_filter> container_filter_of(req_t req) {
  // A UI reads the whole index in one request: the containers take larger pages.
  auto q = parse_page(req, store::max_container_page);
  if (!q)
    return q.error();
  container_filter f;
  f.limit = q->limit;
  f.offset = q->offset;
  auto after = query_cursor(req, "after");
  if (!after)
    return after.error();
  if (*after) {
    f.after_created_at = std::move((*after)->created_at);
    f.after_id = std::move((*after)->id);
  }
  for (auto [name, out] : {std::pair{"workload_id", &f.workload_id},
                           std::pair{"stage_id", &f.stage_id}, std::pair{"app_id", &f.app_id}}) {
    auto id = query_id(req, name);
    if (!id)
      return id.error();
    *out = std::move(*id);
  }
  auto kind = query_choice(req, "kind", store::is_workload_kind, "project, stack, site");
  if (!kind)
    return kind.error();
  f.kind = std::move(*kind);
  auto state = query_choice(req, "state", store::is_container_state,
                            "created, running, stopped, failed, removing, missing, "
                            "restarting, paused");
  if (!state)
    return state.error();
  f.state = std::move(*state);
  return f;
}

/// The bodies of the containers index last answered, by query, each with the tag of the
/// index version it was read at. While the store's published version (store/
/// index_version.hpp) is still that one, the same query is answered with the same bytes and
/// no read: a UI polling the index costs what serving a file does. Any commit to the index
/// (a deploy, a reconcile tick's sweep recording the host's listing) retires every entry at once.
/// Bounded in entries and bytes; a request with `Cache-Control: no-cache` reads through.
class index_bodies {
public:
  struct hit {
    std::string etag;
    std::shared_ptr<const std::string> body;
  };

  std::optional<hit> find(const store::change_versions* from, const std::string& query,
                          const std::string& etag) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = entries_.find(query);
    if (it == entries_.end() || it->second.from != from || it->second.etag != etag)
      return std::nullopt;
    return hit{it->second.etag, it->second.body};
  }

  void keep(const store::change_versions* from, const std::string& query, std::string etag,
            std::shared_ptr<const std::string> body) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (body->size() > max_bytes / 4)
      return;
    // Entries of an older version are worth nothing now.
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.etag != etag || it->second.from != from) {
        bytes_ -= it->second.body->size();
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (entries_.size() >= max_entries || bytes_ + body->size() > max_bytes) {
      entries_.clear();
      bytes_ = 0;
    }
    bytes_ += body->size();
    auto& e = entries_[query];
    if (e.body)
      bytes_ -= e.body->size();
    e = entry{from, std::move(etag), std::move(body)};
  }

private:
  static constexpr size_t max_entries = 64;
  static constexpr size_t max_bytes = 8u << 20; // the whole index of 10,000 rows is ~3 MB
  struct entry {
    const store::change_versions* from = nullptr;
    std::string etag;
    std::shared_ptr<const std::string> body;
  };
  std::mutex mutex_;
  std::map<std::string, entry> entries_;
  size_t bytes_ = 0;
};

index_bodies& recent_bodies() {
  static index_bodies bodies;
  return bodies;
}

/// A filter as a cache key (every field, validated already).
std::string query_key(const container_filter& f) {
  std::string k;
  for (const auto* v : {&f.workload_id, &f.stage_id, &f.kind, &f.state, &f.app_id,
                        &f.after_created_at, &f.after_id})
    k.append(*v).append(1, '\n');
  return k + std::to_string(f.limit) + "/" + std::to_string(f.offset);
}

/// 200 with the body, tagged. The body is written from the shared bytes themselves: the
/// whole index is ~450 KB at 1,000 rows, and a copy per answer (a fresh mapping above
/// glibc's mmap threshold, faulted in page by page) cost more than sending it.
void answer_list(res_t res, const std::string& etag, std::shared_ptr<const std::string> body) {
  res.set_header("ETag", etag);
  // Cached by the client, but asked again every time (If-None-Match): the index is live.
  res.set_header("Cache-Control", "private, no-cache");
  res.status = 200;
  auto size = body->size();
  res.set_content_provider(
    size, "application/json",
    [body = std::move(body)](size_t offset, size_t length, httplib::DataSink& sink) {
      return sink.write(body->data() + offset, length);
    });
}

/// 304: the client's copy is current.
void answer_unchanged(res_t res, const std::string& etag) {
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", "private, no-cache");
  reply_empty(res, 304);
}

/// The reader answers the body itself, written from its statements, tagged with the index
/// version: a poller that sends the tag back gets 304 and no body while nothing in the
/// index changed, and the same query again gets the same bytes without a read.
/// `workload_id`: the workload of the URL (/api/workloads/{id}/containers), which takes the
/// place of the query's filter; empty for /api/containers.
void answer_index(const server_context& ctx, req_t req, res_t res,
                  const std::string& workload_id) {
  auto f = container_filter_of(req);
  if (!f)
    return render_error(res, f.error());
  if (!workload_id.empty())
    f->workload_id = workload_id;
  auto if_none_match = req.get_header_value("If-None-Match");
  if (if_none_match.size() > 1024) // no tag of ours is that long: compare nothing
    if_none_match.clear();
  const auto* versions = ctx.store.versions;
  auto key = query_key(*f);
  auto bypass = req.get_header_value("Cache-Control") == "no-cache";
  if (versions) {
    // The published version, read before anything: nothing older is answered under it.
    auto etag = store::etag_of(versions->containers());
    if (!if_none_match.empty() && store::if_none_match_hits(if_none_match, etag))
      return answer_unchanged(res, etag);
    if (!bypass)
      if (auto hit = recent_bodies().find(versions, key, etag))
        return answer_list(res, hit->etag, std::move(hit->body));
  }
  auto p = ask<list_body>(*ctx.sys, read_through<container_index_reader_actor>(ctx),
                          ctx.request_timeout, atom::list_v, atom::container_v, std::move(*f),
                          std::move(if_none_match));
  if (!p)
    return render_error(res, p.error());
  if (p->not_modified)
    return answer_unchanged(res, p->etag);
  // Its buffer goes back to the pool when the cache and the last answer let go of it.
  auto body = body_pool::share(std::move(p->body));
  if (versions)
    recent_bodies().keep(versions, key, p->etag, body);
  answer_list(res, p->etag, std::move(body));
}

void list_containers(const server_context& ctx, req_t req, res_t res) {
  answer_index(ctx, req, res, {});
}

/// One workload's rows of the index, with everything the index offers (keyset pages,
/// limit up to 5000, ETag); a workload that does not exist is a 404, not an empty page.
void list_workload_containers(const server_context& ctx, req_t req, res_t res) {
  std::string id = req.matches[1];
  auto w = ask<workload>(*ctx.sys, read_through<catalog_reader_actor>(ctx), ctx.request_timeout,
                         atom::get_v, atom::workload_v, id);
  if (!w)
    return render_error(res, w.error());
  answer_index(ctx, req, res, id);
}

void get_container(const server_context& ctx, req_t req, res_t res) {
  reply_row<container_row>(ctx, req, res, atom::container_v, write_container);
}

/// `?tail=N` (1 to 10000, default 200) last lines of stdout and stderr, as text/plain. The
/// row must name a Docker container (409 otherwise); one Docker no longer has is a 404. The
/// call goes through the host's docker worker, never from this thread.
void container_logs(const server_context& ctx, req_t req, res_t res) {
  auto tail = query_count(req, "tail", default_log_tail);
  if (!tail)
    return render_error(res, tail.error());
  if (*tail < 1 || *tail > max_log_tail)
    return render_error(res, make_error(ec::invalid_argument,
                                        "tail: must be from 1 to " + std::to_string(max_log_tail)
                                          + ", got " + std::to_string(*tail)));
  auto row = ask<container_row>(*ctx.sys, read_through<container_index_reader_actor>(ctx), ctx.request_timeout,
                                atom::get_v, atom::container_v, std::string{req.matches[1]});
  if (!row)
    return render_error(res, row.error());
  if (row->container_id.empty())
    return render_error(res, make_error(ec::conflict,
                                        "container \"" + row->id + "\" has no Docker container ("
                                          + (row->state.empty() ? "not started" : row->state)
                                          + "): there are no logs to read"));
  auto text = ask<std::string>(*ctx.sys, ctx.docker, ctx.request_timeout, atom::logs_v,
                               row->container_id, *tail);
  if (!text) {
    if (error_code(text.error()) == ec::not_found)
      return render_error(res, make_error(ec::not_found,
                                          "container \"" + row->id + "\": Docker has no container "
                                            + row->container_id.substr(0, 12)
                                            + " any more (state " + row->state + ")"));
    return render_error(res, text.error());
  }
  res.status = 200;
  res.set_content(std::move(*text), "text/plain; charset=utf-8");
}

/// The deployer checks that the row's (workload, role) is the URL's (project, stage) and
/// answers not_found otherwise, so one project's URL never acts on another's container.
void instance_action_route(const server_context& ctx, req_t req, res_t res) {
  instance_action a;
  a.project_id = req.matches[1];
  a.stage = req.matches[2];
  a.container_row_id = req.matches[3];
  a.action = req.matches[4];
  auto row = ask<container_row>(*ctx.sys, ctx.deployer, ctx.request_timeout, atom::instance_v,
                                std::move(a));
  if (row)
    audit(ctx, req, "instance." + std::string{req.matches[4]}, "container", row->id);
  reply(res, row, 200, write_container);
}

/// How long a stopped container has before SIGKILL, for stack and site containers (a
/// project's go through its deployer with the configured grace).
constexpr int64_t workload_stop_grace_s = 10;

/// stop | start | restart of one container of a stack or site. The row must belong to the
/// URL's workload, or the answer is the unknown row's 404: one workload's URL never acts on
/// another's container (the seed's cross-project hijack). A project's rows go through
/// /api/instances, whose deployer serializes them with its deploys.
void workload_container_action(const server_context& ctx, req_t req, res_t res) {
  std::string workload_id = req.matches[1];
  std::string row_id = req.matches[2];
  std::string action = req.matches[3];
  auto row = ask<container_row>(*ctx.sys, read_through<container_index_reader_actor>(ctx),
                                ctx.request_timeout, atom::get_v, atom::container_v, row_id);
  if (!row && error_code(row.error()) != ec::not_found)
    return render_error(res, row.error());
  if (!row || row->workload_id != workload_id)
    return render_error(res, make_error(ec::not_found, "workload \"" + workload_id.substr(0, 64)
                                                         + "\" has no container \""
                                                         + row_id.substr(0, 64) + "\""));
  if (row->workload_kind == "project")
    return render_error(res, make_error(ec::conflict,
                                        "a project's container is stopped, started or restarted "
                                        "through /api/instances/{project}/{stage}/{row}"));
  if (row->container_id.empty())
    return render_error(res, make_error(ec::conflict, "container \"" + row->id
                                                        + "\" has no Docker container yet"));
  auto timeout = ctx.request_timeout + std::chrono::seconds{2 * workload_stop_grace_s};
  caf::expected<atom::ok> done{atom::ok_v};
  if (action == "stop")
    done = ask<atom::ok>(*ctx.sys, ctx.docker, timeout, atom::stop_v, row->container_id,
                         workload_stop_grace_s);
  else if (action == "start")
    done = ask<atom::ok>(*ctx.sys, ctx.docker, timeout, atom::start_v, row->container_id);
  else
    done = ask<atom::ok>(*ctx.sys, ctx.docker, timeout, atom::restart_v, row->container_id,
                         workload_stop_grace_s);
  if (!done)
    return render_error(res, done.error());
  audit(ctx, req, row->workload_kind + "." + action, "container", row->id);
  reply(res, row, 200, write_container);
}

} // namespace

void install_container_routes(route_table& http, const server_context& ctx) {
  http.Get("/api/containers", bind_context(ctx, list_containers));
  http.Get(R"(/api/containers/([^/]+))", bind_context(ctx, get_container));
  http.Get(R"(/api/workloads/([^/]+)/containers)", bind_context(ctx, list_workload_containers));
  http.Get(R"(/api/containers/([^/]+)/logs)", bind_context(ctx, container_logs));
  http.Post(R"(/api/instances/([^/]+)/([^/]+)/([^/]+)/(stop|start|restart))",
            bind_context(ctx, instance_action_route));
  http.Post(R"(/api/workloads/([^/]+)/containers/([^/]+)/(stop|start|restart))",
            bind_context(ctx, workload_container_action));
}

} // namespace tf::http
