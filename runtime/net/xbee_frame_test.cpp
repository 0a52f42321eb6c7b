// Tests of the XBee frame codec: known encodings, round trips in arbitrary chunks, and damage
// (truncation, every single bit flip, garbage) that must be rejected with the decoder
// resynchronising on the next frame.
#include <net/xbee_frame.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace amb::net::xbee {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes encode(const bytes& data) {
    bytes out(max_encoded_size(data.size()));
    auto size = encode_frame(data, out);
    EXPECT_TRUE(size.has_value());
    out.resize(*size);
    EXPECT_EQ(out.size(), encoded_size(data));
    return out;
}

// Feeds `line` in chunks of `chunk` bytes; collects frames and errors.
struct decoded {
    std::vector<bytes> frames;
    std::vector<decode_error> errors;
};

decoded decode_all(frame_decoder& decoder, const bytes& line, std::size_t chunk = 0) {
    decoded result;
    std::span<const std::uint8_t> rest(line);
    while (!rest.empty()) {
        std::size_t take = chunk == 0 || chunk > rest.size() ? rest.size() : chunk;
        std::span<const std::uint8_t> piece = rest.first(take);
        rest = rest.subspan(take);
        while (!piece.empty()) {
            auto step = decoder.feed(piece);
            EXPECT_GT(step.consumed, 0u);
            piece = piece.subspan(step.consumed);
            EXPECT_FALSE(step.frame && step.error);
            if (step.frame)
                result.frames.emplace_back(step.frame->begin(), step.frame->end());
            if (step.error)
                result.errors.push_back(*step.error);
        }
    }
    return result;
}

bytes random_bytes(std::mt19937& random, std::size_t size) {
    bytes data(size);
    for (auto& byte : data)
        byte = static_cast<std::uint8_t>(random());
    return data;
}

TEST(xbee_frame, known_encodings) {
    // Digi's escaping example: frame data 23 11 (0x11 is XON).
    EXPECT_EQ(encode({0x23, 0x11}), (bytes{0x7e, 0x00, 0x02, 0x23, 0x7d, 0x31, 0xcb}));
    EXPECT_EQ(encode({0x01, 0x02}), (bytes{0x7e, 0x00, 0x02, 0x01, 0x02, 0xfc}));
    // Every escaped byte; sum 0x11f, checksum 0xff - 0x1f = 0xe0.
    EXPECT_EQ(encode({0x7e, 0x7d, 0x11, 0x13}),
              (bytes{0x7e, 0x00, 0x04, 0x7d, 0x5e, 0x7d, 0x5d, 0x7d, 0x31, 0x7d, 0x33, 0xe0}));
    // A checksum that needs escaping: 0xff - 0x81 = 0x7e.
    EXPECT_EQ(encode({0x81}), (bytes{0x7e, 0x00, 0x01, 0x81, 0x7d, 0x5e}));
    // A length byte that needs escaping (17 = 0x11), and the empty frame.
    bytes seventeen = encode(bytes(17, 0));
    EXPECT_EQ((bytes(seventeen.begin(), seventeen.begin() + 4)), (bytes{0x7e, 0x00, 0x7d, 0x31}));
    EXPECT_EQ(seventeen.back(), 0xff);
    EXPECT_EQ(encode({}), (bytes{0x7e, 0x00, 0x00, 0xff}));
    EXPECT_EQ(checksum(bytes{0x23, 0x11}), 0xcb);
}

TEST(xbee_frame, encode_errors) {
    bytes out(5);
    auto small = encode_frame(bytes{1, 2}, out);
    ASSERT_FALSE(small.has_value());
    EXPECT_EQ(small.error(), encode_error::buffer_too_small);
    bytes big(max_frame_data_size + 1);
    bytes big_out(max_encoded_size(big.size()));
    auto too_large = encode_frame(big, big_out);
    ASSERT_FALSE(too_large.has_value());
    EXPECT_EQ(too_large.error(), encode_error::frame_too_large);
}

TEST(xbee_frame, round_trips_in_any_chunking) {
    std::mt19937 random(7);
    bytes storage(600);
    for (std::size_t chunk : {1u, 2u, 7u, 64u, 0u}) {
        frame_decoder decoder(storage);
        bytes line;
        std::vector<bytes> sent;
        for (std::size_t size = 0; size <= 600; size += 13) {
            sent.push_back(random_bytes(random, size));
            bytes frame = encode(sent.back());
            line.insert(line.end(), frame.begin(), frame.end());
        }
        auto result = decode_all(decoder, line, chunk);
        EXPECT_TRUE(result.errors.empty());
        EXPECT_EQ(result.frames, sent);
        EXPECT_EQ(decoder.counters().frames, sent.size());
    }
}

