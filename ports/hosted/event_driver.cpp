#include <ports/hosted/event_driver.hpp>

#include <base/check.hpp>

#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <cstdint>
#include <utility>

namespace amb::ports::hosted {

namespace {

// epoll data of the driver's own descriptors; watches store their (never 1 or 2) address.
constexpr std::uint64_t wakeup_tag = 1;
constexpr std::uint64_t timer_tag = 2;

void close_if_open(int fd) {
    if (fd >= 0)
        ::close(fd);
}

// Reads and discards a counter (eventfd or timerfd expirations); both are non-blocking.
void drain(int fd) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
}

}  // namespace

result<event_driver, int> event_driver::create(loop_clock::duration spin) noexcept {
    int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    int wakeup = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int error = errno;
    bool opened = epoll >= 0 && wakeup >= 0 && timer >= 0;
    if (opened) {
        epoll_event watch{};
        watch.events = EPOLLIN;
        watch.data.u64 = wakeup_tag;
        opened = ::epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &watch) == 0;
        watch.data.u64 = timer_tag;
        opened = opened && ::epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &watch) == 0;
        error = errno;
    }
    if (!opened) {
        close_if_open(epoll);
        close_if_open(wakeup);
        close_if_open(timer);
        return failure{error};
    }
    event_driver driver(epoll, wakeup, timer);
    driver.spin_ = spin;
    return driver;
}

event_driver::event_driver(event_driver&& other) noexcept
    : epoll_(std::exchange(other.epoll_, -1)),
      wakeup_(std::exchange(other.wakeup_, -1)),
      timer_(std::exchange(other.timer_, -1)),
      timer_armed_(other.timer_armed_), timer_deadline_(other.timer_deadline_),
      spin_(other.spin_) {}

event_driver::~event_driver() {
    close_if_open(timer_);
    close_if_open(wakeup_);
    close_if_open(epoll_);
}

loop_clock::time_point event_driver::now() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return loop_clock::time_point(std::chrono::seconds(now.tv_sec) +
                                  std::chrono::nanoseconds(now.tv_nsec));
}

void event_driver::wait(loop_clock::time_point deadline) noexcept {
    // An armed timer that fires no later than needed is kept: it can only end a sleep early
    // (allowed: the loop then sleeps again), and re-arming it for every later deadline (a loop
    // whose run_until deadline moves on with each call) would cost a timerfd_settime per sleep.
    // A sleep without a deadline leaves it armed for the same reason; it fires once and stays
    // disarmed.
    if (deadline != loop_clock::time_point::max() &&
        !(timer_armed_ && timer_deadline_ <= deadline)) {
        std::int64_t nanoseconds = deadline.time_since_epoch().count();
        // A zero it_value would disarm the timer; a deadline at or before the epoch is "now".
        if (nanoseconds <= 0)
            nanoseconds = 1;
        itimerspec setting{};
        setting.it_value.tv_sec = static_cast<time_t>(nanoseconds / 1'000'000'000);
        setting.it_value.tv_nsec = static_cast<long>(nanoseconds % 1'000'000'000);
        int armed = ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &setting, nullptr);
        AMB_ASSERT(armed == 0, "timerfd_settime failed");
        timer_armed_ = true;
        timer_deadline_ = deadline;
    }
    epoll_event events[16];
    int ready;
    do {
        ready = ::epoll_wait(epoll_, events, 16, -1);
    } while (ready < 0 && errno == EINTR);
    AMB_ASSERT(ready >= 0, "epoll_wait failed");
    for (int i = 0; i < ready; ++i) {
        if (events[i].data.u64 == wakeup_tag) {
            drain(wakeup_);
        } else if (events[i].data.u64 == timer_tag) {
            drain(timer_);
            timer_armed_ = false;  // it fired: the next deadline arms it again
        } else {
            auto* watched = static_cast<descriptor_watch*>(events[i].data.ptr);
            watched->ready(watched->context, events[i].events);
        }
    }
}

result<void, int> event_driver::watch(descriptor_watch& watched, std::uint32_t events) noexcept {
    AMB_REQUIRE(watched.ready != nullptr, "descriptor_watch without a ready function");
    epoll_event event{};
    event.events = events;
    event.data.ptr = &watched;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, watched.fd, &event) < 0)
        return failure{errno};
    return {};
}

result<void, int> event_driver::modify(descriptor_watch& watched, std::uint32_t events) noexcept {
    epoll_event event{};
    event.events = events;
    event.data.ptr = &watched;
    if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, watched.fd, &event) < 0)
        return failure{errno};
    return {};
}

void event_driver::unwatch(descriptor_watch& watched) noexcept {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, watched.fd, nullptr);
}

void event_driver::relax() noexcept { ::sched_yield(); }

void event_driver::wake() noexcept {
    std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: the loop is already due to wake.
    while (::write(wakeup_, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

descriptor_set::~descriptor_set() {
    for (auto& watched : watches_)
        driver_->unwatch(watched->watch);
}

bool descriptor_set::contains(int fd) const noexcept {
    for (const auto& watched : watches_)
        if (watched->watch.fd == fd)
            return true;
    return false;
}

result<void, int> descriptor_set::watch(int fd, std::uint32_t events, void* item) noexcept {
    for (auto& watched : watches_) {
        if (watched->watch.fd != fd)
            continue;
        watched->item = item;
        return driver_->modify(watched->watch, events);
    }
    std::unique_ptr<entry> added(new (std::nothrow) entry{{}, this, item});
    if (added == nullptr)
        return failure{ENOMEM};
    added->watch.fd = fd;
    added->watch.context = added.get();
    added->watch.ready = [](void* context, std::uint32_t ready_events) noexcept {
        auto& watched = *static_cast<entry*>(context);
        watched.set->ready_(watched.set->owner_, watched.item, ready_events);
    };
    if (auto registered = driver_->watch(added->watch, events); !registered)
        return failure{registered.error()};
    watches_.push_back(std::move(added));
    return {};
}

void descriptor_set::unwatch(int fd) noexcept {
    for (auto it = watches_.begin(); it != watches_.end(); ++it) {
        if ((*it)->watch.fd != fd)
            continue;
        driver_->unwatch((*it)->watch);
        watches_.erase(it);
        return;
    }
}

}  // namespace amb::ports::hosted
