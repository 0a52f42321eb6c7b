// Test helpers for runtime/core: a loop driver on simulated time and sample jobs.
#pragma once

#include <runtime/event_loop.hpp>
#include <runtime/job.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace amb::testing {

/// The bound of a wait that cannot take a deadline itself (a loop turn on a real driver blocks
/// until something wakes it): unless destroyed within `limit`, the watchdog prints `what` and
/// ends the test program with a failure, instead of leaving it hanging until ctest's timeout.
/// Ending the program is the only safe way out: the state left behind (a task suspended on the
/// loop, a thread still to post to it) cannot be unwound.
class watchdog {
public:
    watchdog(std::chrono::seconds limit, const char* what)
        : thread_([this, limit, what] {
              std::unique_lock<std::mutex> lock(mutex_);
              if (done_.wait_for(lock, limit, [this] { return finished_; }))
                  return;
              std::fprintf(stderr, "watchdog: %s (still waiting after %lld s)\n", what,
                           static_cast<long long>(limit.count()));
              std::fflush(stderr);
              std::_Exit(1);
          }) {}
    ~watchdog() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            finished_ = true;
        }
        done_.notify_one();
        thread_.join();
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

private:
    std::mutex mutex_;
    std::condition_variable done_;
    bool finished_ = false;
    std::thread thread_;  // last: starts once the members it uses exist
};

/// A loop driver whose clock only moves when the loop sleeps: `wait` jumps to the deadline.
class simulated_driver final : public loop_driver {
public:
    loop_clock::time_point now() noexcept override { return now_; }
    void wait(loop_clock::time_point deadline) noexcept override {
        ++waits;
        if (deadline == loop_clock::time_point::max()) {
            ADD_FAILURE() << "the loop would sleep forever";
            return;
        }
        if (deadline > now_)
            now_ = deadline;
    }
    void wake() noexcept override { ++wakes; }

    int waits = 0;
    int wakes = 0;

private:
    loop_clock::time_point now_{std::chrono::seconds(1)};
};

/// Completes with `value` on a later turn of its event loop (like a device completion).
class loop_job final : public job_base<int>, private loop_work {
public:
    loop_job(event_loop& loop, int value) noexcept
        : loop_work(&fire), loop_(&loop), value_(value) {}
    loop_job(loop_job&& other) noexcept
        : loop_work(&fire), loop_(other.loop_), value_(other.value_) {}
    ~loop_job() { loop_->cancel(*this); }

    void start(completion<int>& done) noexcept {
        ++starts;
        done_ = &done;
        loop_->post(*this);
    }
    static inline int starts = 0;

private:
    static void fire(loop_work& work) noexcept {
        auto& self = static_cast<loop_job&>(work);
        self.done_->complete(self.value_);
    }
    event_loop* loop_;
    int value_;
    completion<int>* done_ = nullptr;
};

/// Completes with `value` from another thread after `delay`.
class thread_job final : public job_base<int> {
public:
    explicit thread_job(int value, std::chrono::milliseconds delay = std::chrono::milliseconds(5))
        : value_(value), delay_(delay) {}
    thread_job(thread_job&& other) noexcept : value_(other.value_), delay_(other.delay_) {}
    // A coroutine resumed by the worker may destroy the job on the worker thread itself.
    ~thread_job() {
        if (!worker_.joinable())
            return;
        if (worker_.get_id() == std::this_thread::get_id())
            worker_.detach();
        else
            worker_.join();
    }

    void start(completion<int>& done) noexcept {
        completing_thread = {};
        worker_ = std::thread([this, &done] {
            std::this_thread::sleep_for(delay_);
            completing_thread = std::this_thread::get_id();
            done.complete(value_);
        });
    }
    std::thread::id completing_thread;

private:
    int value_;
    std::chrono::milliseconds delay_;
    std::thread worker_;
};

/// Completes inside `start`: not allowed for real jobs, but the adapters must survive it.
class immediate_job final : public job_base<int> {
public:
    explicit immediate_job(int value) noexcept : value_(value) {}
    void start(completion<int>& done) noexcept { done.complete(value_); }

private:
    int value_;
};

}  // namespace amb::testing
