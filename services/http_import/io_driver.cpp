#include <http_import/io_driver.hpp>

#include <sys/epoll.h>

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
    auto driver = ports::hosted::event_driver::create();
    if (!driver)
        return failure{driver.error()};
    std::unique_ptr<io_driver> created(new (std::nothrow) io_driver(std::move(*driver)));
    if (created == nullptr)
        return failure{ENOMEM};
    return created;
}

result<std::unique_ptr<io_driver>, int> io_driver::over(
    ports::hosted::event_driver& driver) noexcept {
    std::unique_ptr<io_driver> created(new (std::nothrow) io_driver(&driver));
    if (created == nullptr)
        return failure{ENOMEM};
    return created;
}

io_driver::~io_driver() = default;

void io_driver::ready(void*, void* handler, std::uint32_t events) noexcept {
    std::uint32_t flags = ((events & EPOLLIN) != 0 ? socket_readable : 0u) |
                          ((events & EPOLLOUT) != 0 ? socket_writable : 0u) |
                          ((events & (EPOLLERR | EPOLLHUP)) != 0 ? socket_error : 0u);
    static_cast<socket_handler*>(handler)->ready(flags);
}

result<void, int> io_driver::watch(int fd, std::uint32_t interest,
                                   socket_handler& handler) noexcept {
    return sockets_.watch(fd, epoll_events(interest), &handler);
}

void io_driver::unwatch(int fd) noexcept { sockets_.unwatch(fd); }

} // namespace amb::http_import
