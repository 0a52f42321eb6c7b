// Real UDP sockets on 127.0.0.1: 64 KiB messages both ways through the reliable protocol, many
// small messages in flight at once (in order, answered, acknowledged in batches), and a send to a
// port where nobody listens failing at the retry limit.
#include <hosted/net/udp_transport.hpp>

#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace amb::hosted::net {
namespace {

using namespace std::chrono_literals;
using testing::bytes;

std::unique_ptr<udp_transport> open_udp(udp_config config = {}) {
    config.protocol.max_message_size = 64 * 1024;
    auto opened = udp_transport::open(config);
    EXPECT_TRUE(opened.has_value());
    return opened ? std::move(*opened) : nullptr;
}

TEST(udp_transport, exchanges_64_kib_messages_both_ways) {
    std::mt19937 random(59);
    auto a = open_udp(), b = open_udp();
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->local().port, 0);
    std::vector<bytes> to_b, to_a;
    for (std::size_t size : {65536u, 0u, 1u, 1174u, 65536u, 30000u, 65536u}) {
        to_b.push_back(testing::random_bytes(random, size));
        to_a.push_back(testing::random_bytes(random, size / 3));
    }
    auto now = monotonic_now();
    for (const auto& message : to_b)
        ASSERT_TRUE(a->send(b->local(), message, now).has_value());
    for (const auto& message : to_a)
        ASSERT_TRUE(b->send(a->local(), message, now).has_value());

    std::vector<bytes> at_b, at_a;
    std::vector<send_report> reports;
    auto done = [&] {
        while (auto message = b->receive()) {
            EXPECT_EQ(message->from, a->local());
            at_b.push_back(std::move(message->bytes));
        }
        while (auto message = a->receive())
            at_a.push_back(std::move(message->bytes));
        for (auto* side : {a.get(), b.get()})
            while (auto report = side->take_report())
                reports.push_back(*report);
        return at_b.size() == to_b.size() && at_a.size() == to_a.size() &&
               reports.size() == to_a.size() + to_b.size();
    };
    ASSERT_TRUE(testing::drive_until(done, *a, *b));
    EXPECT_EQ(at_b, to_b);
    EXPECT_EQ(at_a, to_a);
    for (const auto& report : reports)
        EXPECT_FALSE(report.failure) << "ticket " << report.ticket;
    ASSERT_NE(b->peer_counters(a->local()), nullptr);
    EXPECT_EQ(b->peer_counters(a->local())->messages_delivered, to_b.size());
}

// A UDP socket on 127.0.0.1 at a port the kernel chose, that never answers.
struct silent_socket {
    silent_socket() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        EXPECT_GE(fd, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
        endpoint = ipv4_endpoint{ntohl(address.sin_addr.s_addr), ntohs(address.sin_port)};
    }
    ~silent_socket() { ::close(fd); }
    silent_socket(const silent_socket&) = delete;
    silent_socket& operator=(const silent_socket&) = delete;

    int fd = -1;
    ipv4_endpoint endpoint{};
};

TEST(udp_transport, a_silent_peer_fails_at_the_retry_limit) {
    silent_socket silent;
    ASSERT_NE(silent.endpoint.port, 0);
    const ipv4_endpoint target = silent.endpoint;

    udp_config config;
    config.protocol.retransmit_timeout = 5ms;
    config.protocol.retry_limit = 3;
    auto a = open_udp(config);
    ASSERT_TRUE(a);
    auto ticket = a->send(target, bytes(3000, 5), monotonic_now());
    ASSERT_TRUE(ticket.has_value());
    std::optional<send_report> report;
    ASSERT_TRUE(testing::drive_until([&] { return (report = a->take_report()).has_value(); }, *a));
    EXPECT_EQ(report->ticket, *ticket);
    EXPECT_EQ(report->to, target);
    EXPECT_EQ(report->failure, amb::net::send_failure::retry_limit);
    // Three fragments, first sent and then again after each of the three timeouts.
    EXPECT_EQ(a->counters().datagrams_sent, 3u * 4u);
}

