// amb::fiber: stackful execution for code that must block deep inside a call stack.
//
// Coroutines are the default programming model; fibers exist for libraries that expect to call a
// blocking function somewhere down a call chain. A fiber runs `body(context)` on its own stack,
// driven by an event loop: `start()` queues it on the loop, and inside the fiber
// `fiber_wait(job)` starts the job and switches back to the loop until the job completes, from
// any thread (the completion queues the fiber on its loop again, so a fiber always runs on its
// loop's thread).
//
//     void body(void* context) { auto slept = fiber_wait(sleep_for(loop, 10ms)); ... }
//     ports::hosted::guarded_stack stack = *ports::hosted::guarded_stack::create(64 * 1024);
//     fiber worker(loop, stack.usable(), &body, &context);
//     worker.start();
//     loop.run_until_idle();
//
// The stack is the caller's memory (no hidden allocation): a static array on a microcontroller,
// an mmap'd stack with a guard page on the hosted port (ports/hosted, hosted/fiber_stack.hpp),
// so that an overflow faults instead of corrupting memory. The context switch is hand-written
// per architecture (runtime/core/arch/<arch>/fiber_switch.S: x86_64 System V, ARMv7-M); it
// saves only callee-saved registers, so a switch costs about as much as a function call.
//
// A fiber cannot be unwound (core libraries have no exceptions): destroying a fiber that has
// started but not finished is a precondition violation.
#pragma once

#include <runtime/event_loop.hpp>
#include <runtime/job.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>

namespace amb {

class fiber {
public:
    using function = void (*)(void* context);

    /// `stack` must outlive the fiber and hold the deepest call chain `body` makes. The loop must
    /// outlive the fiber too.
    fiber(event_loop& loop, std::span<std::byte> stack, function body, void* context) noexcept;
    fiber(const fiber&) = delete;
    fiber& operator=(const fiber&) = delete;
    /// Precondition: not started, or finished.
    ~fiber();

    /// Queues the fiber to run from the start on a later turn of its loop. Loop thread only.
    void start() noexcept;
    bool done() const noexcept { return done_; }

    /// The fiber running on this thread, or nullptr outside fibers.
    static fiber* current() noexcept;

    /// Inside a fiber: switches back to the loop. Something must later call `schedule` (or
    /// `schedule_from_any_thread`) once, or the fiber never runs again.
    static void suspend() noexcept;
    /// Queues a suspended fiber to continue on a later turn of its loop (loop thread).
    void schedule() noexcept;
    /// As `schedule`, from any thread.
    void schedule_from_any_thread() noexcept;

private:
    static void enter(void* self) noexcept;
    static void run(loop_work& work) noexcept;
    void switch_in() noexcept;

    struct resume_work : loop_work {
        explicit resume_work(fiber& resumed) noexcept : loop_work(&run), owner(resumed) {}
        fiber& owner;
    };

    event_loop& loop_;
    std::span<std::byte> stack_;
    function body_;
    void* context_;
    // The fiber's saved stack pointer while it is switched out, and the resumer's while it runs.
    void* fiber_stack_pointer_ = nullptr;
    void* resumer_stack_pointer_ = nullptr;
    fiber* resumer_fiber_ = nullptr;
    resume_work resume_{*this};
    bool started_ = false;
    bool done_ = false;
};

/// Inside a fiber: starts `operation`, suspends the fiber until it completes (on any thread), and
/// returns its value. The rest of the program keeps running on the fiber's loop meanwhile.
template <job J>
job_value_t<J> fiber_wait(J&& operation) noexcept {
    using value_type = job_value_t<J>;
    fiber* self = fiber::current();
    AMB_REQUIRE(self != nullptr, "fiber_wait outside a fiber");
    struct waiter final : completion<value_type> {
        explicit waiter(fiber& suspended) noexcept
            : completion<value_type>(&on_complete), waiting(suspended) {}
        static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
            auto& self = static_cast<waiter&>(base);
            self.value.emplace(std::move(value));
            // The fiber may not have suspended yet (completion inside start, or on another
            // thread): queueing it is safe either way, because the loop cannot run it before
            // this fiber switches back to the loop.
            self.waiting.schedule_from_any_thread();
        }
        fiber& waiting;
        std::optional<value_type> value;
    } done(*self);
    operation.start(done);
    fiber::suspend();
    return std::move(*done.value);
}

}  // namespace amb
