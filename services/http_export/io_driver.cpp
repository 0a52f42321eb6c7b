#include <http_export/io_driver.hpp>

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

namespace amb::http_export {

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

result<void, int> io_driver::watch(int fd, event_loop& loop, loop_work& readable) noexcept {
    for (const auto& entry : watches_)
        if (entry->watch.fd == fd)
            return failure{EEXIST};
    std::unique_ptr<watched> entry(new (std::nothrow) watched{{}, &loop, &readable});
    if (entry == nullptr)
        return failure{ENOMEM};
    entry->watch.fd = fd;
    entry->watch.context = entry.get();
    entry->watch.ready = [](void* context, std::uint32_t) noexcept {
        auto& self = *static_cast<watched*>(context);
        // Posting here is safe: wait runs on the loop thread, and the loop polls right after.
        if (!self.readable->pending())
            self.loop->post(*self.readable);
    };
    if (auto added = driver_.watch(entry->watch, EPOLLIN); !added)
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

} // namespace amb::http_export
