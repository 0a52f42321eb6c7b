// Tests of length-prefixed stream framing: round trips in any chunking and the unrecoverable
// oversize length.
#include <net/length_prefixed.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace amb::net {
namespace {

using bytes = std::vector<std::uint8_t>;

TEST(length_prefixed, round_trips_in_any_chunking) {
    std::mt19937 random(37);
    std::vector<bytes> sent;
    bytes stream;
    for (std::size_t size : {0u, 1u, 3u, 4u, 5u, 1000u, 65536u, 0u, 70000u}) {
        bytes message(size);
        for (auto& byte : message)
            byte = static_cast<std::uint8_t>(random());
        sent.push_back(message);
        auto header = encode_length_prefix(size);
        stream.insert(stream.end(), header.begin(), header.end());
        stream.insert(stream.end(), message.begin(), message.end());
    }
    for (std::size_t chunk : {1u, 3u, 4096u, 1000000u}) {
        bytes storage(70000);
        length_prefixed_decoder decoder(storage);
        std::vector<bytes> received;
        for (std::size_t at = 0; at < stream.size(); at += chunk) {
            std::span<const std::uint8_t> piece(stream.data() + at,
                                                std::min(chunk, stream.size() - at));
            while (!piece.empty()) {
                auto step = decoder.feed(piece);
                ASSERT_FALSE(step.error);
                piece = piece.subspan(step.consumed);
                if (step.message)
                    received.emplace_back(step.message->begin(), step.message->end());
            }
        }
        EXPECT_EQ(received, sent) << "chunk " << chunk;
        EXPECT_TRUE(decoder.idle());
    }
}

TEST(length_prefixed, an_oversize_length_fails_the_stream) {
    bytes storage(10);
    length_prefixed_decoder decoder(storage);
    bytes stream{0, 0, 0, 11, 1, 2, 3};
    auto step = decoder.feed(stream);
    EXPECT_EQ(step.error, stream_error::message_too_large);
    EXPECT_EQ(step.consumed, 4u);
    EXPECT_TRUE(decoder.failed());
    auto again = decoder.feed(std::span<const std::uint8_t>(stream).subspan(4));
    EXPECT_EQ(again.error, stream_error::message_too_large);
    EXPECT_EQ(again.consumed, 0u);
}

} // namespace
} // namespace amb::net
