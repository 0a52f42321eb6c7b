// amb::hosted::remote::tcp_links: the TCP links of a node (docs/deploy.md, "TCP networks"),
// made, lost and made again on the process loop, each a replaceable link of a network_node.
//
//     tcp_links links("hall", network, log);        // log: one line per event
//     link_id to_cloud = *links.add("wired", "cloud", cloud_address, listen_address);
//     links.run_on(loop);                            // after network.run_on(loop)
//
// - Of the two neighbours, the one whose name sorts first (bytewise) connects, to the
//   neighbour's address, with `net::tcp_hello(self, neighbour)` as its first message; it retries
//   50 ms, 100 ms, ... up to 500 ms apart while the other is not up, and again after the
//   connection closes.
// - The other listens (one listener per network) and accepts: the first message of an accepted
//   connection must be the hello of a neighbour this node waits for on that network, within
//   `hello_timeout`, from that neighbour's address (IP only). The connection then replaces that
//   neighbour's (a restarted neighbour's new connection may arrive before the old one is seen
//   closed). Addresses and hellos are no authentication (CAPLets is); TODO(security): anyone
//   who reaches the port can take a link's place until the neighbour connects again, which
//   denies service.
// - Messages the node sends while a link has no open connection wait in the network_node (see
//   network_node::add_tcp_link). Messages in flight when a connection is lost are lost; their
//   calls fail by the call timeout.
//
// On the loop: the listeners and the accepted connections waiting for their hello are watches
// of the loop's driver, retries and hello deadlines a loop timer; nothing runs while nothing
// happens. Single-threaded (the loop's).
#pragma once

#include <hosted/net/tcp_transport.hpp>
#include <hosted/remote/network_node.hpp>
#include <hosted/loop/process_loop.hpp>

#include <base/result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace amb::hosted::remote {

class tcp_links final : private tcp_link_observer {
public:
    using connection = net::tcp_connection;
    static constexpr std::size_t max_pending = 16;
    static constexpr auto hello_timeout = std::chrono::seconds(5);
    static constexpr auto first_retry = std::chrono::milliseconds(50);
    static constexpr auto last_retry = std::chrono::milliseconds(500);
    /// A connection that lasted this long resets the retry interval when it closes.
    static constexpr auto lasting = std::chrono::seconds(1);

    /// `self`: this node's name; `log`: called with one line per connection event.
    tcp_links(std::string_view self, network_node& network,
              std::function<void(std::string_view)> log);
    ~tcp_links();
    tcp_links(const tcp_links&) = delete;
    tcp_links& operator=(const tcp_links&) = delete;

    /// True when this node connects to `neighbour` (else it accepts `neighbour`'s connection).
    bool connects_to(std::string_view neighbour) const { return self_ < neighbour; }

    /// Adds the link to `neighbour` (at `address`) on `network` to the network node (before it
    /// runs); `listen` is where this node listens on `network` when it accepts. Error: a
    /// sentence (the listening socket could not be opened).
    result<link_id, std::string> add(std::string_view network, std::string_view neighbour,
                                     net::ipv4_endpoint address, net::ipv4_endpoint listen);

    /// Starts making and accepting connections on `loop` (which must outlive this). Error: errno.
    result<void, int> run_on(hosted::loop::process_loop& loop);

private:
    struct peer {
        std::string network;
        std::string name;
        net::ipv4_endpoint address;
        link_id link = 0;
        bool connects = false;
        bool connected = false;  // a connection was handed to the node (and not seen closed)
        bool open = false;
        loop_clock::time_point opened_at{};
        loop_clock::time_point retry_at{};
        std::chrono::milliseconds backoff = first_retry;
        bool waiting_logged = false;
    };
    struct listener {
        std::string network;
        std::unique_ptr<net::tcp_listener> socket;
    };
    struct pending {
        std::string network;
        std::unique_ptr<connection> link;
        std::uint32_t from_address;
        loop_clock::time_point deadline;
    };
    struct service_work final : loop_work {
        explicit service_work(tcp_links& owner) noexcept : loop_work(&run), links(owner) {}
        static void run(loop_work& work) noexcept { static_cast<service_work&>(work).links.serve(); }
        tcp_links& links;
    };

    // tcp_link_observer
    void opened(link_id link) override;
    void closed(link_id link, const connection& closed) override;

    static void on_ready(void* owner, void* item, std::uint32_t events) noexcept;
    void wake();
    void serve();
    void accept_all(loop_clock::time_point now);
    void identify_pending(loop_clock::time_point now);
    void connect_due(loop_clock::time_point now);
    void lost(peer& link, loop_clock::time_point now, const std::string& why);
    void drop_pending(std::size_t index);
    void resync();
    void arm_timer();
    peer* peer_of(link_id link);
    std::string describe(const peer& link) const;

    std::string self_;
    network_node& network_;
    std::function<void(std::string_view)> log_;
    std::vector<std::unique_ptr<peer>> peers_;
    std::vector<listener> listeners_;
    std::vector<pending> pending_;
    hosted::loop::process_loop* loop_ = nullptr;
    std::unique_ptr<ports::hosted::descriptor_set> watches_;
    std::vector<std::pair<int, std::uint32_t>> watched_;  // fd, epoll events
    service_work service_{*this};
    service_work timer_{*this};
};

}  // namespace amb::hosted::remote
