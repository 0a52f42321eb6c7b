// amb::http_export::io_driver: the hosted event-loop driver plus `descriptor_watcher`.
//
// A server driven by the loop (the HTTP exporter hands libmicrohttpd's epoll descriptor to the
// loop) needs the loop to wake when a socket is readable and then to run some loop work.
// `io_driver` is `ports::hosted::event_driver` (which watches descriptors for their owners) with that
// adapter: when a watched descriptor is readable, the driver posts the watcher's `loop_work` to
// the loop, which runs it on its next turn.
//
//     auto driver = http_export::io_driver::create();   // result<unique_ptr<io_driver>, errno>
//     event_loop loop(**driver);
//     driver.value()->watch(fd, loop, on_readable);      // on_readable: a loop_work
//     while (running) loop.run_once();
//
// Watching is level-triggered: while the descriptor stays readable, the work is posted again
// each time the driver waits and the work is not already pending. Everything but `wake` runs on
// the loop thread.
#pragma once

#include <base/result.hpp>
#include <ports/hosted/event_driver.hpp>
#include <runtime/event_loop.hpp>

#include <memory>
#include <optional>

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
    /// Opens the hosted driver; the error is the errno of the call that failed. The driver does
    /// not move (watches point into it), hence the unique_ptr.
    static result<std::unique_ptr<io_driver>, int> create() noexcept;
    /// The adapter alone, over the driver of a loop that has one already (the process loop of a
    /// node, hosted/loop/process_loop.hpp): it watches through `driver`, which must outlive
    /// it, and owns nothing. Error: ENOMEM.
    static result<std::unique_ptr<io_driver>, int> over(
        ports::hosted::event_driver& driver) noexcept;

    io_driver(const io_driver&) = delete;
    io_driver& operator=(const io_driver&) = delete;
    ~io_driver();

    loop_clock::time_point now() noexcept override { return driver_->now(); }
    void wait(loop_clock::time_point deadline) noexcept override { driver_->wait(deadline); }
    void wake() noexcept override { driver_->wake(); }

    /// As descriptor_watcher::watch; the driver drives one loop, so every watch must name the
    /// same `loop` (EINVAL otherwise).
    result<void, int> watch(int fd, event_loop& loop, loop_work& readable) noexcept override;
    void unwatch(int fd) noexcept override;

private:
    explicit io_driver(ports::hosted::event_driver driver) noexcept
        : owned_(std::move(driver)), driver_(&*owned_), descriptors_(*driver_, &ready, this) {}
    explicit io_driver(ports::hosted::event_driver* driver) noexcept
        : driver_(driver), descriptors_(*driver_, &ready, this) {}
    static void ready(void* owner, void* work, std::uint32_t events) noexcept;

    std::optional<ports::hosted::event_driver> owned_;  // unless made `over` another's
    ports::hosted::event_driver* driver_;
    ports::hosted::descriptor_set descriptors_;  // item: the loop_work to post
    event_loop* loop_ = nullptr;          // the one loop every watch posts to
};

} // namespace amb::http_export
