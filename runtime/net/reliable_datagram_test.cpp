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
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace amb::net {
namespace {

using bytes = std::vector<std::uint8_t>;
using time_point = loop_clock::time_point;

// At one instant an endpoint has a bounded amount to send (its window of fragments and acks):
// polling more often than this without it running dry is a failure, not a reason to hang.
constexpr int max_polls_at_one_time = 100'000;

// Polls `endpoint` at `now` until it has no datagram to send; false (and a test failure) if it
// never runs dry.
bool poll_until_dry(reliable_endpoint& endpoint, time_point now, bytes& buffer) {
    for (int polls = 0; polls < max_polls_at_one_time; ++polls)
        if (!endpoint.poll(now, buffer).datagram_size)
            return true;
    ADD_FAILURE() << "the endpoint still had datagrams to send after " << max_polls_at_one_time
                  << " polls at one instant";
    return false;
}

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
    std::deque<bytes> to_send;                  // messages waiting for the endpoint
    std::map<std::uint32_t, bytes> by_sequence; // messages handed to the endpoint
    std::vector<bytes> sent;                    // messages acknowledged, in sequence order
    std::vector<bytes> delivered;               // messages received
    std::vector<send_completion> completions;
    std::size_t most_in_flight = 0;
    // Called with each delivered message (e.g. to answer it).
    std::function<void(const bytes&)> on_delivery;
};

// What the link does to datagrams; counters are per direction.
struct link_policy {
    unsigned drop_every = 0;      // drop every k-th datagram
    unsigned duplicate_every = 0; // send every k-th twice
    unsigned corrupt_every = 0;   // flip a byte of every k-th
    unsigned reorder_every = 0;   // hold every k-th back behind the next one
    bool reverse = false;         // deliver each burst of datagrams in reverse order
    bool drop_all = false;
    std::optional<std::uint32_t> drop_sequence = std::nullopt; // drop all data of this message
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
        if (policy.drop_sequence && datagram[2] == static_cast<std::uint8_t>(datagram_kind::data) &&
            read_u32(datagram, 8) == *policy.drop_sequence)
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

// Receive buffers of an endpoint: the next expected message and the pool, with their bitmaps.
std::size_t receive_bound(const reliable_config& config) {
    std::size_t bitmap = (reliable_endpoint::max_fragments(config) + 7) / 8;
    std::size_t pool = config.buffer_size == 0 ? config.max_message_size : config.buffer_size;
    return config.max_message_size + bitmap + pool + bitmap;
}

// Runs both peers until every queued message completed, on simulated time. Returns false if
// the simulation got stuck.
bool run(peer& a, peer& b, direction& a_to_b, direction& b_to_a, time_point& now,
         std::mt19937& random, int max_steps = 2'000'000) {
    auto step_peer = [&](peer& self, direction& out) {
        bool moved = false;
        while (!self.to_send.empty()) {
            auto started = self.endpoint.send(self.to_send.front(), now);
            if (!started) {
                EXPECT_EQ(started.error(), send_error::busy);
                break;
            }
            self.by_sequence[*started] = self.to_send.front();
            self.to_send.pop_front();
            moved = true;
        }
        self.most_in_flight = std::max(self.most_in_flight, self.endpoint.messages_in_flight());
        for (int polls = 0;; ++polls) {
            if (polls == max_polls_at_one_time) {
                ADD_FAILURE() << "an endpoint never ran dry at one instant";
                break;
            }
            auto polled = self.endpoint.poll(now, self.buffer);
            if (polled.datagram_size) {
                EXPECT_LE(polled.datagram_size, self.endpoint.config().mtu);
                out.carry(
                    bytes(self.buffer.begin(),
                          self.buffer.begin() + static_cast<std::ptrdiff_t>(polled.datagram_size)),
                    random);
            }
            if (polled.completed)
                self.completions.push_back(*polled.completed);
            if (!polled.datagram_size && !polled.completed)
                break;
            moved = true;
        }
        return moved;
    };
    auto receive = [&](peer& self, direction& in) {
        bool moved = !in.queue.empty();
        if (in.policy.reverse)
            std::reverse(in.queue.begin(), in.queue.end());
        while (!in.queue.empty()) {
            bytes datagram = std::move(in.queue.front());
            in.queue.pop_front();
            (void)self.endpoint.on_datagram(datagram, now);
            while (auto message = self.endpoint.receive()) {
                self.delivered.emplace_back(message->begin(), message->end());
                if (self.on_delivery)
                    self.on_delivery(self.delivered.back());
            }
            EXPECT_LE(self.endpoint.receive_buffer_in_use(), receive_bound(self.endpoint.config()));
        }
        return moved;
    };
    for (int step = 0; step < max_steps; ++step) {
        bool moved = step_peer(a, a_to_b);
        moved = step_peer(b, b_to_a) || moved;
        moved = receive(b, a_to_b) || moved;
        moved = receive(a, b_to_a) || moved;
        bool done = !a.endpoint.sending() && !b.endpoint.sending() && a.to_send.empty() &&
                    b.to_send.empty() && a_to_b.queue.empty() && b_to_a.queue.empty();
        if (done)
            break;
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
        if (step + 1 == max_steps)
            return false;
    }
    // Acknowledged messages, in sequence order.
    for (peer* self : {&a, &b}) {
        self->sent.clear();
        std::sort(self->completions.begin(), self->completions.end(),
                  [](const send_completion& x, const send_completion& y) {
                      return static_cast<std::int32_t>(x.sequence - y.sequence) < 0;
                  });
        for (const send_completion& completion : self->completions)
            if (!completion.failure)
                self->sent.push_back(self->by_sequence[completion.sequence]);
    }
    return true;
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

constexpr std::size_t chunk = 1200 - data_overhead; // 1170

struct lossy_case {
    const char* name;
    link_policy policy;
};

class reliable_lossy : public ::testing::TestWithParam<lossy_case> {};

TEST_P(reliable_lossy, delivers_every_message_exactly_once_in_full_and_in_order) {
    std::mt19937 random(41);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    std::vector<bytes> a_messages, b_messages;
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, chunk - 1, chunk, chunk + 1, std::size_t{5000},
          std::size_t{65536}, std::size_t{70000}, std::size_t{300}, std::size_t{12345}}) {
        a_messages.push_back(random_bytes(random, size));
        b_messages.push_back(random_bytes(random, size / 2 + 3));
    }
    // Many small messages, so that the window fills.
    for (int i = 0; i < 100; ++i) {
        a_messages.push_back(random_bytes(random, random() % 400));
        b_messages.push_back(random_bytes(random, random() % 2500));
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
    // Many messages were in flight at once.
    EXPECT_GT(a.most_in_flight, 8u);
    EXPECT_LE(a.most_in_flight, a.endpoint.config().window);
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
                                           lossy_case{"reverse_bursts", {.reverse = true}},
                                           lossy_case{"corrupt_every_5", {.corrupt_every = 5}},
                                           lossy_case{"everything",
                                                      {.drop_every = 11,
                                                       .duplicate_every = 4,
                                                       .corrupt_every = 9,
                                                       .reorder_every = 5,
                                                       .reverse = true}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(reliable_datagram, messages_completed_out_of_order_are_delivered_in_order) {
    // Bursts arrive reversed: the last message of a burst is complete first and must wait.
    std::mt19937 random(67);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    std::vector<bytes> messages;
    for (int i = 0; i < 200; ++i)
        messages.push_back(random_bytes(random, 1 + random() % 3000));
    a.to_send.assign(messages.begin(), messages.end());
    direction a_to_b(link_policy{.reverse = true}), b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, messages);
    EXPECT_EQ(a.sent, messages);
    EXPECT_EQ(a.endpoint.counters().retransmissions, 0u);
}

TEST(reliable_datagram, a_small_receive_buffer_bounds_memory_and_still_delivers_in_order) {
    // Room for one 4000-byte message ahead of the expected one: the rest are dropped (no_room)
    // and retransmitted.
    std::mt19937 random(71);
    reliable_config config = config_with(0x1111, 4000);
    config.window = 8;
    config.buffer_size = 8 * 4000; // the sender can have all eight in flight
    peer a(config), b(config_with(0x2222, 4000));
    std::vector<bytes> messages;
    for (int i = 0; i < 40; ++i)
        messages.push_back(random_bytes(random, 3000));
    a.to_send.assign(messages.begin(), messages.end());
    direction a_to_b(link_policy{.reverse = true}), b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, messages);
    EXPECT_GT(b.endpoint.counters().dropped[static_cast<std::size_t>(datagram_error::no_room)], 0u);
    EXPECT_GT(a.most_in_flight, 1u);
}

TEST(reliable_datagram, requests_and_replies_carry_each_others_acknowledgements) {
    // a sends a request, b answers each one, a sends the next request when the answer arrives:
    // every ack but the last rides on a data datagram.
    std::mt19937 random(73);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    constexpr int exchanges = 50;
    int requests = 1;
    a.to_send.push_back(bytes(360, 1));
    b.on_delivery = [&](const bytes& request) { b.to_send.push_back(bytes(100, request[0])); };
    a.on_delivery = [&](const bytes&) {
        if (requests < exchanges)
            a.to_send.push_back(bytes(360, static_cast<std::uint8_t>(++requests)));
    };
    direction a_to_b, b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(b.delivered.size(), std::size_t{exchanges});
    ASSERT_EQ(a.delivered.size(), std::size_t{exchanges});
    EXPECT_EQ(a.sent.size(), std::size_t{exchanges});
    EXPECT_EQ(b.sent.size(), std::size_t{exchanges});
    const auto& at_a = a.endpoint.counters();
    const auto& at_b = b.endpoint.counters();
    EXPECT_GE(at_a.acks_piggybacked + at_b.acks_piggybacked, 2u * exchanges - 2);
    EXPECT_LE(at_a.acks_sent + at_b.acks_sent, 2u);
    // Two datagrams per exchange, and the last ack.
    EXPECT_LE(at_a.datagrams_sent + at_b.datagrams_sent, 2u * exchanges + 2);
}

TEST(reliable_datagram, a_burst_is_acknowledged_in_batches) {
    std::mt19937 random(79);
    peer a(config_with(0x1111)), b(config_with(0x2222));
    for (int i = 0; i < 320; ++i)
        a.to_send.push_back(random_bytes(random, 200));
    direction a_to_b, b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered.size(), 320u);
    EXPECT_EQ(a.sent.size(), 320u);
    // One ack per half window at most, not one per message.
    EXPECT_LE(b.endpoint.counters().acks_sent, 320u / 8);
}

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

TEST(reliable_datagram, messages_after_one_the_sender_gave_up_are_delivered_in_order) {
    // Message 3 never gets through; the sender gives up on it. The messages after it were
    // received; they are delivered once the next data datagram says the sender moved on.
    std::mt19937 random(83);
    reliable_config config = config_with(0x1111);
    config.retry_limit = 2;
    peer a(config), b(config_with(0x2222));
    std::vector<bytes> messages;
    for (int i = 1; i <= 6; ++i)
        messages.push_back(bytes(100, static_cast<std::uint8_t>(i)));
    a.to_send.assign(messages.begin(), messages.end());
    direction a_to_b(link_policy{.drop_sequence = 3}), b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(a.completions.size(), 6u);
    EXPECT_EQ(a.completions[2].failure, send_failure::retry_limit);
    // Messages 4 to 6 were complete at b and acknowledged, but wait behind 3: still held.
    EXPECT_EQ(b.delivered, (std::vector<bytes>{messages[0], messages[1]}));
    a.to_send.push_back(bytes(100, 7));
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, (std::vector<bytes>{messages[0], messages[1], messages[3], messages[4],
                                               messages[5], bytes(100, 7)}));
    EXPECT_EQ(b.endpoint.counters().abandoned, 1u);
}

