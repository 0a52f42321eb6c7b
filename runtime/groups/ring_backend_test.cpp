// One lidl service implementation, unchanged, called directly, through the generated client over
// the direct backend, and from another group through a ring region (on one thread, pumped by
// hand, and on two threads with many calls in flight and full rings).
#include <groups/doorbell.hpp>
#include <groups/ring_backend.hpp>
#include <ports/hosted/event_driver.hpp>
#include <runtime/job.hpp>

#include "counter.lidl.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using groups_test::counter;

class counter_service final : public counter {
public:
    std::uint64_t total = 0;
    amb::task<std::uint64_t> add(std::uint32_t amount) override {
        total += amount;
        co_return total;
    }
    amb::task<std::string_view> label(std::string_view text, lidl::builder& response) override {
        co_return response.copy("label: " + std::string(text));
    }
};

// A ring region in 64-byte aligned heap memory.
class region_memory {
public:
    explicit region_memory(const amb::rings::config& c) {
        std::size_t size = *amb::rings::region_size(c);
        storage_.reset(new (std::align_val_t{64}) std::byte[size]);
        region_ = *amb::rings::ring_region::init(std::span<std::byte>(storage_.get(), size), c);
    }
    amb::rings::endpoint group() { return region_->group(); }
    amb::rings::endpoint kernel() { return region_->kernel(); }

private:
    struct aligned_delete {
        void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
    };
    std::unique_ptr<std::byte[], aligned_delete> storage_;
    std::optional<amb::rings::ring_region> region_;
};

amb::task<std::uint64_t> add_many(counter& api, int calls) {
    std::uint64_t last = 0;
    for (int i = 0; i < calls; ++i)
        last = co_await api.add(1);
    co_return last;
}

amb::task<std::string> label_of(counter& api, std::string text) {
    // A uint64_t array: g++ 12 does not honour alignas on byte arrays in coroutine frames.
    std::uint64_t words[32] = {};
    lidl::builder response(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(words), sizeof words));
    std::string_view result = co_await api.label(text, response);
    co_return std::string(result);
}

TEST(ring_backend, the_same_service_under_every_backend) {
    counter_service service;
    EXPECT_EQ(amb::sync_wait(add_many(service, 3)), 3u);

    groups_test::counter_client<lidl::direct_backend<counter>> direct(service);
    EXPECT_EQ(amb::sync_wait(add_many(direct, 3)), 6u);

    region_memory region(amb::rings::config{});
    amb::groups::ring_caller caller(region.group());
    amb::groups::ring_server<counter> server(region.kernel(), service);
    groups_test::counter_client<amb::groups::ring_backend<counter>> remote(caller);

    amb::task<std::uint64_t> work = add_many(remote, 3);
    work.start();  // runs until the first call is on the ring
    for (int round = 0; !work.done() && round < 100; ++round) {
        ASSERT_TRUE(server.serve());
        ASSERT_TRUE(caller.complete());
    }
    ASSERT_TRUE(work.done());
    EXPECT_EQ(work.take_result(), 9u);

    amb::task<std::string> text = label_of(remote, "from another group");
    text.start();
    for (int round = 0; !text.done() && round < 100; ++round) {
        ASSERT_TRUE(server.serve());
        ASSERT_TRUE(caller.complete());
    }
    ASSERT_TRUE(text.done());
    EXPECT_EQ(text.take_result(), "label: from another group");
    EXPECT_EQ(caller.in_flight(), 0u);
}

TEST(ring_backend, full_rings_and_an_empty_pool_give_back_pressure) {
    counter_service service;
    amb::rings::config small;
    small.element_count = 4;
    small.to_kernel_capacity = 2;
    small.to_group_capacity = 2;
    region_memory region(small);
    amb::groups::ring_caller caller(region.group());
    amb::groups::ring_server<counter> server(region.kernel(), service);
    groups_test::counter_client<amb::groups::ring_backend<counter>> remote(caller);

    std::vector<amb::task<std::uint64_t>> calls;
    for (int i = 0; i < 20; ++i) {
        calls.push_back(add_many(remote, 5));
        calls.back().start();
    }
    EXPECT_GT(caller.in_flight(), 4u);  // more calls than elements: some wait locally
    for (int round = 0; round < 1000 && caller.in_flight() > 0; ++round) {
        ASSERT_TRUE(server.serve());
        ASSERT_TRUE(caller.complete());
    }
    EXPECT_EQ(caller.in_flight(), 0u);
    for (auto& call : calls)
        ASSERT_TRUE(call.done());
    EXPECT_EQ(service.total, 100u);
}

