// amb::loop_driver and amb::loop_clock: what a port supplies to the runtime's event loop
// (runtime/core, <runtime/event_loop.hpp>). Like <base/platform.hpp>, this is part of the port
// contract, so a port depends on base/ only: the hosted port implements it with epoll, eventfd
// and timerfd (<ports/hosted/event_driver.hpp>), a microcontroller port would sleep in WFI and
// wake on a timer or device interrupt.
#pragma once

#include <chrono>
#include <cstdint>

namespace amb {

/// The loop's monotonic clock. Time points come from the driver (`event_loop::now`), so tests can
/// run timers on simulated time.
struct loop_clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<loop_clock>;
    static constexpr bool is_steady = true;
};

/// What a port supplies to an event loop.
class loop_driver {
public:
    /// The current time of the loop clock. Called on the loop thread.
    virtual loop_clock::time_point now() noexcept = 0;
    /// Sleeps until `deadline` (`time_point::max()`: no deadline) or until `wake` is called,
    /// whichever comes first; a wake that happened since the previous `wait` returned makes it
    /// return at once. It may return early. Called on the loop thread.
    virtual void wait(loop_clock::time_point deadline) noexcept = 0;
    /// Makes the current or next `wait` return. Any thread, or an interrupt handler.
    virtual void wake() noexcept = 0;
    /// How long a loop with pollers keeps passing over them after the last pass that found work,
    /// before it sleeps (the port's policy; zero: sleep at once).
    virtual loop_clock::duration spin() const noexcept { return loop_clock::duration::zero(); }
    /// Called every few passes while spinning: lets a peer on the same CPU run (hosted:
    /// sched_yield), or nothing.
    virtual void relax() noexcept {}

protected:
    ~loop_driver() = default;
};

}  // namespace amb
