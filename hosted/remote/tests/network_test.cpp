// Nodes in one process on real links: UDP sockets on 127.0.0.1 (the reliable datagram protocol)
// and a pty pair carrying XBee-framed messages, driven by one process loop. Keys come from a fresh
// deployment root per test.
#include "test_services.hpp"

#include <hosted/remote/network_node.hpp>

#include "test_support.hpp"  // hosted/net: pty_pair
#include <remote/remote_backend.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace amb::hosted::remote {
namespace {

using namespace remote_testing;
using net::testing::open_pty;
using net::testing::pty_pair;
namespace ar = amb::remote;
using calculator_client =
    remote_test::calculator_client<ar::remote_backend<remote_test::calculator>>;

struct member {
    explicit member(std::string node_name) : name(std::move(node_name)), log(name) {}
    std::string name;
    caplets::secret_key key;
    std::vector<ar::route_entry> routes;
    std::vector<std::vector<std::uint8_t>> tokens;
    std::vector<ar::credential_entry> credentials;
    incident_log log;
    network_node net;
    calculator_impl calculator;
    ar::lidl_export<remote_test::calculator> exported{calculator};

    std::size_t open_udp() {
        auto udp = net::udp_transport::open({});
        AMB_REQUIRE(udp.has_value(), "cannot open a UDP socket");
        return net.add_udp(std::move(*udp));
    }
    net::ipv4_endpoint address(std::size_t udp = 0) { return net.udp(udp).local(); }
    std::vector<std::string_view> encrypted_callers;
    void start(bool serves, std::uint8_t hop_limit = ar::default_hop_limit,
               loop_clock::duration timeout = std::chrono::seconds(20)) {
        ar::node_config config;
        config.encrypted_callers = encrypted_callers;
        config.name = name;
        config.routes = routes;
        config.credentials = credentials;
        config.verification_key = serves ? &key : nullptr;
        config.hop_limit = hop_limit;
        config.call_timeout = timeout;
        ASSERT_TRUE(net.start(config, &log).has_value());
        if (serves) {
            ASSERT_TRUE(net.node().export_service("calculator", exported));
        }
    }
};

class network : public ::testing::Test {
protected:
    member& add(const char* name) {
        member& m = members_.emplace_back(name);
        m.key = ar::node_verification_key(root_, name);
        return m;
    }
    void grant(member& caller, const member& callee, bool encrypt = false) {
        auto rights = all_of_calculator();
        caller.tokens.push_back(credential(root_, caller.name, callee.name, rights));
        caller.credentials.push_back({callee.name, caller.tokens.back(), encrypt});
    }
    template <class T>
    T run(task<T> work) {
        work.start();
        EXPECT_TRUE(loop_->run_until([&] { return work.done(); }, std::chrono::seconds(30)));
        return work.take_result();
    }
    template <class Done>
    void drive_until(Done done) {
        EXPECT_TRUE(loop_->run_until(done, std::chrono::seconds(30)));
    }
    void loop_over_all() {
        for (member& m : members_)
            ASSERT_TRUE(m.net.run_on(*loop_));
    }

    static std::unique_ptr<hosted::loop::process_loop> make_loop() {
        auto made = hosted::loop::process_loop::create();
        AMB_REQUIRE(made.has_value(), "cannot create a process loop");
        return std::move(*made);
    }

    // Before the members: it outlives the network nodes that run on it.
    std::unique_ptr<hosted::loop::process_loop> loop_ = make_loop();
    caplets::secret_key root_ = random_key();
    std::deque<member> members_;
};

TEST_F(network, calls_over_udp_are_answered_many_in_flight) {
    member& a = add("a");
    member& b = add("b");
    a.open_udp();
    b.open_udp();
    a.routes = {{"b", a.net.add_udp_link(0, b.address())}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b);
    a.start(false);
    b.start(true);
    loop_over_all();

    calculator_client calculator(a.net.node(), "b", "calculator");
    auto sum = run(calculator.add(20, 22));
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum.value(), 42);
    std::vector<std::uint64_t> storage(512);
    lidl::builder response({reinterpret_cast<std::uint8_t*>(storage.data()), 4096});
    auto greeted = run(calculator.greet("over UDP", response));
    ASSERT_TRUE(greeted);
    const remote_test::greeting* greeting = greeted.value();
    ASSERT_NE(greeting, nullptr);
    EXPECT_EQ(greeting->text.view(), "hello over UDP");

