// amb::event_loop: the portable core of a group's event loop.
//
// The loop owns a queue of ready work and a list of timers ordered by deadline; `poll`,
// `run_once` and `run_until_idle` run them on the calling thread (the loop thread). Everything
// platform-specific is behind `loop_driver`: reading the clock, sleeping until a deadline or a
// wakeup, and waking the loop from another thread. The hosted port drives it with epoll, eventfd
// and timerfd (ports/hosted/event_driver.hpp); a microcontroller port would sleep in WFI and wake
// on a timer or device interrupt.
//
// Work items (`loop_work`) are intrusive: the loop never allocates, and whoever posts an item
// owns it and keeps it alive until it has run or has been cancelled. Only the loop thread may
// call anything but `post_from_any_thread` and `loop_driver::wake`.
//
// Pollers (`loop_poller`) are sources that find their work by looking rather than by being told:
// shared-memory rings whose peer rings a doorbell only when this side announced that it sleeps.
// Every pass of the loop polls each of them. When a pass finds nothing, the loop keeps passing
// for the driver's spin period (`loop_driver::spin`; waking a sleeping thread costs more than a
// short spin), then asks each poller to announce its sleep (`prepare_sleep`; a poller that finds
// work meanwhile refuses and the loop passes again), sleeps in the driver, and lets every poller
// that announced clear its announcement (`finish_sleep`). A loop without pollers sleeps at once.
#pragma once

#include <base/loop_driver.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace amb {

/// A unit of work the loop runs: a function and the links the loop needs. Embed one in the
/// object that owns the operation. It must not move or be destroyed while pending (posted or
/// armed as a timer); `event_loop::cancel` takes it back.
class loop_work {
public:
    using function = void (*)(loop_work&) noexcept;

    explicit loop_work(function run) noexcept : run_(run) {}
    loop_work(const loop_work&) = delete;
    loop_work& operator=(const loop_work&) = delete;

    /// True from being posted or armed until it runs or is cancelled.
    bool pending() const noexcept { return where_ != place::idle; }

private:
    friend class event_loop;
    enum class place : std::uint8_t { idle, ready, timer, remote };

    function run_;
    loop_work* next_ = nullptr;
    loop_work* previous_ = nullptr;
    loop_clock::time_point deadline_{};
    place where_ = place::idle;
};

class event_loop;

/// A source the loop polls on every pass (see the file comment). Register it with
/// `event_loop::add_poller`; it unregisters itself when destroyed. Only an unregistered poller
/// may move.
class loop_poller {
public:
    loop_poller() noexcept = default;
    loop_poller(loop_poller&& other) noexcept;
    loop_poller& operator=(loop_poller&&) = delete;

    /// Does whatever work is ready; returns how much (0: nothing was ready).
    virtual std::size_t progress() noexcept = 0;
    /// Announces that this side sleeps; false if work arrived meanwhile (the loop does not
    /// sleep then).
    virtual bool prepare_sleep() noexcept { return true; }
    /// Clears the announcement after the sleep (or after another poller refused to sleep).
    virtual void finish_sleep() noexcept {}

    bool registered() const noexcept { return loop_ != nullptr; }

protected:
    ~loop_poller();

private:
    friend class event_loop;
    event_loop* loop_ = nullptr;
    loop_poller* next_ = nullptr;
    loop_poller* previous_ = nullptr;
};

class event_loop {
public:
    /// The driver must outlive the loop.
    explicit event_loop(loop_driver& driver) noexcept : driver_(driver) {}
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;
    /// Precondition: nothing is pending (no posted work, no armed timers).
    ~event_loop();

    loop_clock::time_point now() noexcept { return driver_.now(); }

