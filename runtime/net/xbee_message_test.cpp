// Tests of message fragmentation over XBee frames: round trips of every size class from 0 to
// 70000 bytes, lost and damaged frames, and messages larger than the receiver accepts.
#include <net/xbee_message.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace amb::net::xbee {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes random_bytes(std::mt19937& random, std::size_t size) {
    bytes data(size);
    for (auto& byte : data)
        byte = static_cast<std::uint8_t>(random());
    return data;
}

// Encodes `message` as a list of escaped frames.
std::vector<bytes> frames_of(message_sender& sender, const bytes& message) {
    std::vector<bytes> frames;
    EXPECT_TRUE(sender.begin(message).has_value());
    bytes buffer(max_encoded_size(sender.max_frame_data()));
    while (!sender.finished()) {
        auto size = sender.next_frame(buffer);
        EXPECT_TRUE(size.has_value());
        frames.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*size));
    }
    EXPECT_EQ(frames.size(), fragment_count(message.size(), sender.max_frame_data()));
    return frames;
}

struct received {
    std::vector<bytes> messages;
    std::vector<fragment_error> fragment_errors;
    std::vector<decode_error> frame_errors;
};

void feed(message_receiver& receiver, const bytes& line, std::size_t chunk, received& out) {
    std::span<const std::uint8_t> rest(line);
    while (!rest.empty()) {
        std::size_t take = chunk == 0 || chunk > rest.size() ? rest.size() : chunk;
        std::span<const std::uint8_t> piece = rest.first(take);
        rest = rest.subspan(take);
        while (!piece.empty()) {
            auto step = receiver.feed(piece);
            piece = piece.subspan(step.consumed);
            if (step.message)
                out.messages.emplace_back(step.message->begin(), step.message->end());
            if (step.fragment_error)
                out.fragment_errors.push_back(*step.fragment_error);
            if (step.frame_error)
                out.frame_errors.push_back(*step.frame_error);
        }
    }
}

bytes join(const std::vector<bytes>& frames) {
    bytes line;
    for (const auto& frame : frames)
        line.insert(line.end(), frame.begin(), frame.end());
    return line;
}

TEST(xbee_message, round_trips_sizes_0_to_70000) {
    constexpr std::size_t max_frame = 255; // a typical radio frame bound
    constexpr std::size_t chunk = max_frame - fragment_header_size;
    std::vector<std::size_t> sizes;
    for (std::size_t size = 0; size <= 600; ++size)
        sizes.push_back(size);
    for (std::size_t multiple = chunk; multiple <= 70000; multiple += 37 * chunk)
        for (std::size_t size : {multiple - 1, multiple, multiple + 1})
            sizes.push_back(size);
    for (std::size_t size = 601; size <= 70000; size += 997)
        sizes.push_back(size);
    sizes.push_back(65535);
    sizes.push_back(65536);
    sizes.push_back(70000);

    std::mt19937 random(23);
    message_sender sender(max_frame);
    bytes frame_storage(max_frame);
    bytes message_storage(70000);
    message_receiver receiver(frame_storage, message_storage);
    std::size_t expected = 0;
    for (std::size_t size : sizes) {
        bytes message = random_bytes(random, size);
        received out;
        feed(receiver, join(frames_of(sender, message)), 1 + random() % 300, out);
        ASSERT_EQ(out.messages.size(), 1u) << "size " << size;
        ASSERT_EQ(out.messages[0], message) << "size " << size;
        ASSERT_TRUE(out.fragment_errors.empty() && out.frame_errors.empty());
        ++expected;
    }
    EXPECT_EQ(receiver.counters().messages, expected);
}

TEST(xbee_message, a_lost_frame_abandons_only_its_message) {
    std::mt19937 random(29);
    message_sender sender(64);
    bytes frame_storage(64), message_storage(4096);
    message_receiver receiver(frame_storage, message_storage);
    bytes first = random_bytes(random, 1000), second = random_bytes(random, 1000);
    auto frames = frames_of(sender, first);
    frames.erase(frames.begin() + 5);
    auto more = frames_of(sender, second);
    frames.insert(frames.end(), more.begin(), more.end());
    received out;
    feed(receiver, join(frames), 0, out);
    EXPECT_EQ(out.messages, std::vector<bytes>{second});
    // Fragment 6 arrives where 5 was expected; the rest of the first message is then out of
    // order too, and the second message starts cleanly.
    ASSERT_FALSE(out.fragment_errors.empty());
    for (auto error : out.fragment_errors)
        EXPECT_EQ(error, fragment_error::out_of_order);
}

TEST(xbee_message, damaged_frames_and_garbage_lose_nothing_else) {
    std::mt19937 random(31);
    message_sender sender(100);
    bytes frame_storage(100), message_storage(4096);
    message_receiver receiver(frame_storage, message_storage);
    std::vector<bytes> sent;
    bytes line;
    for (int i = 0; i < 20; ++i) {
        bytes message = random_bytes(random, random() % 2000);
        auto frames = frames_of(sender, message);
        if (i % 4 == 1) {
            // Damage one byte of one frame: that message is lost.
            bytes& frame = frames[frames.size() / 2];
            frame[frame.size() / 2] ^= 0x01;
        } else {
            sent.push_back(message);
        }
        line.insert(line.end(), {0x00, 0x11, 0x42}); // line noise between messages
        bytes joined = join(frames);
        line.insert(line.end(), joined.begin(), joined.end());
    }
    received out;
    feed(receiver, line, 17, out);
    EXPECT_EQ(out.messages, sent);
    EXPECT_FALSE(out.frame_errors.empty());
}

TEST(xbee_message, a_message_too_large_for_the_receiver_is_refused) {
    message_sender sender(64);
    bytes frame_storage(64), message_storage(100);
    message_receiver receiver(frame_storage, message_storage);
    received out;
    feed(receiver, join(frames_of(sender, bytes(101, 1))), 0, out);
    feed(receiver, join(frames_of(sender, bytes(100, 2))), 0, out);
    EXPECT_EQ(out.messages, std::vector<bytes>{bytes(100, 2)});
    EXPECT_EQ(receiver.counters().message_too_large, fragment_count(101, 64));
}

TEST(xbee_message, headers_are_validated) {
    bytes frame_storage(64), message_storage(100);
    message_receiver receiver(frame_storage, message_storage);
    auto error_of = [&](bytes frame) {
        auto step = receiver.accept_frame(frame);
        EXPECT_FALSE(step.message);
        return step.fragment_error.value_or(fragment_error{});
    };
    //                  type  id        index     count     length                crc
    EXPECT_EQ(error_of({0x01, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 7}),
              fragment_error::not_a_fragment);
    EXPECT_EQ(error_of({0xa7, 0, 1}), fragment_error::not_a_fragment);
    EXPECT_EQ(error_of({0xa7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7}),
              fragment_error::bad_header); // count 0
    EXPECT_EQ(error_of({0xa7, 0, 1, 0, 2, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 7}),
              fragment_error::bad_header); // index past count
    EXPECT_EQ(error_of({0xa7, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 7}),
              fragment_error::bad_header); // last fragment shorter than the length
    EXPECT_EQ(error_of({0xa7, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 7}),
              fragment_error::bad_message_crc);
    EXPECT_EQ(error_of({0xa7, 0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 7}),
              fragment_error::out_of_order);
    EXPECT_EQ(receiver.counters().messages, 0u);
}

} // namespace
} // namespace amb::net::xbee
