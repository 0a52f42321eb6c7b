// A real pty pair (posix_openpt) in raw mode carrying framed messages both ways, with garbage
// injected on the line between messages.
#include <hosted/net/serial_transport.hpp>

#include "test_support.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

namespace amb::hosted::net {
namespace {

using testing::bytes;
using testing::open_pty;
using testing::pty_pair;

// Writes `garbage` straight onto the descriptor, waiting for room when it is non-blocking. A
// write error, or no room within 30 s (nobody reads the other end), fails the test instead of
// spinning forever.
void inject(int fd, const bytes& garbage) {
    std::size_t written = 0;
    while (written < garbage.size()) {
        ssize_t size = ::write(fd, garbage.data() + written, garbage.size() - written);
        if (size > 0) {
            written += static_cast<std::size_t>(size);
            continue;
        }
        if (size < 0 && errno != EAGAIN && errno != EINTR) {
            ADD_FAILURE() << "writing garbage: " << std::strerror(errno);
            return;
        }
        pollfd room{fd, POLLOUT, 0};
        if (::poll(&room, 1, 30000) == 0) {
            ADD_FAILURE() << "no room on the line for 30 s; " << written << " of "
                          << garbage.size() << " bytes written";
            return;
        }
    }
}

TEST(serial_transport, a_pty_carries_messages_both_ways_through_garbage) {
    std::mt19937 random(67);
    pty_pair pty = open_pty();
    ASSERT_GE(pty.line, 0);
    serial_config config;
    auto opened_a = serial_transport::open(pty.controller, config);
    auto opened_b = serial_transport::open(pty.line, config);
    ASSERT_TRUE(opened_a && opened_b);
    auto& a = *opened_a;
    auto& b = *opened_b;

    std::vector<bytes> to_b, to_a;
    for (std::size_t size : {65536u, 0u, 1u, 240u, 241u, 5000u, 65536u, 777u}) {
        to_b.push_back(testing::random_bytes(random, size));
        to_a.push_back(testing::random_bytes(random, size / 2 + 1));
    }
    // Line noise without a start delimiter, and a start delimiter with half a header (the next
    // real frame interrupts it).
    const std::vector<bytes> garbage{{0x00, 0x11, 0x13, 0x7d, 0x42}, {0x7e, 0x00}, {0xff}};

    std::vector<bytes> at_b, at_a;
    std::size_t next_to_b = 0, next_to_a = 0, injected = 0;
    auto done = [&] {
        // Send one message at a time each way and inject garbage between messages, when the
        // transport is not in the middle of writing a frame.
        if (next_to_b < to_b.size() && a->pending_output() == 0) {
            inject(a->fd(), garbage[injected++ % garbage.size()]);
            EXPECT_TRUE(a->send(to_b[next_to_b++]).has_value());
        }
        if (next_to_a < to_a.size() && b->pending_output() == 0) {
            inject(b->fd(), garbage[injected++ % garbage.size()]);
            EXPECT_TRUE(b->send(to_a[next_to_a++]).has_value());
        }
        while (auto message = b->receive())
            at_b.push_back(std::move(*message));
        while (auto message = a->receive())
            at_a.push_back(std::move(*message));
        return at_b.size() == to_b.size() && at_a.size() == to_a.size();
    };
    ASSERT_TRUE(testing::drive_until(done, *a, *b));
    EXPECT_EQ(at_b, to_b);
    EXPECT_EQ(at_a, to_a);
    // The garbage was seen and skipped, and nothing was lost to it.
    EXPECT_GT(b->frame_counters().garbage_runs + a->frame_counters().garbage_runs, 0u);
    EXPECT_GT(b->frame_counters().interrupted + a->frame_counters().interrupted, 0u);
    EXPECT_EQ(b->counters().messages, to_b.size());
    EXPECT_EQ(b->frame_counters().bad_checksum, 0u);
}

TEST(serial_transport, a_damaged_frame_loses_only_its_message) {
    pty_pair pty = open_pty();
    ASSERT_GE(pty.line, 0);
    serial_config config;
    config.max_frame_data = 64;
    auto opened_b = serial_transport::open(pty.line, config);
    ASSERT_TRUE(opened_b);
    auto& b = *opened_b;
    // Frames written by hand on the controller side: a two-fragment message with its second
    // fragment damaged, then a good message.
    amb::net::xbee::message_sender sender(config.max_frame_data);
    auto frames = [&](const bytes& message) {
        bytes line(4 * amb::net::xbee::max_encoded_size(config.max_frame_data));
        std::size_t at = 0;
        EXPECT_TRUE(sender.begin(message).has_value());
        while (!sender.finished())
            at += *sender.next_frame(std::span<std::uint8_t>(line).subspan(at));
        line.resize(at);
        return line;
    };
    bytes damaged = frames(bytes(60, 1));
    damaged[damaged.size() - 5] ^= 0x04;
    bytes good = frames(bytes(60, 2));
    inject(pty.controller, damaged);
    inject(pty.controller, good);
    std::vector<bytes> received;
    ASSERT_TRUE(testing::drive_until(
        [&] {
            while (auto message = b->receive())
                received.push_back(*message);
            return !received.empty();
        },
        *b));
    EXPECT_EQ(received, std::vector<bytes>{bytes(60, 2)});
    EXPECT_EQ(b->frame_counters().bad_checksum, 1u);
    ::close(pty.controller);
}

} // namespace
} // namespace amb::hosted::net
