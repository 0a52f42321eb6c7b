// The hosted node with real processes: a lidl service served by a forked group process through
// a ring region in a memfd, compared with the same service called directly; crashes, garbage in
// the shared ring, oversized calls and stopping the supervisor.
#include <hosted/node/message_channel.hpp>
#include <hosted/node/node_supervisor.hpp>
#include <hosted/node/shared_region.hpp>

#include "counter.lidl.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace amb::hosted::node;
using namespace std::chrono_literals;
using node_test::counter;

// `add` with this amount aborts the serving process (a crash in the middle of a call).
constexpr std::uint32_t crash_amount = 0xdead;

class counter_impl final : public counter {
public:
    amb::task<std::uint64_t> add(std::uint32_t amount) override {
        if (amount == crash_amount) {
            rlimit no_core{0, 0};
            ::setrlimit(RLIMIT_CORE, &no_core);
            std::abort();
        }
        total_ += amount;
        co_return total_;
    }
    amb::task<std::string_view> echo(std::string_view text, lidl::builder&) override {
        co_return text;
    }

private:
    std::uint64_t total_ = 0;
};

// The group process's main: serve a fresh counter until stopped.
int serve_counter(const message_link& link) {
    counter_impl implementation;
    auto server = message_server<counter>::attach(link, implementation);
    if (!server)
        return 2;
    return server->run();
}

constexpr amb::rings::config ring_config{.element_count = 8, .payload_size = 4096,
                                         .to_kernel_capacity = 8, .to_group_capacity = 8};

// An 8-byte aligned buffer for response builders.
struct response_buffer {
    alignas(8) std::uint8_t bytes[8192];
    std::span<std::uint8_t> span() { return bytes; }
};

bool process_gone(pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD && ::kill(pid, 0) < 0 &&
           errno == ESRCH;
}

bool fd_closed(int fd) { return ::fcntl(fd, F_GETFD) < 0 && errno == EBADF; }

struct started_group {
    group_process* group;
    message_caller caller;
};

started_group start_counter(node_supervisor& supervisor) {
    auto group = supervisor.start_group(ring_config, serve_counter);
    EXPECT_TRUE(group.has_value());
    auto caller = message_caller::attach((*group)->caller_link(), 10s);
    EXPECT_TRUE(caller.has_value());
    return {*group, std::move(*caller)};
}

