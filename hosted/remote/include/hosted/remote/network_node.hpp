// The hosted glue of a node's network side: a portable `remote::node` (runtime/remote) bound to
// the hosted transports (UDP, serial lines, TCP; hosted/net), run on the process's one event
// loop (hosted/loop/process_loop.hpp).
//
//     hosted::remote::network_node kitchen;
//     auto udp = kitchen.add_udp(std::move(*udp_transport::open({.bind = ...})));
//     auto serial = kitchen.add_serial(std::move(*serial_transport::open(fd, {})));
//     remote::link_id to_hall = kitchen.add_udp_link(udp, hall_address);
//     remote::link_id to_garden = kitchen.add_serial_link(serial);
//     remote::route_entry routes[] = {{"hall", to_hall}, {"garden", to_garden},
//                                     {"shed", to_garden}};
//     config.routes = routes; ...
//     kitchen.start(config);                                   // creates the remote::node
//     kitchen.node().export_service("thermostat", exported);
//     kitchen.run_on(loop);                                    // a process_loop
//
// This is what the deployment tool's per-node glue writes (docs/remote.md, "Deployment glue").
// Packets are accepted from any UDP address (a packet from an address that is no link gets link
// id `unknown_link`): authenticity comes from tokens and MACs, not from addresses. A UDP peer
// that stops acknowledging, or a TCP connection that closes, fails the calls routed through it.
//
// On the loop, the node is a poller whose transports are descriptor watches of the loop's driver
// (with the interest each transport wants) and whose earliest deadline (retransmissions, delayed
// acks, call timeouts) is a loop timer: no epoll or timerfd of its own. A pass of `progress`
// asks the kernel for datagrams (one recvmmsg per UDP transport, poll(2) for serial and TCP)
// right after a watch fired or after a pass that did work, and otherwise at most every
// `receive_check_interval` (a spinning loop then makes no system call on most idle passes);
// timers run on every pass from the clock alone. UDP output is held from the start of a pass
// (or from a send outside it) to the end of the pass and then sent with sendmmsg, so that
// acknowledgements ride on the answers and packets sent together share a system call.
// Single-threaded.
#pragma once

#include <hosted/net/serial_transport.hpp>
#include <hosted/net/tcp_transport.hpp>
#include <hosted/net/udp_transport.hpp>
#include <hosted/loop/process_loop.hpp>

#include <remote/node.hpp>

#include <cstdio>
#include <deque>
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

/// Told about the connections of replaceable TCP links (`network_node::add_tcp_link()`): the
/// owner of the links (tcp_links) makes and replaces them. Called from the loop.
class tcp_link_observer {
public:
    /// The connection of `link` is open (messages that waited for it were sent).
    virtual void opened(link_id link) = 0;
    /// The connection of `link` closed; the node drops it after this returns.
    virtual void closed(link_id link, const net::tcp_connection& connection) = 0;

protected:
    ~tcp_link_observer() = default;
};

class network_node final : public loop_poller, private amb::remote::link_output {
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
    /// A TCP link without a connection yet, whose connection `replace_tcp` sets and replaces
    /// (before start). Messages sent while it has no open connection wait: at most
    /// `max_waiting`, none older than `stale_after` (a request is not delivered after its call
    /// failed), oldest dropped first. A closed connection is reported to `observer` (set with
    /// set_tcp_observer), not as a link failure: calls through it fail by their timeout.
    link_id add_tcp_link();
    /// Gives replaceable link `link` a new connection (connecting or open); the previous one,
    /// if any, is closed and dropped.
    void replace_tcp(link_id link, std::unique_ptr<net::tcp_connection> connection);
    void set_tcp_observer(tcp_link_observer* observer) { tcp_observer_ = observer; }
    /// Messages waiting for a replaceable link's connection: how many, and for how long.
    void set_tcp_waiting(std::size_t max_waiting, std::chrono::milliseconds stale_after) {
        max_waiting_ = max_waiting;
        stale_after_ = stale_after;
    }

    /// Creates the portable node. `incidents` null: an incident_log on stderr.
    result<void, amb::remote::config_error> start(const amb::remote::node_config& config,
                                                  amb::remote::incident_sink* incidents = nullptr);
    amb::remote::node& node() { return *node_; }
    net::udp_transport& udp(std::size_t index) { return *udp_[index]; }
    net::serial_transport& serial(std::size_t index) { return *serial_[index]; }

    /// Called with every packet this node sends (tests capture packets with it).
    std::function<void(link_id, byte_view)> tap;

    /// Runs the node on `loop` (after start; once): its transports become watches of the
    /// loop's driver and the node a poller of the loop. `loop` must outlive the node. Error:
    /// errno.
    result<void, int> run_on(hosted::loop::process_loop& loop);

    /// While idle, the kernel is asked for input at most this often (default 2 µs; 0: on
    /// every pass). Bounds the extra latency a spinning loop adds to an arriving datagram.
    void set_receive_check_interval(std::chrono::nanoseconds interval) {
        check_interval_ = interval;
    }

    // loop_poller
    std::size_t progress() noexcept override;
    bool prepare_sleep() noexcept override;
    void finish_sleep() noexcept override;

private:
    enum class link_kind : std::uint8_t { udp, serial, tcp };
    struct waiting_message {
        std::vector<std::uint8_t> bytes;
        loop_clock::time_point since;
    };
    struct link {
        link(link_kind kind_, std::size_t transport_, net::ipv4_endpoint neighbour_)
            : kind(kind_), transport(transport_), neighbour(neighbour_) {}
        link_kind kind;
        std::size_t transport;
        net::ipv4_endpoint neighbour;
        bool failed = false;      // tcp: the close was reported once
        bool replaceable = false; // tcp: add_tcp_link(); connections come and go
        bool open = false;        // replaceable: its connection was seen open
        std::deque<waiting_message> waiting;  // replaceable: sent while not open
    };

    bool send(link_id link, byte_view packet) override;
    loop_clock::time_point next_deadline() const;
    void update_interest();
    std::size_t serve_tcp_link(link_id id, link& each, loop_clock::time_point now);
    static void on_ready(void* owner, void* item, std::uint32_t events) noexcept;
    static void on_deadline(loop_work& work) noexcept;
    link_id udp_link_of(std::size_t udp, net::ipv4_endpoint from) const;

    std::vector<std::unique_ptr<net::udp_transport>> udp_;
    std::vector<std::unique_ptr<net::serial_transport>> serial_;
    std::vector<std::unique_ptr<net::tcp_connection>> tcp_;
    std::vector<link> links_;
    std::vector<short> interest_;  // what each transport's watch asks for (udp, serial, tcp)
    std::vector<pollfd> poll_set_;
    hosted::loop::process_loop* loop_ = nullptr;
    std::unique_ptr<ports::hosted::descriptor_set> watches_;
    struct deadline_work final : loop_work {
        explicit deadline_work(network_node& owner) noexcept
            : loop_work(&on_deadline), node(owner) {}
        network_node& node;
    };
    deadline_work deadline_{*this};  // armed for the earliest deadline while the loop sleeps
    loop_clock::time_point deadline_armed_{};
    bool check_now_ = true;
    tcp_link_observer* tcp_observer_ = nullptr;
    std::size_t max_waiting_ = 64;
    std::chrono::milliseconds stale_after_ = std::chrono::seconds(2);
    loop_clock::time_point last_check_{};
    std::chrono::nanoseconds check_interval_ = std::chrono::microseconds(2);
    system_clock_source clock_;
    std::unique_ptr<incident_log> default_log_;
    std::unique_ptr<amb::remote::node> node_;
};

} // namespace amb::hosted::remote