    std::vector<lidl::completion<std::int32_t>> calls;
    for (int i = 0; i < 30; ++i)
        calls.push_back(calculator.add(i, i));
    for (auto& call : calls)
        call.start();
    drive_until(
        [&] { return std::all_of(calls.begin(), calls.end(), [](auto& c) { return c.done(); }); });
    for (int i = 0; i < 30; ++i) {
        auto result = calls[i].take_result();
        ASSERT_TRUE(result);
        EXPECT_EQ(result.value(), 2 * i);
    }
    EXPECT_EQ(b.calculator.calls, 32);
}

TEST_F(network, sixty_four_calls_in_flight_share_datagrams_and_system_calls) {
    member& a = add("a");
    member& b = add("b");
    a.open_udp();
    b.open_udp();
    a.routes = {{"b", a.net.add_udp_link(0, b.address())}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b);
    a.start(false);
    b.start(true);
    loop_over_all();

    calculator_client calculator(a.net.node(), "b", "calculator");
    std::vector<lidl::completion<std::int32_t>> calls;
    for (int i = 0; i < 64; ++i)
        calls.push_back(calculator.add(i, 1000));
    for (auto& call : calls)
        call.start();
    drive_until(
        [&] { return std::all_of(calls.begin(), calls.end(), [](auto& c) { return c.done(); }); });
    for (int i = 0; i < 64; ++i) {
        auto result = calls[i].take_result();
        ASSERT_TRUE(result);
        EXPECT_EQ(result.value(), i + 1000);
    }
    // Requests and replies in flight together, acks on the data: fewer than the four datagrams
    // per call of one message in flight with an ack for each, and several datagrams per
    // sendmmsg (the 64 requests were sent from outside a pass: held until the next one).
    const auto& at_a = a.net.udp(0).counters();
    const auto& at_b = b.net.udp(0).counters();
    EXPECT_LT(at_a.datagrams_sent + at_b.datagrams_sent, 3u * 64u);
    EXPECT_LT(at_a.send_calls, at_a.datagrams_sent);
    const auto* b_protocol = b.net.udp(0).peer_counters(a.address());
    ASSERT_NE(b_protocol, nullptr);
    EXPECT_GT(b_protocol->acks_piggybacked, 0u);
    EXPECT_EQ(b_protocol->messages_delivered, 64u);
}

// What a replaceable TCP link tells its owner (tcp_links in a deployment).
struct link_events final : tcp_link_observer {
    void opened(link_id link) override { opened_links.push_back(link); }
    void closed(link_id link, const net::tcp_connection&) override { closed_links.push_back(link); }
    std::vector<link_id> opened_links;
    std::vector<link_id> closed_links;
};

// A connected pair of stream sockets standing for one TCP connection, an end for each node.
using connection_pair =
    std::pair<std::unique_ptr<net::tcp_connection>, std::unique_ptr<net::tcp_connection>>;

connection_pair stream_pair() {
    int ends[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends), 0);
    return {net::tcp_connection::adopt(ends[0], {}), net::tcp_connection::adopt(ends[1], {})};
}

