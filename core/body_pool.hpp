// Buffers for large answer bodies (the containers index: ~450 KB at 1,000 rows), reused.
//
// cli/heap.cpp keeps glibc's mmap threshold fixed so that RSS falls back after a burst: a
// block that large is mapped on its own and unmapped when freed. Each answer then wrote a
// fresh mapping and paid a page fault per 4 KiB, which in this VM was more than half the
// CPU of an uncached whole-index read (520 -> ~1,100 req/s with the pool). A couple of
// buffers handed back are kept, already faulted in, for the next body; bounded in count
// and in each one's capacity, so the pool holds at most a few MB and large bodies (a
// 5,000-row index) still map and unmap as before.
#pragma once

#include <memory>
#include <string>

namespace tf::body_pool {

/// An empty string: with the capacity of a buffer handed back earlier when there is one.
std::string take();

/// Keeps `s`'s buffer for a later take() when the pool has room and it is worth keeping
/// (large enough to have been mapped, small enough to bound the pool); frees it otherwise.
void give(std::string&& s);

/// `s` shared: its buffer goes back to the pool when the last owner lets go.
std::shared_ptr<const std::string> share(std::string&& s);

} // namespace tf::body_pool
