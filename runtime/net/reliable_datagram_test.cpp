// Tests of the reliable datagram protocol: two endpoints over an in-memory link that drops,
// duplicates, reorders and corrupts datagrams on simulated time; every message must arrive
// exactly once, complete and in order. Also the retry limit, refusal, peer restarts, and
// validation of every header field.
#include <net/reliable_datagram.hpp>

#include <net/byte_order.hpp>
#include <net/crc32.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <vector>

namespace amb::net {
namespace {

using bytes = std::vector<std::uint8_t>;
using time_point = loop_clock::time_point;

bytes random_bytes(std::mt19937& random, std::size_t size) {
    bytes data(size);
    for (auto& byte : data)
        byte = static_cast<std::uint8_t>(random());
    return data;
}

// An endpoint with its own storage and the bookkeeping of a test peer.
struct peer {
    explicit peer(const reliable_config& config)
        : storage(reliable_endpoint::storage_size(config)), endpoint(config, storage),
          buffer(config.mtu) {}

    bytes storage;
    reliable_endpoint endpoint;
    bytes buffer;
    std::deque<bytes> to_send;    // messages waiting for the endpoint
    std::vector<bytes> sent;      // messages acknowledged
    std::vector<bytes> delivered; // messages received
    std::vector<send_completion> completions;
    bytes in_flight;
};

// What the link does to datagrams; counters are per direction.
struct link_policy {
    unsigned drop_every = 0;      // drop every k-th datagram
    unsigned duplicate_every = 0; // send every k-th twice
    unsigned corrupt_every = 0;   // flip a byte of every k-th
    unsigned reorder_every = 0;   // hold every k-th back behind the next one
    bool drop_all = false;
};

struct direction {
    explicit direction(link_policy link = {}) : policy(link) {}

    link_policy policy;
    unsigned count = 0;
    std::deque<bytes> queue;
    std::optional<bytes> held;

