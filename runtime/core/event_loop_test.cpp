// Event loop and timers: deadline order, cancellation, cross-thread posts, the hosted epoll
// driver, and tasks destroyed while suspended on a timer.
#include <runtime/event_loop.hpp>

#include <runtime/job.hpp>
#include <runtime/timer.hpp>

#include <ports/hosted/event_driver.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <sys/epoll.h>
#include <unistd.h>
#include <memory>
#include <thread>
#include <vector>

namespace amb {
namespace {

using namespace std::chrono_literals;
using testing::simulated_driver;

// Records its id in a shared log when run.
struct logged_work : loop_work {
    logged_work(std::vector<int>& log, int id) noexcept : loop_work(&record), log(&log), id(id) {}
    static void record(loop_work& work) noexcept {
        auto& self = static_cast<logged_work&>(work);
        self.log->push_back(self.id);
    }
    std::vector<int>* log;
    int id;
};

TEST(event_loop, posted_work_runs_on_a_later_turn_in_order) {
    simulated_driver driver;
    event_loop loop(driver);
    std::vector<int> log;
    logged_work a(log, 1), b(log, 2), c(log, 3);
    loop.post(a);
    loop.post(b);
    loop.post(c);
    EXPECT_TRUE(log.empty());
    EXPECT_TRUE(loop.cancel(b));
    EXPECT_FALSE(loop.cancel(b));
    EXPECT_EQ(loop.poll(), 2u);
    EXPECT_EQ(log, (std::vector<int>{1, 3}));
    EXPECT_FALSE(loop.busy());
}

TEST(event_loop, timers_fire_in_deadline_order) {
    simulated_driver driver;
    event_loop loop(driver);
    std::vector<int> log;
    auto start = loop.now();
    logged_work t30(log, 30), t10(log, 10), t20(log, 20), t20b(log, 21), t5(log, 5);
    loop.run_at(t30, start + 30ms);
    loop.run_at(t10, start + 10ms);
    loop.run_at(t20, start + 20ms);
    loop.run_at(t20b, start + 20ms);  // equal deadlines keep arming order
    loop.run_at(t5, start + 5ms);
    EXPECT_EQ(loop.poll(), 0u) << "nothing is due yet";
    loop.run_until_idle();
    EXPECT_EQ(log, (std::vector<int>{5, 10, 20, 21, 30}));
    EXPECT_EQ(loop.now(), start + 30ms);
}

TEST(event_loop, cancelled_timer_does_not_run) {
    simulated_driver driver;
    event_loop loop(driver);
    std::vector<int> log;
    logged_work a(log, 1), b(log, 2);
    loop.run_at(a, loop.now() + 1ms);
    loop.run_at(b, loop.now() + 2ms);
    EXPECT_TRUE(loop.cancel(a));
    loop.run_until_idle();
    EXPECT_EQ(log, (std::vector<int>{2}));
}

TEST(timer, sleep_for_resumes_at_the_deadline) {
    simulated_driver driver;
    event_loop loop(driver);
    auto start = loop.now();
    auto nap = [&]() -> task<loop_clock::duration> {
        result<void, timer_error> slept = co_await sleep_for(loop, 15ms);
        EXPECT_TRUE(slept.has_value());
        (void)co_await sleep_until(loop, start + 40ms);
        co_return loop.now() - start;
    };
    EXPECT_EQ(sync_wait(loop, nap()), 40ms);
}

TEST(timer, cancelling_a_pending_sleep_resumes_the_task_with_cancelled) {
    simulated_driver driver;
    event_loop loop(driver);
    auto start = loop.now();
    sleep_job long_sleep = sleep_for(loop, 1h);
    std::optional<result<void, timer_error>> outcome;
    auto sleeper = [&]() -> task<void> { outcome = co_await long_sleep; };
    auto canceller = [&]() -> task<void> {
        (void)co_await sleep_for(loop, 5ms);
        EXPECT_TRUE(long_sleep.cancel());
        EXPECT_FALSE(long_sleep.cancel()) << "already cancelled";
        EXPECT_FALSE(outcome.has_value()) << "cancellation completes on a later turn";
    };
    sync_wait(loop, when_all(sleeper(), canceller()));
    ASSERT_TRUE(outcome.has_value());
    ASSERT_FALSE(outcome->has_value());
    EXPECT_EQ(outcome->error(), timer_error::cancelled);
    EXPECT_EQ(loop.now(), start + 5ms) << "the hour-long timer was disarmed";
    EXPECT_FALSE(long_sleep.cancel()) << "completed sleeps cannot be cancelled";
}

TEST(timer, task_destroyed_while_suspended_leaves_no_timer) {
    simulated_driver driver;
    event_loop loop(driver);
    static_frame_allocator<1024, 4> pool;
    scoped_frame_allocator installed(pool);
    auto owner = std::make_shared<int>(0);
    bool resumed = false;
    {
        auto sleeper = [](event_loop& on, std::shared_ptr<int> kept, bool& after) -> task<void> {
            (void)co_await sleep_for(on, 10ms);
            after = true;
            ++*kept;
        };
        task<void> work = sleeper(loop, owner, resumed);
        ASSERT_TRUE(work.valid());
        work.start();
        EXPECT_TRUE(loop.busy()) << "the timer is armed";
        EXPECT_EQ(owner.use_count(), 2);
    }
    EXPECT_FALSE(loop.busy()) << "destroying the frame disarmed the timer";
    EXPECT_EQ(owner.use_count(), 1);
    EXPECT_EQ(pool.available(), 4u);
    loop.run_until_idle();
    EXPECT_FALSE(resumed);
}

TEST(timer, task_destroyed_after_cancel_but_before_resuming) {
    simulated_driver driver;
    event_loop loop(driver);
    sleep_job* inside = nullptr;
    bool resumed = false;
    {
        auto sleeper = [](event_loop& on, sleep_job*& out, bool& after) -> task<void> {
            sleep_job nap = sleep_for(on, 10ms);
            out = &nap;
            (void)co_await nap;
            after = true;
        };
        task<void> work = sleeper(loop, inside, resumed);
        work.start();
        ASSERT_NE(inside, nullptr);
        EXPECT_TRUE(inside->cancel());
        EXPECT_TRUE(loop.busy()) << "the cancelled completion is queued";
    }
    EXPECT_FALSE(loop.busy()) << "destroying the frame took the queued completion back";
    loop.run_until_idle();
    EXPECT_FALSE(resumed);
}

// --- the hosted driver: epoll, eventfd, timerfd ---

TEST(hosted_event_driver, a_sleep_ends_once_the_driver_clock_reaches_its_deadline) {
    // Checked on the loop's clock (the driver's, which its timerfd follows), not by timing the
    // test: the completion never comes before the deadline, however late it may come.
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver.has_value());
    event_loop loop(*driver);
    const loop_clock::time_point deadline = loop.now() + 30ms;
    auto slept = sync_wait(loop, sleep_until(loop, deadline));
    EXPECT_TRUE(slept.has_value());
    EXPECT_GE(loop.now(), deadline);
}

// A poller with scripted work: `work[i]` is what pass i finds; it refuses to sleep while
// `refuse_sleeps` is positive.
struct scripted_poller final : loop_poller {
    std::size_t progress() noexcept override {
        std::size_t found = passes < work.size() ? work[passes] : 0;
        ++passes;
        return found;
    }
    bool prepare_sleep() noexcept override {
        ++prepared;
        if (refuse_sleeps > 0) {
            --refuse_sleeps;
            return false;
        }
        return true;
    }
    void finish_sleep() noexcept override { ++finished; }
    std::vector<std::size_t> work;
    std::size_t passes = 0;
    int prepared = 0;
    int finished = 0;
    int refuse_sleeps = 0;
};

// A simulated driver with a spin period: its clock moves 1 µs per reading while spinning.
class spinning_driver final : public loop_driver {
public:
    loop_clock::time_point now() noexcept override { return now_ += std::chrono::microseconds(1); }
    void wait(loop_clock::time_point deadline) noexcept override {
        ++waits;
        if (deadline != loop_clock::time_point::max() && deadline > now_)
            now_ = deadline;
    }
    void wake() noexcept override {}
    loop_clock::duration spin() const noexcept override { return std::chrono::microseconds(50); }
    void relax() noexcept override { ++relaxed; }
    int waits = 0;
    int relaxed = 0;

private:
    loop_clock::time_point now_{std::chrono::seconds(1)};
};

TEST(event_loop, pollers_are_polled_every_pass_and_sleep_together) {
    simulated_driver driver;
    event_loop loop(driver);
    scripted_poller a, b;
    a.work = {1, 0, 0};
    loop.add_poller(a);
    loop.add_poller(b);
    std::vector<int> log;
    logged_work timer(log, 1);
    loop.run_at(timer, loop.now() + 5ms);
    EXPECT_EQ(loop.run_once(), 1u);  // a found work: no sleep
    EXPECT_EQ(driver.waits, 0);
    EXPECT_EQ(loop.run_once(), 1u);  // nothing: both announce, the loop sleeps to the timer
    EXPECT_EQ(driver.waits, 1);
    EXPECT_EQ(loop.sleeps(), 1u);
    EXPECT_EQ(a.prepared, 1);
    EXPECT_EQ(b.finished, 1);
    EXPECT_EQ(a.passes, b.passes);
}

TEST(event_loop, a_poller_that_finds_work_while_announcing_keeps_the_loop_awake) {
    simulated_driver driver;
    event_loop loop(driver);
    scripted_poller a, b;
    b.refuse_sleeps = 1;
    loop.add_poller(a);
    loop.add_poller(b);
    loop.run_once();
    EXPECT_EQ(driver.waits, 0);  // b refused: no sleep (a sleep without a timer would fail)
    EXPECT_EQ(a.prepared, 1);
    EXPECT_EQ(a.finished, 1);  // a's announcement was taken back
    EXPECT_EQ(b.finished, 0);  // b never announced
}

TEST(event_loop, the_loop_spins_for_the_drivers_period_before_sleeping) {
    spinning_driver driver;
    event_loop loop(driver);
    scripted_poller a;
    a.work.assign(30, 0);
    a.work[20] = 1;  // found on a pass of the spin: the loop returns without sleeping
    loop.add_poller(a);
    std::vector<int> log;
    logged_work timer(log, 1);
    loop.run_at(timer, loop.now() + 1s);
    EXPECT_EQ(loop.run_once(), 1u);
    EXPECT_EQ(driver.waits, 0);
    EXPECT_GT(driver.relaxed, 0);
    loop.run_once();  // nothing more: spins out its period, then sleeps
    EXPECT_EQ(driver.waits, 1);
    EXPECT_EQ(a.prepared, 1);
}

TEST(event_loop, pollers_removed_during_a_pass_are_not_polled) {
    simulated_driver driver;
    event_loop loop(driver);
    struct remover final : loop_poller {
        std::size_t progress() noexcept override {
            if (victim != nullptr)
                loop->remove_poller(*victim);
            victim = nullptr;
            return 1;
        }
        event_loop* loop = nullptr;
        loop_poller* victim = nullptr;
    } first;
    scripted_poller second;
    first.loop = &loop;
    first.victim = &second;
    loop.add_poller(first);
    loop.add_poller(second);
    loop.poll();
    EXPECT_EQ(second.passes, 0u);
    EXPECT_FALSE(second.registered());
    {
        scripted_poller temporary;
        loop.add_poller(temporary);
    }  // unregisters itself
    loop.poll();
}

TEST(event_loop, run_until_gives_up_at_its_deadline) {
    simulated_driver driver;
    event_loop loop(driver);
    EXPECT_FALSE(loop.run_until([] { return false; }, 10ms));
    EXPECT_TRUE(loop.run_until([] { return true; }, 10ms));
    EXPECT_FALSE(loop.busy());
}

TEST(hosted_event_driver, timers_fire_in_deadline_order) {
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver.has_value());
    event_loop loop(*driver);
    std::vector<int> log;
    auto sleeper = [&](int id, loop_clock::duration delay) -> task<void> {
        (void)co_await sleep_for(loop, delay);
        log.push_back(id);
    };
    sync_wait(loop, when_all(sleeper(3, 30ms), sleeper(1, 10ms), sleeper(2, 20ms)));
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

TEST(hosted_event_driver, post_from_another_thread_wakes_the_loop) {
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver.has_value());
    event_loop loop(*driver);
    std::vector<int> log;
    logged_work first(log, 1), second(log, 2);
    std::thread poster([&] {
        std::this_thread::sleep_for(20ms);
        loop.post_from_any_thread(first);
        loop.post_from_any_thread(second);
    });
    // No timer is armed: only the eventfd can end this sleep.
    std::size_t ran = 0;
    {
        testing::watchdog bound(std::chrono::seconds(30), "the posted work never ran");
        while (ran < 2)
            ran += loop.run_once();
    }
    poster.join();
    EXPECT_EQ(log, (std::vector<int>{1, 2}));
}

