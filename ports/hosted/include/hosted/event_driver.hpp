// amb::hosted::event_driver: the Linux driver for amb::event_loop.
//
// One epoll instance watches an eventfd (wakeups from other threads) and a timerfd (the loop's
// next deadline, absolute on CLOCK_MONOTONIC, which is also the loop clock). One driver per event
// loop; `wake` may be called from any thread, everything else on the loop thread.
//
//     auto driver = hosted::event_driver::create();   // result<event_driver, int errno>
//     event_loop loop(*driver);
#pragma once

#include <base/result.hpp>
#include <runtime/event_loop.hpp>

namespace amb::hosted {

class event_driver final : public loop_driver {
public:
    /// Opens the epoll instance, eventfd and timerfd; the error is the errno of the call that
    /// failed (for example EMFILE).
    static result<event_driver, int> create() noexcept;

    event_driver(event_driver&& other) noexcept;
    event_driver& operator=(event_driver&&) = delete;
    ~event_driver();

    loop_clock::time_point now() noexcept override;
    void wait(loop_clock::time_point deadline) noexcept override;
    void wake() noexcept override;

private:
    event_driver(int epoll, int wakeup, int timer) noexcept
        : epoll_(epoll), wakeup_(wakeup), timer_(timer) {}

    int epoll_;
    int wakeup_;
    int timer_;
    bool timer_armed_ = false;
};

}  // namespace amb::hosted
