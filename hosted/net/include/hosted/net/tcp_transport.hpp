// TCP transports: length-prefixed messages (<net/length_prefixed.hpp>, docs/net.md "Stream
// links") over a non-blocking stream socket.
//
//     auto listener = tcp_listener::listen(ipv4_endpoint::loopback(0));
//     auto client = tcp_connection::connect(listener->local(), {});   // connecting...
//     ... when the listener is readable: auto server = listener->accept({});
//     client->send(message);                      // queued (copied), written as the socket allows
//     ... drive both: poll_transports(timeout, *client, *server) or epoll on fd().
//     while (auto message = server->receive()) use(*message);
//
// A connection is `connecting` (after a non-blocking connect), `open`, or `closed` with a
// `close_reason`: the peer closed, a length above `max_message_size` arrived (the stream cannot
// be resynchronised), or a socket error. Messages already received stay available after the
// close. TCP has its own retransmission, so there are no acknowledgements or timers here;
// `next_deadline` is always `max()`. Single-threaded: call everything from the loop thread.
#pragma once

#include <hosted/net/transport.hpp>
#include <net/length_prefixed.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amb::hosted::net {

/// The first message on a TCP link between two nodes of a deployment (docs/deploy.md, "TCP
/// links"): node `from`, which connects, names itself and the node `to` it wants. The accepting
/// node compares the first message it receives with `tcp_hello(neighbour, itself)`. The one
/// declaration of the hello: nodes and test tools (amb_packet) write it with this function.
std::string tcp_hello(std::string_view from, std::string_view to);

struct tcp_config {
    std::size_t max_message_size = 64 * 1024;
    /// Bytes queued for writing, at most (back-pressure: `send` returns queue_full).
    std::size_t max_queued_bytes = 4 * 1024 * 1024;
    std::size_t max_received = 256;
};

enum class close_reason : std::uint8_t {
    peer_closed = 1, ///< end of stream (a partial message, if any, is lost)
    protocol_error,  ///< an announced length above `max_message_size`
    socket_error,    ///< see `socket_error()` for the errno
    closed_locally,  ///< `close()` was called
};

class tcp_connection {
public:
    enum class state : std::uint8_t { connecting, open, closed };

    /// Starts a non-blocking connect; the connection becomes open or closed in `on_events`.
    /// The error is the errno of socket() or of an immediately failed connect().
    static result<std::unique_ptr<tcp_connection>, int> connect(ipv4_endpoint to,
                                                                const tcp_config& config);
    /// Takes ownership of a connected socket (made non-blocking here).
    static std::unique_ptr<tcp_connection> adopt(int fd, const tcp_config& config);
    ~tcp_connection();
    tcp_connection(const tcp_connection&) = delete;
    tcp_connection& operator=(const tcp_connection&) = delete;

    /// Queues `message` (copied) behind its length prefix. Allowed while connecting.
    result<void, transport_error> send(std::span<const std::uint8_t> message);
    std::optional<std::vector<std::uint8_t>> receive();

    int fd() const noexcept { return fd_; }
    short wanted_events() const noexcept;
    void on_events(short revents, loop_clock::time_point now);
    loop_clock::time_point next_deadline() const noexcept { return loop_clock::time_point::max(); }

    /// Closes the socket; queued output is discarded.
    void close() noexcept;
    state current_state() const noexcept { return state_; }
    std::optional<close_reason> reason() const noexcept { return reason_; }
    int socket_error() const noexcept { return socket_error_; }
    /// Bytes queued and not yet written.
    std::size_t pending_output() const noexcept { return output_.size() - output_offset_; }

private:
    tcp_connection(int fd, state initial, const tcp_config& config);
    void fail(close_reason why, int error = 0) noexcept;
    void read_ready();
    void write_ready();

    int fd_;
    state state_;
    tcp_config config_;
    std::optional<close_reason> reason_;
    int socket_error_ = 0;
    std::vector<std::uint8_t> decoder_storage_;
    amb::net::length_prefixed_decoder decoder_;
    std::deque<std::vector<std::uint8_t>> received_;
    // Output: one growing byte buffer and the offset written so far; compacted when drained.
    std::vector<std::uint8_t> output_;
    std::size_t output_offset_ = 0;
};

class tcp_listener {
public:
    /// Binds and listens; port 0 picks a free one. The error is the errno of the failed call.
    static result<std::unique_ptr<tcp_listener>, int> listen(ipv4_endpoint bind);
    ~tcp_listener();
    tcp_listener(const tcp_listener&) = delete;
    tcp_listener& operator=(const tcp_listener&) = delete;

    /// An accepted connection, or nothing if none is waiting (or accept failed transiently).
    std::unique_ptr<tcp_connection> accept(const tcp_config& config);

    int fd() const noexcept { return fd_; }
    short wanted_events() const noexcept { return POLLIN; }
    /// Nothing to do: call `accept` when the descriptor is readable.
    void on_events(short, loop_clock::time_point) noexcept {}
    loop_clock::time_point next_deadline() const noexcept { return loop_clock::time_point::max(); }
    ipv4_endpoint local() const noexcept { return local_; }

private:
    tcp_listener(int fd, ipv4_endpoint local) : fd_(fd), local_(local) {}

    int fd_;
    ipv4_endpoint local_;
};

} // namespace amb::hosted::net