TEST(hosted_event_driver, cross_thread_completion_resumes_through_the_loop) {
    // A job completed by another thread that hands the completion to the loop, the usual shape
    // of a device driver: the awaiting task resumes on the loop thread.
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver.has_value());
    event_loop loop(*driver);
    struct handoff_job final : job_base<int>, loop_work {
        explicit handoff_job(event_loop& on) : loop_work(&deliver), loop(on) {}
        void start(completion<int>& done) noexcept {
            completion_ = &done;
            worker = std::thread([this] {
                std::this_thread::sleep_for(10ms);
                loop.post_from_any_thread(*this);
            });
        }
        static void deliver(loop_work& work) noexcept {
            static_cast<handoff_job&>(work).completion_->complete(99);
        }
        event_loop& loop;
        completion<int>* completion_ = nullptr;
        std::thread worker;
    } operation(loop);
    std::thread::id resumed_on;
    auto await_it = [&]() -> task<int> {
        int value = co_await operation;
        resumed_on = std::this_thread::get_id();
        co_return value;
    };
    task<int> work = await_it();
    work.start();
    {
        testing::watchdog bound(std::chrono::seconds(30), "the handed-off completion never ran");
        while (!work.done())
            loop.run_once();
    }
    operation.worker.join();
    EXPECT_EQ(work.take_result(), 99);
    EXPECT_EQ(resumed_on, std::this_thread::get_id());
}

}  // namespace

