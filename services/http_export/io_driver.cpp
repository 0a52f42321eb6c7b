#include <http_export/io_driver.hpp>

#include <base/check.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <new>

namespace amb::http_export {

namespace {

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

} // namespace

result<std::unique_ptr<io_driver>, int> io_driver::create() noexcept {
    int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    int wakeup = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int error = errno;
    bool opened = epoll >= 0 && wakeup >= 0 && timer >= 0;
    std::unique_ptr<io_driver> driver;
    if (opened) {
        driver.reset(new (std::nothrow) io_driver(epoll, wakeup, timer));
        opened = driver != nullptr;
        error = ENOMEM;
    }
    if (opened) {
        // The wakeup and timer descriptors are told apart from watches by pointing at the
        // driver's own members.
        epoll_event watch{};
        watch.events = EPOLLIN;
        watch.data.ptr = &driver->wakeup_;
        opened = ::epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &watch) == 0;
        watch.data.ptr = &driver->timer_;
        opened = opened && ::epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &watch) == 0;
        error = errno;
        if (!opened)
            return failure{error}; // the driver closes the descriptors
    }
    if (!opened) {
        close_if_open(epoll);
        close_if_open(wakeup);
        close_if_open(timer);
        return failure{error};
    }
    return driver;
}

io_driver::~io_driver() {
    close_if_open(timer_);
    close_if_open(wakeup_);
    close_if_open(epoll_);
}

loop_clock::time_point io_driver::now() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return loop_clock::time_point(std::chrono::seconds(now.tv_sec) +
                                  std::chrono::nanoseconds(now.tv_nsec));
}

void io_driver::wait(loop_clock::time_point deadline) noexcept {
    if (deadline != loop_clock::time_point::max()) {
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
    } else if (timer_armed_) {
        itimerspec disarm{};
        ::timerfd_settime(timer_, 0, &disarm, nullptr);
        timer_armed_ = false;
    }
    epoll_event events[16];
    int ready;
    do {
        ready = ::epoll_wait(epoll_, events, 16, -1);
    } while (ready < 0 && errno == EINTR);
    AMB_ASSERT(ready >= 0, "epoll_wait failed");
    for (int i = 0; i < ready; ++i) {
        void* what = events[i].data.ptr;
        if (what == &wakeup_ || what == &timer_) {
            drain(*static_cast<int*>(what));
            continue;
        }
        auto& entry = *static_cast<watched*>(what);
        // Posting here is safe: wait runs on the loop thread, and the loop polls right after.
        if (!entry.readable->pending())
            entry.loop->post(*entry.readable);
    }
}

void io_driver::wake() noexcept {
    std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: the loop is already due to wake.
    while (::write(wakeup_, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

result<void, int> io_driver::watch(int fd, event_loop& loop, loop_work& readable) noexcept {
    for (const auto& entry : watches_)
        if (entry->fd == fd)
            return failure{EEXIST};
    std::unique_ptr<watched> entry(new (std::nothrow) watched{fd, &loop, &readable});
    if (entry == nullptr)
        return failure{ENOMEM};
    epoll_event watch{};
    watch.events = EPOLLIN;
    watch.data.ptr = entry.get();
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &watch) != 0)
        return failure{errno};
    watches_.push_back(std::move(entry));
    return {};
}

void io_driver::unwatch(int fd) noexcept {
    auto found = std::find_if(watches_.begin(), watches_.end(),
                              [fd](const auto& entry) { return entry->fd == fd; });
    if (found == watches_.end())
        return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    watches_.erase(found);
}

} // namespace amb::http_export
