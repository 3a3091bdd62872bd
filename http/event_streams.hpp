// GET /api/events: server-sent events from the live feed (core/live_feed.hpp). A worker runs
// the request's checks (credentials, Host) like any other and then hands the connection
// over here; one thread serves every stream with non-blocking writes. Each client has a
// buffer of its own, capped: a browser that reads too slowly is disconnected (its
// EventSource comes back with Last-Event-ID and is sent what it missed), never waited for,
// so a slow reader costs the daemon at most its buffer.
#pragma once

#include "core/live_feed.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace tf::http {

struct stream_limits {
  size_t max_clients = 64;
  /// Bytes queued for one client beyond which it is disconnected.
  size_t max_buffer_bytes = 256 * 1024;
  /// A comment line after this long without an event: proxies keep the stream open, and a
  /// client that went away is noticed.
  std::chrono::milliseconds heartbeat{15000};
};

/// The id of the event `seq` of `feed`'s run: "<epoch in hex>-<seq>".
std::string event_id(uint64_t epoch, uint64_t seq);

class event_streams {
public:
  event_streams(std::shared_ptr<const live_feed> feed, stream_limits limits = {});
  ~event_streams();
  event_streams(const event_streams&) = delete;
  event_streams& operator=(const event_streams&) = delete;

  /// Holds a place for one more stream; false when max_clients are open (answer 503).
  bool reserve();
  /// Gives back a place reserve() held, when the request ends without a stream.
  void release();

  /// Takes over a connection whose request passed its checks (its place reserved): writes
  /// the answer's head, then the events after `last_event_id` (or, when those are gone or
  /// the id is not of this run, a `resync` event), then each new event as it comes.
  void adopt(int fd, std::string last_event_id);

  /// Streams open now (reserved places included).
  size_t open_streams() const;

  /// Closes every stream and ends the thread; adopt() then closes what it is given.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tf::http