TEST(shared_region, maps_the_same_bytes_twice) {
    auto first = shared_region::create(4096);
    ASSERT_TRUE(first.has_value());
    std::memcpy(first->bytes().data(), "ring", 4);
    auto second = shared_region::map(unique_fd(::dup(first->fd())), 4096);
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(first->bytes().data(), second->bytes().data());
    EXPECT_EQ(std::memcmp(second->bytes().data(), "ring", 4), 0);
    EXPECT_TRUE(first->share_with_child().has_value());
    EXPECT_EQ(::fcntl(first->fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(shared_region, rejects_bad_sizes) {
    auto empty = shared_region::create(0);
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error(), EINVAL);
    auto region = shared_region::create(4096);
    ASSERT_TRUE(region.has_value());
    // A peer's file smaller than expected is never mapped past its end.
    auto larger = shared_region::map(unique_fd(::dup(region->fd())), 8192);
    ASSERT_FALSE(larger.has_value());
    EXPECT_EQ(larger.error(), EINVAL);
    int fd = region->fd();
    region->reset();
    EXPECT_TRUE(fd_closed(fd));
}

TEST(message_channel, child_process_answers_like_a_direct_call) {
    counter_impl local;
    node_test::counter_client<lidl::direct_backend<counter>> direct(local);
    node_supervisor supervisor;
    auto [group, caller] = start_counter(supervisor);
    node_test::counter_client<message_backend<counter>> remote(caller);

    for (std::uint32_t amount : {5u, 7u, 0u, 1000000u})
        EXPECT_EQ(amb::sync_wait(remote.add(amount)), amb::sync_wait(direct.add(amount)));
    for (std::string text : {std::string("hello"), std::string(), std::string(1000, 'x')}) {
        response_buffer local_buffer, remote_buffer;
        lidl::builder local_response(local_buffer.span()), remote_response(remote_buffer.span());
        std::string_view expected = amb::sync_wait(direct.echo(text, local_response));
        std::string_view answered = amb::sync_wait(remote.echo(text, remote_response));
        EXPECT_EQ(answered, expected);
        EXPECT_EQ(answered, text);
        EXPECT_FALSE(remote.backend().last_error().has_value());
    }
    EXPECT_FALSE(group->exited());
}

TEST(message_channel, many_calls_in_sequence) {
    node_supervisor supervisor;
    auto [group, caller] = start_counter(supervisor);
    std::uint64_t expected = 0;
    for (std::uint32_t i = 1; i <= 20000; ++i) {
        counter::add_params params{i};
        lidl::slot<std::uint64_t> result;
        auto done = caller.call<counter, 0>(&params, result.address());
        ASSERT_TRUE(done.has_value()) << describe(done.error());
        expected += i;
        ASSERT_EQ(result.take(), expected);
    }
}

TEST(message_channel, crash_mid_call_fails_the_call_and_the_parent_goes_on) {
    node_supervisor supervisor;
    auto [group, caller] = start_counter(supervisor);
    counter::add_params params{crash_amount};
    lidl::slot<std::uint64_t> result;
    auto crashed = caller.call<counter, 0>(&params, result.address());
    ASSERT_FALSE(crashed.has_value());
    EXPECT_EQ(crashed.error(), call_error::peer_exited);
    EXPECT_TRUE(caller.broken());
    EXPECT_TRUE(group->exited());
    // Later calls on the dead channel fail at once; the generated client reports it too.
    node_test::counter_client<message_backend<counter>> remote(caller);
    EXPECT_EQ(amb::sync_wait(remote.add(1)), 0u);
    EXPECT_EQ(remote.backend().last_error(), call_error::peer_exited);

    supervisor.stop(*group);
    EXPECT_TRUE(WIFSIGNALED(group->wait_status()));
    EXPECT_EQ(WTERMSIG(group->wait_status()), SIGABRT);

    // The parent keeps working: a new group serves.
    auto [second, second_caller] = start_counter(supervisor);
    node_test::counter_client<message_backend<counter>> again(second_caller);
    EXPECT_EQ(amb::sync_wait(again.add(3)), 3u);
}

TEST(message_channel, garbage_requests_are_rejected_and_serving_goes_on) {
    node_supervisor supervisor;
    auto [group, caller] = start_counter(supervisor);

    std::uint8_t garbage[64];
    for (std::size_t i = 0; i < sizeof garbage; ++i)
        garbage[i] = static_cast<std::uint8_t>(i * 37 + 11);
    auto bad_message = caller.exchange(0, garbage);
    ASSERT_FALSE(bad_message.has_value());
    EXPECT_EQ(bad_message.error(), call_error::rejected);
    auto empty_message = caller.exchange(1, {});
    ASSERT_FALSE(empty_message.has_value());
    EXPECT_EQ(empty_message.error(), call_error::rejected);
    auto bad_procedure = caller.exchange(77, garbage);
    ASSERT_FALSE(bad_procedure.has_value());
    EXPECT_EQ(bad_procedure.error(), call_error::rejected);
    EXPECT_FALSE(caller.broken());

    // A header no honest caller writes: a payload length past the element.
    message_link link = group->caller_link();
    auto region = amb::rings::ring_region::attach(link.region);
    ASSERT_TRUE(region.has_value());
    amb::rings::endpoint raw = region->kernel();
    auto index = raw.allocate();
    ASSERT_TRUE(index.has_value());
    auto element = raw.element(*index);
    ASSERT_TRUE(element.has_value());
    element->header->kind = 1;
    element->header->procedure = 0;
    element->header->payload_length = 1u << 30;
    element->header->cookie = 99;
    ASSERT_TRUE(raw.submit(*index).has_value());
    ASSERT_TRUE(signal_event(link.request_event).has_value());
    std::optional<amb::rings::element_index> answered;
    for (int attempt = 0; attempt < 1000 && !answered; ++attempt) {
        auto polled = raw.poll();
        ASSERT_TRUE(polled.has_value());
        answered = *polled;
        if (!answered)
            std::this_thread::sleep_for(1ms);
    }
    ASSERT_TRUE(answered.has_value());
    EXPECT_EQ(*answered, *index);
    EXPECT_EQ(element->header->kind, 2);
    EXPECT_EQ(element->header->status, static_cast<std::uint16_t>(call_status::malformed_request));
    EXPECT_TRUE(raw.release(*index).has_value());

    node_test::counter_client<message_backend<counter>> remote(caller);
    EXPECT_EQ(amb::sync_wait(remote.add(9)), 9u);
    EXPECT_FALSE(remote.backend().last_error().has_value());
    EXPECT_FALSE(group->exited());
}

TEST(message_channel, calls_larger_than_an_element_are_refused) {
    node_supervisor supervisor;
    auto [group, caller] = start_counter(supervisor);
    node_test::counter_client<message_backend<counter>> remote(caller);
    std::string big(ring_config.payload_size + 1, 'b');
    response_buffer buffer;
    lidl::builder response(buffer.span());
    EXPECT_EQ(amb::sync_wait(remote.echo(big, response)), "");
    EXPECT_EQ(remote.backend().last_error(), call_error::too_large);
    EXPECT_FALSE(caller.broken());
    EXPECT_EQ(amb::sync_wait(remote.add(4)), 4u);
}

TEST(node_supervisor, stop_leaves_no_process_and_closes_the_memfd) {
    pid_t pid = -1;
    int memfd = -1;
    {
        node_supervisor supervisor;
        auto [group, caller] = start_counter(supervisor);
        pid = group->pid();
        memfd = group->memfd();
        ASSERT_EQ(::kill(pid, 0), 0);
        EXPECT_EQ(supervisor.running(), 1u);
        supervisor.stop();
        EXPECT_EQ(supervisor.running(), 0u);
        EXPECT_TRUE(WIFSIGNALED(group->wait_status()));
        EXPECT_EQ(WTERMSIG(group->wait_status()), SIGTERM);
        EXPECT_TRUE(process_gone(pid));
        EXPECT_TRUE(fd_closed(memfd));
    }
    EXPECT_TRUE(process_gone(pid));
}

TEST(node_supervisor, destruction_kills_a_group_that_ignores_sigterm) {
    pid_t pid = -1;
    {
        node_supervisor supervisor(200ms);
        auto group = supervisor.start_group(ring_config, [](const message_link&) {
            ::signal(SIGTERM, SIG_IGN);
            for (;;)
                ::pause();
            return 0;
        });
        ASSERT_TRUE(group.has_value());
        pid = (*group)->pid();
        std::this_thread::sleep_for(50ms);  // let it ignore SIGTERM
    }
    EXPECT_TRUE(process_gone(pid));
}

TEST(node_supervisor, stop_signal_wakes_the_supervisor) {
    pid_t pid = -1;
    {
        node_supervisor supervisor;
        ASSERT_TRUE(supervisor.watch_stop_signals().has_value());
        auto [group, caller] = start_counter(supervisor);
        pid = group->pid();
        auto idle = supervisor.wait(10ms);
        ASSERT_TRUE(idle.has_value());
        EXPECT_EQ(*idle, node_supervisor::wake_reason::timed_out);
        ASSERT_EQ(::raise(SIGTERM), 0);  // blocked: delivered through the signalfd
        auto woken = supervisor.wait(5s);
        ASSERT_TRUE(woken.has_value());
        EXPECT_EQ(*woken, node_supervisor::wake_reason::stop_signal);
        // The group was not hit by the signal and still serves.
        node_test::counter_client<message_backend<counter>> remote(caller);
        EXPECT_EQ(amb::sync_wait(remote.add(2)), 2u);
    }
    EXPECT_TRUE(process_gone(pid));
}

TEST(node_supervisor, wait_reports_a_group_that_exits) {
    node_supervisor supervisor;
    auto group = supervisor.start_group(ring_config, [](const message_link&) { return 3; });
    ASSERT_TRUE(group.has_value());
    auto woken = supervisor.wait(5s);
    ASSERT_TRUE(woken.has_value());
    EXPECT_EQ(*woken, node_supervisor::wake_reason::group_exited);
    supervisor.stop(**group);
    EXPECT_TRUE(WIFEXITED((*group)->wait_status()));
    EXPECT_EQ(WEXITSTATUS((*group)->wait_status()), 3);
}

}  // namespace
