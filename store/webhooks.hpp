// The webhook side of the store: resolving a workload by its webhook secret, and the bounded
// log of deliveries (recorded, deduplicated by the sender's delivery id, listed, replayed).
// Writes are called by the store writer only; reads by readers.
#pragma once

#include "core/webhook_model.hpp"
#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tf {

namespace store {

/// A kept body is cut here (the row says so, and such a delivery cannot be replayed).
inline constexpr size_t max_delivery_body = 64 * 1024;
/// The kept headers' JSON is cut here.
inline constexpr size_t max_delivery_headers = 4 * 1024;
/// Each workload keeps its newest this many deliveries...
inline constexpr int64_t max_deliveries_per_workload = 1000;
/// ...and, written by claim batches, up to this many more until they are pruned together:
/// each prune writes the pages its oldest rows sit on (the table's, and one random page of
/// each index they are in), which a prune of one batch of five wrote for five rows.
inline constexpr int64_t delivery_prune_slack = 64;

/// How many deliveries the claim batches left in each workload's log, as the store writer
/// knows it between batches: a hint of when to prune, counted once per workload from the
/// table and then kept up by the batches. The prune itself is exact (the newest
/// max_deliveries_per_workload stay), so rows a hint missed (a single record, which prunes
/// itself) only move a prune earlier, and a hint of a workload gone is never used again.
class delivery_log_sizes {
public:
  /// The size known for `workload_id`, if any.
  const int64_t* find(const std::string& workload_id) const {
    auto i = rows_.find(workload_id);
    return i == rows_.end() ? nullptr : &i->second;
  }
  void set(const std::string& workload_id, int64_t rows) { rows_[workload_id] = rows; }
  void forget(const std::string& workload_id) { rows_.erase(workload_id); }

private:
  std::unordered_map<std::string, int64_t> rows_;
};

/// Whether a recorded delivery may be replayed through the API: its body was kept whole,
/// and it was not refused for its authenticity (a forged or unsigned delivery a replay would
/// otherwise launder into a deploy: the replay skips the signature check).
bool replayable(const webhook_delivery& d);

/// The workload whose webhook secret this is: an index lookup, then the stored secret
/// compared again in constant time. not_found for "" and for any other miss.
caf::expected<workload> find_workload_by_webhook_secret(database& db, const std::string& secret);

/// Records a delivery and prunes the workload's log to its newest rows, in one transaction.
/// An "accepted" delivery whose delivery id this workload accepted before is stored as a
/// "duplicate" naming the first one's deployment: the returned row says which.
caf::expected<webhook_delivery> record_delivery(database& db, webhook_delivery d);

/// A trusted delivery for a project, settled in one transaction, so no delivery is ever
/// accepted without its deploy and no delivery id is deployed twice:
///   - a delivery id this workload accepted before, or (Tinyforge form) the timestamp and
///     MAC of one it accepted before, whatever its delivery id: recorded as a duplicate naming the
///     first one's deployment, nothing queued;
///   - an event about another image than the project's: recorded as ignored;
///   - a stage the project does not have, or a tag that is not one: recorded as rejected
///     with the code no_stage or invalid_argument;
///   - unless forced, a tag the stage's newest queued or running deploy already brings, or
///     (nothing on its way) the tag the stage serves: recorded as unchanged, naming
///     the deploy on its way if there is one, nothing queued. This check and the insert
///     share the transaction, so of two deliveries of one tag (Gitea's create and push)
///     exactly one deploys;
///   - otherwise a queued deployment of the tag to the stage, and the delivery recorded as
///     accepted with it.
/// ec::not_found when the workload is gone, ec::invalid_argument when it is not a project.
caf::expected<webhook_deploy_claimed> claim_webhook_deploy(database& db, webhook_deploy_claim c);

/// Claims in one committed transaction (group commit: a burst of deliveries pays for one
/// commit, not one each), each settled as claim_webhook_deploy settles it alone and inside
/// its own savepoint, so one that fails leaves the others whole. The answers are in the
/// order of `cs`; when the commit fails, every claim answers its error (none was kept).
/// With `sizes`, a workload's log is pruned once it holds delivery_prune_slack rows more than
/// it keeps (the writer's batches); without, after every batch.
std::vector<caf::expected<webhook_deploy_claimed>>
claim_webhook_deploys(database& db, std::vector<webhook_deploy_claim> cs,
                      delivery_log_sizes* sizes = nullptr);

/// The two lookups every claim runs for a delivery seen before (by the sender's delivery id,
/// by a Tinyforge timestamp and MAC): a name and the exact SQL, for the plan test.
std::vector<std::pair<std::string_view, std::string_view>> delivery_dedupe_statements();

/// One delivery with its kept body.
caf::expected<webhook_delivery> get_delivery(database& db, const std::string& id);

/// A workload's deliveries, newest first, without bodies.
caf::expected<page<webhook_delivery>> list_deliveries(database& db,
                                                      const std::string& workload_id,
                                                      int64_t limit, int64_t offset);

} // namespace store
} // namespace tf