// The hosted driver watches other descriptors for their owners: a pipe becomes readable and the
// loop's wait runs the watch's function; after unwatch it no longer does.
TEST(hosted_event_driver, watched_descriptors_wake_the_loop_and_run_their_function) {
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver);
    event_loop loop(*driver);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    struct seen {
        int calls = 0;
        std::uint32_t events = 0;
    } state;
    ports::hosted::descriptor_watch watch{fds[0],
                                   [](void* context, std::uint32_t events) noexcept {
                                       auto& s = *static_cast<seen*>(context);
                                       ++s.calls;
                                       s.events = events;
                                   },
                                   &state};
    ASSERT_TRUE(driver->watch(watch, EPOLLIN));
    EXPECT_FALSE(driver->watch(watch, EPOLLIN));  // already watched
    std::thread writer([&] {
        std::this_thread::sleep_for(20ms);
        char byte = 1;
        EXPECT_EQ(::write(fds[1], &byte, 1), 1);
    });
    // No work and no timer: the loop sleeps until the pipe is readable.
    driver->wait(loop_clock::time_point::max());
    writer.join();
    EXPECT_EQ(state.calls, 1);
    EXPECT_TRUE(state.events & EPOLLIN);
    driver->unwatch(watch);
    char byte = 0;
    EXPECT_EQ(::read(fds[0], &byte, 1), 1);
    EXPECT_EQ(::write(fds[1], &byte, 1), 1);
    driver->wake();
    driver->wait(loop_clock::time_point::max());
    EXPECT_EQ(state.calls, 1);
    ::close(fds[0]);
    ::close(fds[1]);
}


