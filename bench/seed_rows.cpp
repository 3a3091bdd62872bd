// Fills a data directory with N container rows spread over W projects (one stage each), as a
// daemon started on it with `--data_dir <dir>` then finds them: the benches and the load test
// measure list reads, start-up and memory over an index of a given size without creating one
// Docker container. The rows name containers Docker does not have, so the daemon's first
// reconcile sweeps them to `missing`; their number is what matters here. The writing is
// tests/seed_rows.hpp's, which the load test calls in-process.
// Usage: seed_rows <data_dir> <rows> [workloads]   (default 1 workload; the dir may be new)
#include "../tests/seed_rows.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: seed_rows <data_dir> <rows> [workloads]\n");
    return 2;
  }
  std::string dir = argv[1];
  long rows = std::atol(argv[2]);
  long workloads = argc > 3 ? std::atol(argv[3]) : 1;
  if (rows < 0 || workloads < 1) {
    std::fprintf(stderr, "seed_rows: rows >= 0 and workloads >= 1\n");
    return 2;
  }
  auto seeded = tf::test::seed_rows(dir, rows, workloads);
  if (!seeded) {
    std::fprintf(stderr, "seed_rows: %s\n", tf::error_message(seeded.error()).c_str());
    return 1;
  }
  std::printf("%ld rows over %ld projects in %s\n", seeded->rows, workloads, dir.c_str());
  return 0;
}
