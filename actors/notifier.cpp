#include "actors/notifier.hpp"

#include "core/errors.hpp"
#include "actors/webhook_signatures.hpp"
#include "net/json.hpp"
#include "net/http_call.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "store/workloads.hpp"
#include "store/notifications.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

namespace tf {

namespace {

using self_ptr = notifier_actor::stateful_pointer<notifier_state>;

/// How long the notifier waits for the store's answers.
constexpr auto store_timeout = std::chrono::seconds{10};
/// A receiver's answer is read up to this size (the body is not kept, only the status).
constexpr size_t max_answer_bytes = 64 * 1024;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// One-way to the writer: the attempt goes into the log, nobody waits for it.
void record(self_ptr self, const notifier_state::delivery& d, int64_t status,
            std::string error, const char* outcome) {
  notification_attempt a;
  a.workload_id = d.workload_id;
  a.delivery_id = d.id;
  a.event = d.event;
  a.url = d.url; // the store keeps it without credentials or query string
  a.attempt = d.attempts;
  a.status = status;
  a.error = std::move(error);
  a.outcome = outcome;
  a.at = tf::now_utc();
  self->send(self->state.writer, atom::append_v, std::move(a));
}

/// Counts a drop from a full queue. Only the first of a burst is logged here: a burst of
/// thousands (a mass event) would otherwise log thousands of lines; end_drop_burst() logs
/// how many followed it.
void note_drop(self_ptr self, const std::string& workload_id, const std::string& event,
               const std::string& delivery_id) {
  auto& st = self->state;
  ++st.stats.dropped;
  if (st.drops_in_burst++ > 0)
    return;
  spdlog::warn("event=notification-dropped workload={} notification={} delivery={} "
               "reason=queue-full queue_max={} (further drops are counted until the queue has "
               "room)",
               workload_id, event, delivery_id, st.settings.queue_max);
}

/// The queues have room again: one line for the drops of the burst after its first.
void end_drop_burst(self_ptr self) {
  auto& st = self->state;
  if (st.drops_in_burst == 0 || st.held.size() >= st.settings.queue_max
      || st.unconfirmed.size() >= st.settings.queue_max)
    return;
  if (st.drops_in_burst > 1)
    spdlog::warn("event=notifications-dropped count={} reason=queue-full queue_max={}",
                 st.drops_in_burst, st.settings.queue_max);
  st.drops_in_burst = 0;
}

/// Drops the oldest held deliveries while there are more than the queue may hold.
void enforce_bound(self_ptr self) {
  auto& st = self->state;
  while (st.held.size() > st.settings.queue_max) {
    auto oldest = st.held.begin();
    auto seq = oldest->first;
    auto d = std::move(oldest->second);
    st.held.erase(oldest);
    st.ready.erase(seq);
    note_drop(self, d.workload_id, d.event, d.id);
    record(self, d, 0, "dropped: the notification queue was full", "dropped");
  }
}

void on_result(self_ptr self, uint64_t seq, const notification_post_result& r);

/// Posts the oldest ready delivery when nothing is in flight.
void pump(self_ptr self) {
  auto& st = self->state;
  if (st.in_flight || st.ready.empty())
    return;
  auto seq = *st.ready.begin();
  st.ready.erase(st.ready.begin());
  auto it = st.held.find(seq);
  if (it == st.held.end())
    return pump(self);
  st.in_flight.emplace(seq, std::move(it->second));
  st.held.erase(it);
  end_drop_burst(self);
  auto& d = st.in_flight->second;
  ++d.attempts;
  notification_post p;
  p.url = d.url;
  p.body = d.body;
  // Signed at each attempt: a retry carries a fresh timestamp the receiver's window accepts.
  p.headers = notification_headers(d.event, d.id, d.secret, d.body, unix_now());
  p.connect_timeout_ms = st.settings.connect_timeout.count();
  p.timeout_ms = st.settings.timeout.count();
  self->request(st.sender, st.settings.timeout + std::chrono::seconds{10}, atom::post_v,
                std::move(p))
    .then([self, seq](const notification_post_result& r) { on_result(self, seq, r); },
          [self, seq](const caf::error& err) {
            on_result(self, seq, notification_post_result{0, error_message(err), false});
          });
}

void on_result(self_ptr self, uint64_t seq, const notification_post_result& r) {
  auto& st = self->state;
  if (!st.in_flight || st.in_flight->first != seq)
    return;
  auto d = std::move(st.in_flight->second);
  st.in_flight.reset();
  if (r.status >= 200 && r.status < 300) {
    ++st.stats.delivered;
    spdlog::debug("event=notification-delivered workload={} notification={} delivery={} "
                  "attempt={} status={}",
                  d.workload_id, d.event, d.id, d.attempts, r.status);
    record(self, d, r.status, "", "delivered");
  } else {
    auto why = r.error.empty() ? "the receiver answered " + std::to_string(r.status) : r.error;
    if (d.attempts < st.settings.max_attempts && !r.refused) {
      auto wait = notification_backoff(st.settings, d.attempts);
      spdlog::debug("event=notification-retry workload={} notification={} delivery={} "
                    "attempt={} wait_ms={} error={}",
                    d.workload_id, d.event, d.id, d.attempts, wait.count(), why);
      record(self, d, r.status, why, "retrying");
      d.waiting = true;
      st.held.emplace(seq, std::move(d));
      enforce_bound(self);
      self->delayed_send(self, wait, atom::retry_v, seq);
    } else {
      ++st.stats.failed;
      spdlog::warn("event=notification-failed workload={} notification={} delivery={} "
                   "attempts={} error={}",
                   d.workload_id, d.event, d.id, d.attempts, why);
      record(self, d, r.status, why, "failed");
    }
  }
  pump(self);
}

/// The workload is known: queue the event for its URL (or record why it cannot be sent).
void enqueue(self_ptr self, uint64_t seq, const notification_event& ev, const workload& w,
             const std::string& stage_name) {
  auto& st = self->state;
  notifier_state::delivery d;
  d.id = tf::new_id();
  d.event = ev.event;
  d.workload_id = w.id;
  d.url = w.notification_url;
  d.secret = w.notification_secret;
  // The writer validates URLs before storing them; checked again because a bad one here
  // would go to the HTTP client.
  if (auto err = store::validate_workload(w)) {
    spdlog::warn("event=notification-failed workload={} notification={} error={}", w.id,
                 ev.event, error_message(err));
    ++st.stats.failed;
    record(self, d, 0, error_message(err), "failed");
    return;
  }
  d.body = notification_body(ev, w, stage_name);
  st.held.emplace(seq, std::move(d));
  st.ready.insert(seq);
  enforce_bound(self);
  pump(self);
}

/// Looks the workload up (and a project's stage name), then queues the event under `seq`,
/// its place in the order events arrived in.
void resolve(self_ptr self, uint64_t seq, notification_event ev) {
  auto reader = self->state.readers->next();
  self->request(reader, store_timeout, atom::get_v, atom::workload_v, ev.workload_id)
    .then(
      [self, seq, ev, reader](workload& w) {
        if (w.notification_url.empty())
          return; // the workload wants no notifications
        if (ev.stage_id.empty() || w.kind != "project") {
          enqueue(self, seq, ev, w, "");
          return;
        }
        self->request(reader, store_timeout, atom::get_v, atom::project_v, w.ref_id)
          .then(
            [self, seq, ev, w](const project& p) {
              std::string stage_name = ev.stage_id;
              for (const auto& s : p.stages)
                if (s.id == ev.stage_id)
                  stage_name = s.name;
              enqueue(self, seq, ev, w, stage_name);
            },
            [self, seq, ev, w](const caf::error&) { enqueue(self, seq, ev, w, ev.stage_id); });
      },
      [ev](const caf::error& err) {
        // A workload deleted meanwhile has nobody to notify.
        spdlog::debug("event=notification-skipped workload={} notification={} error={}",
                      ev.workload_id, ev.event, error_message(err));
      });
}

/// A container event covers `rows`; with exactly one, the single-container fields name it
/// too (what a receiver of one container's event reads).
void cover(notification_event& ev, std::vector<container_change> rows) {
  ev.containers = std::move(rows);
  if (ev.containers.size() == 1) {
    ev.container_row_id = ev.containers.front().row_id;
    ev.container_id = ev.containers.front().container_id;
    ev.role = ev.containers.front().role;
  } else {
    ev.container_row_id.clear();
    ev.container_id.clear();
    ev.role.clear();
  }
}

/// Reads `rows` back (all at once) and hands `done` those still missing with the same
/// container, in their order: a deploy removes a container a moment before it deletes the
/// row, and a row whose container came back meanwhile is no news.
void still_missing(self_ptr self, std::vector<container_change> rows,
                   std::function<void(std::vector<container_change>)> done) {
  struct pending {
    std::vector<container_change> rows;
    std::vector<bool> kept;
    size_t left = 0;
    std::function<void(std::vector<container_change>)> done;
    void answered() {
      if (--left > 0)
        return;
      std::vector<container_change> out;
      for (size_t i = 0; i < rows.size(); ++i)
        if (kept[i])
          out.push_back(std::move(rows[i]));
      done(std::move(out));
    }
  };
  if (rows.empty())
    return done({});
  auto p = std::make_shared<pending>();
  p->left = rows.size();
  p->kept.assign(rows.size(), false);
  p->rows = std::move(rows);
  p->done = std::move(done);
  auto reader = self->state.readers->next();
  for (size_t i = 0; i < p->rows.size(); ++i)
    self->request(reader, store_timeout, atom::get_v, atom::container_v, p->rows[i].row_id)
      .then(
        [p, i](const container_row& row) {
          p->kept[i] = row.state == "missing" && row.container_id == p->rows[i].container_id;
          p->answered();
        },
        [p](const caf::error&) { p->answered(); }); // gone: the deployer removed it on purpose
}

/// A held-back container.missing is due: if its workload wants notifications (one lookup,
/// before any row is read), the rows still missing become one event.
void confirm_missing(self_ptr self, uint64_t seq, notification_event ev) {
  self->request(self->state.readers->next(), store_timeout, atom::get_v, atom::workload_v,
                ev.workload_id)
    .then(
      [self, seq, ev](workload& w) mutable {
        if (w.notification_url.empty())
          return; // nobody listens: the rows are not even read
        auto rows = std::move(ev.containers);
        still_missing(self, std::move(rows),
                      [self, seq, ev, w](std::vector<container_change> kept) mutable {
                        if (kept.empty())
                          return;
                        cover(ev, std::move(kept));
                        enqueue(self, seq, ev, w, "");
                      });
      },
      [ev](const caf::error& err) {
        spdlog::debug("event=notification-skipped workload={} notification={} error={}",
                      ev.workload_id, ev.event, error_message(err));
      });
}

} // namespace

bool is_notification_event(const std::string& event) {
  return event == "deploy.started" || event == "deploy.succeeded" || event == "deploy.failed"
         || event == "container.missing" || event == "container.failed";
}

std::string notification_body(const notification_event& ev, const workload& w,
                              const std::string& stage_name) {
  return net::make_json([&](net::json_writer& jw) {
    auto optional = [&](const char* key, const std::string& value) {
      if (!value.empty())
        net::field(jw, key, value);
    };
    jw.StartObject();
    net::field(jw, "event", ev.event);
    net::field(jw, "workload_id", w.id);
    net::field(jw, "workload_name", w.name);
    net::field(jw, "kind", w.kind);
    optional("deployment_id", ev.deployment_id);
    optional("stage", stage_name);
    optional("tag", ev.tag);
    optional("error", ev.error);
    optional("container_id", ev.container_id);
    optional("role", ev.role);
    if (!ev.containers.empty()) {
      net::field(jw, "count", static_cast<int64_t>(ev.containers.size()));
      jw.Key("containers");
      jw.StartArray();
      auto listed = std::min(ev.containers.size(), max_listed_containers);
      for (size_t i = 0; i < listed; ++i) {
        jw.StartObject();
        net::field(jw, "container_id", ev.containers[i].container_id);
        net::field(jw, "role", ev.containers[i].role);
        jw.EndObject();
      }
      jw.EndArray();
    }
    net::field(jw, "at", ev.at.empty() ? tf::now_utc() : ev.at);
    jw.EndObject();
  });
}

std::map<std::string, std::string> notification_headers(const std::string& event,
                                                         const std::string& delivery_id,
                                                         const std::string& secret,
                                                         const std::string& body,
                                                         int64_t unix_seconds) {
  auto ts = std::to_string(unix_seconds);
  std::map<std::string, std::string> h{{"Content-Type", "application/json"},
                                       {"User-Agent", "Tinyforge-Notifier"},
                                       {"X-Tinyforge-Event", event},
                                       {"X-Tinyforge-Delivery", delivery_id},
                                       {"X-Tinyforge-Timestamp", ts}};
  if (!secret.empty())
    h["X-Tinyforge-Signature"] = "sha256=" + hmac_sha256_hex(secret, ts + "." + body);
  return h;
}

std::chrono::milliseconds notification_backoff(const notifier_settings& s, int64_t attempts) {
  auto wait = s.backoff;
  for (int64_t i = 1; i < attempts && wait < s.max_backoff; ++i)
    wait *= 2;
  return std::min(wait, s.max_backoff);
}

notify_sender_actor::behavior_type notify_sender(notify_sender_actor::pointer,
                                                 size_t answer_limit, net::target_policy targets) {
  return {
    [answer_limit, targets](atom::post, const notification_post& p) {
      net::http_request req;
      req.method = "POST";
      req.url = p.url;
      req.body = p.body;
      req.headers = p.headers;
      req.connect_timeout = std::chrono::milliseconds{p.connect_timeout_ms};
      req.timeout = std::chrono::milliseconds{p.timeout_ms};
      req.max_response_bytes = answer_limit;
      bool refused = false, passed = false;
      req.address_check = [&](const sockaddr* a) {
        auto why = net::forbidden_target(a, targets);
        (why.empty() ? passed : refused) = true;
        return why;
      };
      notification_post_result r;
      auto res = net::http_call(req);
      if (res) {
        r.status = res->status;
        return r;
      }
      // The message names the URL, which may carry credentials or a token: never keep those.
      r.error = error_message(res.error());
      r.refused = refused && !passed;
      auto redacted = store::redact_url(p.url);
      for (auto at = r.error.find(p.url); at != std::string::npos && !p.url.empty();
           at = r.error.find(p.url, at + redacted.size()))
        r.error.replace(at, p.url.size(), redacted);
      return r;
    },
  };
}

notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self, notifier_settings settings,
         notification_log_writer_actor writer, std::shared_ptr<notifier_store_readers> readers) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.settings.queue_max = std::max<size_t>(st.settings.queue_max, 1);
  st.settings.max_attempts = std::max<int64_t>(st.settings.max_attempts, 1);
  st.writer = std::move(writer);
  st.readers = std::move(readers);
  // Linked: it goes when the notifier goes (after the POST it may be blocked in).
  // The argument also keeps CAF 0.17 from binding its empty argument tuple through a null
  // pointer, which UBSan reports for an actor function spawned with no arguments.
  st.sender = self->spawn<caf::detached + caf::linked>(notify_sender, max_answer_bytes,
                                                             st.settings.targets);
  return {
    [self](atom::notify, notification_event& ev) {
      auto& st = self->state;
      if (!is_notification_event(ev.event) || ev.workload_id.empty()) {
        spdlog::warn("event=notification-ignored notification={} workload={}",
                     ev.event.substr(0, 64), ev.workload_id.substr(0, 64));
        return;
      }
      if (ev.at.empty())
        ev.at = tf::now_utc();
      if (ev.containers.empty() && !ev.container_row_id.empty())
        ev.containers.push_back(
          container_change{ev.container_row_id, ev.workload_id, ev.role, ev.container_id, ""});
      if (ev.event == "container.missing" && st.settings.missing_confirm.count() > 0
          && !ev.containers.empty()) {
        if (st.unconfirmed.size() >= st.settings.queue_max) {
          note_drop(self, ev.workload_id, ev.event, "-");
          return;
        }
        auto seq = ++st.next_seq;
        st.unconfirmed.emplace(seq, std::move(ev));
        self->delayed_send(self, st.settings.missing_confirm, atom::confirm_v, seq);
        return;
      }
      resolve(self, ++st.next_seq, std::move(ev));
    },
    [self](atom::retry, uint64_t seq) {
      auto& st = self->state;
      auto it = st.held.find(seq);
      if (it == st.held.end() || !it->second.waiting)
        return; // dropped from a full queue meanwhile
      it->second.waiting = false;
      st.ready.insert(seq);
      pump(self);
    },
    [self](atom::confirm, uint64_t seq) {
      auto& st = self->state;
      auto it = st.unconfirmed.find(seq);
      if (it == st.unconfirmed.end())
        return;
      auto ev = std::move(it->second);
      st.unconfirmed.erase(it);
      end_drop_burst(self);
      confirm_missing(self, seq, std::move(ev));
    },
    [self](atom::status) {
      auto s = self->state.stats;
      s.held = static_cast<int64_t>(self->state.held.size() + self->state.unconfirmed.size());
      s.in_flight = self->state.in_flight ? 1 : 0;
      return s;
    },
  };
}

} // namespace tf
