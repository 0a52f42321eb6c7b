#include <hosted/node/shared_heap.hpp>

#include <base/check.hpp>

#include <bit>
#include <cstring>
#include <unistd.h>

namespace amb::hosted::node {

namespace {

std::size_t page_size() noexcept {
    return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

result<shared_heap, int> shared_heap::create(std::size_t size) noexcept {
    std::size_t page = page_size();
    auto region = shared_region::create((size + page - 1) / page * page);
    if (!region)
        return failure{region.error()};
    return shared_heap(std::move(*region));
}

std::size_t shared_heap::class_of(std::size_t size) noexcept {
    std::size_t rounded = std::bit_ceil(size < min_block ? min_block : size);
    return static_cast<std::size_t>(std::countr_zero(rounded) - std::countr_zero(min_block));
}

std::span<std::byte> shared_heap::allocate(std::size_t size) noexcept {
    std::byte* base = region_.bytes().data();
    std::size_t capacity = region_.bytes().size();
    if (size == 0 || size > capacity)
        return {};
    std::size_t which = class_of(size);
    if (which >= classes)
        return {};
    std::size_t block = min_block << which;
    if (free_[which] != 0) {
        std::size_t offset = free_[which] - 1;
        std::memcpy(&free_[which], base + offset, sizeof free_[which]);
        return {base + offset, size};
    }
    std::size_t align = block >= page_size() ? page_size() : min_block;
    std::size_t start = (bump_ + align - 1) / align * align;
    if (start > capacity || block > capacity - start)
        return {};
    bump_ = start + block;
    return {base + start, size};
}

void shared_heap::free(std::span<std::byte> block) noexcept {
    if (block.empty())
        return;
    std::byte* base = region_.bytes().data();
    AMB_REQUIRE(block.data() >= base && block.data() < base + region_.bytes().size(),
                "shared_heap::free of a block from elsewhere");
    std::size_t which = class_of(block.size());
    std::uint64_t offset = static_cast<std::uint64_t>(block.data() - base);
    std::memcpy(block.data(), &free_[which], sizeof free_[which]);
    free_[which] = offset + 1;
}

}  // namespace amb::hosted::node
