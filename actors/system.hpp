// Starting and stopping the actors in order. The daemon and the tests share this, so what
// the tests exercise is what runs.
#pragma once

#include "actors/actors.hpp"
#include "actors/store_reader.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace tf {

struct store_options {
  std::string db_path;
  size_t readers = 2;
  /// Own OS threads for the store actors (the daemon). Tests on the deterministic
  /// scheduler turn this off so every message runs when the test says.
  bool detached = true;
};

struct store_handles {
  store_writer_actor writer;
  std::shared_ptr<store_readers> readers;
};

/// Opens and migrates the database, then spawns the writer and the readers.
caf::expected<store_handles> start_store(caf::actor_system& sys, const store_options& opts);

/// Stops the readers, then the writer, and waits until each has closed its connection.
void stop_store(caf::actor_system& sys, store_handles& handles);

} // namespace tf