TEST_F(network, a_replaceable_tcp_link_holds_messages_until_connected_and_takes_new_connections) {
    member& a = add("a");
    member& b = add("b");
    const link_id a_to_b = a.net.add_tcp_link();
    const link_id b_to_a = b.net.add_tcp_link();
    a.routes = {{"b", a_to_b}};
    b.routes = {{"a", b_to_a}};
    grant(a, b);
    a.start(false);
    b.start(true);
    link_events a_events, b_events;
    a.net.set_tcp_observer(&a_events);
    b.net.set_tcp_observer(&b_events);
    loop_over_all();

    calculator_client calculator(a.net.node(), "b", "calculator");
    lidl::completion<std::int32_t> first = calculator.add(20, 22);
    first.start();
    for (int i = 0; i < 20; ++i)
        loop_->loop().poll();
    EXPECT_FALSE(first.done());  // no connection yet: the request waits in a's node
    EXPECT_EQ(b.calculator.calls, 0);

    auto [a_end, b_end] = stream_pair();
    a.net.replace_tcp(a_to_b, std::move(a_end));
    b.net.replace_tcp(b_to_a, std::move(b_end));
    drive_until([&] { return first.done(); });
    auto first_sum = first.take_result();
    ASSERT_TRUE(first_sum);
    EXPECT_EQ(first_sum.value(), 42);
    EXPECT_EQ(a_events.opened_links, std::vector<link_id>{a_to_b});

    // a replaces its connection (a neighbour that came back): b sees its old one close, gets
    // the other end of the new one, and calls go through the new connection.
    auto [a_new, b_new] = stream_pair();
    a.net.replace_tcp(a_to_b, std::move(a_new));
    drive_until([&] { return !b_events.closed_links.empty(); });
    EXPECT_EQ(b_events.closed_links, std::vector<link_id>{b_to_a});
    b.net.replace_tcp(b_to_a, std::move(b_new));
    auto second_sum = run(calculator.add(1, 2));
    ASSERT_TRUE(second_sum);
    EXPECT_EQ(second_sum.value(), 3);
    EXPECT_EQ(b.calculator.calls, 2);
}

TEST_F(network, an_idle_node_asks_the_kernel_rarely_and_still_wakes_for_a_datagram) {
    member& a = add("a");
    member& b = add("b");
    a.open_udp();
    b.open_udp();
    a.routes = {{"b", a.net.add_udp_link(0, b.address())}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b);
    a.start(false);
    b.start(true);
    // While spinning idle, b asks the kernel only once per interval (here: never again).
    b.net.set_receive_check_interval(std::chrono::hours(1));
    const auto calls_before = b.net.udp(0).counters().receive_calls;
    for (int i = 0; i < 1000; ++i)
        EXPECT_EQ(b.net.progress(), 0u);
    EXPECT_LE(b.net.udp(0).counters().receive_calls - calls_before, 1u);
    // With an interval of 0 it asks on every pass.
    b.net.set_receive_check_interval(std::chrono::nanoseconds(0));
    const auto calls_between = b.net.udp(0).counters().receive_calls;
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(b.net.progress(), 0u);
    EXPECT_EQ(b.net.udp(0).counters().receive_calls - calls_between, 100u);
    // A request still gets through: the loop sleeps in epoll_wait, where b's socket is watched,
    // and a pass after a wake-up always asks the kernel.
    b.net.set_receive_check_interval(std::chrono::hours(1));
    loop_over_all();
    calculator_client calculator(a.net.node(), "b", "calculator");
    auto first = run(calculator.add(20, 22));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value(), 42);
    auto second = run(calculator.add(1, 2));
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value(), 3);
    EXPECT_GT(loop_->loop().sleeps(), 0u);
}

