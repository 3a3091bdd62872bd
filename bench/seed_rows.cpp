// Fills a data directory with N container rows spread over W projects (one stage each), as a
// daemon started on it with `--data_dir <dir>` then finds them: the benches and the load test
// measure list reads, start-up and memory over an index of a given size without creating one
// Docker container. The rows name containers Docker does not have, so the daemon's first
// reconcile sweeps them to `missing`; their number is what matters here.
// Usage: seed_rows <data_dir> <rows> [workloads]   (default 1 workload; the dir may be new)
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "store/containers.hpp"
#include "store/data_dir.hpp"
#include "store/migrations.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"
#include "store/settings.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

int fail(const char* what, const caf::error& err) {
  std::fprintf(stderr, "seed_rows: %s: %s\n", what, tf::error_message(err).c_str());
  return 1;
}

} // namespace

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
  std::filesystem::create_directories(dir);
  if (auto fixed = tf::store::secure_data_dir(dir); !fixed)
    return fail("data dir", fixed.error());
  auto db_path = (std::filesystem::path{dir} / "tinyforge.db").string();
  auto db = tf::store::database::open(db_path, tf::store::database::mode::read_write);
  if (!db)
    return fail("open", db.error());
  if (auto applied = tf::store::migrate(*db); !applied)
    return fail("migrate", applied.error());
  if (auto box = tf::store::unlock_secrets(*db, tf::store::key_path_for(db_path)); !box)
    return fail("key", box.error());
  if (auto id = tf::store::ensure_instance_id(*db); !id)
    return fail("instance id", id.error());

  std::vector<tf::project> projects;
  auto run = tf::new_id().substr(0, 8);
  for (long w = 0; w < workloads; ++w) {
    tf::project p;
    p.name = "seed-" + run + "-" + std::to_string(w);
    p.image = "tinyforge-test/web";
    tf::stage s;
    s.name = "prod";
    s.subdomain = p.name;
    s.port = 8080;
    p.stages.push_back(s);
    auto created = tf::store::create_project(*db, p);
    if (!created)
      return fail("project", created.error());
    projects.push_back(std::move(*created));
  }
  // One transaction per row: upsert_container opens its own (they do not nest).
  auto written = [&]() -> caf::expected<long> {
    for (long i = 0; i < rows; ++i) {
      const auto& p = projects[static_cast<size_t>(i % workloads)];
      tf::container_row c;
      c.workload_id = p.workload_id;
      c.role = "prod";
      c.stage_id = p.stages.front().id;
      c.subdomain = p.stages.front().subdomain;
      c.image_tag = "v1";
      c.image_ref = "tinyforge-test/web:v1";
      c.container_id = tf::new_id() + tf::new_id();
      c.state = "running";
      c.port = 8080;
      if (auto row = tf::store::upsert_container(*db, std::move(c)); !row)
        return row.error();
    }
    return rows;
  }();
  if (!written)
    return fail("rows", written.error());
  std::printf("%ld rows over %ld projects in %s\n", *written, workloads, dir.c_str());
  return 0;
}
