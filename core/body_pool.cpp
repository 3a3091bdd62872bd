#include "core/body_pool.hpp"

#include <mutex>
#include <vector>

namespace tf::body_pool {

namespace {

// Below glibc's mmap threshold (cli/heap.cpp: 128 KiB) a buffer comes from an arena and
// is cheap to make again; above 2 MiB a kept buffer would cost the RSS budget more than the
// faults it saves. Two buffers: one being written while the other is still being sent.
constexpr size_t min_capacity = 128 * 1024;
constexpr size_t max_capacity = 2 * 1024 * 1024;
constexpr size_t max_kept = 2;

struct pool {
  std::mutex mutex;
  std::vector<std::string> kept;
};

pool& the_pool() {
  static pool p;
  return p;
}

} // namespace

std::string take() {
  auto& p = the_pool();
  std::lock_guard<std::mutex> lock{p.mutex};
  if (p.kept.empty())
    return {};
  auto s = std::move(p.kept.back());
  p.kept.pop_back();
  return s;
}

void give(std::string&& s) {
  if (s.capacity() < min_capacity || s.capacity() > max_capacity)
    return;
  s.clear();
  auto& p = the_pool();
  std::lock_guard<std::mutex> lock{p.mutex};
  if (p.kept.size() < max_kept)
    p.kept.push_back(std::move(s));
}

std::shared_ptr<const std::string> share(std::string&& s) {
  // The deleter gets the pointer as made (not const), so it can hand the buffer back.
  return {new std::string(std::move(s)), [](std::string* owned) {
            give(std::move(*owned));
            delete owned;
          }};
}

} // namespace tf::body_pool