// a -(UDP)- b -(serial line, a pty pair)- c, with routes both ways through b.
void udp_then_serial_line(member& a, member& b, member& c) {
    pty_pair pty = open_pty();
    a.open_udp();
    b.open_udp();
    auto b_line = net::serial_transport::open(pty.controller, {});
    auto c_line = net::serial_transport::open(pty.line, {});
    ASSERT_TRUE(b_line.has_value() && c_line.has_value());
    const std::size_t b_serial = b.net.add_serial(std::move(*b_line));
    const std::size_t c_serial = c.net.add_serial(std::move(*c_line));
    const ar::link_id a_to_b = a.net.add_udp_link(0, b.address());
    a.routes = {{"b", a_to_b}, {"c", a_to_b}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}, {"c", b.net.add_serial_link(b_serial)}};
    const ar::link_id c_to_b = c.net.add_serial_link(c_serial);
    c.routes = {{"b", c_to_b}, {"a", c_to_b}};
}

TEST_F(network, a_relay_on_udp_and_a_serial_line_forwards_without_keys) {
    member& a = add("a");
    member& b = add("b");
    member& c = add("c");
    ASSERT_NO_FATAL_FAILURE(udp_then_serial_line(a, b, c));
    grant(a, c);
    a.start(false);
    b.start(false); // b holds no key and no credential: it only forwards
    c.start(true);
    loop_over_all();

    calculator_client calculator(a.net.node(), "c", "calculator");
    auto first = run(calculator.add(1, 2));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value(), 3);
    auto second = run(calculator.add(3, 4));
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value(), 7);
    EXPECT_EQ(c.calculator.calls, 2);
    EXPECT_EQ(b.net.node().counters().forwarded, 4u);
    EXPECT_EQ(b.net.node().counters().requests_accepted, 0u);
}

TEST_F(network, the_hop_limit_stops_a_request_at_the_relay) {
    member& a = add("a");
    member& b = add("b");
    member& c = add("c");
    a.open_udp();
    b.open_udp();
    c.open_udp();
    const ar::link_id a_to_b = a.net.add_udp_link(0, b.address());
    a.routes = {{"b", a_to_b}, {"c", a_to_b}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())},
                {"c", b.net.add_udp_link(0, c.address())}};
    c.routes = {{"a", c.net.add_udp_link(0, b.address())}};
    grant(a, c);
    a.start(false, /*hop_limit*/ 1);
    b.start(false);
    c.start(true);
    loop_over_all();
    calculator_client calculator(a.net.node(), "c", "calculator");
    auto result = run(calculator.add(1, 2));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().what, lidl::call_fault::unreachable);
    EXPECT_EQ(result.error().code,
              static_cast<std::uint32_t>(ar::status_code::hop_limit_exceeded));
    EXPECT_EQ(b.log.count(ar::incident_kind::hop_limit_exceeded), 1u);
    EXPECT_EQ(c.calculator.calls, 0);
}

TEST_F(network, a_replayed_or_tampered_datagram_never_reaches_the_service) {
    member& a = add("a");
    member& b = add("b");
    a.open_udp();
    b.open_udp();
    a.routes = {{"b", a.net.add_udp_link(0, b.address())}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b);
    a.start(false);
    b.start(true);
    std::vector<std::uint8_t> captured;
    a.net.tap = [&](ar::link_id, ar::byte_view packet) {
        captured.assign(packet.begin(), packet.end());
    };
    loop_over_all();
    calculator_client calculator(a.net.node(), "b", "calculator");
    auto first = run(calculator.add(2, 3));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value(), 5);
    ASSERT_EQ(b.calculator.calls, 1);
    ASSERT_FALSE(captured.empty());

    // The attacker, on its own socket, sends the captured request again, then a changed copy.
    auto attacker = net::udp_transport::open({});
    ASSERT_TRUE(attacker.has_value());
    net::udp_transport& evil = **attacker;
    auto refused = [&] { return b.net.node().counters().requests_refused; };
    ASSERT_TRUE(evil.send(b.address(), captured, net::monotonic_now()).has_value());
    drive_until([&] {
        net::poll_transports(std::chrono::milliseconds(0), evil);
        return refused() == 1;
    });
    EXPECT_EQ(b.log.last_refused_check(), caplets::check::sequence_replayed);
    std::vector<std::uint8_t> tampered = captured;
    tampered[tampered.size() - 40] ^= 0x04; // inside the token
    ASSERT_TRUE(evil.send(b.address(), tampered, net::monotonic_now()).has_value());
    drive_until([&] {
        net::poll_transports(std::chrono::milliseconds(0), evil);
        return refused() == 2;
    });
    EXPECT_EQ(b.calculator.calls, 1);
    // The caller keeps working.
    auto second = run(calculator.add(1, 1));
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value(), 2);
    EXPECT_EQ(b.calculator.calls, 2);
}