TEST(reliable_datagram, messages_behind_a_lost_one_are_delivered_after_the_reassembly_timeout) {
    // As above, but the sender sends nothing more: b gives up on message 3 once the peer has
    // been silent for the reassembly timeout.
    std::mt19937 random(89);
    reliable_config config = config_with(0x1111);
    config.retry_limit = 2;
    peer a(config), b(config_with(0x2222));
    std::vector<bytes> messages;
    for (int i = 1; i <= 5; ++i)
        messages.push_back(bytes(100, static_cast<std::uint8_t>(i)));
    a.to_send.assign(messages.begin(), messages.end());
    direction a_to_b(link_policy{.drop_sequence = 3}), b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered.size(), 2u);
    // Nothing is in flight, but b has a deadline: the end of its wait for message 3.
    ASSERT_NE(b.endpoint.next_deadline(), time_point::max());
    now = b.endpoint.next_deadline();
    ASSERT_TRUE(poll_until_dry(b.endpoint, now, b.buffer));
    while (auto message = b.endpoint.receive())
        b.delivered.emplace_back(message->begin(), message->end());
    EXPECT_EQ(b.delivered,
              (std::vector<bytes>{messages[0], messages[1], messages[3], messages[4]}));
    EXPECT_EQ(b.endpoint.counters().abandoned, 1u);
}

