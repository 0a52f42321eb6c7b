// The shareable memory of a group in a generated node: its shareable heap (hosted/node/
// shared_heap.hpp), as the portable amb::shareable_memory a service asks for with
// `service(..., shareable_heap=True)` (docs/deploy.md, "Shareable heap"). Views a service
// allocates here cross to the groups it calls without a copy: the channel passes their place in
// the heap, which the callee maps read-only.
//
//     group_heap heap(context);                     // generated, once per group
//     demo::producer_impl producer(heap, viewer);   // the service's constructor
//
// Threading: the group's loop thread. Lifetime: the group's context (and its heap) outlive it.
#pragma once

#include <base/shareable_memory.hpp>
#include <hosted/node/node_kernel.hpp>

namespace amb::deploy {

class group_heap final : public amb::shareable_memory {
public:
    explicit group_heap(hosted::node::group_context& context) : heap_(context.heap()) {}
    group_heap(const group_heap&) = delete;
    group_heap& operator=(const group_heap&) = delete;

    std::span<std::byte> allocate(std::size_t size) noexcept override {
        return heap_.allocate(size);
    }
    void free(std::span<std::byte> block) noexcept override { heap_.free(block); }

private:
    hosted::node::shared_heap& heap_;
};

}  // namespace amb::deploy
