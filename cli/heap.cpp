#include "cli/heap.hpp"

#include <malloc.h>

namespace tf {

void keep_heap_small() {
  // glibc gives each thread that allocates its own arena (up to 8 per core): the daemon's
  // HTTP workers, CAF workers, store and docker threads each kept the pages of the bodies
  // they once built. Two arenas serve two cores.
  mallopt(M_ARENA_MAX, 2);
  // A block over the mmap threshold is mapped and unmapped on its own, but glibc raises the
  // threshold to the size of each such block freed, up to 32 MiB: after one whole-index
  // answer (2 MB for 5,000 rows), every later one landed in an arena and stayed there.
  // A fixed threshold turns that off; the trim threshold returns a freed heap top at once.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

} // namespace tf
