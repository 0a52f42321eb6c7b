// Hosted implementation of the runtime's port contract <base/thread_event.hpp>: a mutex and
// a condition variable.
#include <base/thread_event.hpp>

#include <condition_variable>
#include <mutex>
#include <new>

namespace amb::port {

namespace {

struct state {
    std::mutex lock;
    std::condition_variable changed;
    bool set = false;
};
static_assert(sizeof(state) <= thread_event::storage_size);
static_assert(alignof(state) <= alignof(std::max_align_t));

state& state_of(unsigned char* storage) { return *std::launder(reinterpret_cast<state*>(storage)); }

}  // namespace

thread_event::thread_event() noexcept { new (storage_) state(); }

thread_event::~thread_event() { state_of(storage_).~state(); }

void thread_event::set() noexcept {
    state& shared = state_of(storage_);
    // Notify while holding the lock: the waiter cannot return (and destroy the event) until the
    // lock is released, and after the unlock this thread touches nothing of the event.
    std::lock_guard<std::mutex> hold(shared.lock);
    shared.set = true;
    shared.changed.notify_one();
}

void thread_event::wait() noexcept {
    state& shared = state_of(storage_);
    std::unique_lock<std::mutex> hold(shared.lock);
    shared.changed.wait(hold, [&] { return shared.set; });
}

}  // namespace amb::port
