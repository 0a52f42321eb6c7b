// The producer of the shared_view test: fills a buffer in its group's shareable heap
// (amb::shareable_memory, given by the generated node: `shareable_heap=True` in the manifest) and
// sends it, or (the control) a private copy of it, to the viewer, another group's service.
#pragma once

#include "mapping.hpp"
#include "shared_view.lidl.hpp"

#include <base/shareable_memory.hpp>

#include <cstdint>
#include <vector>

namespace demo::shared_view {

class producer_impl final : public producer {
public:
    producer_impl(amb::shareable_memory& heap, viewer& sink) : heap_(heap), sink_(sink) {}

    lidl::completion<trip> send(std::uint32_t size, bool from_heap) override {
        // The buffer is always filled in the shareable heap; the control sends a private copy
        // of it, so that its bytes cannot be read in place.
        std::span<std::byte> block = heap_.allocate(size);
        trip sent{};
        if (block.size() < size)
            co_return sent;  // the heap is full: nothing sent (size 0 seen)
        std::span<std::uint8_t> buffer(reinterpret_cast<std::uint8_t*>(block.data()), size);
        for (std::size_t i = 0; i < buffer.size(); ++i)
            buffer[i] = static_cast<std::uint8_t>(i % 251);
        if (auto place = shared_place(buffer.data()); place && place->writable) {
            sent.in_heap = true;
            sent.heap_offset = place->offset;
        }
        lidl::call_result<sighting> seen = sighting{};
        if (from_heap) {
            seen = co_await sink_.look(buffer);
        } else {
            std::vector<std::uint8_t> copy(buffer.begin(), buffer.end());
            seen = co_await sink_.look(copy);
        }
        heap_.free(block);
        if (!seen)
            co_return amb::failure{seen.error()};  // the viewer's call failed: say why
        sent.seen = seen.value();
        co_return sent;
    }

private:
    amb::shareable_memory& heap_;
    viewer& sink_;
};

}  // namespace demo::shared_view
