// What the UI watches change, as it happens. The store writer publishes each change once it
// is committed (a container row, a deploy's status, phase or log line); GET /api/events
// streams them to browsers (http/event_streams.hpp). The feed keeps the newest events in a
// ring of fixed size, so a client that reconnects gets what it missed, and one that missed
// more than the ring holds (or connected to an earlier run of the daemon) is told to read
// everything again. Publishing never waits on a reader: it copies one event into the ring
// under a short lock and wakes the streams' thread through an eventfd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace tf {

struct live_event {
  uint64_t seq = 0;  // 1, 2, ... in this run of the daemon
  std::string type;  // container, containers, deployment, deployment-log
  std::string data;  // one JSON object, no raw newline
};

class live_feed {
public:
  /// Events larger than this are not kept (their publishers cut what they send below it).
  static constexpr size_t max_event_bytes = 8192;

  explicit live_feed(size_t capacity = 1024);
  ~live_feed();
  live_feed(const live_feed&) = delete;
  live_feed& operator=(const live_feed&) = delete;

  /// Appends an event (the oldest falls out of a full ring) and wakes the readers.
  void publish(std::string type, std::string data);

  /// Random per feed: an event id from another run of the daemon names no event here.
  uint64_t epoch() const { return epoch_; }

  /// The newest event's sequence number (0 before the first).
  uint64_t last_seq() const;

  /// Appends to `out` the events after `after`, at most `max`; false when events after
  /// `after` have already left the ring (the reader missed some).
  bool read_after(uint64_t after, size_t max, std::vector<live_event>& out) const;

  /// Readable after a publish; a reader clears it with clear_wake() before it reads.
  int wake_fd() const { return wake_fd_; }
  void clear_wake() const;

private:
  const uint64_t epoch_;
  const int wake_fd_;
  mutable std::mutex mu_;
  std::vector<live_event> ring_; // event seq s sits at (s - 1) % capacity
  uint64_t last_ = 0;
};

} // namespace tf
