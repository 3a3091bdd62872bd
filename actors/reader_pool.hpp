// The store readers, used in turn. A client holds the pool through the narrow reader
// interface it needs (actors/actors.hpp): narrowed() gives the same readers, in the same turn.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace tf {

template <class Handle>
class reader_pool {
public:
  reader_pool() = default;
  explicit reader_pool(std::vector<Handle> actors) : actors_{std::move(actors)} {}

  /// The next reader in turn (the turn is shared with every narrowed copy of this pool).
  const Handle& next() const {
    return actors_[turn_->fetch_add(1, std::memory_order_relaxed) % actors_.size()];
  }
  const std::vector<Handle>& all() const { return actors_; }

  /// The same readers through the narrower interface `Narrow` (a typed handle converts to
  /// any interface it contains; anything else does not compile).
  template <class Narrow>
  std::shared_ptr<reader_pool<Narrow>> narrowed() const {
    auto pool = std::make_shared<reader_pool<Narrow>>(
      std::vector<Narrow>(actors_.begin(), actors_.end()));
    pool->turn_ = turn_;
    return pool;
  }

private:
  template <class>
  friend class reader_pool;

  std::vector<Handle> actors_;
  std::shared_ptr<std::atomic<size_t>> turn_ = std::make_shared<std::atomic<size_t>>(0);
};

/// A pool's readers through `Narrow`; null for a null pool.
template <class Narrow, class Handle>
std::shared_ptr<reader_pool<Narrow>> narrowed(const std::shared_ptr<reader_pool<Handle>>& pool) {
  return pool ? pool->template narrowed<Narrow>() : nullptr;
}

} // namespace tf
