// Fibers: switching, waiting on jobs (completed by the loop and from other threads), blocking
// deep in a call stack, and the guard page on the hosted port.
#include <runtime/fiber.hpp>

#include <runtime/timer.hpp>

#include <ports/hosted/event_driver.hpp>
#include <ports/hosted/fiber_stack.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <thread>
#include <vector>

namespace amb {
namespace {

using namespace std::chrono_literals;
using testing::loop_job;
using testing::simulated_driver;
using testing::thread_job;

ports::hosted::guarded_stack make_stack(std::size_t size = 64 * 1024) {
    auto stack = ports::hosted::guarded_stack::create(size);
    AMB_REQUIRE(stack.has_value(), "mmap failed");
    return std::move(*stack);
}

// Runs a callable as a fiber body.
template <class F>
void call(void* context) {
    (*static_cast<F*>(context))();
}

TEST(fiber, runs_its_body_on_its_own_stack_when_the_loop_runs) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack = make_stack();
    bool ran = false;
    std::byte* local_address = nullptr;
    auto body = [&] {
        std::byte local{};
        local_address = &local;
        ran = true;
        EXPECT_NE(fiber::current(), nullptr);
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    EXPECT_FALSE(ran) << "start only queues the fiber";
    loop.run_until_idle();
    EXPECT_TRUE(ran);
    EXPECT_TRUE(worker.done());
    EXPECT_GE(local_address, stack.usable().data());
    EXPECT_LT(local_address, stack.usable().data() + stack.usable().size());
    EXPECT_EQ(fiber::current(), nullptr);
}

TEST(fiber, two_fibers_interleave_while_waiting) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack_a = make_stack(), stack_b = make_stack();
    std::vector<int> log;
    auto a = [&] {
        for (int i = 0; i < 3; ++i) {
            log.push_back(10 + i);
            (void)fiber_wait(loop_job(loop, i));  // yields to the loop
        }
    };
    auto b = [&] {
        for (int i = 0; i < 3; ++i) {
            log.push_back(20 + i);
            (void)fiber_wait(loop_job(loop, i));
        }
    };
    fiber fa(loop, stack_a.usable(), &call<decltype(a)>, &a);
    fiber fb(loop, stack_b.usable(), &call<decltype(b)>, &b);
    fa.start();
    fb.start();
    loop.run_until_idle();
    EXPECT_TRUE(fa.done());
    EXPECT_TRUE(fb.done());
    EXPECT_EQ(log, (std::vector<int>{10, 20, 11, 21, 12, 22}));
}

TEST(fiber, suspend_and_schedule) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack = make_stack();
    int steps = 0;
    auto body = [&] {
        ++steps;
        fiber::suspend();
        ++steps;
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    loop.run_until_idle();
    EXPECT_EQ(steps, 1);
    EXPECT_FALSE(worker.done());
    worker.schedule();
    loop.run_until_idle();
    EXPECT_EQ(steps, 2);
    EXPECT_TRUE(worker.done());
}

TEST(fiber, callee_saved_and_floating_point_state_survive_switches) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack = make_stack();
    double fiber_sum = 0;
    auto body = [&] {
        double x = 1.5;
        for (int i = 0; i < 100; ++i) {
            x = std::sqrt(x * x + 1.0);
            (void)fiber_wait(loop_job(loop, i));
        }
        fiber_sum = x;
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    double main_x = 1.5;
    while (loop.busy()) {
        main_x = std::sqrt(main_x * main_x + 1.0);
        loop.run_once();
    }
    double expected = 1.5;
    for (int i = 0; i < 100; ++i)
        expected = std::sqrt(expected * expected + 1.0);
    EXPECT_DOUBLE_EQ(fiber_sum, expected);
    EXPECT_GT(main_x, 1.5);
}

// --- the fourth style: fiber_wait on the same jobs as job_test.cpp ---

TEST(fiber, fiber_wait_on_a_loop_job_and_a_sleep) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack = make_stack();
    auto start = loop.now();
    int value = 0;
    loop_clock::duration slept{};
    auto body = [&] {
        value = fiber_wait(loop_job(loop, 31));
        result<void, timer_error> nap = fiber_wait(sleep_for(loop, 25ms));
        EXPECT_TRUE(nap.has_value());
        slept = loop.now() - start;
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    loop.run_until_idle();
    EXPECT_TRUE(worker.done());
    EXPECT_EQ(value, 31);
    EXPECT_EQ(slept, 25ms);
}

TEST(fiber, fiber_wait_on_a_job_completed_by_another_thread) {
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver.has_value());
    event_loop loop(*driver);
    auto stack = make_stack();
    int value = 0;
    std::thread::id ran_on;
    auto body = [&] {
        value = fiber_wait(thread_job(32, 10ms));
        ran_on = std::this_thread::get_id();
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    {
        testing::watchdog bound(std::chrono::seconds(30), "the fiber's thread job never ended");
        while (!worker.done())
            loop.run_once();
    }
    EXPECT_EQ(value, 32);
    EXPECT_EQ(ran_on, std::this_thread::get_id()) << "the fiber continues on its loop's thread";
}

TEST(fiber, fiber_wait_on_when_all_of_a_task_and_a_sleep) {
    simulated_driver driver;
    event_loop loop(driver);
    auto stack = make_stack();
    int sum = 0;
    auto body = [&] {
        auto add = [](event_loop& on) -> task<int> { co_return 1 + co_await loop_job(on, 1); };
        auto [total, nap] = fiber_wait(when_all(add(loop), sleep_for(loop, 1ms)));
        EXPECT_TRUE(nap.has_value());
        sum = total;
    };
    fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
    worker.start();
    loop.run_until_idle();
    EXPECT_EQ(sum, 2);
}

// Code that blocks deep in a call stack: the reason fibers exist.
int blocking_depth(event_loop& loop, int depth) {
    if (depth == 0)
        return fiber_wait(loop_job(loop, 0));
    return 1 + blocking_depth(loop, depth - 1);
}

TEST(fiber, blocks_deep_in_a_call_stack_while_other_fibers_run) {
    simulated_driver driver;
    event_loop loop(driver);
    constexpr int count = 8;
    std::vector<ports::hosted::guarded_stack> stacks;
    std::vector<int> results(count, -1);
    struct body_state {
        event_loop* loop;
        int* result;
        int depth;
    };
    std::vector<body_state> states;
    states.reserve(count);
    for (int i = 0; i < count; ++i) {
        stacks.push_back(make_stack());
        states.push_back({&loop, &results[i], 100 + i});
    }
    auto body = [](void* context) {
        auto& state = *static_cast<body_state*>(context);
        *state.result = blocking_depth(*state.loop, state.depth);
    };
    std::vector<std::unique_ptr<fiber>> fibers;
    for (int i = 0; i < count; ++i) {
        fibers.push_back(std::make_unique<fiber>(loop, stacks[i].usable(), body, &states[i]));
        fibers.back()->start();
    }
    loop.run_until_idle();
    for (int i = 0; i < count; ++i) {
        EXPECT_TRUE(fibers[i]->done());
        EXPECT_EQ(results[i], 100 + i);
    }
}

// --- hosted guard page ---

// Both in the child process of the death test only.
std::byte* guard_begin = nullptr;
std::byte* guard_end = nullptr;

void on_segv(int, siginfo_t* info, void*) {
    auto* address = static_cast<std::byte*>(info->si_addr);
    if (address >= guard_begin && address < guard_end) {
        static const char message[] = "fault in the guard page\n";
        (void)!::write(STDERR_FILENO, message, sizeof message - 1);
        ::_exit(3);
    }
    ::_exit(4);
}

[[gnu::noinline]] int recurse(volatile int* depth) {
    volatile char frame[256];
    frame[0] = static_cast<char>(*depth);
    *depth = *depth + 1;
    if (*depth < 0)  // never: keeps the compiler from calling the recursion infinite
        return 0;
    return recurse(depth) + frame[0];
}

TEST(fiber_death, stack_overflow_hits_the_guard_page) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            // The handler needs a stack of its own: the fiber's is exhausted.
            static std::byte signal_stack[64 * 1024];
            stack_t alternate{};
            alternate.ss_sp = signal_stack;
            alternate.ss_size = sizeof signal_stack;
            ::sigaltstack(&alternate, nullptr);
            struct sigaction action {};
            action.sa_sigaction = &on_segv;
            action.sa_flags = SA_SIGINFO | SA_ONSTACK;
            ::sigaction(SIGSEGV, &action, nullptr);

            simulated_driver driver;
            event_loop loop(driver);
            auto stack = make_stack(16 * 1024);
            guard_end = stack.usable().data();
            guard_begin = guard_end - ::sysconf(_SC_PAGESIZE);
            volatile int depth = 0;
            auto body = [&] { recurse(&depth); };
            fiber worker(loop, stack.usable(), &call<decltype(body)>, &body);
            worker.start();
            loop.run_until_idle();
        },
        ::testing::ExitedWithCode(3), "fault in the guard page");
}

}  // namespace
}  // namespace amb