TEST(reliable_datagram, a_message_too_large_for_the_peer_is_refused) {
    std::mt19937 random(47);
    peer a(config_with(0x1111)), b(config_with(0x2222, 1000));
    a.to_send.push_back(bytes(5000, 7));
    a.to_send.push_back(bytes(1000, 8));
    a.to_send.push_back(bytes(10, 9));
    direction a_to_b, b_to_a;
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(a.completions.size(), 3u);
    EXPECT_EQ(a.completions[0].failure, send_failure::refused);
    EXPECT_FALSE(a.completions[1].failure);
    EXPECT_FALSE(a.completions[2].failure);
    EXPECT_EQ(b.delivered, (std::vector<bytes>{bytes(1000, 8), bytes(10, 9)}));
}

TEST(reliable_datagram, a_refusal_survives_lost_acknowledgements) {
    // Every ack b sends is lost for a while: the refusal of message 1 must still reach a as a
    // refusal (not as the success the cumulative acknowledgement of later messages implies).
    std::mt19937 random(97);
    peer a(config_with(0x1111)), b(config_with(0x2222, 1000));
    a.to_send.push_back(bytes(5000, 7));
    for (int i = 0; i < 10; ++i)
        a.to_send.push_back(bytes(100, static_cast<std::uint8_t>(i)));
    direction a_to_b, b_to_a(link_policy{.drop_every = 2});
    time_point now{};
    ASSERT_TRUE(run(a, b, a_to_b, b_to_a, now, random));
    ASSERT_EQ(a.completions.size(), 11u);
    EXPECT_EQ(a.completions[0].failure, send_failure::refused);
    for (std::size_t i = 1; i < a.completions.size(); ++i)
        EXPECT_FALSE(a.completions[i].failure);
    EXPECT_EQ(b.delivered.size(), 10u);
}

