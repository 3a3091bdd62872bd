// The stack and site deployers' queue (actors/run_queue.hpp): one run per workload at a
// time, at most one deploy waiting, a newer deploy replacing the waiting one.
#include "actors/run_queue.hpp"

#include <doctest/doctest.h>

namespace {

tf::deployment deploy(const std::string& id) {
  tf::deployment d;
  d.id = id;
  d.workload_id = "w";
  return d;
}

} // namespace

TEST_CASE("run queue: an idle workload starts a deploy at once, a busy one keeps the newest waiting") {
  tf::run_queue q;
  auto first = q.enqueue("a", deploy("d1"));
  REQUIRE(first.start_now);
  CHECK(first.start_now->id == "d1");
  CHECK_FALSE(first.superseded);
  q.begin("a", *first.start_now);
  CHECK(q.busy("a"));
  CHECK_FALSE(q.busy("b")); // another workload is not held up
  REQUIRE(q.running("a", "d1"));
  CHECK(q.running("a", "d1")->id == "d1");
  CHECK_FALSE(q.running("a", "d2"));

  auto second = q.enqueue("a", deploy("d2"));
  CHECK_FALSE(second.start_now);
  CHECK_FALSE(second.superseded);
  CHECK(q.waiting("a"));
  auto third = q.enqueue("a", deploy("d3"));
  CHECK_FALSE(third.start_now);
  REQUIRE(third.superseded);
  CHECK(third.superseded->id == "d2");

  // The run ends: the newest waiting deploy is next, and nothing waits behind it.
  auto next = q.end("a");
  REQUIRE(next);
  CHECK(next->id == "d3");
  CHECK_FALSE(q.busy("a"));
  CHECK_FALSE(q.waiting("a"));
  q.begin("a", *next);
  CHECK_FALSE(q.end("a"));
  CHECK_FALSE(q.busy("a"));
  CHECK_FALSE(q.end("never-ran"));
}

TEST_CASE("run queue: a run that is not a deploy holds the workload and names no deploy") {
  tf::run_queue q;
  q.begin("a"); // a removal or a compose action
  CHECK(q.busy("a"));
  CHECK_FALSE(q.running("a", ""));
  auto queued = q.enqueue("a", deploy("d1"));
  CHECK_FALSE(queued.start_now);
  CHECK(q.waiting("a"));
  auto next = q.end("a");
  REQUIRE(next);
  CHECK(next->id == "d1");
}
