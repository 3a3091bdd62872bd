// Fills a data directory with N container rows spread over W projects (one stage "prod"
// each), written with the store's own functions, as a daemon started on it with
// `--data_dir <dir>` then finds them: the load test and bench/seed_rows measure an index of
// a given size without creating one Docker container. The rows name containers Docker does
// not have, so the daemon's first reconcile sweeps them to `missing`.
// No doctest in here (bench/seed_rows uses it): a failure comes back as an error value.
#pragma once

#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/model.hpp"
#include "store/containers.hpp"
#include "store/data_dir.hpp"
#include "store/migrations.hpp"
#include "store/projects.hpp"
#include "store/secrets.hpp"
#include "store/settings.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace tf::test {

/// What seed_rows() wrote.
struct seeded_rows {
  std::vector<tf::project> projects;
  long rows = 0;
  /// Each row's (workload id, container id), in the order written.
  std::vector<std::pair<std::string, std::string>> containers;
};

/// Writes `rows` container rows (state running, host "local") over `workloads` new projects
/// into the database of data dir `dir` (made 0700 and migrated when new). The projects are
/// named "seed-<random>-<i>".
inline caf::expected<seeded_rows> seed_rows(const std::string& dir, long rows, long workloads) {
  if (rows < 0 || workloads < 1)
    return make_error(ec::invalid_argument, "rows >= 0 and workloads >= 1");
  std::error_code ec_dir;
  std::filesystem::create_directories(dir, ec_dir);
  if (auto fixed = tf::store::secure_data_dir(dir); !fixed)
    return fixed.error();
  auto db_path = (std::filesystem::path{dir} / "tinyforge.db").string();
  auto db = tf::store::database::open(db_path, tf::store::database::mode::read_write);
  if (!db)
    return db.error();
  if (auto applied = tf::store::migrate(*db); !applied)
    return applied.error();
  if (auto box = tf::store::unlock_secrets(*db, tf::store::key_path_for(db_path)); !box)
    return box.error();
  if (auto id = tf::store::ensure_instance_id(*db); !id)
    return id.error();

  seeded_rows out;
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
      return created.error();
    out.projects.push_back(std::move(*created));
  }
  // One transaction per row: upsert_container opens its own (they do not nest).
  for (long i = 0; i < rows; ++i) {
    const auto& p = out.projects[static_cast<size_t>(i % workloads)];
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
    out.containers.emplace_back(c.workload_id, c.container_id);
    if (auto row = tf::store::upsert_container(*db, std::move(c)); !row)
      return row.error();
    ++out.rows;
  }
  return out;
}

} // namespace tf::test