// A descriptor_set watches by number: the ready function gets the set's owner and the
// descriptor's item; watching again replaces the item; unwatched descriptors stay silent.
TEST(hosted_event_driver, descriptor_sets_watch_by_number) {
    auto driver = ports::hosted::event_driver::create();
    ASSERT_TRUE(driver);
    int first[2], second[2];
    ASSERT_EQ(::pipe(first), 0);
    ASSERT_EQ(::pipe(second), 0);
    struct seen {
        int owner_marker = 7;
        std::vector<int> items;
    } state;
    int item_a = 1, item_b = 2, item_c = 3;
    {
        ports::hosted::descriptor_set set(
            *driver,
            [](void* owner, void* item, std::uint32_t events) noexcept {
                auto& s = *static_cast<seen*>(owner);
                EXPECT_EQ(s.owner_marker, 7);
                EXPECT_TRUE(events & EPOLLIN);
                s.items.push_back(*static_cast<int*>(item));
            },
            &state);
        ASSERT_TRUE(set.watch(first[0], EPOLLIN, &item_a));
        ASSERT_TRUE(set.watch(second[0], EPOLLIN, &item_b));
        ASSERT_TRUE(set.watch(first[0], EPOLLIN, &item_c));  // replaces item_a
        EXPECT_EQ(set.size(), 2u);
        EXPECT_TRUE(set.contains(second[0]));
        char byte = 1;
        ASSERT_EQ(::write(first[1], &byte, 1), 1);
        driver->wait(loop_clock::time_point::max());
        EXPECT_EQ(state.items, std::vector<int>{3});
        set.unwatch(first[0]);
        EXPECT_FALSE(set.contains(first[0]));
        ASSERT_EQ(::write(second[1], &byte, 1), 1);
        driver->wait(loop_clock::time_point::max());
        EXPECT_EQ(state.items, (std::vector<int>{3, 2}));
    }
    // The set is gone: its descriptors no longer wake the driver.
    state.items.clear();
    driver->wake();
    driver->wait(loop_clock::time_point::max());
    EXPECT_TRUE(state.items.empty());
    for (int fd : {first[0], first[1], second[0], second[1]})
        ::close(fd);
}

}  // namespace amb
