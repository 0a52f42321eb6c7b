// Attacks on the reliable datagram protocol from anyone who can send a datagram to a node (the
// CRC is no secret, so these need no key): each test performs one and checks that the endpoint
// stays correct and that the work it does is bounded by the window, counted in loop steps
// (`reliable_endpoint::loop_steps`), never timed. Issue 12, hole 8: a data datagram whose base
// lay about 2^31 sequence numbers ahead made `first_finished_ahead` scan 2^31 sequence numbers,
// seconds of CPU per datagram before any authentication.
#include <net/reliable_datagram.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace amb::net {
namespace {

using bytes = std::vector<std::uint8_t>;

// Loops over sequence numbers or slots are bounded by the window, and one datagram followed by
// draining `receive` and `poll` runs a handful of them (skip, advance, the blocked check, the
// settle, the two halves of an ack, the timers): a small multiple of the window. The old scan
// ran 2^31 steps; the bound is far from both.
constexpr std::uint64_t steps_per_datagram(const reliable_config& config) {
    return 16 * config.window + 64;
}

struct victim {
    explicit victim(const reliable_config& config)
        : storage(reliable_endpoint::storage_size(config)), endpoint(config, storage),
          buffer(config.mtu) {}

    // Feeds one datagram, then does what a transport does: takes every message it can (when
    // `drain`) and polls until there is nothing to do. Returns the loop steps all that took.
    std::uint64_t feed(const bytes& datagram, bool drain = true) {
        std::uint64_t before = endpoint.loop_steps();
        last_outcome = endpoint.on_datagram(datagram, now);
        if (drain) {
            while (auto message = endpoint.receive())
                delivered.emplace_back(message->begin(), message->end());
        }
        // Bounded: an endpoint that never runs dry at one instant fails the test.
        for (int polls = 0;; ++polls) {
            if (polls == 100'000) {
                ADD_FAILURE() << "the endpoint never ran dry";
                break;
            }
            auto polled = endpoint.poll(now, buffer);
            if (!polled.datagram_size && !polled.completed)
                break;
        }
        return endpoint.loop_steps() - before;
    }

    bytes storage;
    reliable_endpoint endpoint;
    bytes buffer;
    loop_clock::time_point now{};
    datagram_outcome last_outcome;
    std::vector<bytes> delivered;
};

// A one-fragment message from the peer's session 7, built with the protocol's own encoder.
bytes data_datagram(const reliable_config& config, std::uint32_t sequence, std::uint32_t base,
                    const bytes& message) {
    data_fields fields;
    fields.session = 7;
    fields.sequence = sequence;
    fields.length = static_cast<std::uint32_t>(message.size());
    fields.index = 0;
    fields.count = 1;
    fields.chunk = static_cast<std::uint16_t>(config.mtu - data_overhead);
    fields.base = base;
    bytes out(data_overhead + message.size());
    out.resize(encode_data_datagram(fields, message, out));
    return out;
}

// The attack of the issue: a receiver that takes every message (E = the next undelivered one)
// gets a data datagram whose base is 2^31 - 1 past E. The sender claims it finished (gave up)
// every message in between, so they are given up here too (that a forged base can do so is a
// known limit, docs/net.md); what must not happen is a scan over those sequence numbers.
TEST(reliable_datagram, a_base_2_pow_31_ahead_costs_work_bounded_by_the_window) {
    reliable_config config;
    victim node(config);
    EXPECT_LE(node.feed(data_datagram(config, 1, 1, bytes{1, 2, 3})), steps_per_datagram(config));
    ASSERT_EQ(node.delivered.size(), 1u);

    std::uint32_t far = 2u + 0x7fffffffu; // E is 2
    std::uint64_t steps = node.feed(data_datagram(config, far, far, bytes{4}));
    RecordProperty("loop_steps", std::to_string(steps));
    EXPECT_LE(steps, steps_per_datagram(config));
    EXPECT_FALSE(node.last_outcome.dropped.has_value());
    ASSERT_EQ(node.delivered.size(), 2u);
    EXPECT_EQ(node.delivered[1], bytes{4});

    // The receiver keeps working at its new place in the sequence space, at the same cost.
    EXPECT_LE(node.feed(data_datagram(config, far + 1, far + 1, bytes{5})),
              steps_per_datagram(config));
    ASSERT_EQ(node.delivered.size(), 3u);
    EXPECT_EQ(node.delivered[2], bytes{5});
}

// The same from the other side of the sequence-number circle: a receiver holding a complete
// message it has not yet handed out (deliver_next_ behind E) gets two far bases. Before the
// fix, the first moved E 2^31 - 2 past the undelivered message and the second wrapped the
// distance around: the scan from E then ran ~2^20 steps (quick, so this test cannot hang on the
// old code) and the new message took the slot of the undelivered one. Now the second base is
// refused (`ahead`: it would put E 2^31 or more past a message still held), nothing scans, and
// the held message is delivered intact.
TEST(reliable_datagram, far_bases_past_an_undelivered_message_cannot_wrap_the_window) {
    reliable_config config;
    victim node(config);
    const bytes held{9, 8, 7};
    EXPECT_LE(node.feed(data_datagram(config, 1, 1, held), false), steps_per_datagram(config));

    // E is 2, the next to deliver 1. A base 2^31 - 2 past 1: everything between is given up.
    std::uint32_t first = 1u + 0x7ffffffeu;
    EXPECT_LE(node.feed(data_datagram(config, first, first, bytes{1}), false),
              steps_per_datagram(config));

    // 2^32 - 2^20 past the held message: the same slot (1 modulo the window), E 2^31 - 2^20 + 2
    // past the first base.
    std::uint32_t second = 0u - 0x100000u + 1u;
    ASSERT_EQ(second % config.window, 1u);
    std::uint64_t steps = node.feed(data_datagram(config, second, second, bytes{2}), false);
    RecordProperty("loop_steps", std::to_string(steps));
    EXPECT_LE(steps, steps_per_datagram(config));
    ASSERT_TRUE(node.last_outcome.dropped.has_value());
    EXPECT_EQ(*node.last_outcome.dropped, datagram_error::ahead);

    auto message = node.endpoint.receive();
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(bytes(message->begin(), message->end()), held);
}

// Honest traffic after a far base still flows, and the work per datagram stays bounded while
// the window is full of messages held behind a missing one.
TEST(reliable_datagram, a_full_window_behind_a_missing_message_costs_bounded_work) {
    reliable_config config;
    victim node(config);
    // Sequence 1 never comes; 2 .. window arrive and wait behind it.
    for (std::uint32_t s = 2; s < 1 + config.window; ++s) {
        EXPECT_LE(node.feed(data_datagram(config, s, 1, bytes{static_cast<std::uint8_t>(s)})),
                  steps_per_datagram(config));
    }
    EXPECT_TRUE(node.delivered.empty());
    // The sender gives up 1 (its base moves on): everything held is delivered in order.
    std::uint32_t last = 1 + static_cast<std::uint32_t>(config.window);
    EXPECT_LE(node.feed(data_datagram(config, last, 2, bytes{0xff})), steps_per_datagram(config));
    ASSERT_EQ(node.delivered.size(), config.window);
    for (std::uint32_t s = 2; s < last; ++s)
        EXPECT_EQ(node.delivered[s - 2], bytes{static_cast<std::uint8_t>(s)});
}

} // namespace
} // namespace amb::net
