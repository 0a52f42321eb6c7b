// The Cap'n Proto anchor of benchmark `deploy` answers correctly over TCP on 127.0.0.1 between
// two processes, sequentially and with calls in flight, and its child ends when it is stopped.
#include "fixtures.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <vector>

namespace amb::deploy_bench {
namespace {

TEST(capnp_tcp, answers_calls_sequentially_and_in_flight) {
    auto started = start_capnp_tcp();
    ASSERT_TRUE(started.running) << started.error;
    small_call& fixture = *started.running;
    EXPECT_EQ(fixture.add(20, 22), std::optional<std::uint64_t>(42));
    EXPECT_EQ(fixture.add(~std::uint64_t{0}, 2), std::optional<std::uint64_t>(1));
    std::vector<add_operands> calls(max_in_flight);
    for (std::size_t i = 0; i < calls.size(); ++i)
        calls[i] = {i, 1000 * i};
    std::vector<std::uint64_t> sums(calls.size());
    ASSERT_TRUE(fixture.add_in_flight(calls, sums));
    for (std::size_t i = 0; i < calls.size(); ++i)
        EXPECT_EQ(sums[i], 1001 * i);
    const pid_t child = fixture.child_pid();
    EXPECT_TRUE(fixture.stop());
    EXPECT_TRUE(::kill(child, 0) != 0 && errno == ESRCH);
    EXPECT_FALSE(fixture.add(1, 2).has_value());
}

} // namespace
} // namespace amb::deploy_bench