TEST(reliable_datagram, send_rejects_a_full_window_a_full_buffer_and_oversize) {
    reliable_config config = config_with(0x1111, 100);
    config.window = 4;
    peer a(config);
    auto too_large = a.endpoint.send(bytes(101), time_point{});
    ASSERT_FALSE(too_large.has_value());
    EXPECT_EQ(too_large.error(), send_error::message_too_large);
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(a.endpoint.send(bytes(10), time_point{}).has_value());
    auto busy = a.endpoint.send(bytes(1), time_point{});
    ASSERT_FALSE(busy.has_value());
    EXPECT_EQ(busy.error(), send_error::busy);
    EXPECT_EQ(a.endpoint.messages_in_flight(), 4u);

    peer c(config);
    EXPECT_TRUE(c.endpoint.send(bytes(100), time_point{}).has_value()); // fills the buffer
    auto full = c.endpoint.send(bytes(1), time_point{});
    ASSERT_FALSE(full.has_value());
    EXPECT_EQ(full.error(), send_error::busy);
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
    restarted.to_send.push_back(bytes(10, 3));
    ASSERT_TRUE(run(restarted, b, a_to_b, b_to_a, now, random));
    EXPECT_EQ(b.delivered, (std::vector<bytes>{bytes(10, 1), bytes(10, 2), bytes(10, 3)}));
    EXPECT_EQ(b.endpoint.counters().peer_restarts, 1u);
}

// --- validation -------------------------------------------------------------------------------

// Builds a version 2 data datagram with arbitrary fields and a correct CRC; `ack` (an ack body)
// is appended after the base and flagged.
bytes data_datagram(std::uint32_t session, std::uint32_t sequence, std::uint32_t length,
                    std::uint16_t index, std::uint16_t count, std::uint16_t chunk,
                    const bytes& payload, std::optional<std::uint32_t> base = std::nullopt,
                    const bytes& ack = {}) {
    data_fields fields;
    fields.session = session;
    fields.sequence = sequence;
    fields.length = length;
    fields.index = index;
    fields.count = count;
    fields.chunk = chunk;
    fields.base = base.value_or(sequence);
    bytes out(data_overhead + payload.size() + ack.size());
    out.resize(encode_data_datagram(fields, payload, out, ack));
    return out;
}