TEST_F(network, a_dead_peer_fails_its_calls_and_the_caller_keeps_working) {
    member& a = add("a");
    member& b = add("b");
    member& dead = add("d");
    a.open_udp();
    b.open_udp();
    dead.open_udp();
    const net::ipv4_endpoint dead_address = dead.address();
    members_.pop_back(); // its socket is closed: nothing answers at that port any more
    a.routes = {{"b", a.net.add_udp_link(0, b.address())},
                {"d", a.net.add_udp_link(0, dead_address)}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b);
    a.tokens.push_back(credential(root_, "a", "d", all_of_calculator()));
    a.credentials.push_back({"d", a.tokens.back()});
    a.start(false, ar::default_hop_limit, std::chrono::seconds(10));
    b.start(true);
    loop_over_all();

    calculator_client to_dead(a.net.node(), "d", "calculator");
    calculator_client to_b(a.net.node(), "b", "calculator");
    auto lost = run(to_dead.add(1, 1));
    ASSERT_FALSE(lost);
    EXPECT_TRUE(lost.error().what == lidl::call_fault::unreachable ||
                lost.error().what == lidl::call_fault::deadline_passed);
    auto sum = run(to_b.add(4, 5));
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum.value(), 9);
}

// a -lan (UDP, encrypted)-> b -link (serial, not encrypted)-> c. The deployment tool encrypts a
// call when its route crosses an encrypted network, end to end: a seals for c, b forwards
// ciphertext onto the serial line. b's own calls to c cross only the serial line and are not
// sealed. Every packet any node sends is captured (the link observer).
TEST_F(network, mixed_networks_on_a_multi_hop_route_encrypt_end_to_end) {
    member& a = add("a");
    member& b = add("b");
    member& c = add("c");
    ASSERT_NO_FATAL_FAILURE(udp_then_serial_line(a, b, c));
    grant(a, c, /*encrypt*/ true);
    grant(b, c, /*encrypt*/ false);
    c.encrypted_callers = {"a"};
    a.start(false);
    b.start(false);
    c.start(true);
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> wire;
    for (member* m : {&a, &b, &c})
        m->net.tap = [&wire, m](ar::link_id, ar::byte_view packet) {
            wire.emplace_back(m->name, std::vector<std::uint8_t>(packet.begin(), packet.end()));
        };
    loop_over_all();
    auto holds = [](const std::vector<std::uint8_t>& data, std::string_view text) {
        return std::search(data.begin(), data.end(), text.begin(), text.end()) != data.end();
    };

    const std::string secret = "MARKER-over-two-links";
    std::vector<std::uint64_t> storage(512);
    lidl::builder response({reinterpret_cast<std::uint8_t*>(storage.data()), 4096});
    calculator_client from_a(a.net.node(), "c", "calculator");
    auto greeted = run(from_a.greet(secret, response));
    ASSERT_TRUE(greeted);
    const remote_test::greeting* greeting = greeted.value();
    ASSERT_NE(greeting, nullptr);
    EXPECT_EQ(greeting->text.view(), "hello " + secret);
    auto sum = run(from_a.add(40, 2));
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum.value(), 42);
    // a -> b (UDP), b -> c (serial), c -> b (serial), b -> a (UDP), twice.
    ASSERT_EQ(wire.size(), 8u);
    for (const auto& [sender, data] : wire) {
        EXPECT_FALSE(holds(data, "MARKER")) << "sent by " << sender;
        EXPECT_FALSE(holds(data, "hello")) << "sent by " << sender;
    }
    EXPECT_EQ(c.net.node().counters().requests_sealed, 2u);
    EXPECT_EQ(b.net.node().counters().forwarded, 4u);

    // b's call to c crosses only the plain serial line: the marker is on the wire (the search
    // above can find it).
    wire.clear();
    calculator_client from_b(b.net.node(), "c", "calculator");
    response.reset();
    auto greeted_by_b = run(from_b.greet(secret, response));
    ASSERT_TRUE(greeted_by_b);
    greeting = greeted_by_b.value();
    ASSERT_NE(greeting, nullptr);
    ASSERT_EQ(wire.size(), 2u);
    EXPECT_TRUE(holds(wire[0].second, secret));
    EXPECT_TRUE(holds(wire[1].second, "hello " + secret));
    EXPECT_EQ(c.net.node().counters().requests_sealed, 2u);
    EXPECT_EQ(c.calculator.calls, 3);
}

