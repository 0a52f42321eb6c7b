// The seam between the HTTP import client and whatever loop waits on its sockets.
//
// libcurl, which makes the HTTP requests, opens and closes sockets as it goes and says for each
// whether it waits to read, to write or both. A `socket_watcher` is the loop's side of that: it
// watches a descriptor for the interest it was given and tells the descriptor's
// `socket_handler` when it is ready. `http_import::io_driver` (io_driver.hpp) implements it on
// the hosted epoll driver of an `amb::event_loop`: its own, or (`io_driver::over`) the driver
// of a node's process loop, as the deployment glue does.
//
//     class my_loop final : public http_import::socket_watcher { ... };
//     auto client = http_import::http_client::create(loop, watcher);
//
// Threading: everything on the loop thread. `socket_handler::ready` may be called from inside
// the loop's wait (as `ports::hosted::event_driver` does), so a handler only records the events and
// posts work to its loop; it never calls back into the watcher from there.
#pragma once

#include <base/result.hpp>

#include <cstdint>

namespace amb::http_import {

/// Interest and readiness flags of a socket.
enum socket_events : std::uint32_t {
    socket_readable = 1,
    socket_writable = 2,
    socket_error = 4, ///< reported only (an error or a hang-up); never asked for
};

/// The owner of a watched socket.
class socket_handler {
public:
    /// `events` (socket_events flags) occurred on the socket. Records and posts; see above.
    virtual void ready(std::uint32_t events) noexcept = 0;

protected:
    ~socket_handler() = default;
};

class socket_watcher {
public:
    /// Starts watching `fd` for `interest` (socket_readable and/or socket_writable;
    /// level-triggered), or changes the interest of a descriptor already watched (then
    /// `handler` replaces the previous one). `handler` must stay valid until `unwatch(fd)`.
    /// Error: the errno of the failing call (for example ENOMEM).
    virtual result<void, int> watch(int fd, std::uint32_t interest,
                                    socket_handler& handler) noexcept = 0;
    /// Stops watching `fd` (nothing if it is not watched). Called before the descriptor closes.
    virtual void unwatch(int fd) noexcept = 0;

protected:
    ~socket_watcher() = default;
};

} // namespace amb::http_import