// A data datagram of the retired version 1 (22-byte header, payload, CRC; no base).
bytes version_1_datagram(std::uint32_t session, std::uint32_t sequence, const bytes& message) {
    bytes out(data_header_size + message.size() + datagram_trailer_size);
    out[0] = datagram_magic;
    out[1] = 1;
    out[2] = static_cast<std::uint8_t>(datagram_kind::data);
    write_u32(out, 4, session);
    write_u32(out, 8, sequence);
    write_u32(out, 12, static_cast<std::uint32_t>(message.size()));
    write_u16(out, 16, 0);
    write_u16(out, 18, 1);
    write_u16(out, 20, static_cast<std::uint16_t>(message.size()));
    std::copy(message.begin(), message.end(), out.begin() + data_header_size);
    std::size_t body = out.size() - datagram_trailer_size;
    write_u32(out, body, crc32(std::span<const std::uint8_t>(out).first(body)));
    return out;
}

struct entry {
    std::int16_t delta;
    ack_status status;
    std::uint16_t fragments = 0;
    bytes bitmap = {};
};

bytes ack_body(std::uint32_t session, std::uint32_t expected, const std::vector<entry>& entries) {
    bytes out(ack_body_header_size);
    write_u32(out, 0, session);
    write_u32(out, 4, expected);
    out[8] = static_cast<std::uint8_t>(entries.size());
    for (const entry& e : entries) {
        std::size_t at = out.size();
        out.resize(at + 3);
        write_u16(out, at, static_cast<std::uint16_t>(e.delta));
        out[at + 2] = static_cast<std::uint8_t>(e.status);
        if (e.status == ack_status::partial) {
            out.resize(at + 5);
            write_u16(out, at + 3, e.fragments);
            out.insert(out.end(), e.bitmap.begin(), e.bitmap.end());
        }
    }
    return out;
}

bytes ack_datagram(const bytes& body) {
    bytes out{datagram_magic, datagram_version, static_cast<std::uint8_t>(datagram_kind::ack), 0};
    out.insert(out.end(), body.begin(), body.end());
    out.resize(out.size() + datagram_trailer_size);
    std::size_t at = out.size() - datagram_trailer_size;
    write_u32(out, at, crc32(std::span<const std::uint8_t>(out).first(at)));
    return out;
}

void reseal(bytes& datagram) {
    std::size_t body = datagram.size() - datagram_trailer_size;
    write_u32(datagram, body, crc32(std::span<const std::uint8_t>(datagram).first(body)));
}

// Four-byte fragments, so that hand-made datagrams stay short; a window of 1.
reliable_config small_config() {
    reliable_config config = config_with(0x2222, 40);
    config.mtu = data_overhead + 4;
    config.window = 1;
    return config;
}

reliable_config small_window_config() {
    reliable_config config = config_with(0x2222, 40);
    config.mtu = 64;
    config.window = 4;
    return config;
}

std::vector<bytes> drain(reliable_endpoint& endpoint) {
    std::vector<bytes> out;
    while (auto message = endpoint.receive())
        out.emplace_back(message->begin(), message->end());
    return out;
}

