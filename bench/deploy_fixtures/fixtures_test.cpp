// The fixtures of benchmark `deploy` answer correctly, in real processes over real sockets: the
// remote call between two hosted nodes over UDP (with and without spinning loops), the serving
// node's measurement window and the re-verification of captured requests, and the HTTP export
// with its token. No timing is asserted.
#include "fixtures.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <vector>

namespace amb::deploy_bench {
namespace {

bool process_gone(pid_t pid) {
    return ::kill(pid, 0) != 0 && errno == ESRCH;
}

void check_calls(small_call& fixture) {
    EXPECT_EQ(fixture.add(20, 22), std::optional<std::uint64_t>(42));
    EXPECT_EQ(fixture.add(~std::uint64_t{0}, 2), std::optional<std::uint64_t>(1)); // wraps
    std::vector<add_operands> calls(max_in_flight);
    for (std::size_t i = 0; i < calls.size(); ++i)
        calls[i] = {i, 1000 * i};
    std::vector<std::uint64_t> sums(calls.size());
    ASSERT_TRUE(fixture.add_in_flight(calls, sums));
    for (std::size_t i = 0; i < calls.size(); ++i)
        EXPECT_EQ(sums[i], 1001 * i);
}

TEST(ambience_udp, answers_calls_sequentially_and_in_flight) {
    auto started = start_ambience_udp();
    ASSERT_TRUE(started.running) << started.error;
    check_calls(*started.running);
    const pid_t child = started.running->child_pid();
    EXPECT_TRUE(started.running->stop());
    EXPECT_TRUE(process_gone(child));
}

TEST(ambience_udp, loops_without_spinning_answer_too) {
    udp_options options;
    options.spin = std::chrono::microseconds(0);
    auto started = start_ambience_udp(options);
    ASSERT_TRUE(started.running) << started.error;
    check_calls(*started.running);
    EXPECT_TRUE(started.running->stop());
}

TEST(ambience_udp, a_window_counts_the_requests_and_they_verify_again) {
    auto started = start_ambience_udp();
    ASSERT_TRUE(started.running) << started.error;
    ambience_udp& fixture = *started.running;
    ASSERT_TRUE(fixture.begin_window());
    for (std::uint64_t i = 0; i < 10; ++i)
        EXPECT_EQ(fixture.add(i, i), std::optional<std::uint64_t>(2 * i));
    std::vector<add_operands> calls(max_in_flight, add_operands{1, 2});
    std::vector<std::uint64_t> sums(calls.size());
    ASSERT_TRUE(fixture.add_in_flight(calls, sums));
    auto window = fixture.end_window();
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->requests, 10u + max_in_flight);
    EXPECT_GT(window->cpu_ns, 0u);
    EXPECT_EQ(fixture.captured(), 10u + max_in_flight);
    auto cost = fixture.verify_captured();
    ASSERT_TRUE(cost.has_value());
    EXPECT_EQ(cost->requests, 10u + max_in_flight);
    EXPECT_GT(cost->cpu_ns, 0u);
    // Calls after the window are not captured; the node keeps serving.
    EXPECT_EQ(fixture.add(1, 1), std::optional<std::uint64_t>(2));
    EXPECT_EQ(fixture.captured(), 10u + max_in_flight);
    EXPECT_TRUE(fixture.stop());
}

TEST(rest_export, answers_with_the_token_and_refuses_without) {
    auto started = start_rest_export();
    ASSERT_TRUE(started.running) << started.error;
    rest_export& server = *started.running;
    auto answer = http_post(server.port(), "/adder/add", server.token(), R"({"a": 40, "b": 2})");
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, R"({"result":42})");
    std::string forged = server.token();
    forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
    answer = http_post(server.port(), "/adder/add", forged, R"({"a": 40, "b": 2})");
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 401);
    answer = http_post(server.port(), "/adder/add", server.token(), R"({"a": -1, "b": 2})");
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 400);
    EXPECT_TRUE(server.server_cpu_ns().has_value());
    const pid_t child = server.child_pid();
    EXPECT_TRUE(server.stop());
    EXPECT_TRUE(process_gone(child));
}

} // namespace
} // namespace amb::deploy_bench