    void carry(bytes datagram, std::mt19937& random) {
        ++count;
        if (policy.drop_all || (policy.drop_every && count % policy.drop_every == 0))
            return;
        if (policy.corrupt_every && count % policy.corrupt_every == 0)
            datagram[random() % datagram.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
        if (policy.reorder_every && count % policy.reorder_every == 0 && !held) {
            held = datagram;
            return;
        }
        queue.push_back(datagram);
        if (policy.duplicate_every && count % policy.duplicate_every == 0)
            queue.push_back(datagram);
        if (held) {
            queue.push_back(*held);
            held.reset();
        }
    }
};

// Runs both peers until every queued message completed, on simulated time. Returns false if
// the simulation got stuck.
bool run(peer& a, peer& b, direction& a_to_b, direction& b_to_a, time_point& now,
         std::mt19937& random, int max_steps = 2'000'000) {
    auto step_peer = [&](peer& self, direction& out) {
        bool moved = false;
        if (!self.endpoint.sending() && !self.to_send.empty()) {
            self.in_flight = self.to_send.front();
            self.to_send.pop_front();
            EXPECT_TRUE(self.endpoint.send(self.in_flight, now).has_value());
            moved = true;
        }
        while (true) {
            auto polled = self.endpoint.poll(now, self.buffer);
            if (polled.datagram_size)
                out.carry(
                    bytes(self.buffer.begin(),
                          self.buffer.begin() + static_cast<std::ptrdiff_t>(polled.datagram_size)),
                    random);
            if (polled.completed)
                self.completions.push_back(*polled.completed);
            if (!polled.datagram_size && !polled.completed)
                break;
            moved = true;
        }
        return moved;
    };
    auto receive = [&](peer& self, peer& other, direction& in) {
        bool moved = !in.queue.empty();
        while (!in.queue.empty()) {
            bytes datagram = std::move(in.queue.front());
            in.queue.pop_front();
            auto outcome = self.endpoint.on_datagram(datagram, now);
            if (outcome.delivered)
                self.delivered.emplace_back(outcome.delivered->begin(), outcome.delivered->end());
            if (outcome.completed) {
                self.completions.push_back(*outcome.completed);
                if (!outcome.completed->failure)
                    self.sent.push_back(self.in_flight);
            }
        }
        (void)other;
        return moved;
    };
    for (int step = 0; step < max_steps; ++step) {
        bool moved = step_peer(a, a_to_b);
        moved = step_peer(b, b_to_a) || moved;
        moved = receive(b, a, a_to_b) || moved;
        moved = receive(a, b, b_to_a) || moved;
        bool done = !a.endpoint.sending() && !b.endpoint.sending() && a.to_send.empty() &&
                    b.to_send.empty() && a_to_b.queue.empty() && b_to_a.queue.empty();
        if (done)
            return true;
        if (moved)
            continue;
        // Nothing to do now: jump to the next deadline (and release a held datagram).
        for (direction* d : {&a_to_b, &b_to_a})
            if (d->held) {
                d->queue.push_back(*d->held);
                d->held.reset();
            }
        time_point next = std::min(a.endpoint.next_deadline(), b.endpoint.next_deadline());
        if (next == time_point::max())
            return false;
        if (next > now)
            now = next;
    }
    return false;
}

reliable_config config_with(std::uint32_t session, std::size_t max_message = 70000) {
    reliable_config config;
    config.session = session;
    config.max_message_size = max_message;
    config.mtu = 1200;
    config.retransmit_timeout = 100ms;
    config.retry_limit = 20;
    return config;
}

struct lossy_case {
    const char* name;
    link_policy policy;
};

class reliable_lossy : public ::testing::TestWithParam<lossy_case> {};

TEST_P(reliable_lossy, delivers_every_message_exactly_once_in_full) {
    std::mt19937 random(41);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    std::vector<bytes> a_messages, b_messages;
    for (std::size_t size : {0u, 1u, 1173u, 1174u, 1175u, 5000u, 65536u, 70000u, 300u, 12345u}) {
        a_messages.push_back(random_bytes(random, size));
        b_messages.push_back(random_bytes(random, size / 2 + 3));
    }
    a.to_send.assign(a_messages.begin(), a_messages.end());
    b.to_send.assign(b_messages.begin(), b_messages.end());
    direction a_to_b(GetParam().policy), b_to_a(GetParam().policy);
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, a_messages);
    EXPECT_EQ(a.delivered, b_messages);
    EXPECT_EQ(a.sent, a_messages);
    EXPECT_EQ(b.sent, b_messages);
    for (const auto& completion : a.completions)
        EXPECT_FALSE(completion.failure);
    EXPECT_EQ(b.endpoint.counters().messages_delivered, a_messages.size());
    // The link really did what it says.
    const link_policy& policy = GetParam().policy;
    auto dropped = [&](datagram_error error) {
        return a.endpoint.counters().dropped[static_cast<std::size_t>(error)] +
               b.endpoint.counters().dropped[static_cast<std::size_t>(error)];
    };
    if (policy.drop_every) {
        EXPECT_GT(a.endpoint.counters().retransmissions, 0u);
    }
    if (policy.duplicate_every) {
        EXPECT_GT(dropped(datagram_error::duplicate) + dropped(datagram_error::stale), 0u);
    }
    if (policy.corrupt_every) {
        EXPECT_GT(dropped(datagram_error::bad_crc), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(links, reliable_lossy,
                         ::testing::Values(lossy_case{"perfect", {}},
                                           lossy_case{"drop_every_3", {.drop_every = 3}},
                                           lossy_case{"drop_every_7", {.drop_every = 7}},
                                           lossy_case{"duplicate_every_2", {.duplicate_every = 2}},
                                           lossy_case{"reorder_every_3", {.reorder_every = 3}},
                                           lossy_case{"corrupt_every_5", {.corrupt_every = 5}},
                                           lossy_case{"everything",
                                                      {.drop_every = 11,
                                                       .duplicate_every = 4,
                                                       .corrupt_every = 9,
                                                       .reorder_every = 5}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(reliable_datagram, the_retry_limit_fails_the_send) {
    std::mt19937 random(43);
    reliable_config config = config_with(0x1111);
    config.retry_limit = 3;
    peer a(config), b(config_with(0x2222));
    a.to_send.push_back(bytes(5000, 7));
    direction a_to_b(link_policy{.drop_all = true}), b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(a.completions.size(), 1u);
    EXPECT_EQ(a.completions[0].failure, send_failure::retry_limit);
    EXPECT_EQ(a.endpoint.counters().messages_failed, 1u);
    // Five fragments, sent once and then again after each of the three timeouts.
    EXPECT_EQ(a.endpoint.counters().datagrams_sent, 5u * 4u);
    EXPECT_EQ(now, time_point{} + 4 * config.retransmit_timeout);
    EXPECT_TRUE(b.delivered.empty());
    // The endpoint is usable again afterwards.
    a_to_b.policy.drop_all = false;
    a.to_send.push_back(bytes(10, 1));
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, std::vector<bytes>{bytes(10, 1)});
}

TEST(reliable_datagram, a_message_too_large_for_the_peer_is_refused) {
    std::mt19937 random(47);
    peer a(config_with(0x1111)), b(config_with(0x2222, 1000));
    a.to_send.push_back(bytes(5000, 7));
    a.to_send.push_back(bytes(1000, 8));
    direction a_to_b, b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(a.completions.size(), 2u);
    EXPECT_EQ(a.completions[0].failure, send_failure::refused);
    EXPECT_FALSE(a.completions[1].failure);
    EXPECT_EQ(b.delivered, std::vector<bytes>{bytes(1000, 8)});
}

TEST(reliable_datagram, send_rejects_busy_and_oversize) {
    peer a(config_with(0x1111, 100));
    auto too_large = a.endpoint.send(bytes(101), time_point{});
    ASSERT_FALSE(too_large.has_value());
    EXPECT_EQ(too_large.error(), send_error::message_too_large);
    EXPECT_TRUE(a.endpoint.send(bytes(100), time_point{}).has_value());
    auto busy = a.endpoint.send(bytes(1), time_point{});
    ASSERT_FALSE(busy.has_value());
    EXPECT_EQ(busy.error(), send_error::busy);
}

TEST(reliable_datagram, a_restarted_peer_is_heard_again) {
    std::mt19937 random(53);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    direction a_to_b, b_to_a;
    time_point now{};
    a.to_send.push_back(bytes(10, 1));
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    // A new endpoint (new session) starts its sequence numbers at 1 again.
    peer restarted(config_with(0x3333));
    restarted.to_send.push_back(bytes(10, 2));
    ASSERT_TRUE(run(restarted, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, (std::vector<bytes>{bytes(10, 1), bytes(10, 2)}));
    EXPECT_EQ(b.endpoint.counters().peer_restarts, 1u);
}

// --- validation -------------------------------------------------------------------------------

// Builds a data datagram with arbitrary fields and a correct CRC.
bytes data_datagram(std::uint32_t session, std::uint32_t sequence, std::uint32_t length,
                    std::uint16_t index, std::uint16_t count, std::uint16_t chunk,
                    const bytes& payload) {
    bytes out(data_header_size + payload.size() + datagram_trailer_size);
    out[0] = datagram_magic;
    out[1] = datagram_version;
    out[2] = static_cast<std::uint8_t>(datagram_kind::data);
    write_u32(out, 4, session);
    write_u32(out, 8, sequence);
    write_u32(out, 12, length);
    write_u16(out, 16, index);
    write_u16(out, 18, count);
    write_u16(out, 20, chunk);
    std::copy(payload.begin(), payload.end(), out.begin() + data_header_size);
    std::size_t body = out.size() - datagram_trailer_size;
    write_u32(out, body, crc32(std::span<const std::uint8_t>(out).first(body)));
    return out;
}

void reseal(bytes& datagram) {
    std::size_t body = datagram.size() - datagram_trailer_size;
    write_u32(datagram, body, crc32(std::span<const std::uint8_t>(datagram).first(body)));
}

// Four-byte fragments, so that hand-made datagrams stay short.
reliable_config small_config() {
    reliable_config config = config_with(0x2222, 40);
    config.mtu = data_overhead + 4;
    return config;
}

TEST(reliable_datagram, every_bad_field_is_dropped_without_changing_delivered_state) {
    peer b(small_config());
    time_point now{};
    // Deliver message 1 (two fragments of 4 and 2 bytes), and start message 2.
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 1, 6, 0, 2, 4, {1, 2, 3, 4}), now).dropped);
    auto done = b.endpoint.on_datagram(data_datagram(7, 1, 6, 1, 2, 4, {5, 6}), now);
    ASSERT_TRUE(done.delivered);
    EXPECT_EQ(bytes(done.delivered->begin(), done.delivered->end()), (bytes{1, 2, 3, 4, 5, 6}));
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 2, 6, 0, 2, 4, {9, 9, 9, 9}), now).dropped);