    /// Queues `work` to run on a later turn of the loop (never inside this call).
    void post(loop_work& work) noexcept;
    /// Queues `work` from any thread and wakes the loop. Unlike other pending work it cannot be
    /// cancelled: it must stay alive until it has run.
    void post_from_any_thread(loop_work& work) noexcept;
    /// Arms `work` to run once the loop clock reaches `deadline`. Timers with equal deadlines run
    /// in the order they were armed.
    void run_at(loop_work& work, loop_clock::time_point deadline) noexcept;
    /// Takes back posted or armed work before it runs; returns false if it was not pending (it
    /// already ran, or was never posted). Work posted from another thread cannot be cancelled.
    bool cancel(loop_work& work) noexcept;

    /// Adds `poller` to the pollers of every pass (it must not be registered already).
    void add_poller(loop_poller& poller) noexcept;
    /// Takes `poller` out (nothing if it is not registered here). Safe from inside a pass.
    void remove_poller(loop_poller& poller) noexcept;

    /// Runs the work that is ready now (remote posts, expired timers, then the ready queue as it
    /// stood, then one progress of every poller) without sleeping; returns how much was done.
    std::size_t poll() noexcept;
    /// Like `poll`, but if nothing was ready, passes again for the driver's spin period and then
    /// sleeps in the driver until the next deadline or a wakeup (forever if no timer is armed
    /// and no poller or descriptor will wake it: use only when something will).
    std::size_t run_once() noexcept;
    /// Runs until `done()` is true, or until `timeout` passed on the loop clock (then false).
    /// The deadline is no timer: it bounds the sleeps, and the clock is read once per turn.
    template <class Done>
    bool run_until(Done&& done, loop_clock::duration timeout = loop_clock::duration::max()) {
        const loop_clock::time_point deadline = timeout == loop_clock::duration::max()
                                                    ? loop_clock::time_point::max()
                                                    : now() + timeout;
        while (!done()) {
            if (deadline != loop_clock::time_point::max() && now() >= deadline)
                return false;
            run_once_until(deadline);
        }
        return true;
    }
    /// run_once, sleeping no later than `limit`.
    std::size_t run_once_until(loop_clock::time_point limit) noexcept;
    /// How many times the loop slept in its driver (for tests and benchmarks).
    std::uint64_t sleeps() const noexcept { return sleeps_; }
    /// Runs until no work is ready and no timer is armed. Work that other threads will post later
    /// is not waited for.
    void run_until_idle() noexcept;
    /// True when there is work that `run_until_idle` would wait for.
    bool busy() const noexcept {
        return ready_head_ != nullptr || timer_head_ != nullptr ||
               remote_head_.load(std::memory_order_acquire) != nullptr;
    }

private:
    void push_ready(loop_work& work) noexcept;
    void unlink(loop_work*& head, loop_work*& tail, loop_work& work) noexcept;
    void take_remote() noexcept;
    std::size_t run_expired_timers() noexcept;
    std::size_t poll_pollers() noexcept;
    bool ready_now() const noexcept;
    // Announces every poller's sleep; false (announcements undone) if one found work.
    bool prepare_sleep() noexcept;
    void finish_sleep(loop_poller* until) noexcept;
    static void run(loop_work& work) noexcept;

    loop_driver& driver_;
    // Ready queue and timer list: doubly linked so that cancellation is O(1).
    loop_work* ready_head_ = nullptr;
    loop_work* ready_tail_ = nullptr;
    // Timers sorted by deadline. TODO(perf): a pairing heap if groups arm many timers at once;
    // today a handful is typical and insertion is linear.
    loop_work* timer_head_ = nullptr;
    loop_work* timer_tail_ = nullptr;
    // Work posted by other threads: a lock-free stack (LIFO), reversed when taken.
    std::atomic<loop_work*> remote_head_{nullptr};
    // Pollers, in registration order; `poll_next_` is the next one of the running pass (kept
    // right when a poller removes another during the pass).
    loop_poller* poller_head_ = nullptr;
    loop_poller* poller_tail_ = nullptr;
    loop_poller* poll_next_ = nullptr;
    std::uint64_t sleeps_ = 0;
};

}  // namespace amb
