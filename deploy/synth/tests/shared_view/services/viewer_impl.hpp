// The viewer of the shared_view test: reports where the bytes of a view it is given lie (a
// read-only shared mapping, i.e. its caller's shareable heap, and at which offset), and their
// sum. No dependencies.
#pragma once

#include "mapping.hpp"
#include "shared_view.lidl.hpp"

#include <cstdint>

namespace demo::shared_view {

class viewer_impl final : public viewer {
public:
    lidl::completion<sighting> look(std::span<const std::uint8_t> data) override {
        sighting seen{};
        seen.size = data.size();
        for (std::uint8_t byte : data)
            seen.sum += byte;
        if (auto place = shared_place(data.data()); place && !place->writable) {
            seen.in_shared_mapping = 1;
            seen.offset = place->offset;
        }
        co_return seen;
    }
};

}  // namespace demo::shared_view
