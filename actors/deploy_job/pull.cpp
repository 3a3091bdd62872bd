// The pull step: the deploy's image, unless the engine has it already.
#include "actors/deploy_job/run.hpp"

#include "docker/client.hpp"

namespace tf {

namespace {

/// A pull reports progress per layer many times a second; the log keeps this many lines.
constexpr int max_pull_log_lines = 60;

} // namespace

caf::error deploy_run::pull() {
  if (auto err = phase("pull"))
    return err;
  if (docker_.inspect_image(image_ref_)) {
    log("image " + image_ref_ + " is present");
    return {};
  }
  log("pulling " + image_ref_);
  int lines = 0;
  std::string last;
  auto err = docker_.pull_image(proj_.image, spec_.dep.tag, [&](const std::string& status) {
    if (status == last || lines >= max_pull_log_lines)
      return;
    last = status;
    ++lines;
    log("pull: " + status);
  });
  if (err)
    return make_error(error_code(err), "pull " + image_ref_ + ": " + error_message(err));
  return {};
}

} // namespace tf