TEST(reliable_datagram, every_bad_field_is_dropped_without_changing_delivered_state) {
    reliable_config config = small_window_config(); // chunk 34
    peer b(config);
    time_point now{};
    // Deliver message 1 (two fragments of 34 and 2 bytes), and start message 2.
    bytes first(34, 1);
    ASSERT_FALSE(b.endpoint.on_datagram(data_datagram(7, 1, 36, 0, 2, 34, first), now).dropped);
    ASSERT_FALSE(b.endpoint.on_datagram(data_datagram(7, 1, 36, 1, 2, 34, {5, 6}), now).dropped);
    auto delivered = drain(b.endpoint);
    ASSERT_EQ(delivered.size(), 1u);
    bytes expected_first = first;
    expected_first.insert(expected_first.end(), {5, 6});
    EXPECT_EQ(delivered[0], expected_first);
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 2, 36, 0, 2, 34, bytes(34, 9)), now).dropped);

    auto error_of = [&](bytes datagram) {
        auto outcome = b.endpoint.on_datagram(datagram, now);
        EXPECT_TRUE(outcome.dropped.has_value());
        EXPECT_TRUE(drain(b.endpoint).empty());
        return outcome.dropped.value_or(datagram_error::too_short);
    };
    auto with = [](bytes datagram, std::size_t at, std::uint8_t value) {
        datagram[at] = value;
        return datagram;
    };
    bytes good = data_datagram(7, 2, 36, 1, 2, 34, {8, 8});
    EXPECT_EQ(error_of(bytes(good.begin(), good.begin() + 15)), datagram_error::too_short);
    bytes truncated(good.begin(), good.begin() + 26); // header and CRC, no base
    reseal(truncated);
    EXPECT_EQ(error_of(truncated), datagram_error::too_short);
    EXPECT_EQ(error_of(with(good, 0, 0)), datagram_error::bad_magic);
    EXPECT_EQ(error_of(with(good, 1, 3)), datagram_error::bad_version);
    EXPECT_EQ(error_of(with(good, 3, 2)), datagram_error::bad_kind); // unknown flag
    bytes bad = with(good, 2, 9);
    reseal(bad);
    EXPECT_EQ(error_of(bad), datagram_error::bad_kind);
    EXPECT_EQ(error_of(with(good, 23, good[23] ^ 1)), datagram_error::bad_crc); // CRC not updated
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 2, 2, 34, {8, 8})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 0, 0, 34, {})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 0, 3, 34, bytes(34, 8))),
              datagram_error::bad_fragment); // count disagrees with length and chunk
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 0, 2, 0, {})), datagram_error::bad_fragment);
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 1, 2, 34, {8, 8}, 3)),
              datagram_error::bad_fragment); // base after the sequence
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 1, 2, 34, {8})), datagram_error::bad_length);
    bytes unflagged = data_datagram(7, 2, 36, 1, 2, 34, {8, 8}, 2, ack_body(0x2222, 1, {}));
    unflagged[3] = 0;
    reseal(unflagged);
    EXPECT_EQ(error_of(unflagged), datagram_error::bad_length); // ack bytes without the flag
    bytes flagged = with(good, 3, datagram_flag_ack);
    reseal(flagged);
    EXPECT_EQ(error_of(flagged), datagram_error::bad_length); // the flag without ack bytes
    EXPECT_EQ(error_of(data_datagram(7, 2, 37, 1, 2, 34, {8, 8, 8})), datagram_error::inconsistent);
    EXPECT_EQ(error_of(data_datagram(7, 2, 36, 0, 2, 34, bytes(34, 9))), datagram_error::duplicate);
    EXPECT_EQ(error_of(data_datagram(7, 1, 36, 1, 2, 34, {5, 6})), datagram_error::duplicate);
    EXPECT_EQ(error_of(data_datagram(7, 0, 36, 1, 2, 34, {5, 6})), datagram_error::stale);
    EXPECT_EQ(error_of(data_datagram(7, 6, 2, 0, 1, 34, {1, 2}, 2)), datagram_error::ahead);
    EXPECT_EQ(error_of(data_datagram(7, 3, 5000, 0, 148, 34, bytes(34), 2)),
              datagram_error::refused);

    // A data datagram whose ack part is malformed is dropped whole: message 4 does not start.
    EXPECT_EQ(error_of(data_datagram(7, 4, 2, 0, 1, 34, {4, 4}, 2,
                                     ack_body(0x2222, 1, {{0, ack_status::lost}}))),
              datagram_error::bad_fragment);

    // Acks: malformed bodies, wrong session, nothing to acknowledge, version 1.
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {{0, static_cast<ack_status>(4)}}))),
              datagram_error::bad_kind);
    EXPECT_EQ(error_of(ack_datagram(
                  ack_body(0x2222, 1, {{0, ack_status::partial, 2, {0x04}}}))), // bit past count
              datagram_error::bad_fragment);
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {{0, ack_status::partial, 9, {0x01}}}))),
              datagram_error::bad_length); // needs two bitmap bytes
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {{0, ack_status::partial, 0, {}}}))),
              datagram_error::bad_length);
    EXPECT_EQ(error_of(ack_datagram(
                  ack_body(0x2222, 1, {{2, ack_status::complete}, {1, ack_status::complete}}))),
              datagram_error::bad_fragment); // out of order
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {{0, ack_status::complete}}))),
              datagram_error::bad_fragment); // E itself cannot be complete
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {{1, ack_status::lost}}))),
              datagram_error::bad_fragment); // only what is before E can be lost
    bytes trailing = ack_body(0x2222, 1, {});
    trailing.push_back(0);
    EXPECT_EQ(error_of(ack_datagram(trailing)), datagram_error::bad_length);
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 1, {}))), datagram_error::stale);
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x2222, 5, {}))), datagram_error::inconsistent);
    EXPECT_EQ(error_of(ack_datagram(ack_body(0x9999, 1, {}))), datagram_error::wrong_session);
    bytes old_ack = with(ack_datagram(ack_body(0x2222, 1, {})), 1, 1);
    reseal(old_ack);
    EXPECT_EQ(error_of(old_ack), datagram_error::bad_version);
    bytes flagged_ack = with(ack_datagram(ack_body(0x2222, 1, {})), 3, datagram_flag_ack);
    reseal(flagged_ack);
    EXPECT_EQ(error_of(flagged_ack), datagram_error::bad_kind);

    // None of it disturbed the message in progress or the delivered window.
    auto finished = b.endpoint.on_datagram(data_datagram(7, 2, 36, 1, 2, 34, {8, 8}), now);
    EXPECT_FALSE(finished.dropped)
        << to_string(finished.dropped.value_or(datagram_error::too_short));
    delivered = drain(b.endpoint);
    ASSERT_EQ(delivered.size(), 1u);
    bytes expected_second(34, 9);
    expected_second.insert(expected_second.end(), {8, 8});
    EXPECT_EQ(delivered[0], expected_second);
    EXPECT_EQ(b.endpoint.counters().messages_delivered, 2u);
    EXPECT_EQ(b.endpoint.counters().dropped[static_cast<std::size_t>(datagram_error::bad_crc)], 1u);
}

