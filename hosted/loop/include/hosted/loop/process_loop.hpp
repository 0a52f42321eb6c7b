// amb::hosted::loop::process_loop: the one event loop of a hosted process (or thread), with its
// epoll driver, and `descriptor_poller`, the base of sources that poll shared memory and sleep
// on a descriptor their peer rings (channels between groups).
//
//     auto loop = hosted::loop::process_loop::create();      // result<unique_ptr<...>, errno>
//     caller.run_on(**loop);                                  // a descriptor_poller
//     exporter ... (*loop)->loop(), (*loop)->driver() ...     // descriptors, work, timers
//     (*loop)->loop().run_until([&] { return done; });
//
// Everything in a process attaches to this one loop: descriptor watches (sockets, pidfds, a
// signalfd, libmicrohttpd's and libcurl's descriptors), posted work, timers, and pollers. There
// is no second loop to bridge and no periodic tick: an idle process sleeps in epoll_wait until a
// descriptor is ready or its earliest timer is due. One thread.
#pragma once

#include <ports/hosted/event_driver.hpp>

#include <base/result.hpp>
#include <runtime/event_loop.hpp>

#include <memory>
#include <utility>

namespace amb::hosted::loop {

using ports::hosted::descriptor_watch;
using ports::hosted::default_spin;
using ports::hosted::event_driver;

class process_loop {
public:
    /// Opens the driver (`spin`: its spin policy). Error: errno. The loop does not move (the
    /// watches and pollers attached to it point into it), hence the unique_ptr.
    static result<std::unique_ptr<process_loop>, int> create(
        loop_clock::duration spin = default_spin) noexcept;
    process_loop(const process_loop&) = delete;
    process_loop& operator=(const process_loop&) = delete;

    event_loop& loop() noexcept { return loop_; }
    event_driver& driver() noexcept { return driver_; }

    /// event_loop::run_until on this loop.
    template <class Done>
    bool run_until(Done&& done, loop_clock::duration timeout = loop_clock::duration::max()) {
        return loop_.run_until(static_cast<Done&&>(done), timeout);
    }

private:
    explicit process_loop(event_driver driver) noexcept
        : driver_(static_cast<event_driver&&>(driver)), loop_(driver_) {}

    event_driver driver_;
    event_loop loop_;
};

/// A loop_poller that sleeps on one descriptor (level-triggered, readable): the loop polls it on
/// every pass, and a write to the descriptor by its peer ends the loop's sleep. The subclass
/// drains the descriptor in finish_sleep. Detached by `detach`, the destructor, or the loop's
/// destruction (a poller may outlive its loop); only a detached poller may move.
class descriptor_poller : public loop_poller {
public:
    descriptor_poller() noexcept = default;
    descriptor_poller(descriptor_poller&& other) noexcept : loop_poller(std::move(other)) {}

    /// Registers this poller with `loop` and watches `fd`. Error: errno of epoll_ctl.
    result<void, int> attach_to(process_loop& loop, int fd) noexcept;
    /// Unregisters (nothing if not attached). Before the descriptor closes.
    void detach() noexcept;

protected:
    ~descriptor_poller() { detach(); }

private:
    descriptor_watch watch_{};
    process_loop* attached_ = nullptr;
};

}  // namespace amb::hosted::loop
