// What the tests on the real Docker engine share. Isolation: every container and network a
// test makes carries tinyforge.test=true and this process's tinyforge.test.run=<random>, has a
// name no other test (in this run or another) uses, and is removed by a guard when the test
// ends, pass or fail. Cleaning up never fails a test: what goes wrong is reported on stderr.
#pragma once

#include "core/errors.hpp"
#include "docker/client.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace tf::test {

/// The engine the tests drive.
inline constexpr const char* engine_host = "unix:///var/run/docker.sock";

// -- per-run identity ---------------------------------------------------------------------------

/// A random id for this process: the tinyforge.test.run label and the stem of every name.
inline const std::string& run_id() {
  static const std::string id = [] {
    std::random_device rd;
    std::mt19937_64 gen{(static_cast<uint64_t>(rd()) << 32) ^ rd()
                        ^ static_cast<uint64_t>(::getpid())};
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 12; ++i)
      s += hex[gen() % 16];
    return s;
  }();
  return id;
}

/// "<prefix>-<run id>-<what>-<n>": a name no other test (in this run or another) uses; a valid
/// DNS label while `prefix` and `what` are short ones.
inline std::string unique_name(const std::string& prefix, const std::string& what) {
  static std::atomic<int> counter{0};
  return prefix + "-" + run_id() + "-" + what + "-" + std::to_string(++counter);
}

/// The label filter of this run's objects: "tinyforge.test.run=<run id>".
inline std::string run_label() {
  return "tinyforge.test.run=" + run_id();
}

/// `labels` plus the test labels: tinyforge.test=true and tinyforge.test.run=<run id>.
inline docker::label_map test_labels(docker::label_map labels = {}) {
  labels["tinyforge.test"] = "true";
  labels["tinyforge.test.run"] = run_id();
  return labels;
}

// -- errors -------------------------------------------------------------------------------------

/// An error as "<code>: <message>" ("no error" for none).
inline std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  return std::string{tf::to_string(tf::error_code(err))} + ": " + tf::error_message(err);
}

template <class T>
std::string describe(const caf::expected<T>& x) {
  return x ? std::string{"a value"} : describe(x.error());
}

// -- guards: what a test creates goes away even when it fails -----------------------------------

/// Reports a failed clean-up step on stderr; not_found (already gone) is fine.
inline void warn_cleanup(const std::string& what, const caf::error& err) {
  if (err && tf::error_code(err) != tf::ec::not_found)
    std::fprintf(stderr, "test cleanup: %s: %s\n", what.c_str(), describe(err).c_str());
}

/// Runs `remove` for every reference (id or name) it was given, in that order, when the test
/// ends. The base of the guards.
class engine_guard {
public:
  /// Removes the object `ref` from the engine at `ep`, reporting what goes wrong.
  using remover = void (*)(const docker::endpoint& ep, const std::string& ref);

  explicit engine_guard(remover remove, std::vector<std::string> refs = {})
    : remove_{remove}, refs_{std::move(refs)} {}
  engine_guard(const engine_guard&) = delete;
  engine_guard& operator=(const engine_guard&) = delete;
  ~engine_guard() {
    if (refs_.empty())
      return;
    auto ep = docker::endpoint::parse(engine_host);
    if (!ep)
      return;
    for (const auto& ref : refs_)
      remove_(*ep, ref);
  }

  void add(const std::string& ref) { refs_.push_back(ref); }

private:
  remover remove_;
  std::vector<std::string> refs_;
};

/// Force-removes a container with its anonymous volumes.
inline void remove_container_now(const docker::endpoint& ep, const std::string& ref) {
  docker::client c{ep, docker::make_cancel_token()};
  warn_cleanup("remove container " + ref, c.remove_container(ref, true));
}

/// Force-removes (with their anonymous volumes) the containers it was given when the test
/// ends: the one named at construction and every one add()ed, by name or id.
class container_guard : public engine_guard {
public:
  container_guard() : engine_guard{remove_container_now} {}
  /// Guards the container the test names `name`.
  explicit container_guard(std::string name)
    : engine_guard{remove_container_now, {name}}, name_{std::move(name)} {}

  /// The name given at construction.
  const std::string& name() const { return name_; }

private:
  std::string name_;
};

} // namespace tf::test
