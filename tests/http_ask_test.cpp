// http/ask.hpp: how a handler asks an actor. A gate worker reuses one scoped actor for all
// its requests; these tests check what that reuse must not change: each answer reaches the
// request it answers, a timeout is an error a client sees as one, and a late answer does not
// stay behind in the reused actor's mailbox.
#include <doctest/doctest.h>

#include "core/errors.hpp"
#include "http/ask.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using held_promises = std::shared_ptr<std::vector<caf::typed_response_promise<int>>>;

/// Doubles a non-negative number at once; holds a negative one unanswered until it gets a
/// string, then answers every held one with 999. (It takes an argument: CAF 0.17 spawns a
/// function of no arguments through a null tuple, which UBSan reports.)
caf::behavior doubler(caf::event_based_actor* self, held_promises held) {
  return {
    [self, held](int x) -> caf::result<int> {
      if (x >= 0)
        return x * 2;
      held->push_back(self->make_response_promise<int>());
      return held->back();
    },
    [held](const std::string&) {
      for (auto& rp : *held)
        rp.deliver(999);
      held->clear();
    },
  };
}

/// Runs `body` on a thread of its own, as a gate worker runs (with or without its asker).
template <class F>
void on_thread(F body) {
  std::thread t{body};
  t.join();
}

/// An actor system with a doubler in it, stopped at the end.
struct ask_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::actor actor = sys.spawn(doubler, std::make_shared<held_promises::element_type>());
  ~ask_fixture() { caf::anon_send_exit(actor, caf::exit_reason::user_shutdown); }
};

} // namespace

TEST_CASE_FIXTURE(ask_fixture, "ask: a worker's one actor gets each request its own answer, many times over") {
  on_thread([&] {
    tf::http::worker_asker asker{sys};
    auto* first = tf::http::worker_asker::current(sys);
    REQUIRE(first != nullptr);
    for (int i = 0; i < 200; ++i) {
      auto got = tf::http::ask<int>(sys, actor, 5s, i);
      REQUIRE(got);
      CHECK(*got == 2 * i);
    }
    CHECK(tf::http::worker_asker::current(sys) == first);
  });
}

TEST_CASE_FIXTURE(ask_fixture, "ask: a timeout is the daemon's timeout error, and its late answer is not kept") {
  on_thread([&] {
    tf::http::worker_asker asker{sys};
    auto late = tf::http::ask<int>(sys, actor, 50ms, -1);
    REQUIRE_FALSE(late);
    CHECK(tf::error_code(late.error()) == tf::ec::timeout);
    // The held request is answered now; the next request goes after it to the same actor,
    // so by the time its answer is here, the late one was delivered too.
    caf::anon_send(actor, std::string{"release"});
    auto next = tf::http::ask<int>(sys, actor, 5s, 21);
    REQUIRE(next);
    CHECK(*next == 42);
    auto* self = tf::http::worker_asker::current(sys);
    REQUIRE(self != nullptr);
    CHECK_MESSAGE((*self)->mailbox().empty(),
                  "the late answer stays in the reused actor's mailbox for good");
  });
}

TEST_CASE_FIXTURE(ask_fixture, "ask: a thread with no asker, or one for another actor system, asks all the same") {
  on_thread([&] {
    CHECK(tf::http::worker_asker::current(sys) == nullptr);
    auto got = tf::http::ask<int>(sys, actor, 5s, 4);
    REQUIRE(got);
    CHECK(*got == 8);
  });
  caf::actor_system_config other_cfg;
  caf::actor_system other{other_cfg};
  on_thread([&] {
    tf::http::worker_asker asker{other};
    CHECK(tf::http::worker_asker::current(sys) == nullptr);
    auto got = tf::http::ask<int>(sys, actor, 5s, 5);
    REQUIRE(got);
    CHECK(*got == 10);
  });
  // A handle to nothing is the daemon's "not running", not a crash.
  caf::actor none;
  auto missing = tf::http::ask<int>(sys, none, 1s, 1);
  REQUIRE_FALSE(missing);
  CHECK(tf::error_code(missing.error()) == tf::ec::unavailable);
}