TEST(reliable_datagram, a_version_1_data_datagram_is_dropped) {
    peer b(config_with(0x2222));
    time_point now{};
    EXPECT_EQ(b.endpoint.on_datagram(version_1_datagram(7, 1, bytes(300, 4)), now).dropped,
              datagram_error::bad_version);
    EXPECT_TRUE(drain(b.endpoint).empty());
    EXPECT_EQ(decode_data_datagram(version_1_datagram(7, 1, bytes(3, 4))).error(),
              datagram_error::bad_version);
}

TEST(reliable_datagram, decode_reads_what_encode_writes_and_refuses_what_the_endpoint_drops) {
    data_fields fields;
    fields.session = 0x5ec00001;
    fields.sequence = 9;
    fields.length = 5;
    fields.count = 1;
    fields.chunk = 5;
    fields.base = 8;
    const bytes message{1, 2, 3, 4, 5};
    bytes out(data_overhead + message.size());
    out.resize(encode_data_datagram(fields, message, out));
    auto decoded = decode_data_datagram(out);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->fields.session, fields.session);
    EXPECT_EQ(decoded->fields.sequence, 9u);
    EXPECT_EQ(decoded->fields.length, 5u);
    EXPECT_EQ(decoded->fields.index, 0u);
    EXPECT_EQ(decoded->fields.count, 1u);
    EXPECT_EQ(decoded->fields.chunk, 5u);
    EXPECT_EQ(decoded->fields.base, 8u);
    EXPECT_EQ(bytes(decoded->payload.begin(), decoded->payload.end()), message);
    EXPECT_TRUE(decoded->ack_body.empty());

    bytes corrupt = out;
    corrupt[23] ^= 1;
    EXPECT_EQ(decode_data_datagram(corrupt).error(), datagram_error::bad_crc);
    EXPECT_EQ(decode_data_datagram(bytes(out.begin(), out.begin() + 10)).error(),
              datagram_error::too_short);
    fields.base = 10; // after its own sequence number
    out.resize(encode_data_datagram(fields, message, out));
    EXPECT_EQ(decode_data_datagram(out).error(), datagram_error::bad_fragment);
    peer b(config_with(0x2222));
    EXPECT_EQ(b.endpoint.on_datagram(out, time_point{}).dropped, datagram_error::bad_fragment);
    EXPECT_EQ(decode_data_datagram(ack_datagram(ack_body(0x2222, 1, {}))).error(),
              datagram_error::bad_kind);
}

