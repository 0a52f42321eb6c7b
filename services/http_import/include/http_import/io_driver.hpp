// amb::http_import::io_driver: the hosted event-loop driver as the HTTP import client's
// socket watcher.
//
// `ports::hosted::event_driver` already watches descriptors for their owners (epoll, level-triggered,
// for reading and writing). `io_driver` is that driver plus the `socket_watcher` adapter the
// import client needs, so that one loop runs the client and everything else of its thread:
//
//     auto driver = http_import::io_driver::create();   // result<unique_ptr<io_driver>, errno>
//     event_loop loop(**driver);
//     auto client = http_import::http_client::create(loop, **driver);
//     while (running) loop.run_once();
//
// Everything but `wake` runs on the loop thread. The driver must outlive the loop and every
// client that watches through it.
#pragma once

#include <http_import/socket_watcher.hpp>

#include <base/result.hpp>
#include <ports/hosted/event_driver.hpp>
#include <runtime/event_loop.hpp>

#include <memory>
#include <optional>

namespace amb::http_import {

class io_driver final : public loop_driver, public socket_watcher {
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

    result<void, int> watch(int fd, std::uint32_t interest,
                            socket_handler& handler) noexcept override;
    void unwatch(int fd) noexcept override;

    /// How many descriptors are watched (for tests: a finished client leaves none).
    std::size_t watched() const noexcept { return sockets_.size(); }

private:
    explicit io_driver(ports::hosted::event_driver driver) noexcept
        : owned_(std::move(driver)), driver_(&*owned_), sockets_(*driver_, &ready, nullptr) {}
    explicit io_driver(ports::hosted::event_driver* driver) noexcept
        : driver_(driver), sockets_(*driver_, &ready, nullptr) {}
    static void ready(void* owner, void* handler, std::uint32_t events) noexcept;

    std::optional<ports::hosted::event_driver> owned_;  // unless made `over` another's
    ports::hosted::event_driver* driver_;
    ports::hosted::descriptor_set sockets_;  // item: the socket_handler
};

} // namespace amb::http_import