TEST_F(network, a_captured_encrypted_datagram_replayed_or_tampered_is_refused) {
    member& a = add("a");
    member& b = add("b");
    a.open_udp();
    b.open_udp();
    a.routes = {{"b", a.net.add_udp_link(0, b.address())}};
    b.routes = {{"a", b.net.add_udp_link(0, a.address())}};
    grant(a, b, /*encrypt*/ true);
    b.encrypted_callers = {"a"};
    a.start(false);
    b.start(true);
    std::vector<std::uint8_t> captured;
    a.net.tap = [&](ar::link_id, ar::byte_view packet) {
        captured.assign(packet.begin(), packet.end());
    };
    loop_over_all();
    calculator_client calculator(a.net.node(), "b", "calculator");
    const std::int32_t marker = 0x4d41524b; // "KRAM"
    auto first = run(calculator.add(marker, 1));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value(), marker + 1);
    ASSERT_FALSE(captured.empty());
    EXPECT_EQ(std::search(captured.begin(), captured.end(),
                          reinterpret_cast<const std::uint8_t*>(&marker),
                          reinterpret_cast<const std::uint8_t*>(&marker) + 4),
              captured.end());
    auto attacker = net::udp_transport::open({});
    ASSERT_TRUE(attacker.has_value());
    net::udp_transport& evil = **attacker;
    auto refused = [&] { return b.net.node().counters().requests_refused; };
    ASSERT_TRUE(evil.send(b.address(), captured, net::monotonic_now()).has_value());
    drive_until([&] {
        net::poll_transports(std::chrono::milliseconds(0), evil);
        return refused() == 1;
    });
    EXPECT_EQ(b.log.last_refused_check(), caplets::check::sequence_replayed);
    // Flip a ciphertext byte (after the sealed header 0xff 01 00 00 and the 16-byte nonce).
    std::vector<std::uint8_t> tampered = captured;
    const std::uint8_t header[] = {ar::sealed_marker, ar::sealed_version, 0, 0};
    auto at = std::search(tampered.begin(), tampered.end(), std::begin(header), std::end(header));
    ASSERT_NE(at, tampered.end());
    at[ar::sealed_call_overhead + 1] ^= 0x10;
    ASSERT_TRUE(evil.send(b.address(), tampered, net::monotonic_now()).has_value());
    drive_until([&] {
        net::poll_transports(std::chrono::milliseconds(0), evil);
        return refused() == 2;
    });
    EXPECT_EQ(b.log.last_refused_check(), caplets::check::bad_tag);
    EXPECT_EQ(b.calculator.calls, 1);
    auto second = run(calculator.add(1, 1));
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value(), 2);
    EXPECT_EQ(b.calculator.calls, 2);
}

} // namespace
} // namespace amb::hosted::remote
