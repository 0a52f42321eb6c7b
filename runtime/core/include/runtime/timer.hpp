// Timers: `sleep_for(loop, duration)` and `sleep_until(loop, deadline)` as jobs.
//
//     result<void, timer_error> slept = co_await sleep_for(loop, 10ms);
//
// A sleep job arms a timer on its event loop when started and completes on the loop thread once
// the loop clock reaches the deadline, with success, or with `timer_error::cancelled` if
// `cancel()` took it back first (the completion then runs on a later turn of the loop, never
// inside `cancel`). Destroying a started sleep job disarms its timer and it never completes;
// that is what happens when a task suspended on a sleep is destroyed. All calls on the loop
// thread.
#pragma once

#include <base/result.hpp>
#include <runtime/event_loop.hpp>
#include <runtime/job.hpp>

#include <utility>

namespace amb {

enum class timer_error : unsigned char {
    cancelled,  // cancel() was called before the deadline
};

// The timer's loop_work is a private base so that the loop's callback finds the job from it.
class [[nodiscard]] sleep_job final : public job_base<result<void, timer_error>>,
                                      private loop_work {
public:
    sleep_job(event_loop& loop, loop_clock::time_point deadline) noexcept
        : loop_work(&fire), loop_(&loop), deadline_(deadline) {}
    /// Only an unstarted job may move (when_all moves its arguments in).
    sleep_job(sleep_job&& other) noexcept
        : loop_work(&fire), loop_(other.loop_), deadline_(other.deadline_) {
        AMB_REQUIRE(other.done_ == nullptr, "moving a started sleep job");
    }
    sleep_job& operator=(sleep_job&&) = delete;
    ~sleep_job() { loop_->cancel(*this); }

    void start(completion<value_type>& done) noexcept {
        AMB_REQUIRE(done_ == nullptr, "starting a sleep job twice");
        done_ = &done;
        loop_->run_at(*this, deadline_);
    }

    /// Completes a pending sleep with `timer_error::cancelled` on a later turn of the loop.
    /// Returns false (and does nothing) if the sleep is not pending: not started, or already
    /// completed or cancelled.
    bool cancel() noexcept {
        if (cancelled_ || !loop_->cancel(*this))
            return false;
        cancelled_ = true;
        loop_->post(*this);
        return true;
    }

    loop_clock::time_point deadline() const noexcept { return deadline_; }

private:
    static void fire(loop_work& work) noexcept;

    event_loop* loop_;
    loop_clock::time_point deadline_;
    completion<value_type>* done_ = nullptr;
    bool cancelled_ = false;
};

/// Sleeps until the loop clock reaches `deadline`.
inline sleep_job sleep_until(event_loop& loop, loop_clock::time_point deadline) noexcept {
    return sleep_job(loop, deadline);
}

/// Sleeps for `duration` from now (the deadline is fixed when the job is made, not started).
inline sleep_job sleep_for(event_loop& loop, loop_clock::duration duration) noexcept {
    return sleep_job(loop, loop.now() + duration);
}

}  // namespace amb
