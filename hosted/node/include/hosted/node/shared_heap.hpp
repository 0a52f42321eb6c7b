// A group's shareable heap (DESIGN.md §8): memory from which large buffers are allocated so that
// they cross to other groups without a copy.
//
// The heap is a memfd owned by one group, which maps it read-write and allocates from it. Every
// group it calls maps the same memfd *read-only*, from a descriptor opened read-only
// (`shared_region::open_readonly`), so the callee can neither write it nor remap it writable. A
// view argument that lies inside the caller's heap is passed as an offset (groups::view_ref) and
// the callee reads it in place; see docs/hosted.md for what that exposes.
//
//     auto heap = hosted::node::shared_heap::create(16 << 20);  // result<shared_heap, errno>
//     std::span<std::byte> image = heap->allocate(1 << 20);     // empty when full
//     ... fill image, pass std::span<const std::uint8_t> of it to a remote procedure ...
//     heap->free(image);
//
// Allocation: power-of-two size classes from 64 B, each with a free list kept inside the heap
// (only the owner can write there), carved from a bump pointer; blocks of a page or more are
// page-aligned so that unrelated small objects never share their pages. Freed blocks are reused
// for the same class only (no coalescing: TODO(perf) for heaps with shifting size mixes).
// No locks: one owner thread.
#pragma once

#include <hosted/node/shared_region.hpp>

#include <groups/marshal.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace amb::hosted::node {

class shared_heap {
public:
    static constexpr std::size_t min_block = 64;
    static constexpr std::size_t classes = 40;

    /// A heap of `size` bytes (rounded up to pages). Error: errno (memfd, ftruncate, mmap).
    static result<shared_heap, int> create(std::size_t size) noexcept;
    /// Adopts a region created elsewhere (the supervisor creates heaps before forking).
    explicit shared_heap(shared_region region) noexcept : region_(std::move(region)) {}
    shared_heap() = default;
    shared_heap(shared_heap&&) noexcept = default;
    shared_heap& operator=(shared_heap&&) noexcept = default;

    /// `size` bytes aligned to 64 (to a page from a page up), or an empty span when the heap is
    /// full. Zero bytes gives an empty span.
    std::span<std::byte> allocate(std::size_t size) noexcept;
    /// Returns a block from `allocate` (the whole span it returned).
    void free(std::span<std::byte> block) noexcept;

    /// The heap as marshallers see it on the writing side.
    groups::heap_view view() const noexcept {
        return {region_.bytes().data(), region_.bytes().size()};
    }
    const shared_region& region() const noexcept { return region_; }
    /// Bytes never handed out yet (free lists not counted).
    std::size_t untouched() const noexcept { return region_.bytes().size() - bump_; }

private:
    static std::size_t class_of(std::size_t size) noexcept;

    shared_region region_;
    std::size_t bump_ = 0;
    // Offset + 1 of the first free block of each class (0: none). The next link is stored in
    // the block itself.
    std::array<std::uint64_t, classes> free_{};
};

}  // namespace amb::hosted::node
