#include <http_import/io_driver.hpp>

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

namespace amb::http_import {

namespace {

std::uint32_t epoll_events(std::uint32_t interest) {
    return ((interest & socket_readable) != 0 ? EPOLLIN : 0u) |
           ((interest & socket_writable) != 0 ? EPOLLOUT : 0u);
}

} // namespace

result<std::unique_ptr<io_driver>, int> io_driver::create() noexcept {
    auto driver = hosted::event_driver::create();
    if (!driver)
        return failure{driver.error()};
    std::unique_ptr<io_driver> created(new (std::nothrow) io_driver(std::move(*driver)));
    if (created == nullptr)
        return failure{ENOMEM};
    return created;
}

io_driver::~io_driver() {
    for (auto& entry : watches_)
        driver_.unwatch(entry->watch);
}

result<void, int> io_driver::watch(int fd, std::uint32_t interest,
                                   socket_handler& handler) noexcept {
    for (auto& entry : watches_) {
        if (entry->watch.fd != fd)
            continue;
        entry->handler = &handler;
        if (auto changed = driver_.modify(entry->watch, epoll_events(interest)); !changed)
            return failure{changed.error()};
        return {};
    }
    std::unique_ptr<watched_socket> entry(new (std::nothrow) watched_socket{{}, &handler});
    if (entry == nullptr)
        return failure{ENOMEM};
    entry->watch.fd = fd;
    entry->watch.context = entry.get();
    entry->watch.ready = [](void* context, std::uint32_t events) noexcept {
        auto& self = *static_cast<watched_socket*>(context);
        std::uint32_t flags = ((events & EPOLLIN) != 0 ? socket_readable : 0u) |
                              ((events & EPOLLOUT) != 0 ? socket_writable : 0u) |
                              ((events & (EPOLLERR | EPOLLHUP)) != 0 ? socket_error : 0u);
        self.handler->ready(flags);
    };
    if (auto added = driver_.watch(entry->watch, epoll_events(interest)); !added)
        return failure{added.error()};
    watches_.push_back(std::move(entry));
    return {};
}

void io_driver::unwatch(int fd) noexcept {
    auto found = std::find_if(watches_.begin(), watches_.end(),
                              [fd](const auto& entry) { return entry->watch.fd == fd; });
    if (found == watches_.end())
        return;
    driver_.unwatch((*found)->watch);
    watches_.erase(found);
}

} // namespace amb::http_import
