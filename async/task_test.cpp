#include <async/task.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace amb {
namespace {

task<int> forty_two() { co_return 42; }

task<int> add(int a, int b) {
    int x = co_await forty_two();
    co_return x + a + b - 42;
}

task<std::string> greet(std::string name) { co_return "hello " + name; }

task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}

task<int> deep(int n) {
    if (n == 0)
        co_return 0;
    co_return 1 + co_await deep(n - 1);
}

TEST(task, lazy_until_awaited) {
    bool flag = false;
    task<void> t = set_flag(flag);
    EXPECT_FALSE(flag);
    sync_wait(std::move(t));
    EXPECT_TRUE(flag);
}

TEST(task, returns_values_through_chains) {
    EXPECT_EQ(sync_wait(add(2, 3)), 5);
    EXPECT_EQ(sync_wait(greet("ambience")), "hello ambience");
}

TEST(task, deep_synchronous_chain_does_not_overflow_the_stack) {
    // Symmetric transfer: nested synchronous completions resume each other as tail calls, so
    // the stack does not grow with the depth. g++ only emits those tail calls when optimising;
    // unoptimised (sanitizer) builds check a depth an ordinary stack holds anyway.
#ifdef NDEBUG
    constexpr int depth = 100000;
#else
    constexpr int depth = 2000;
#endif
    EXPECT_EQ(sync_wait(deep(depth)), depth);
}

TEST(task, move_only_results) {
    auto make = []() -> task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
    std::unique_ptr<int> value = sync_wait(make());
    ASSERT_TRUE(value);
    EXPECT_EQ(*value, 7);
}

TEST(task, destroying_an_unstarted_task_releases_it) {
    auto owner = std::make_shared<int>(1);
    {
        auto hold = [](std::shared_ptr<int> kept) -> task<int> { co_return *kept; };
        task<int> t = hold(owner);
        EXPECT_EQ(owner.use_count(), 2);
    }
    EXPECT_EQ(owner.use_count(), 1);
}

}  // namespace
}  // namespace amb
