// amb::shareable_memory: memory a service allocates so that a buffer it passes to a service in
// another group crosses without a copy (DESIGN.md §3, §8).
//
// A view argument (`span<T>`, `string_view`) that lies in the calling group's shareable memory
// is passed to a callee in another group of the same node as a place in that memory, which the
// callee maps read-only and reads in place; any other view is copied. A service that sends large
// buffers therefore allocates them here. The port provides the implementation: on the hosted
// port it is the group's shareable heap (hosted/node/shared_heap.hpp, docs/hosted.md); a port
// without address spaces may hand out ordinary memory. A deployment gives it to a service that
// asks for it (`service(..., shareable_heap=True)`, docs/deploy.md) as a constructor argument:
//
//     producer_impl(amb::shareable_memory& heap, viewer& sink);
//     std::span<std::byte> block = heap_.allocate(1 << 20);   // empty when full
//     ... fill it, pass it to sink_.look(...) ...
//     heap_.free(block);                                      // after the call completed
//
// What a callee can read: everything in the caller's shareable memory, for as long as it runs
// (docs/hosted.md, "What a hosted group is isolated from"): keep nothing private there. Threading: the owning
// group's loop thread only. Allocation never throws and never blocks.
#pragma once

#include <cstddef>
#include <span>

namespace amb {

class shareable_memory {
public:
    /// `size` bytes aligned to at least 64, or an empty span when the memory is exhausted (or
    /// `size` is 0).
    virtual std::span<std::byte> allocate(std::size_t size) noexcept = 0;
    /// Returns a block `allocate` handed out (the whole span), once no call still reads it.
    virtual void free(std::span<std::byte> block) noexcept = 0;

protected:
    shareable_memory() = default;
    ~shareable_memory() = default;
};

}  // namespace amb