TEST(ring_backend, two_threads_with_many_calls_in_flight) {
    counter_service service;
    region_memory region(amb::rings::config{});
    std::atomic<bool> stop{false};
    std::thread server_thread([&] {
        amb::groups::ring_server<counter> server(region.kernel(), service);
        while (!stop.load(std::memory_order_acquire))
            ASSERT_TRUE(server.serve());
    });

    amb::groups::ring_caller caller(region.group());
    groups_test::counter_client<amb::groups::ring_backend<counter>> remote(caller);
    constexpr int in_flight = 16;
    constexpr int calls_each = 5000;
    std::vector<amb::task<std::uint64_t>> workers;
    for (int i = 0; i < in_flight; ++i) {
        workers.push_back(add_many(remote, calls_each));
        workers.back().start();
    }
    // Bounded: a server thread that stopped serving (a failed check ends it) must fail the
    // test, not leave this loop spinning. The bound is a safety net, not a timing assertion.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool completing = true;
    while (completing && caller.in_flight() > 0) {
        if (!caller.complete()) {
            ADD_FAILURE() << "complete() failed";
            completing = false;
        } else if (std::chrono::steady_clock::now() > give_up) {
            ADD_FAILURE() << caller.in_flight() << " calls still in flight after 120 s";
            completing = false;
        }
    }
    stop.store(true, std::memory_order_release);
    server_thread.join();
    ASSERT_TRUE(completing);
    for (auto& worker : workers)
        ASSERT_TRUE(worker.done());
    // Every add ran exactly once, on the server's thread.
    EXPECT_EQ(service.total, static_cast<std::uint64_t>(in_flight) * calls_each);
}

// Two groups, each a thread with its own event loop (epoll on Linux): the caller's loop runs
// the calling tasks, the server's loop sleeps until the caller's doorbell rings, serves, and
// rings the caller's doorbell with the responses. Nobody polls an empty ring.
TEST(ring_backend, groups_on_their_own_event_loops_wake_each_other) {
    counter_service service;
    region_memory region(amb::rings::config{});
    auto server_driver = amb::ports::hosted::event_driver::create();
    auto client_driver = amb::ports::hosted::event_driver::create();
    ASSERT_TRUE(server_driver && client_driver);
    amb::event_loop server_loop(*server_driver);
    amb::event_loop client_loop(*client_driver);

    std::optional<amb::groups::ring_server<counter>> server;
    std::optional<amb::groups::ring_caller> caller;
    std::atomic<int> serve_runs{0};
    struct server_context {
        std::optional<amb::groups::ring_server<counter>>* server;
        std::atomic<int>* runs;
    } server_state{&server, &serve_runs};
    amb::groups::doorbell server_bell(
        server_loop,
        +[](void* context) noexcept {
            auto* state = static_cast<server_context*>(context);
            state->runs->fetch_add(1, std::memory_order_relaxed);
            (void)(**state->server).serve();
        },
        &server_state);
    amb::groups::doorbell client_bell(
        client_loop,
        +[](void* context) noexcept {
            (void)(*static_cast<std::optional<amb::groups::ring_caller>*>(context))->complete();
        },
        &caller);
    server.emplace(region.kernel(), service,
                   amb::groups::peer_notification{&amb::groups::doorbell::ring_function, &client_bell});
    caller.emplace(region.group(),
                   amb::groups::peer_notification{&amb::groups::doorbell::ring_function, &server_bell});

    std::atomic<bool> stop{false};
    std::thread server_thread([&] {
        while (!stop.load(std::memory_order_acquire))
            server_loop.run_once();
    });

    groups_test::counter_client<amb::groups::ring_backend<counter>> remote(*caller);
    auto results = amb::sync_wait(client_loop, amb::when_all(add_many(remote, 2000),
                                                             add_many(remote, 2000),
                                                             label_of(remote, "woken")));
    EXPECT_EQ(std::get<2>(results), "label: woken");
    EXPECT_EQ(std::max(std::get<0>(results), std::get<1>(results)), 4000u);

    stop.store(true, std::memory_order_release);
    server_bell.ring();  // wakes the server loop so that it sees `stop`
    server_thread.join();
    // Doorbells rung after their loop's last turn are still queued: run them before the loops
    // go (both loop threads are this one now).
    server_loop.poll();
    client_loop.poll();
    EXPECT_EQ(service.total, 4000u);
    EXPECT_GT(serve_runs.load(), 0);
    EXPECT_EQ(caller->in_flight(), 0u);
}

TEST(ring_backend, a_malformed_request_is_answered_not_run) {
    counter_service service;
    region_memory region(amb::rings::config{});
    amb::groups::ring_server<counter> server(region.kernel(), service);
    amb::rings::endpoint group = region.group();
    auto index = group.allocate();
    ASSERT_TRUE(index);
    auto element = group.element(*index);
    element->header->procedure = 99;  // no such procedure
    element->header->payload_length = sizeof(amb::groups::call_payload);
    ASSERT_TRUE(group.submit(*index));
    ASSERT_TRUE(server.serve());
    auto reply = group.poll();
    ASSERT_TRUE(reply && reply->has_value());
    EXPECT_EQ(group.element(**reply)->header->status, 1);
    EXPECT_EQ(service.total, 0u);
}

}  // namespace
