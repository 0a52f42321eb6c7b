// The fixtures of benchmark `deploy` answer correctly, in real processes over real sockets: the
// remote call between hosted nodes over UDP (with and without spinning loops, one caller or
// several each with its own credential), the serving node's measurement window and its meter of
// CAPLets verification, and the HTTP export with its token. No timing is asserted.
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

TEST(ambience_udp, a_window_counts_the_requests_and_the_meter_times_their_verification) {
    udp_options options;
    options.spin = std::chrono::microseconds(0);
    options.meter = true;
    auto started = start_ambience_udp(options);
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
    // One verification per request, all from the credential remembered at the first call.
    EXPECT_EQ(window->verifications, 10u + max_in_flight);
    EXPECT_EQ(window->hits, 10u + max_in_flight);
    EXPECT_EQ(window->misses, 0u);
    EXPECT_EQ(window->refused, 0u);
    EXPECT_GT(window->verify_ns, 0u);
    EXPECT_GT(window->record_ns, 0u);
    EXPECT_GT(window->empty_part_ns, 0.0);
    // After the window the node keeps serving; a second window counts only its own requests.
    ASSERT_TRUE(fixture.begin_window());
    EXPECT_EQ(fixture.add(1, 1), std::optional<std::uint64_t>(2));
    window = fixture.end_window();
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->verifications, 1u);
    EXPECT_TRUE(fixture.stop());
}

TEST(ambience_udp, calls_rotate_over_callers_each_with_its_own_credential) {
    udp_options options;
    options.spin = std::chrono::microseconds(0);
    options.callers = 16;
    options.meter = true;
    auto started = start_ambience_udp(options);
    ASSERT_TRUE(started.running) << started.error;
    ambience_udp& fixture = *started.running;
    EXPECT_EQ(fixture.callers(), 16u);
    check_calls(fixture);
    ASSERT_TRUE(fixture.begin_window());
    for (std::uint64_t i = 0; i < 32; ++i)
        EXPECT_EQ(fixture.add(i, 1), std::optional<std::uint64_t>(i + 1));
    auto window = fixture.end_window();
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->verifications, 32u);
    EXPECT_EQ(window->hits, 32u); // the node remembers all 16 credentials
    EXPECT_TRUE(fixture.stop());
}

TEST(ambience_udp, a_cache_smaller_than_the_callers_misses_every_request) {
    udp_options options;
    options.spin = std::chrono::microseconds(0);
    options.callers = 4;
    options.verified_callers = 1;
    options.meter = true;
    auto started = start_ambience_udp(options);
    ASSERT_TRUE(started.running) << started.error;
    ambience_udp& fixture = *started.running;
    ASSERT_TRUE(fixture.begin_window());
    for (std::uint64_t i = 0; i < 8; ++i)
        EXPECT_EQ(fixture.add(i, 1), std::optional<std::uint64_t>(i + 1));
    auto window = fixture.end_window();
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->verifications, 8u);
    EXPECT_EQ(window->misses, 8u);
    EXPECT_GT(window->miss_capped_ns, 0u);
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
