// A STORE READER: answers list and get requests on its own read-only connection. The
// database runs in WAL mode, so reads see the last commit and never queue behind writes.
#pragma once

#include "actors/actors.hpp"
#include "actors/reader_pool.hpp"
#include "store/database.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace tf {

struct store_reader_state {
  static inline const char* name = "store-reader";
  store::database db;
};

/// Takes ownership of a read-only connection. Spawn it detached in the daemon.
store_reader_actor::behavior_type
store_reader(store_reader_actor::stateful_pointer<store_reader_state> self, store::database db);

/// Several readers, used in turn by the HTTP threads and the actors that read.
using store_readers = reader_pool<store_reader_actor>;

/// The same readers as the actors that read hold them (actors/actors.hpp: what each reads).
using deploy_store_readers = reader_pool<deploy_store_reader_actor>;
using webhook_store_readers = reader_pool<webhook_store_reader_actor>;
using notifier_store_readers = reader_pool<notifier_store_reader_actor>;
using overview_store_readers = reader_pool<store_overview_reader_actor>;

} // namespace tf
