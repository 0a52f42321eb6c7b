// A doorbell: how one group tells another's event loop that its ring has work (a request to
// serve, or responses to complete). Ringing it from any thread schedules `poll(context)` once
// on the owner's loop; rings that arrive before it runs are folded into that one run, and a
// ring that arrives while it runs schedules another, so no submission is missed and the loop
// thread never spins on an empty ring.
//
// The doorbell must outlive every peer that may ring it, and stay on one loop.
#pragma once

#include <runtime/event_loop.hpp>

#include <atomic>

namespace amb::groups {

class doorbell {
public:
    using poll_function = void (*)(void* context) noexcept;

    doorbell(event_loop& loop, poll_function poll, void* context) noexcept
        : loop_(loop), poll_(poll), context_(context) {}
    doorbell(const doorbell&) = delete;
    doorbell& operator=(const doorbell&) = delete;

    /// Any thread.
    void ring() noexcept {
        if (!scheduled_.exchange(true, std::memory_order_acq_rel))
            loop_.post_from_any_thread(work_);
    }

    /// For peers that take a plain function pointer and context.
    static void ring_function(void* self) noexcept { static_cast<doorbell*>(self)->ring(); }

private:
    struct work_item final : loop_work {
        explicit work_item(doorbell* bell) noexcept : loop_work(&run), owner(bell) {}
        doorbell* owner;
    };

    static void run(loop_work& work) noexcept {
        doorbell& self = *static_cast<work_item&>(work).owner;
        // Clear first: a ring from now on schedules another run, so nothing is lost.
        self.scheduled_.store(false, std::memory_order_release);
        self.poll_(self.context_);
    }

    event_loop& loop_;
    poll_function poll_;
    void* context_;
    work_item work_{this};
    std::atomic<bool> scheduled_{false};
};

}  // namespace amb::groups
