// Real UDP sockets on 127.0.0.1: 64 KiB messages both ways through the reliable protocol, and
// a send to a port where nobody listens failing at the retry limit.
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

TEST(udp_transport, a_silent_peer_fails_at_the_retry_limit) {
    // A bound socket that never answers.
    int silent = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(silent, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);
    ipv4_endpoint target{ntohl(address.sin_addr.s_addr), ntohs(address.sin_port)};

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
    ::close(silent);
}

TEST(udp_transport, send_checks_size_and_queue) {
    udp_config config;
    config.max_queued = 1;
    auto a = open_udp(config);
    ASSERT_TRUE(a);
    auto target = ipv4_endpoint::loopback(9);
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
