// Shared pieces of the hosted network transports (docs/net.md, "Hosted transports"): IPv4
// addresses, the loop clock read from CLOCK_MONOTONIC, error values, and `poll_transports`, a
// poll(2)-based driver for any set of transports.
//
// Every transport (udp_transport, tcp_connection, tcp_listener, serial_transport) has the same
// driving surface, so a network proxy can run any mix of them from one loop:
//
//     int fd() const;                                  // non-blocking, owned by the transport
//     short wanted_events() const;                     // POLLIN, plus POLLOUT when output waits
//     void on_events(short revents, loop_clock::time_point now);
//     loop_clock::time_point next_deadline() const;    // when on_events(0, now) is due anyway
//
// `on_events(0, now)` runs only timers. The times are those of amb::event_loop's clock
// (CLOCK_MONOTONIC, as ports::hosted::event_driver), so transports can share its timers.
// In a node, network_node watches each transport's descriptor on the process loop's driver and
// arms a loop timer for the earliest `next_deadline()` (hosted/remote/network_node.hpp);
// `poll_transports` serves tests and tools that have no loop.
#pragma once

#include <runtime/event_loop.hpp>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <compare>
#include <cstdint>
#include <string>

namespace amb::hosted::net {

/// An IPv4 address and port, both in host byte order.
struct ipv4_endpoint {
    std::uint32_t address = 0;
    std::uint16_t port = 0;

    static constexpr ipv4_endpoint loopback(std::uint16_t port) noexcept {
        return {0x7f000001u, port};
    }
    auto operator<=>(const ipv4_endpoint&) const = default;
    /// "a.b.c.d:port", for logs.
    std::string to_string() const;
};

/// Errors of queueing a message for sending.
enum class transport_error : std::uint8_t {
    message_too_large = 1, ///< above the transport's maximum message size
    queue_full,            ///< too many messages or bytes waiting (back-pressure)
    closed,                ///< the connection is closed; see the transport's close reason
    too_many_peers,        ///< the UDP transport already talks to `max_peers` peers
};

const char* to_string(transport_error error) noexcept;

/// The current time of the loop clock (CLOCK_MONOTONIC).
loop_clock::time_point monotonic_now() noexcept;

/// Waits in poll(2) until one of `transports` is ready, its earliest deadline passes, or
/// `max_wait` elapses; then dispatches events and due timers to each. Returns poll's errno on
/// failure (EINTR is retried), 0 otherwise.
template <class... Transports>
int poll_transports(loop_clock::duration max_wait, Transports&... transports) {
    pollfd fds[] = {pollfd{transports.fd(), transports.wanted_events(), 0}...};
    loop_clock::time_point now = monotonic_now();
    loop_clock::time_point deadline = now + max_wait;
    ((deadline = std::min(deadline, transports.next_deadline())), ...);
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int ready;
    do {
        ready =
            ::poll(fds, sizeof...(Transports), static_cast<int>(std::max<decltype(wait)>(wait, 0)));
    } while (ready < 0 && errno == EINTR);
    if (ready < 0)
        return errno;
    now = monotonic_now();
    std::size_t index = 0;
    (transports.on_events(fds[index++].revents, now), ...);
    return 0;
}

} // namespace amb::hosted::net
