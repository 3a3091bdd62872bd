// The deployments journal: one row per deploy, its status moves, and its log lines.
// Writes are called by the store writer only; reads by readers and the writer.
#pragma once

#include "store/database.hpp"
#include "core/model.hpp"

#include <caf/expected.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tf::store {

/// Docker's tag syntax: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
bool is_image_tag(std::string_view tag);

/// Records a queued deploy. The stage, when given, must belong to the workload's project.
caf::expected<deployment> create_deployment(database& db, deployment d);

/// Why a deploy of a tag to a stage would change nothing.
struct unchanged_deploy {
  std::string deployment_id; // the queued or running deploy of the tag; "" when only served
  std::string reason;
};

/// Whether deploying `tag` to the stage would change nothing: the stage's newest queued or
/// running deploy is of this tag, or (when `served_counts`) none is on its way and the stage
/// serves the tag already. For a writer function that holds the transaction which would
/// insert the deploy, so two requests can never both find nothing and both deploy.
caf::expected<std::optional<unchanged_deploy>>
find_unchanged_deploy(database& db, const stage& s, const std::string& tag, bool served_counts);

/// A deploy asked for through the API (or a rollback): create_deployment, except that
/// unless forced, a tag the stage's newest queued or running deploy already brings is not
/// recorded again; the answer is then `unchanged` with that deploy. A redeploy of the tag
/// the stage serves is recorded: asking the API for it is deliberate (after a change of
/// the stage's instances or environment, say).
caf::expected<stage_deploy_claimed> claim_stage_deploy(database& db, stage_deploy_claim c);

/// create_deployment's insert, for a writer function that already holds a transaction and
/// has checked the stage (the webhook claim): the row as stored, with its id.
caf::expected<deployment> insert_queued_deployment(database& db, deployment d);

/// Ends every listed deploy that is still queued as superseded, in one transaction: the
/// deployer's batch when a burst of requests for one stage displaces its waiting deploy
/// over and over. Ids that are no longer queued (or unknown) are skipped; replies how many
/// changed.
caf::expected<int64_t> supersede_deployments(database& db, const std::vector<std::string>& ids,
                                             const std::string& reason);

/// queued -> running | superseded | failed, running -> succeeded | failed; anything else is
/// ec::conflict. Going to running records the stage's current tag as previous_tag; a
/// success makes the tag the stage's current one in the same transaction.
caf::expected<deployment> transition_deployment(database& db, const deployment_transition& t);

/// Appends a line (cut at 4 KiB; a log stops growing at 10,000 lines); replies the line's
/// index in the log, or -1 when the log was full and the line dropped.
caf::expected<int64_t> append_deployment_log(database& db, const deployment_log_line& l);

/// At boot: deploys a previous run left queued or running end as failed with `reason`.
caf::expected<int64_t> fail_unfinished_deployments(database& db, const std::string& reason);

/// Records the step a running deploy is about to take (ec::conflict unless it is running).
caf::error record_deployment_phase(database& db, const deployment_phase& p);

/// Deploys a previous run left queued or running, oldest first, for boot recovery.
caf::expected<std::vector<deployment>> list_unfinished_deployments(database& db);

caf::expected<deployment> get_deployment(database& db, const std::string& id);
/// Newest first; an empty workload id lists every workload's.
caf::expected<page<deployment>> list_deployments(database& db, const std::string& workload_id,
                                                 int64_t limit, int64_t offset);

} // namespace tf::store
