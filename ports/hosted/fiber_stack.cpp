#include <ports/hosted/fiber_stack.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace amb::ports::hosted {

result<guarded_stack, int> guarded_stack::create(std::size_t size) noexcept {
    std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t usable = (size + page - 1) / page * page;
    std::size_t mapped = usable + page;
    void* mapping = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED)
        return failure{errno};
    // Stacks grow down: the guard is the lowest page.
    if (::mprotect(mapping, page, PROT_NONE) != 0) {
        int error = errno;
        ::munmap(mapping, mapped);
        return failure{error};
    }
    auto* base = static_cast<std::byte*>(mapping);
    return guarded_stack(mapping, mapped, std::span<std::byte>(base + page, usable));
}

guarded_stack::guarded_stack(guarded_stack&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)),
      mapped_(other.mapped_),
      usable_(other.usable_) {}

guarded_stack::~guarded_stack() {
    if (mapping_ != nullptr)
        ::munmap(mapping_, mapped_);
}

}  // namespace amb::ports::hosted
