// Crash tests only: TINYFORGE_FAULT_KILL_AT=<point> makes the daemon kill itself with SIGKILL
// when a deploy reaches that point, right after the journal recorded it. The crash-matrix test
// (tests/deploy_crash_test.cpp) uses it to stop the daemon at every step of a deploy, where a
// kill from outside could only hit a step by chance. Unset, a point costs one comparison.
// Points: running, pull, create, created-1 (the first new container started), health, switch
// (journaled, nothing opened yet), switched (the new colour open and recorded as serving),
// drain, cleanup, retired (the old colour removed, the deploy not yet recorded succeeded);
// for a stack, stack-up (the phase up journaled, compose not started) and stack-upped
// (compose up finished, the deploy not yet recorded succeeded).
#pragma once

namespace tf {

/// SIGKILLs this process when TINYFORGE_FAULT_KILL_AT names `point` (logged first).
void fault_point(const char* point);

} // namespace tf