TEST(xbee_frame, every_truncation_is_dropped_and_the_next_frame_decodes) {
    std::mt19937 random(11);
    bytes data = random_bytes(random, 200);
    data[10] = start_delimiter; // make sure escapes are in play
    data[20] = escape_byte;
    bytes frame = encode(data);
    bytes next_data{1, 2, 3, 4};
    bytes next = encode(next_data);
    bytes storage(300);
    for (std::size_t length = 0; length < frame.size(); ++length) {
        frame_decoder decoder(storage);
        bytes line(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(length));
        line.insert(line.end(), next.begin(), next.end());
        auto result = decode_all(decoder, line, 5);
        ASSERT_EQ(result.frames, std::vector<bytes>{next_data}) << "prefix " << length;
        if (length > 0) {
            ASSERT_EQ(result.errors, std::vector<decode_error>{decode_error::interrupted})
                << "prefix " << length;
        }
    }
}

TEST(xbee_frame, every_bit_flip_is_rejected_and_the_next_frame_decodes) {
    std::mt19937 random(13);
    bytes data = random_bytes(random, 100);
    bytes frame = encode(data);
    bytes next_data{9, 8, 7};
    bytes next = encode(next_data);
    bytes storage(300);
    std::size_t flips = 0;
    for (std::size_t at = 0; at < frame.size(); ++at) {
        for (int bit = 0; bit < 8; ++bit) {
            bytes line = frame;
            line[at] = static_cast<std::uint8_t>(line[at] ^ (1u << bit));
            line.insert(line.end(), next.begin(), next.end());
            frame_decoder decoder(storage);
            auto result = decode_all(decoder, line);
            // The damaged frame never comes out; the next frame always does.
            ASSERT_EQ(result.frames, std::vector<bytes>{next_data})
                << "byte " << at << " bit " << bit;
            ASSERT_FALSE(result.errors.empty()) << "byte " << at << " bit " << bit;
            ++flips;
        }
    }
    EXPECT_EQ(flips, frame.size() * 8);
}

TEST(xbee_frame, garbage_prefixes_are_skipped) {
    std::mt19937 random(17);
    bytes data = random_bytes(random, 50);
    bytes frame = encode(data);
    bytes storage(100);
    for (std::size_t length = 0; length <= 64; ++length) {
        bytes garbage = random_bytes(random, length);
        for (auto& byte : garbage)
            if (byte == start_delimiter)
                byte = 0;
        bytes line = garbage;
        line.insert(line.end(), frame.begin(), frame.end());
        frame_decoder decoder(storage);
        auto result = decode_all(decoder, line, 3);
        ASSERT_EQ(result.frames, std::vector<bytes>{data}) << "garbage " << length;
        ASSERT_EQ(result.errors.size(), length > 0 ? 1u : 0u);
        EXPECT_EQ(decoder.counters().garbage_bytes, length);
    }
    // Garbage that contains a start delimiter and half a header: interrupted, then resynced.
    bytes line{0x55, 0x7e, 0x00};
    line.insert(line.end(), frame.begin(), frame.end());
    frame_decoder decoder(storage);
    auto result = decode_all(decoder, line);
    EXPECT_EQ(result.frames, std::vector<bytes>{data});
    EXPECT_EQ(result.errors,
              (std::vector<decode_error>{decode_error::garbage, decode_error::interrupted}));
}

TEST(xbee_frame, oversize_bad_escape_and_bad_checksum_are_reported_and_counted) {
    bytes storage(10);
    frame_decoder decoder(storage);
    bytes good{1, 2, 3};
    bytes line = encode(bytes(11, 0x42)); // one byte over the capacity
    bytes bad_escape{0x7e, 0x00, 0x01, 0x7d, 0x00, 0xff};
    bytes bad_sum{0x7e, 0x00, 0x01, 0x05, 0x00};
    line.insert(line.end(), bad_escape.begin(), bad_escape.end());
    line.insert(line.end(), bad_sum.begin(), bad_sum.end());
    bytes tail = encode(good);
    line.insert(line.end(), tail.begin(), tail.end());
    auto result = decode_all(decoder, line);
    EXPECT_EQ(result.frames, std::vector<bytes>{good});
    EXPECT_EQ(result.errors,
              (std::vector<decode_error>{decode_error::oversize_length, decode_error::garbage,
                                         decode_error::bad_escape, decode_error::garbage,
                                         decode_error::bad_checksum}));
    EXPECT_EQ(decoder.counters().oversize_length, 1u);
    EXPECT_EQ(decoder.counters().bad_escape, 1u);
    EXPECT_EQ(decoder.counters().bad_checksum, 1u);
    EXPECT_EQ(decoder.counters().frames, 1u);
    EXPECT_STREQ(to_string(decode_error::bad_checksum), "bad checksum");
}

} // namespace
} // namespace amb::net::xbee
