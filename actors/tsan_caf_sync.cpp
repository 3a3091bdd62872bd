// Built only with TINYFORGE_TSAN. CAF 0.17.6 comes from Debian's libcaf_core.so, compiled
// without ThreadSanitizer: the atomics of its mailboxes, its scheduler queues and its
// reference counts are plain instructions that TSan never sees. So every message handed from
// one thread to another, every actor that moves from one worker thread to the next, and every
// object freed by the thread that drops its last reference would look like a data race in our
// code. Suppressing those reports would hide every real race an actor takes part in; instead
// this file tells TSan about the orderings CAF does guarantee, and nothing more:
//
// - a message: everything its sender did before enqueue() happens before its handler runs
//   or its deletion (release on the mailbox element at enqueue, acquire on it when the
//   receiver takes it and when it is deleted);
// - an actor: its spawn happens before its first resume(), and one message handler (and
//   resume()) of a scheduled actor before the next, whichever worker thread runs it (release
//   on the actor at launch and after each message and resume, acquire before them);
// - a reference count: the releases of a CAF reference-counted object or actor happen before
//   its deletion (the three release functions below are CAF's own, verbatim in behaviour,
//   compiled here so that TSan instruments their atomics).
//
// How: the functions below carry the names of CAF's exported functions. The executable's
// definition wins over the library's at dynamic link time (calls inside libcaf_core.so go
// through its PLT, checked with objdump on 0.17.6), and each one calls CAF's own definition,
// found with dlsym(RTLD_NEXT). The executable is linked with --undefined=tinyforge_tsan_caf_sync
// so that this object is taken from the static library.

#include <caf/actor_control_block.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/ref_counted.hpp>
#include <caf/scheduled_actor.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void __tsan_ignore_thread_begin();
void __tsan_ignore_thread_end();

/// Referenced by the linker (--undefined) so that this object is linked in.
extern const int tinyforge_tsan_caf_sync = 1;
}