TEST(reliable_datagram, a_later_message_waits_for_an_earlier_one) {
    peer b(small_window_config());
    time_point now{};
    EXPECT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 2, 3, 0, 1, 34, {2, 2, 2}, 1), now).dropped);
    EXPECT_FALSE(b.endpoint.on_datagram(data_datagram(7, 3, 1, 0, 1, 34, {3}, 1), now).dropped);
    EXPECT_TRUE(drain(b.endpoint).empty());
    EXPECT_FALSE(b.endpoint.on_datagram(data_datagram(7, 1, 1, 0, 1, 34, {1}, 1), now).dropped);
    EXPECT_EQ(drain(b.endpoint), (std::vector<bytes>{{1}, {2, 2, 2}, {3}}));
    // Duplicates of any of them are acknowledged, not delivered again.
    EXPECT_EQ(b.endpoint.on_datagram(data_datagram(7, 2, 3, 0, 1, 34, {2, 2, 2}, 1), now).dropped,
              datagram_error::duplicate);
    EXPECT_TRUE(drain(b.endpoint).empty());
}

TEST(reliable_datagram, data_carrying_an_ack_for_an_old_session_is_still_delivered) {
    peer b(small_window_config());
    time_point now{};
    auto outcome = b.endpoint.on_datagram(
        data_datagram(7, 1, 1, 0, 1, 34, {5}, 1, ack_body(0x9999, 1, {})), now);
    EXPECT_FALSE(outcome.dropped);
    EXPECT_EQ(drain(b.endpoint), std::vector<bytes>{{5}});
    EXPECT_EQ(
        b.endpoint.counters().dropped[static_cast<std::size_t>(datagram_error::wrong_session)], 1u);
}

TEST(reliable_datagram, a_base_past_a_partial_message_gives_it_up_and_frees_its_buffer) {
    peer b(small_window_config());
    time_point now{};
    // Message 1 half received, message 2 complete behind it.
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 1, 36, 0, 2, 34, bytes(34, 1), 1), now).dropped);
    ASSERT_FALSE(b.endpoint.on_datagram(data_datagram(7, 2, 2, 0, 1, 34, {2, 2}, 1), now).dropped);
    EXPECT_TRUE(drain(b.endpoint).empty());
    EXPECT_GT(b.endpoint.receive_buffer_in_use(), 36u);
    // Message 3 says the sender finished everything before 2: 1 is given up, 2 and 3 delivered.
    ASSERT_FALSE(b.endpoint.on_datagram(data_datagram(7, 3, 1, 0, 1, 34, {3}, 2), now).dropped);
    EXPECT_EQ(drain(b.endpoint), (std::vector<bytes>{{2, 2}, {3}}));
    (void)b.endpoint.receive(); // releases the last one lent out
    EXPECT_EQ(b.endpoint.receive_buffer_in_use(), 0u);
    EXPECT_EQ(b.endpoint.counters().abandoned, 1u);
    // The acknowledgement tells the sender that 1 was lost, not delivered.
    auto polled = b.endpoint.poll(now + 1s, b.buffer);
    ASSERT_GT(polled.datagram_size, 0u);
    EXPECT_EQ(read_u32(b.buffer, 8), 4u); // E
    ASSERT_EQ(b.buffer[12], 1u);          // one entry
    EXPECT_EQ(static_cast<std::int16_t>(read_u16(b.buffer, 13)), -3);
    EXPECT_EQ(b.buffer[15], static_cast<std::uint8_t>(ack_status::lost));
}

TEST(reliable_datagram, an_incomplete_message_times_out) {
    peer b(small_config());
    time_point now{};
    ASSERT_FALSE(
        b.endpoint.on_datagram(data_datagram(7, 1, 6, 0, 2, 4, {1, 2, 3, 4}), now).dropped);
    EXPECT_LE(b.endpoint.next_deadline(), now + b.endpoint.config().ack_delay); // an ack is due
    ASSERT_TRUE(poll_until_dry(b.endpoint, now + b.endpoint.config().ack_delay, b.buffer));
    EXPECT_EQ(b.endpoint.next_deadline(), now + b.endpoint.config().reassembly_timeout);
    now += b.endpoint.config().reassembly_timeout;
    (void)b.endpoint.poll(now, b.buffer);
    EXPECT_EQ(b.endpoint.counters().reassembly_timeouts, 1u);
    EXPECT_EQ(b.endpoint.receive_buffer_in_use(), 0u);
    // The second half alone is now a new, incomplete message, not a completion.
    auto outcome = b.endpoint.on_datagram(data_datagram(7, 1, 6, 1, 2, 4, {5, 6}), now);
    EXPECT_FALSE(outcome.dropped);
    EXPECT_TRUE(drain(b.endpoint).empty());
}

} // namespace
} // namespace amb::net
