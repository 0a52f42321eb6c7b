// amb::ports::hosted::guarded_stack: fiber stacks for the hosted port.
//
// The stack is mmap'd with an inaccessible guard page below it, so a fiber that overflows its
// stack faults (SIGSEGV) at once instead of overwriting whatever lies below. Pages are committed
// by the kernel only when touched, so a generous size costs address space, not memory.
//
//     auto stack = ports::hosted::guarded_stack::create(64 * 1024);   // result<guarded_stack, int errno>
//     fiber worker(loop, stack->usable(), &body, &context);
#pragma once

#include <base/result.hpp>

#include <cstddef>
#include <span>

namespace amb::ports::hosted {

class guarded_stack {
public:
    /// Maps at least `size` usable bytes (rounded up to whole pages) plus the guard page; the
    /// error is mmap's or mprotect's errno.
    static result<guarded_stack, int> create(std::size_t size) noexcept;

    guarded_stack(guarded_stack&& other) noexcept;
    guarded_stack& operator=(guarded_stack&&) = delete;
    ~guarded_stack();

    /// The memory a fiber may use, above the guard page.
    std::span<std::byte> usable() const noexcept { return usable_; }

private:
    guarded_stack(void* mapping, std::size_t mapped, std::span<std::byte> usable) noexcept
        : mapping_(mapping), mapped_(mapped), usable_(usable) {}

    void* mapping_;
    std::size_t mapped_;
    std::span<std::byte> usable_;
};

}  // namespace amb::ports::hosted