namespace {

/// CAF's own definition of `symbol`; aborts when the library has none (another CAF version).
template <class Fn>
Fn caf_original(const char* symbol) {
  void* fn = ::dlsym(RTLD_NEXT, symbol);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_caf_sync: %s not found in libcaf_core\n", symbol);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

} // namespace

namespace caf {

namespace {

/// The address a mailbox element is known by here: its memory_managed base, the only one
/// request_deletion() sees.
const void* sync_key(const mailbox_element* x) {
  return static_cast<const memory_managed*>(x);
}

} // namespace

// -- messages -------------------------------------------------------------------------------

namespace {

/// The enqueue() of both kinds of actor: releases the message, then CAF's own `symbol`
/// (one cached lookup per kind).
template <class Actor>
void enqueue_released(Actor* self, const char* symbol, mailbox_element_ptr ptr,
                      execution_unit* eu) {
  using fn = void (*)(Actor*, mailbox_element_ptr, execution_unit*);
  static const auto original = caf_original<fn>(symbol);
  if (ptr)
    __tsan_release(const_cast<void*>(sync_key(ptr.get())));
  original(self, std::move(ptr), eu);
}

} // namespace

void scheduled_actor::enqueue(mailbox_element_ptr ptr, execution_unit* eu) {
  enqueue_released(this,
    "_ZN3caf15scheduled_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_14execution_unitE",
    std::move(ptr), eu);
}

void blocking_actor::enqueue(mailbox_element_ptr ptr, execution_unit* eu) {
  enqueue_released(this,
    "_ZN3caf14blocking_actor7enqueueESt10unique_ptrINS_15mailbox_elementENS_6detail8disposerEEPNS_14execution_unitE",
    std::move(ptr), eu);
}

scheduled_actor::activation_result scheduled_actor::reactivate(mailbox_element& x) {
  using fn = activation_result (*)(scheduled_actor*, mailbox_element&);
  static const auto original =
    caf_original<fn>("_ZN3caf15scheduled_actor10reactivateERNS_15mailbox_elementE");
  __tsan_acquire(this);
  __tsan_acquire(const_cast<void*>(sync_key(&x)));
  auto result = original(this, x);
  // Released after each message, not only at the end of resume(): the resume() that blocks
  // the mailbox can still be running when the next message has already started a resume() on
  // another worker (it enqueues and schedules the actor between the block and our return).
  __tsan_release(this);
  return result;
}

intrusive::task_result blocking_actor::mailbox_visitor::operator()(mailbox_element& x) {
  using fn = intrusive::task_result (*)(blocking_actor::mailbox_visitor*, mailbox_element&);
  static const auto original =
    caf_original<fn>("_ZN3caf14blocking_actor15mailbox_visitorclERNS_15mailbox_elementE");
  __tsan_acquire(const_cast<void*>(sync_key(&x)));
  return original(this, x);
}

void memory_managed::request_deletion(bool decremented_rc) const noexcept {
  using fn = void (*)(const memory_managed*, bool);
  static const auto original =
    caf_original<fn>("_ZNK3caf14memory_managed16request_deletionEb");
  // A message no handler took (still in the mailbox when its actor exits) is deleted here,
  // by the receiver; for other objects nothing released on this address and this is a no-op.
  __tsan_acquire(const_cast<memory_managed*>(this));
  original(this, decremented_rc);
}

// -- an actor moving between worker threads -------------------------------------------------

void scheduled_actor::launch(execution_unit* eu, bool lazy, bool hide) {
  using fn = void (*)(scheduled_actor*, execution_unit*, bool, bool);
  static const auto original =
    caf_original<fn>("_ZN3caf15scheduled_actor6launchEPNS_14execution_unitEbb");
  // What the spawning thread built (the actor, its spawn arguments) happens before the
  // first resume() on a worker thread.
  __tsan_release(this);
  original(this, eu, lazy, hide);
}

resumable::resume_result scheduled_actor::resume(execution_unit* eu, size_t max_throughput) {
  using fn = resume_result (*)(scheduled_actor*, execution_unit*, size_t);
  static const auto original =
    caf_original<fn>("_ZN3caf15scheduled_actor6resumeEPNS_14execution_unitEm");
  __tsan_acquire(this);
  auto result = original(this, eu, max_throughput);
  // The worker thread that called us still holds its reference: the actor is alive here.
  // (The workers call resume() through the `resumable` base; the compiler emits that
  // this-adjusting thunk with this definition, so the thunk enters ours as well.)
  __tsan_release(this);
  return result;
}

// -- reference counts (CAF 0.17.6's code: src/ref_counted.cpp, src/actor_control_block.cpp) --

void ref_counted::deref() const noexcept {
  if (unique()) {
    request_deletion(false);
    return;
  }
  if (rc_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    request_deletion(true);
}

void intrusive_ptr_release_weak(actor_control_block* x) {
  if (x->weak_refs == 1 || x->weak_refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    x->block_dtor(x);
}

void intrusive_ptr_release(actor_control_block* x) {
  if (x->strong_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    x->data_dtor(x->get());
    intrusive_ptr_release_weak(x);
  }
}

} // namespace caf

// -- the scheduler's queue nodes ------------------------------------------------------------

// A thread that schedules an actor allocates a node of a worker's queue in these two
// functions, and the worker frees it when it takes the actor, inside its run loop, after a
// spinlock TSan cannot see. The frees sit in the middle of the loop that runs every actor,
// where nothing can be suppressed by name without hiding our own races, so the allocations
// are left unrecorded instead: TSan's ignore makes it reset the node's shadow rather than
// record a write. Both functions are CAF's alone (they run no handler of ours), and the
// ignore covers memory accesses only, not synchronisation.
#define TINYFORGE_COORDINATOR_ENQUEUE \
  "_ZN3caf9scheduler11coordinatorINS_6policy13work_stealingEE7enqueueEPNS_9resumableE"
#define TINYFORGE_WORKER_EXEC_LATER \
  "_ZN3caf9scheduler6workerINS_6policy13work_stealingEE10exec_laterEPNS_9resumableE"

extern "C" {
void tsan_coordinator_enqueue(void* self, void* job) __asm__(TINYFORGE_COORDINATOR_ENQUEUE);
void tsan_worker_exec_later(void* self, void* job) __asm__(TINYFORGE_WORKER_EXEC_LATER);
}

namespace {

using queue_fn = void (*)(void*, void*);

/// Runs CAF's `original` with TSan's recording of memory accesses off.
void unrecorded(queue_fn original, void* self, void* job) {
  __tsan_ignore_thread_begin();
  original(self, job);
  __tsan_ignore_thread_end();
}

} // namespace

void tsan_coordinator_enqueue(void* self, void* job) {
  static const auto original = caf_original<queue_fn>(TINYFORGE_COORDINATOR_ENQUEUE);
  unrecorded(original, self, job);
}

void tsan_worker_exec_later(void* self, void* job) {
  static const auto original = caf_original<queue_fn>(TINYFORGE_WORKER_EXEC_LATER);
  unrecorded(original, self, job);
}
