// amb::http_export::io_driver: an event-loop driver for Linux that also watches descriptors.
//
// The hosted port's `hosted::event_driver` sleeps in epoll on its own eventfd (wakeups) and
// timerfd (the loop's next deadline) and nothing else. A server that is driven by the loop (the
// HTTP exporter hands libmicrohttpd's epoll descriptor to the loop) needs the loop to wake when
// a socket is readable too. `io_driver` is the same driver plus `descriptor_watcher`: when a
// watched descriptor is readable, the driver posts the watcher's `loop_work` to the loop, which
// runs it on its next turn.
//
//     auto driver = http_export::io_driver::create();   // result<unique_ptr<io_driver>, errno>
//     event_loop loop(**driver);
//     driver.value()->watch(fd, loop, on_readable);      // on_readable: a loop_work
//     while (running) loop.run_once();
//
// Watching is level-triggered: while the descriptor stays readable, the work is posted again
// each time the driver waits and the work is not already pending. Everything but `wake` runs on
// the loop thread. TODO(port): this belongs in ports/hosted (`hosted::event_driver::watch`);
// it lives here until the port grows it, and the exporter depends only on `descriptor_watcher`.
#pragma once

#include <base/result.hpp>
#include <runtime/event_loop.hpp>

#include <memory>
#include <vector>

namespace amb::http_export {

/// Something that can tell an event loop when a descriptor is readable.
class descriptor_watcher {
public:
    /// Posts `readable` to `loop` whenever `fd` is readable (level-triggered). `fd`, `loop` and
    /// `readable` must stay valid until `unwatch(fd)`. Error: the errno of the failing call
    /// (EEXIST if `fd` is already watched).
    virtual result<void, int> watch(int fd, event_loop& loop, loop_work& readable) noexcept = 0;
    /// Stops watching `fd` (nothing if it is not watched). Work already posted stays posted:
    /// cancel it on the loop if it must not run.
    virtual void unwatch(int fd) noexcept = 0;

protected:
    ~descriptor_watcher() = default;
};

class io_driver final : public loop_driver, public descriptor_watcher {
public:
    /// Opens the epoll instance, eventfd and timerfd; the error is the errno of the call that
    /// failed. The driver does not move (watches point into it), hence the unique_ptr.
    static result<std::unique_ptr<io_driver>, int> create() noexcept;

    io_driver(const io_driver&) = delete;
    io_driver& operator=(const io_driver&) = delete;
    ~io_driver();

    loop_clock::time_point now() noexcept override;
    void wait(loop_clock::time_point deadline) noexcept override;
    void wake() noexcept override;

    result<void, int> watch(int fd, event_loop& loop, loop_work& readable) noexcept override;
    void unwatch(int fd) noexcept override;

private:
    struct watched {
        int fd;
        event_loop* loop;
        loop_work* readable;
    };

    io_driver(int epoll, int wakeup, int timer) noexcept
        : epoll_(epoll), wakeup_(wakeup), timer_(timer) {}

    int epoll_;
    int wakeup_;
    int timer_;
    bool timer_armed_ = false;
    // unique_ptr: epoll_event.data points at the entry, so entries must not move.
    std::vector<std::unique_ptr<watched>> watches_;
};

} // namespace amb::http_export
