// Real TCP on 127.0.0.1: length-prefixed 64 KiB messages both ways, a peer announcing an
// oversize length, and an orderly close.
#include <hosted/net/tcp_transport.hpp>

#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace amb::hosted::net {
namespace {

using testing::bytes;

struct connected_pair {
    std::unique_ptr<tcp_listener> listener;
    std::unique_ptr<tcp_connection> client;
    std::unique_ptr<tcp_connection> server;
};

connected_pair connect_pair(const tcp_config& config) {
    connected_pair pair;
    auto listening = tcp_listener::listen(ipv4_endpoint::loopback(0));
    EXPECT_TRUE(listening.has_value());
    pair.listener = std::move(*listening);
    auto connecting = tcp_connection::connect(pair.listener->local(), config);
    EXPECT_TRUE(connecting.has_value());
    pair.client = std::move(*connecting);
    EXPECT_TRUE(testing::drive_until(
        [&] { return (pair.server = pair.listener->accept(config)) != nullptr; }, *pair.listener,
        *pair.client));
    return pair;
}

TEST(tcp_transport, exchanges_64_kib_messages_both_ways) {
    std::mt19937 random(61);
    tcp_config config;
    auto pair = connect_pair(config);
    ASSERT_TRUE(pair.client && pair.server);
    std::vector<bytes> to_server, to_client;
    for (int i = 0; i < 40; ++i) {
        std::size_t size = i % 4 == 0 ? 65536 : random() % 3000;
        to_server.push_back(testing::random_bytes(random, size));
        to_client.push_back(testing::random_bytes(random, size / 2));
    }
    // Queued before the connection is even known to be open.
    for (const auto& message : to_server)
        ASSERT_TRUE(pair.client->send(message).has_value());
    for (const auto& message : to_client)
        ASSERT_TRUE(pair.server->send(message).has_value());
    std::vector<bytes> at_server, at_client;
    auto done = [&] {
        while (auto message = pair.server->receive())
            at_server.push_back(std::move(*message));
        while (auto message = pair.client->receive())
            at_client.push_back(std::move(*message));
        return at_server.size() == to_server.size() && at_client.size() == to_client.size();
    };
    ASSERT_TRUE(testing::drive_until(done, *pair.client, *pair.server));
    EXPECT_EQ(at_server, to_server);
    EXPECT_EQ(at_client, to_client);
    EXPECT_EQ(pair.client->current_state(), tcp_connection::state::open);

    auto too_large = pair.client->send(bytes(config.max_message_size + 1));
    ASSERT_FALSE(too_large.has_value());
    EXPECT_EQ(too_large.error(), transport_error::message_too_large);

    // An orderly close: the other side sees peer_closed.
    pair.client->close();
    ASSERT_TRUE(testing::drive_until(
        [&] { return pair.server->current_state() == tcp_connection::state::closed; },
        *pair.server));
    EXPECT_EQ(pair.server->reason(), close_reason::peer_closed);
    EXPECT_EQ(pair.server->send(bytes(1)).error(), transport_error::closed);
}

TEST(tcp_transport, an_oversize_length_closes_the_connection) {
    auto listening = tcp_listener::listen(ipv4_endpoint::loopback(0));
    ASSERT_TRUE(listening.has_value());
    auto& listener = *listening;
    // A raw client that announces a 4 GiB message after one good one.
    int raw = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(listener->local().address);
    address.sin_port = htons(listener->local().port);
    ASSERT_EQ(::connect(raw, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const std::uint8_t stream[] = {0, 0, 0, 2, 'h', 'i', 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    ASSERT_EQ(::write(raw, stream, sizeof stream), static_cast<ssize_t>(sizeof stream));

    std::unique_ptr<tcp_connection> server;
    ASSERT_TRUE(testing::drive_until([&] { return (server = listener->accept({})) != nullptr; },
                                     *listener));
    ASSERT_TRUE(testing::drive_until(
        [&] { return server->current_state() == tcp_connection::state::closed; }, *server));
    EXPECT_EQ(server->reason(), close_reason::protocol_error);
    // The message before the bad length was kept.
    EXPECT_EQ(server->receive(), (bytes{'h', 'i'}));
    ::close(raw);
}

TEST(tcp_transport, connecting_to_a_closed_port_fails) {
    // Find a free port by binding and closing a listener.
    std::uint16_t port;
    {
        auto listening = tcp_listener::listen(ipv4_endpoint::loopback(0));
        ASSERT_TRUE(listening.has_value());
        port = (*listening)->local().port;
    }
    auto connecting = tcp_connection::connect(ipv4_endpoint::loopback(port), {});
    if (!connecting) {
        EXPECT_EQ(connecting.error(), ECONNREFUSED);
        return;
    }
    auto& client = *connecting;
    ASSERT_TRUE(testing::drive_until(
        [&] { return client->current_state() == tcp_connection::state::closed; }, *client));
    EXPECT_EQ(client->reason(), close_reason::socket_error);
    EXPECT_EQ(client->socket_error(), ECONNREFUSED);
}

} // namespace
} // namespace amb::hosted::net
