// A STORE READER: answers list and get requests on its own read-only connection. The
// database runs in WAL mode, so reads see the last commit and never queue behind writes.
#pragma once

#include "actors/actors.hpp"
#include "store/database.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <vector>

namespace tf {

struct store_reader_state {
  static inline const char* name = "store-reader";
  store::database db;
};

/// Takes ownership of a read-only connection. Spawn it detached in the daemon.
store_reader_actor::behavior_type
store_reader(store_reader_actor::stateful_pointer<store_reader_state> self, store::database db);

/// Several readers, used in turn by the HTTP threads.
class store_readers {
public:
  store_readers() = default;
  explicit store_readers(std::vector<store_reader_actor> actors) : actors_{std::move(actors)} {}
  const store_reader_actor& next() const {
    return actors_[next_.fetch_add(1, std::memory_order_relaxed) % actors_.size()];
  }
  const std::vector<store_reader_actor>& all() const { return actors_; }

private:
  std::vector<store_reader_actor> actors_;
  mutable std::atomic<size_t> next_{0};
};

} // namespace tf
