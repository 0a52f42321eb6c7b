#include <http_export/io_driver.hpp>

#include <sys/epoll.h>

#include <cerrno>
#include <new>
#include <utility>

namespace amb::http_export {

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

void io_driver::ready(void* owner, void* work, std::uint32_t) noexcept {
    auto& self = *static_cast<io_driver*>(owner);
    auto& readable = *static_cast<loop_work*>(work);
    // Posting here is safe: wait runs on the loop thread, and the loop polls right after.
    if (!readable.pending())
        self.loop_->post(readable);
}

result<void, int> io_driver::watch(int fd, event_loop& loop, loop_work& readable) noexcept {
    if (descriptors_.contains(fd))
        return failure{EEXIST};
    // One driver drives one loop: every watch posts to it.
    if (loop_ != nullptr && loop_ != &loop)
        return failure{EINVAL};
    loop_ = &loop;
    return descriptors_.watch(fd, EPOLLIN, &readable);
}

void io_driver::unwatch(int fd) noexcept { descriptors_.unwatch(fd); }

} // namespace amb::http_export
