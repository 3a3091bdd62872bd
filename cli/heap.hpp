// The daemon's heap policy, set once before any thread starts.
#pragma once

namespace tf {

/// Bounds what glibc's allocator keeps after large answers are freed: measured with
/// bench/memory_load, 10,000 rows and a UI client polling the whole index went from 68.7 to
/// 31.1 MB, and 180 s of mixed load from +42% growth to +0.2%.
void keep_heap_small();

} // namespace tf
