// udp_transport: messages over UDP with the reliable datagram protocol of <net/reliable_datagram>
// (docs/net.md, "Datagram links"), one non-blocking socket for all peers.
//
//     auto udp = hosted::net::udp_transport::open({.bind = ipv4_endpoint::loopback(0)});
//     auto ticket = (*udp)->send(peer, message, monotonic_now());   // queued, copied
//     ... drive it: poll_transports(timeout, **udp), or epoll on fd() and call on_events.
//     while (auto message = (*udp)->receive()) use(message->from, message->bytes);
//     while (auto report = (*udp)->take_report()) ...               // ticket acked or failed
//
// One `reliable_endpoint` per peer address, created on the first send to it or the first valid
// datagram from it (at most `max_peers`; each holds about three times `max_message_size` of
// memory). Each peer has up to `protocol.window` messages in flight and a bounded queue behind
// them; messages from a peer are received in the order it sent them. Datagrams are read with
// recvmmsg(2) and written with sendmmsg(2), up to `batch` at a time; a datagram the kernel
// refuses (EAGAIN, ENOBUFS) is dropped and recovered by retransmission, a datagram larger than
// the MTU is dropped (counted). Received messages and send reports wait in the transport until
// taken: a full receive queue stops reading the socket (back-pressure; it can exceed
// `max_received` by the messages one datagram completes), and past `max_reports` the oldest
// report is dropped.
//
// Output batching: between `hold_output()` and `release_output(now)` nothing is transmitted but
// every `held_flush` messages sent (they go out together, carrying the acknowledgements owed);
// `release_output` sends everything due, so that acknowledgements owed for the datagrams just
// read ride on the answers queued meanwhile (the network node does this around each pass).
// Outside such a bracket, `send` and `on_events` transmit at once. Single-threaded: call
// everything from the loop thread.
// TODO(security): any address can claim a peer slot; the planner should list the peers.
#pragma once

#include <hosted/net/transport.hpp>
#include <net/reliable_datagram.hpp>

#include <base/result.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace amb::hosted::net {

struct udp_config {
    /// Local address and port; port 0 picks a free one (see `local()`).
    ipv4_endpoint bind = ipv4_endpoint::loopback(0);
    /// Protocol settings for every peer; the session is drawn at random per peer.
    amb::net::reliable_config protocol;
    std::size_t max_peers = 16;
    /// Messages waiting behind those in flight, per peer.
    std::size_t max_queued = 64;
    std::size_t max_received = 256;
    std::size_t max_reports = 256;
    /// Datagrams per recvmmsg / sendmmsg call.
    std::size_t batch = 32;
    /// While output is held, every this many messages sent are transmitted anyway, so that the
    /// peer starts on them while more are produced (0: hold everything until release).
    std::size_t held_flush = 8;
};

struct received_message {
    ipv4_endpoint from;
    std::vector<std::uint8_t> bytes;
};

/// The end of one `send`: success, or why the protocol gave up.
struct send_report {
    ipv4_endpoint to;
    std::uint64_t ticket = 0;
    std::optional<amb::net::send_failure> failure;
};

struct udp_counters {
    std::uint64_t datagrams_received = 0;
    std::uint64_t datagrams_sent = 0;
    std::uint64_t datagrams_refused_by_kernel = 0;  ///< sendto failed; retransmission recovers
    std::uint64_t datagrams_from_unknown_peers = 0; ///< dropped: `max_peers` reached
    std::uint64_t datagrams_truncated = 0;          ///< dropped: larger than the MTU
    std::uint64_t receive_calls = 0;                ///< recvmmsg calls
    std::uint64_t send_calls = 0;                   ///< sendmmsg calls
};

class udp_transport {
public:
    /// Opens and binds the socket; the error is the errno of the call that failed.
    static result<std::unique_ptr<udp_transport>, int> open(const udp_config& config);
    ~udp_transport();
    udp_transport(const udp_transport&) = delete;
    udp_transport& operator=(const udp_transport&) = delete;

    /// Queues `message` (copied) for `to`; returns a ticket that a later `send_report` names.
    result<std::uint64_t, transport_error>
    send(ipv4_endpoint to, std::span<const std::uint8_t> message, loop_clock::time_point now);

    std::optional<received_message> receive();
    std::optional<send_report> take_report();

    int fd() const noexcept { return fd_; }
    /// POLLIN while the receive queue has room (back-pressure otherwise).
    short wanted_events() const noexcept {
        return received_.size() < config_.max_received ? POLLIN : 0;
    }
    /// Reads every waiting datagram (if POLLIN), runs timers, transmits what is due (unless
    /// output is held). Returns the number of datagrams read.
    std::size_t on_events(short revents, loop_clock::time_point now);
    loop_clock::time_point next_deadline() const noexcept;

    /// Until `release_output`, nothing is transmitted (see the header comment).
    void hold_output() noexcept { hold_output_ = true; }
    /// Transmits everything due: data, retransmissions, acknowledgements.
    void release_output(loop_clock::time_point now);

    /// Whether the last read found the socket empty (a short recvmmsg batch or EAGAIN), as
    /// opposed to stopping at its limit or at a full receive queue with datagrams still waiting.
    /// A loop need not ask the kernel again before it sleeps when this is true: a datagram that
    /// arrives meanwhile makes the descriptor readable.
    bool drained() const noexcept { return drained_; }

    ipv4_endpoint local() const noexcept { return local_; }
    const udp_counters& counters() const noexcept { return counters_; }
    /// The protocol counters of one peer, if it exists.
    const amb::net::reliable_counters* peer_counters(ipv4_endpoint address) const;

private:
    struct peer;

    udp_transport(int fd, const udp_config& config, ipv4_endpoint local);
    peer* find_or_add(ipv4_endpoint address);
    void start_next(peer& target, loop_clock::time_point now);
    void complete(peer& target, const amb::net::send_completion& completion,
                  loop_clock::time_point now);
    void deliver(peer& source);
    std::size_t read_datagrams(loop_clock::time_point now);
    void flush(peer& target, loop_clock::time_point now);
    void flush_due(loop_clock::time_point now);
    void transmit();

    int fd_;
    udp_config config_;
    ipv4_endpoint local_;
    std::map<ipv4_endpoint, std::unique_ptr<peer>> peers_;
    std::deque<received_message> received_;
    std::deque<send_report> reports_;
    std::uint64_t next_ticket_ = 1;
    udp_counters counters_;
    bool hold_output_ = false;
    bool drained_ = true;
    std::size_t held_sends_ = 0;
    // recvmmsg / sendmmsg batches: `batch` buffers of `mtu` bytes each way.
    std::vector<std::uint8_t> in_buffers_;
    std::vector<std::uint8_t> out_buffers_;
    std::vector<mmsghdr> in_headers_;
    std::vector<mmsghdr> out_headers_;
    std::vector<iovec> in_vectors_;
    std::vector<iovec> out_vectors_;
    std::vector<sockaddr_in> in_addresses_;
    std::vector<sockaddr_in> out_addresses_;
    std::size_t out_count_ = 0;
};

} // namespace amb::hosted::net