TEST(udp_transport, many_messages_in_flight_arrive_in_order_and_are_answered) {
    std::mt19937 random(101);
    udp_config config;
    config.max_queued = 1000;
    auto a = open_udp(config), b = open_udp(config);
    ASSERT_TRUE(a && b);
    constexpr std::size_t count = 600;
    std::vector<bytes> requests;
    for (std::size_t i = 0; i < count; ++i) {
        bytes request = testing::random_bytes(random, 8 + random() % 2000);
        request[0] = static_cast<std::uint8_t>(i);
        requests.push_back(std::move(request));
    }
    // All queued at once; the window takes 32 and the first sendmmsg carries them together.
    a->hold_output();
    auto now = monotonic_now();
    for (const auto& request : requests)
        ASSERT_TRUE(a->send(b->local(), request, now).has_value());
    a->release_output(monotonic_now());
    EXPECT_LT(a->counters().send_calls, a->counters().datagrams_sent);

    std::vector<bytes> at_b, answers;
    std::size_t reports = 0;
    // b answers each request with its first byte, its output held while it reads and answers,
    // as the network node does: the acknowledgements ride on the answers.
    struct answering {
        udp_transport& b;
        ipv4_endpoint a;
        std::vector<bytes>& at_b;
        int fd() const { return b.fd(); }
        short wanted_events() const { return b.wanted_events(); }
        loop_clock::time_point next_deadline() const { return b.next_deadline(); }
        void on_events(short revents, loop_clock::time_point now) {
            b.hold_output();
            b.on_events(revents, now);
            while (auto message = b.receive()) {
                EXPECT_EQ(message->from, a);
                EXPECT_TRUE(b.send(a, bytes(3, message->bytes[0]), now));
                at_b.push_back(std::move(message->bytes));
            }
            b.release_output(now);
        }
    } b_side{*b, a->local(), at_b};
    auto done = [&] {
        while (auto message = a->receive())
            answers.push_back(std::move(message->bytes));
        for (auto* side : {a.get(), b.get()})
            while (auto report = side->take_report()) {
                EXPECT_FALSE(report->failure) << "ticket " << report->ticket;
                ++reports;
            }
        return at_b.size() == count && answers.size() == count && reports == 2 * count;
    };
    ASSERT_TRUE(testing::drive_until(done, *a, b_side));
    EXPECT_EQ(at_b, requests);
    for (std::size_t i = 0; i < count; ++i)
        EXPECT_EQ(answers[i], bytes(3, static_cast<std::uint8_t>(i))) << i;
    const auto* b_protocol = b->peer_counters(a->local());
    ASSERT_NE(b_protocol, nullptr);
    EXPECT_EQ(b_protocol->messages_delivered, count);
    EXPECT_GT(b_protocol->acks_piggybacked, 0u);
    // Acknowledged in batches: far fewer acks than messages.
    EXPECT_LT(b_protocol->acks_sent + b_protocol->acks_piggybacked, count);
    EXPECT_EQ(a->counters().datagrams_truncated + b->counters().datagrams_truncated, 0u);
}

TEST(udp_transport, a_datagram_larger_than_the_mtu_is_dropped) {
    auto a = open_udp();
    ASSERT_TRUE(a);
    int other = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(other, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(a->local().address);
    to.sin_port = htons(a->local().port);
    bytes large(amb::net::reliable_config{}.mtu + 1, 0xad);
    ASSERT_EQ(
        ::sendto(other, large.data(), large.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
        static_cast<ssize_t>(large.size()));
    ASSERT_TRUE(testing::drive_until([&] { return a->counters().datagrams_received == 1; }, *a));
    EXPECT_EQ(a->counters().datagrams_truncated, 1u);
    EXPECT_FALSE(a->receive().has_value());
    ::close(other);
}

TEST(udp_transport, send_checks_size_and_queue) {
    udp_config config;
    config.max_queued = 1;
    config.protocol.window = 1;
    auto a = open_udp(config);
    ASSERT_TRUE(a);
    silent_socket silent;  // a port of ours, not a fixed one another process may hold
    ASSERT_NE(silent.endpoint.port, 0);
    const ipv4_endpoint target = silent.endpoint;
    auto too_large = a->send(target, bytes(64 * 1024 + 1), monotonic_now());
    ASSERT_FALSE(too_large.has_value());
    EXPECT_EQ(too_large.error(), transport_error::message_too_large);
    EXPECT_TRUE(a->send(target, bytes(10), monotonic_now()).has_value()); // in flight
    EXPECT_TRUE(a->send(target, bytes(10), monotonic_now()).has_value()); // queued
    auto full = a->send(target, bytes(10), monotonic_now());
    ASSERT_FALSE(full.has_value());
    EXPECT_EQ(full.error(), transport_error::queue_full);
}

} // namespace
} // namespace amb::hosted::net
