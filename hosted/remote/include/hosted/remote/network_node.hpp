// The hosted glue of a node's network side: a portable `remote::node` (runtime/remote) bound to
// the hosted transports (UDP, serial lines, TCP; hosted/net) and driven from a
// `group_loop` (hosted/node) or by hand.
//
//     hosted::remote::network_node kitchen;
//     auto udp = kitchen.add_udp(std::move(*udp_transport::open({.bind = ...})));
//     auto serial = kitchen.add_serial(std::move(*serial_transport::open(fd, {})));
//     remote::link_id to_hall = kitchen.add_udp_link(udp, hall_address);
//     remote::link_id to_garden = kitchen.add_serial_link(serial);
//     remote::route_entry routes[] = {{"hall", to_hall}, {"garden", to_garden}, {"shed",
//     to_garden}}; config.routes = routes; ... kitchen.start(config);                        //
//     creates the remote::node kitchen.node().export_service("thermostat", exported); group_loop
//     loop; loop.add(kitchen); ...       // or kitchen.progress() in your own loop
//
// This is what the deployment tool's per-node glue writes (docs/remote.md, "Deployment glue").
// Packets are accepted from any UDP address (a packet from an address that is no link gets link
// id `unknown_link`): authenticity comes from tokens and MACs, not from addresses. A UDP peer
// that stops acknowledging, or a TCP connection that closes, fails the calls routed through it.
//
// As a loop_source, the node sleeps on an epoll descriptor that holds every transport and a
// timerfd armed for the earliest deadline (retransmissions, delayed acks, call timeouts). A pass
// of `progress` asks the kernel for datagrams (one recvmmsg per UDP transport, poll(2) for serial
// and TCP) right after a wake-up or after a pass that did work, and otherwise at most every
// `receive_check_interval` (a spinning loop then makes no system call on most idle passes);
// timers run on every pass from the clock alone. UDP output is held from the start of a pass
// (or from a send outside it) to the end of the pass and then sent with sendmmsg, so that
// acknowledgements ride on the answers and packets sent together share a system call.
// Single-threaded.
#pragma once

#include <hosted/net/serial_transport.hpp>
#include <hosted/net/tcp_transport.hpp>
#include <hosted/net/udp_transport.hpp>
#include <hosted/node/channel.hpp>

#include <remote/node.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

namespace amb::hosted::remote {

using amb::remote::byte_view;
using amb::remote::link_id;

inline constexpr link_id unknown_link = 0xffff;

/// Wall clock and CLOCK_MONOTONIC.
class system_clock_source final : public amb::remote::clock_source {
public:
    loop_clock::time_point monotonic() override;
    std::uint64_t unix_microseconds() override;
};

/// Writes each incident as one JSON line (node, what, and for refused tokens which check failed
/// in which frame) to a stream, stderr by default. These lines stay on the node: the network
/// only ever sees the coarse status code.
class incident_log final : public amb::remote::incident_sink {
public:
    explicit incident_log(std::string_view node_name, std::FILE* out = stderr)
        : node_name_(node_name), out_(out) {}
    void report(const amb::remote::incident& what) override;
    /// Every incident so far, by kind (for tests and counters).
    std::uint64_t count(amb::remote::incident_kind kind) const;
    std::optional<caplets::check> last_refused_check() const { return last_check_; }

private:
    std::string_view node_name_;
    std::FILE* out_;
    std::uint64_t counts_[32] = {};
    std::optional<caplets::check> last_check_;
};

class network_node final : public node::loop_source, private amb::remote::link_output {
public:
    network_node();
    ~network_node();
    network_node(const network_node&) = delete;
    network_node& operator=(const network_node&) = delete;

    // Transports, owned by the node; each returns an index for the link functions. Before start.
    std::size_t add_udp(std::unique_ptr<net::udp_transport> transport);
    std::size_t add_serial(std::unique_ptr<net::serial_transport> line);
    std::size_t add_tcp(std::unique_ptr<net::tcp_connection> connection);
    // Links to neighbours, numbered from 0 in the order they are added. Before start.
    link_id add_udp_link(std::size_t udp, net::ipv4_endpoint neighbour);
    link_id add_serial_link(std::size_t serial);
    link_id add_tcp_link(std::size_t tcp);

    /// Creates the portable node. `incidents` null: an incident_log on stderr.
    result<void, amb::remote::config_error> start(const amb::remote::node_config& config,
                                                  amb::remote::incident_sink* incidents = nullptr);
    amb::remote::node& node() { return *node_; }
    net::udp_transport& udp(std::size_t index) { return *udp_[index]; }
    net::serial_transport& serial(std::size_t index) { return *serial_[index]; }

    /// Called with every packet this node sends (tests capture packets with it).
    std::function<void(link_id, byte_view)> tap;

    /// Runs one step by hand: waits up to `max_wait` for a transport or a deadline, then
    /// progress(). For loops that are not a group_loop.
    std::size_t step(std::chrono::milliseconds max_wait);

    /// While idle, the kernel is asked for input at most this often (default 2 µs; 0: on
    /// every pass). Bounds the extra latency a spinning loop adds to an arriving datagram.
    void set_receive_check_interval(std::chrono::nanoseconds interval) {
        check_interval_ = interval;
    }

    // loop_source
    std::size_t progress() override;
    bool prepare_sleep() override;
    void finish_sleep() override;
    int wake_descriptor() const override { return epoll_; }

private:
    enum class link_kind : std::uint8_t { udp, serial, tcp };
    struct link {
        link_kind kind;
        std::size_t transport;
        net::ipv4_endpoint neighbour;
        bool failed = false; // tcp: the close was reported once
    };

    bool send(link_id link, byte_view packet) override;
    loop_clock::time_point next_deadline() const;
    void watch(int fd);
    void update_interest();
    link_id udp_link_of(std::size_t udp, net::ipv4_endpoint from) const;

    std::vector<std::unique_ptr<net::udp_transport>> udp_;
    std::vector<std::unique_ptr<net::serial_transport>> serial_;
    std::vector<std::unique_ptr<net::tcp_connection>> tcp_;
    std::vector<link> links_;
    std::vector<int> watched_;
    std::vector<short> interest_;
    std::vector<pollfd> poll_set_;
    int epoll_ = -1;
    int timer_ = -1;
    loop_clock::time_point timer_armed_ = loop_clock::time_point::max();
    bool check_now_ = true;
    loop_clock::time_point last_check_{};
    std::chrono::nanoseconds check_interval_ = std::chrono::microseconds(2);
    system_clock_source clock_;
    std::unique_ptr<incident_log> default_log_;
    std::unique_ptr<amb::remote::node> node_;
};

} // namespace amb::hosted::remote
