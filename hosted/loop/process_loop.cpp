#include <hosted/loop/process_loop.hpp>

#include <base/check.hpp>

#include <sys/epoll.h>

#include <cerrno>
#include <new>
#include <utility>

namespace amb::hosted::loop {

result<std::unique_ptr<process_loop>, int> process_loop::create(
    loop_clock::duration spin) noexcept {
    auto driver = ports::hosted::event_driver::create(spin);
    if (!driver)
        return failure{driver.error()};
    std::unique_ptr<process_loop> made(new (std::nothrow) process_loop(std::move(*driver)));
    if (made == nullptr)
        return failure{ENOMEM};
    return made;
}

result<void, int> descriptor_poller::attach_to(process_loop& loop, int fd) noexcept {
    AMB_REQUIRE(attached_ == nullptr, "attaching a descriptor poller twice");
    watch_.fd = fd;
    watch_.context = this;
    // Nothing to do from inside the wait: the loop's next pass polls every poller, and the
    // subclass drains the descriptor in finish_sleep.
    watch_.ready = [](void*, std::uint32_t) noexcept {};
    if (auto watched = loop.driver().watch(watch_, EPOLLIN); !watched)
        return failure{watched.error()};
    loop.loop().add_poller(*this);
    attached_ = &loop;
    return {};
}

void descriptor_poller::detach() noexcept {
    if (attached_ == nullptr)
        return;
    // A loop destroyed first took its pollers back (and its epoll set went with it).
    if (registered()) {
        attached_->driver().unwatch(watch_);
        attached_->loop().remove_poller(*this);
    }
    attached_ = nullptr;
}

}  // namespace amb::hosted::loop
