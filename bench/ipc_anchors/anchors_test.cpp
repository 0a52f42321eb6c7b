// Tests of the benchmark `ipc` anchors: every anchor echoes every payload size of the benchmark
// byte for byte across processes, answers small calls sequentially and in flight, and leaves no
// child behind, whether stopped or destroyed. A benchmark whose anchor skipped the copy or lost a
// child would time nothing worth comparing.
#include "anchors.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <ostream>
#include <string>
#include <vector>

namespace amb::ipc_anchors {
namespace {

using start_function = started (*)();

struct anchor_case {
    std::string name;
    start_function start;
};

// Test names and failure messages show the anchor's name, not the case's bytes.
void PrintTo(const anchor_case& value, std::ostream* out) {
    *out << value.name;
}

std::string case_name(const testing::TestParamInfo<anchor_case>& info) {
    return info.param.name;
}

// The benchmark's sizes: small calls' scalars and the buffers.
constexpr std::size_t payload_sizes[] = {8, 64, 128, 1024, 4000, 4096, 65536, max_payload_bytes};

// Bytes that differ per position and per call, so that a stale echo cannot pass.
std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::uint8_t>((i * 131 + seed) % 251);
    return bytes;
}

// True when this process has no child at all, running or unreaped.
bool no_children() {
    errno = 0;
    return waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
}

bool process_gone(int pid) {
    return kill(pid, 0) != 0 && errno == ESRCH;
}

class ipc_anchor : public testing::TestWithParam<anchor_case> {
protected:
    void SetUp() override { ASSERT_TRUE(no_children()); }
};

TEST_P(ipc_anchor, echoes_every_size_across_processes) {
    started start = GetParam().start();
    ASSERT_NE(start.running, nullptr) << start.error;
    anchor& running = *start.running;
    EXPECT_EQ(running.name(), GetParam().name);
    ASSERT_GT(running.child_pid(), 0);
    // Twice over, so that a second call of a size cannot be answered with the first's bytes.
    for (std::uint8_t round = 0; round < 2; ++round) {
        for (std::size_t size : payload_sizes) {
            const std::vector<std::uint8_t> payload = pattern(size, round);
            std::vector<std::uint8_t> echo(size, 0xee);
            ASSERT_TRUE(running.round_trip(payload, echo)) << size;
            ASSERT_EQ(echo, payload) << size;
        }
    }
    EXPECT_TRUE(running.stop());
}

TEST_P(ipc_anchor, answers_small_calls_sequentially_and_in_flight) {
    started start = GetParam().start();
    ASSERT_NE(start.running, nullptr) << start.error;
    anchor& running = *start.running;
    EXPECT_EQ(running.add(2, 3), 5U);
    EXPECT_EQ(running.add(~std::uint64_t{0}, 2), 1U); // wraps modulo 2^64
    for (std::size_t count : {std::size_t{1}, std::size_t{16}, max_in_flight}) {
        // Several batches, so that the shared-memory ring wraps around its slots.
        for (std::uint64_t batch = 0; batch < 3; ++batch) {
            std::vector<add_operands> calls(count);
            for (std::size_t i = 0; i < count; ++i)
                calls[i] = {batch * 1000 + i, 7 * i + 1};
            std::vector<std::uint64_t> sums(count, 0);
            ASSERT_TRUE(running.add_in_flight(calls, sums)) << count;
            for (std::size_t i = 0; i < count; ++i)
                EXPECT_EQ(sums[i], calls[i].a + calls[i].b) << count << " " << i;
        }
    }
    // Echoes and small calls share the connection without mixing.
    const std::vector<std::uint8_t> payload = pattern(4096, 9);
    std::vector<std::uint8_t> echo(payload.size());
    ASSERT_TRUE(running.round_trip(payload, echo));
    EXPECT_EQ(echo, payload);
    EXPECT_EQ(running.add(40, 2), 42U);
    EXPECT_TRUE(running.stop());
}

TEST_P(ipc_anchor, stop_reaps_the_child) {
    started start = GetParam().start();
    ASSERT_NE(start.running, nullptr) << start.error;
    const int child = start.running->child_pid();
    EXPECT_FALSE(process_gone(child));
    EXPECT_TRUE(start.running->stop());
    EXPECT_TRUE(process_gone(child));
    EXPECT_TRUE(no_children());
    EXPECT_TRUE(start.running->stop()); // again: the first answer, nothing waited for
    // A stopped anchor refuses calls instead of writing to a child that is gone.
    std::vector<std::uint8_t> echo(8);
    EXPECT_FALSE(start.running->round_trip(pattern(8, 1), echo));
    EXPECT_EQ(start.running->add(1, 1), std::nullopt);
}

TEST_P(ipc_anchor, destruction_reaps_the_child) {
    int child = 0;
    {
        started start = GetParam().start();
        ASSERT_NE(start.running, nullptr) << start.error;
        child = start.running->child_pid();
        EXPECT_EQ(start.running->add(1, 2), 3U);
    }
    EXPECT_TRUE(process_gone(child));
    EXPECT_TRUE(no_children());
}

TEST_P(ipc_anchor, rejects_an_echo_buffer_of_the_wrong_size) {
    started start = GetParam().start();
    ASSERT_NE(start.running, nullptr) << start.error;
    std::vector<std::uint8_t> echo(7);
    EXPECT_FALSE(start.running->round_trip(pattern(8, 0), echo));
    EXPECT_TRUE(start.running->stop());
    EXPECT_TRUE(no_children());
}

// The busy-polling floor never sleeps: a call to a child that died must fail, not spin forever.
TEST(ipc_busypoll, a_call_to_a_dead_child_fails_instead_of_spinning) {
    ASSERT_TRUE(no_children());
    started start = start_shm_busypoll();
    ASSERT_NE(start.running, nullptr) << start.error;
    ASSERT_EQ(start.running->add(20, 22), 42U);
    ASSERT_EQ(kill(start.running->child_pid(), SIGKILL), 0);
    EXPECT_EQ(start.running->add(1, 1), std::nullopt);
    std::vector<std::uint64_t> sums(4);
    const std::vector<add_operands> calls(4, add_operands{1, 2});
    EXPECT_FALSE(start.running->add_in_flight(calls, sums));  // broken from now on
    EXPECT_FALSE(start.running->stop());                       // it did not exit cleanly
    EXPECT_TRUE(no_children());
}

INSTANTIATE_TEST_SUITE_P(anchors, ipc_anchor,
                         testing::Values(anchor_case{"eventfd", start_shm_eventfd},
                                         anchor_case{"busypoll", start_shm_busypoll},
                                         anchor_case{"busypoll_pause_only",
                                                     start_shm_busypoll_pause_only},
                                         anchor_case{"pipe", start_pipe},
                                         anchor_case{"capnp", start_capnp_rpc}),
                         case_name);

} // namespace
} // namespace amb::ipc_anchors