    auto error_of = [&](bytes datagram) {
        auto outcome = b.endpoint.on_datagram(datagram, now);
        EXPECT_FALSE(outcome.delivered);
        EXPECT_FALSE(outcome.completed);
        return outcome.dropped.value_or(datagram_error::too_short);
    };
    bytes good = data_datagram(7, 2, 6, 1, 2, 4, {8, 8});
    EXPECT_EQ(error_of(bytes(good.begin(), good.begin() + 15)), datagram_error::too_short);
    bytes bad = good;
    bad[0] = 0;
    EXPECT_EQ(error_of(bad), datagram_error::bad_magic);
    bad = good;
    bad[1] = 2;
    EXPECT_EQ(error_of(bad), datagram_error::bad_version);
    bad = good;
    bad[3] = 1;
    EXPECT_EQ(error_of(bad), datagram_error::bad_kind);
    bad = good;
    bad[2] = 9;
    reseal(bad);
    EXPECT_EQ(error_of(bad), datagram_error::bad_kind);
    bad = good;
    bad[23] ^= 1; // payload byte, CRC not updated
    EXPECT_EQ(error_of(bad), datagram_error::bad_crc);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 2, 2, 4, {8, 8})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 0, 0, 4, {})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 0, 3, 4, {8, 8, 8, 8})),
              datagram_error::bad_fragment); // count disagrees with length and chunk
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 0, 2, 0, {})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 1, 2, 4, {8})), datagram_error::bad_length);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 0, 2, 4, {8, 8, 8})), datagram_error::bad_length);
    EXPECT_EQ(error_of(data_datagram(7, 2, 7, 1, 2, 4, {8, 8, 8})), datagram_error::inconsistent);
    EXPECT_EQ(error_of(data_datagram(7, 2, 6, 0, 2, 4, {9, 9, 9, 9})), datagram_error::duplicate);
    EXPECT_EQ(error_of(data_datagram(7, 1, 6, 1, 2, 4, {5, 6})), datagram_error::duplicate);
    EXPECT_EQ(error_of(data_datagram(7, 0, 6, 1, 2, 4, {5, 6})), datagram_error::stale);
    EXPECT_EQ(error_of(data_datagram(7, 3, 5000, 0, 5, 1174, bytes(1174))),
              datagram_error::refused);

    // Acks: wrong session, stale sequence, malformed bitmaps.
    bytes ack(ack_header_size + 1 + datagram_trailer_size);
    ack[0] = datagram_magic;
    ack[1] = datagram_version;
    ack[2] = static_cast<std::uint8_t>(datagram_kind::ack);
    write_u32(ack, 4, 0x2222);
    write_u32(ack, 8, 1);
    ack[12] = 0;
    write_u16(ack, 13, 2);
    ack[15] = 0x04; // a bit past the count
    reseal(ack);
    EXPECT_EQ(error_of(ack), datagram_error::bad_fragment);
    ack[15] = 0x01;
    write_u16(ack, 13, 9); // needs two bitmap bytes
    reseal(ack);
    EXPECT_EQ(error_of(ack), datagram_error::bad_length);
    write_u16(ack, 13, 2);
    reseal(ack);
    EXPECT_EQ(error_of(ack), datagram_error::stale); // nothing in flight
    write_u32(ack, 4, 0x9999);
    reseal(ack);
    EXPECT_EQ(error_of(ack), datagram_error::wrong_session);

    // None of it disturbed the message in progress or the delivered window.
    auto finished = b.endpoint.on_datagram(data_datagram(7, 2, 6, 1, 2, 4, {8, 8}), now);
    ASSERT_TRUE(finished.delivered);
    EXPECT_EQ(bytes(finished.delivered->begin(), finished.delivered->end()),
              (bytes{9, 9, 9, 9, 8, 8}));
    EXPECT_EQ(b.endpoint.counters().messages_delivered, 2u);
    EXPECT_EQ(b.endpoint.counters().dropped[static_cast<std::size_t>(datagram_error::bad_crc)], 1u);
}

TEST(reliable_datagram, an_incomplete_message_times_out) {
    peer b(small_config());
    time_point now{};
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 1, 6, 0, 2, 4, {1, 2, 3, 4}), now).dropped);
    EXPECT_EQ(b.endpoint.next_deadline(), time_point::min()); // an ack is due
    while (b.endpoint.poll(now, b.buffer).datagram_size) {
    }
    EXPECT_EQ(b.endpoint.next_deadline(), now + b.endpoint.config().reassembly_timeout);
    now += b.endpoint.config().reassembly_timeout;
    (void)b.endpoint.poll(now, b.buffer);
    EXPECT_EQ(b.endpoint.counters().reassembly_timeouts, 1u);
    // The second half alone is now a new, incomplete message, not a completion.
    auto outcome = b.endpoint.on_datagram(data_datagram(7, 1, 6, 1, 2, 4, {5, 6}), now);
    EXPECT_FALSE(outcome.delivered);
}

} // namespace
} // namespace amb::net
