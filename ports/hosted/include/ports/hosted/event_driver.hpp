// amb::ports::hosted::event_driver: the Linux driver for amb::event_loop.
//
// One epoll instance watches an eventfd (wakeups from other threads), a timerfd (the loop's
// next deadline, absolute on CLOCK_MONOTONIC, which is also the loop clock) and any descriptor
// its owner asks it to watch (`descriptor_watch`). One driver per event
// loop; `wake` may be called from any thread, everything else on the loop thread.
//
// It also holds the loop's spin policy (`loop_driver::spin`): how long a loop with pollers (the
// rings of channels, network_node's sockets) keeps polling before it sleeps in epoll_wait. On
// the 2-core VMs we measure on, waking an idle CPU costs tens of microseconds, and a 50 µs spin
// used less CPU than blocking at once at low load (bench/README.md), hence `default_spin`.
// While spinning, the loop yields the CPU every few passes (`relax`: sched_yield).
//
//     auto driver = ports::hosted::event_driver::create();   // result<event_driver, int errno>
//     event_loop loop(*driver);
#pragma once

#include <base/result.hpp>
#include <base/loop_driver.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace amb::ports::hosted {

/// A descriptor the driver watches for its owner (a socket, a pty, an eventfd of a channel,
/// libmicrohttpd's epoll descriptor). `ready(context, events)` runs on the loop thread, from
/// inside the loop's wait, with the epoll events that occurred (EPOLLIN, EPOLLOUT, EPOLLERR,
/// EPOLLHUP); it may post work to the loop but must not unwatch other descriptors. The object
/// must stay where it is until `unwatch`.
struct descriptor_watch {
    int fd = -1;
    void (*ready)(void* context, std::uint32_t events) noexcept = nullptr;
    void* context = nullptr;
};

/// The spin period of a hosted loop unless its owner chooses another (manifest: `spin`).
inline constexpr loop_clock::duration default_spin = std::chrono::microseconds(50);

class event_driver final : public loop_driver {
public:
    /// Opens the epoll instance, eventfd and timerfd; the error is the errno of the call that
    /// failed (for example EMFILE). `spin`: see the file comment (zero: sleep at once).
    static result<event_driver, int> create(loop_clock::duration spin = default_spin) noexcept;

    event_driver(event_driver&& other) noexcept;
    event_driver& operator=(event_driver&&) = delete;
    ~event_driver();

    loop_clock::time_point now() noexcept override;
    void wait(loop_clock::time_point deadline) noexcept override;
    void wake() noexcept override;
    loop_clock::duration spin() const noexcept override { return spin_; }
    void relax() noexcept override;
    void set_spin(loop_clock::duration spin) noexcept { spin_ = spin; }

    /// Starts watching `watch.fd` for `events` (EPOLLIN, EPOLLOUT; level-triggered). Error:
    /// errno of epoll_ctl (EEXIST if already watched).
    result<void, int> watch(descriptor_watch& watch, std::uint32_t events) noexcept;
    /// Changes the events of a watched descriptor. Error: errno of epoll_ctl.
    result<void, int> modify(descriptor_watch& watch, std::uint32_t events) noexcept;
    /// Stops watching (before the descriptor is closed or the watch object goes away).
    void unwatch(descriptor_watch& watch) noexcept;

private:
    event_driver(int epoll, int wakeup, int timer) noexcept
        : epoll_(epoll), wakeup_(wakeup), timer_(timer) {}

    int epoll_;
    int wakeup_;
    int timer_;
    bool timer_armed_ = false;
    loop_clock::time_point timer_deadline_{};  // while armed
    loop_clock::duration spin_ = default_spin;
};

/// Descriptors watched by number, for owners that only know descriptor numbers (libmicrohttpd's
/// epoll descriptor, libcurl's sockets): one `descriptor_watch` per descriptor, kept here. For
/// each ready descriptor `ready(owner, item, events)` runs as described for descriptor_watch,
/// with the set's `owner` and the descriptor's `item`. One thread (the loop's).
class descriptor_set {
public:
    using ready_function = void (*)(void* owner, void* item, std::uint32_t events) noexcept;

    descriptor_set(event_driver& driver, ready_function ready, void* owner) noexcept
        : driver_(&driver), ready_(ready), owner_(owner) {}
    descriptor_set(const descriptor_set&) = delete;
    descriptor_set& operator=(const descriptor_set&) = delete;
    /// Stops watching every descriptor still in the set.
    ~descriptor_set();

    /// Watches `fd` for `events` (epoll flags, level-triggered) with `item`, or changes the
    /// events and item of a descriptor already in the set. Error: errno (ENOMEM, or epoll_ctl's).
    result<void, int> watch(int fd, std::uint32_t events, void* item) noexcept;
    /// Stops watching `fd` (nothing if it is not in the set).
    void unwatch(int fd) noexcept;
    bool contains(int fd) const noexcept;
    std::size_t size() const noexcept { return watches_.size(); }

private:
    struct entry {
        descriptor_watch watch;
        descriptor_set* set;
        void* item;
    };

    event_driver* driver_;
    ready_function ready_;
    void* owner_;
    // unique_ptr: the epoll registration points at the entry, so entries must not move.
    std::vector<std::unique_ptr<entry>> watches_;
};

}  // namespace amb::ports::hosted
