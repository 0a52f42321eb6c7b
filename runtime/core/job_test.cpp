// Jobs: every style of completion (co_await, sync_wait on a thread, sync_wait on a loop,
// callback) on the same kinds of job, and when_all.
#include <runtime/job.hpp>

#include <runtime/timer.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <thread>
#include <tuple>

namespace amb {
namespace {

using namespace std::chrono_literals;
using testing::immediate_job;
using testing::loop_job;
using testing::simulated_driver;
using testing::thread_job;

static_assert(job<loop_job>);
static_assert(job<thread_job>);
static_assert(job<sleep_job>);
static_assert(!job<task<int>>);

TEST(job, does_nothing_until_a_completion_is_attached) {
    simulated_driver driver;
    event_loop loop(driver);
    loop_job::starts = 0;
    {
        loop_job idle(loop, 1);
        EXPECT_FALSE(loop.busy());
    }
    EXPECT_EQ(loop_job::starts, 0);
}

// --- loop_job: completed by the event loop ---

TEST(job, loop_job_with_co_await) {
    simulated_driver driver;
    event_loop loop(driver);
    auto twice = [](event_loop& on) -> task<int> {
        int first = co_await loop_job(on, 20);
        loop_job second(on, 22);
        co_return first + co_await second;
    };
    EXPECT_EQ(sync_wait(loop, twice(loop)), 42);
    EXPECT_FALSE(loop.busy());
}

TEST(job, loop_job_with_sync_wait_on_the_loop) {
    simulated_driver driver;
    event_loop loop(driver);
    EXPECT_EQ(sync_wait(loop, loop_job(loop, 7)), 7);
}

TEST(job, loop_job_with_a_callback) {
    simulated_driver driver;
    event_loop loop(driver);
    loop_job operation(loop, 9);
    std::optional<int> seen;
    [[maybe_unused]] auto binding = bind(operation, [&](int value) { seen = value; });
    EXPECT_FALSE(seen.has_value()) << "completions never run inside start";
    loop.run_until_idle();
    EXPECT_EQ(seen, 9);
}

// --- thread_job: completed from another thread ---

TEST(job, thread_job_with_sync_wait_blocks_until_another_thread_completes_it) {
    // The worker completes 20 ms after start; the value and the worker's id it recorded before
    // completing show sync_wait returned after that completion (no clock needed).
    thread_job operation(11, 20ms);
    EXPECT_EQ(sync_wait(operation), 11);
    EXPECT_NE(operation.completing_thread, std::thread::id{});
    EXPECT_NE(operation.completing_thread, std::this_thread::get_id());
}

TEST(job, thread_job_with_co_await_resumes_on_the_completing_thread) {
    std::thread::id resumed_on;
    auto await_it = [&]() -> task<int> {
        int value = co_await thread_job(12);
        resumed_on = std::this_thread::get_id();
        co_return value;
    };
    // The task itself is a job: block this thread until it finishes elsewhere.
    EXPECT_EQ(sync_wait(as_job(await_it())), 12);
    EXPECT_NE(resumed_on, std::this_thread::get_id());
}

TEST(job, thread_job_with_a_callback) {
    thread_job operation(13);
    port::thread_event called;
    int seen = 0;
    {
        [[maybe_unused]] auto binding = bind(operation, [&](int value) {
            seen = value;
            called.set();
        });
        called.wait();
    }
    EXPECT_EQ(seen, 13);
}

// --- adapters tolerate a job that completes inside start ---

TEST(job, completion_inside_start) {
    auto await_it = []() -> task<int> { co_return co_await immediate_job(3) + 1; };
    EXPECT_EQ(sync_wait(await_it()), 4);
    EXPECT_EQ(sync_wait(immediate_job(5)), 5);
    immediate_job operation(6);
    int seen = 0;
    [[maybe_unused]] auto binding = bind(operation, [&](int value) { seen = value; });
    EXPECT_EQ(seen, 6);
}

// --- when_all ---

task<int> add_on_loop(event_loop& loop, int a, int b) {
    co_return co_await loop_job(loop, a) + b;
}
task<void> note(bool& ran) {
    ran = true;
    co_return;
}

TEST(when_all, mixes_tasks_and_jobs_and_keeps_order) {
    simulated_driver driver;
    event_loop loop(driver);
    bool ran = false;
    auto [sum, slept, plain, nothing] =
        sync_wait(loop, when_all(add_on_loop(loop, 1, 2), sleep_for(loop, 5ms),
                                 loop_job(loop, 4), note(ran)));
    EXPECT_EQ(sum, 3);
    EXPECT_TRUE(slept.has_value());
    EXPECT_EQ(plain, 4);
    EXPECT_EQ(nothing, void_value{});
    EXPECT_TRUE(ran);
    EXPECT_FALSE(loop.busy());
}

TEST(when_all, runs_its_jobs_concurrently) {
    simulated_driver driver;
    event_loop loop(driver);
    auto started = loop.now();
    auto waited = [&]() -> task<loop_clock::duration> {
        co_await when_all(sleep_for(loop, 10ms), sleep_for(loop, 30ms), sleep_for(loop, 20ms));
        co_return loop.now() - started;
    };
    EXPECT_EQ(sync_wait(loop, waited()), 30ms);
}

TEST(when_all, completes_from_other_threads_with_sync_wait) {
    auto [a, b] = sync_wait(when_all(thread_job(1, 10ms), thread_job(2, 1ms)));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, 2);
}

TEST(when_all, awaited_from_a_task) {
    simulated_driver driver;
    event_loop loop(driver);
    auto both = [&]() -> task<int> {
        auto [x, y] = co_await when_all(loop_job(loop, 40), add_on_loop(loop, 1, 1));
        co_return x + y;
    };
    EXPECT_EQ(sync_wait(loop, both()), 42);
}

}  // namespace
}  // namespace amb
