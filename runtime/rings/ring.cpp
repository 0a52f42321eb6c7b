#include <rings/ring.hpp>

#include <cstring>
#include <new>

namespace amb::rings {
namespace {

constexpr std::uint32_t header_size = sizeof(region_header);
constexpr std::uint32_t tag_shift = 16;
constexpr std::uint32_t index_mask = 0xffff;

constexpr bool is_power_of_two(std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t to) {
    return (v + to - 1) / to * to;
}

constexpr std::uint32_t pack_head(std::uint32_t tag, std::uint32_t index) {
    return (tag << tag_shift) | (index & index_mask);
}

bool valid(const config& c) {
    return is_power_of_two(c.element_count) && c.element_count <= max_element_count &&
           c.payload_size % payload_granule == 0 && c.payload_size <= max_payload_size &&
           is_power_of_two(c.to_kernel_capacity) && c.to_kernel_capacity <= max_ring_capacity &&
           is_power_of_two(c.to_group_capacity) && c.to_group_capacity <= max_ring_capacity;
}

std::uint64_t ring_bytes(std::uint32_t capacity) {
    return round_up(sizeof(ring_control) + std::uint64_t{capacity} * sizeof(std::uint32_t),
                    cache_line_size);
}

bool aligned(const std::byte* p) {
    return reinterpret_cast<std::uintptr_t>(p) % region_alignment == 0;
}

}  // namespace

const char* describe(error e) {
    switch (e) {
    case error::region_too_small:
        return "the memory is too small for the ring region";
    case error::region_misaligned:
        return "the ring region is not aligned to a cache line";
    case error::bad_magic:
        return "not a ring region (bad magic)";
    case error::bad_version:
        return "ring region of an unsupported ABI version";
    case error::bad_config:
        return "ring region sizes are zero, not powers of two, too large or misaligned";
    case error::bad_layout:
        return "ring region header offsets disagree with its sizes";
    case error::pool_empty:
        return "no free ring element";
    case error::ring_full:
        return "the ring is full";
    case error::bad_index:
        return "ring element index out of range";
    case error::corrupt:
        return "ring counters or free list are inconsistent";
    case error::contended:
        return "the ring free list stayed contended";
    }
    return "unknown ring error";
}

result<region_layout, error> layout_of(const config& c) {
    if (!valid(c))
        return failure{error::bad_config};
    // Order: header, free-list head, to_kernel ring, to_group ring, pool. Every part starts on
    // a cache line so that the two sides never write the same line except through the pool.
    std::uint64_t offset = header_size;
    region_layout l{};
    l.free_list_offset = static_cast<std::uint32_t>(offset);
    offset += sizeof(free_list_control);
    l.to_kernel_offset = static_cast<std::uint32_t>(offset);
    offset += ring_bytes(c.to_kernel_capacity);
    l.to_group_offset = static_cast<std::uint32_t>(offset);
    offset += ring_bytes(c.to_group_capacity);
    l.pool_offset = static_cast<std::uint32_t>(offset);
    l.element_size = static_cast<std::uint32_t>(sizeof(element_header) + c.payload_size);
    offset += std::uint64_t{c.element_count} * l.element_size;
    offset = round_up(offset, cache_line_size);
    // Largest valid config: 2^15 elements of 24 + 2^16 bytes, about 2 GiB: fits 32 bits, but a
    // 32-bit target cannot address it, so the size must also fit size_t.
    if (offset > UINT32_MAX || offset > SIZE_MAX)
        return failure{error::bad_config};
    l.total_size = static_cast<std::uint32_t>(offset);
    return l;
}

result<std::size_t, error> region_size(const config& c) {
    auto l = layout_of(c);
    if (!l)
        return failure{l.error()};
    return std::size_t{l->total_size};
}

// --- ring_region ------------------------------------------------------------------------------

ring_region::ring_region(std::byte* base, const config& c) : base_(base), config_(c) {
    region_layout l = layout_of(c).value();
    element_size_ = l.element_size;
    total_size_ = l.total_size;
    to_kernel_offset_ = l.to_kernel_offset;
    to_group_offset_ = l.to_group_offset;
    pool_offset_ = l.pool_offset;
}

result<ring_region, error> ring_region::init(std::span<std::byte> memory, const config& c) {
    auto l = layout_of(c);
    if (!l)
        return failure{l.error()};
    if (!aligned(memory.data()))
        return failure{error::region_misaligned};
    if (memory.size() < l->total_size)
        return failure{error::region_too_small};

    std::byte* base = memory.data();
    std::memset(base, 0, l->total_size);
    new (base + l->free_list_offset) free_list_control{};
    ring_region region(base, c);
    for (std::uint32_t offset : {l->to_kernel_offset, l->to_group_offset}) {
        ring_control* ring = new (base + offset) ring_control{};
        const std::uint32_t capacity =
            offset == l->to_kernel_offset ? c.to_kernel_capacity : c.to_group_capacity;
        std::atomic<std::uint32_t>* slots = region.entries(ring);
        for (std::uint32_t i = 0; i < capacity; ++i)
            new (&slots[i]) std::atomic<std::uint32_t>{null_index};
    }
    // The free list starts as 0 → 1 → ... → n-1 → null, so that the first allocations hand out
    // low indices (handy when reading dumps).
    for (std::uint32_t i = 0; i < c.element_count; ++i) {
        auto* e = new (base + l->pool_offset + std::size_t{i} * l->element_size) element_header{};
        e->free_next.store(i + 1 < c.element_count ? i + 1 : null_index,
                           std::memory_order_relaxed);
    }
    auto* free_list = reinterpret_cast<free_list_control*>(base + l->free_list_offset);
    free_list->head.store(pack_head(0, 0), std::memory_order_relaxed);

    region_header header{};
    header.magic = region_magic;
    header.version = region_version;
    header.header_size = header_size;
    header.total_size = l->total_size;
    header.element_count = c.element_count;
    header.element_size = l->element_size;
    header.payload_size = c.payload_size;
    header.to_kernel_capacity = c.to_kernel_capacity;
    header.to_group_capacity = c.to_group_capacity;
    header.free_list_offset = l->free_list_offset;
    header.to_kernel_offset = l->to_kernel_offset;
    header.to_group_offset = l->to_group_offset;
    header.pool_offset = l->pool_offset;
    std::memcpy(base, &header, sizeof header);
    return region;
}

result<ring_region, error> ring_region::attach(std::span<std::byte> memory) {
    if (!aligned(memory.data()))
        return failure{error::region_misaligned};
    if (memory.size() < sizeof(region_header))
        return failure{error::region_too_small};
    // Copy the header out once: the peer may rewrite it at any time, and only the copy is
    // validated and used.
    region_header header;
    std::memcpy(&header, memory.data(), sizeof header);
    if (header.magic != region_magic)
        return failure{error::bad_magic};
    if (header.version != region_version)
        return failure{error::bad_version};
    config c{header.element_count, header.payload_size, header.to_kernel_capacity,
             header.to_group_capacity};
    auto l = layout_of(c);
    if (!l)
        return failure{error::bad_config};
    if (header.header_size != header_size || header.total_size != l->total_size ||
        header.element_size != l->element_size ||
        header.free_list_offset != l->free_list_offset ||
        header.to_kernel_offset != l->to_kernel_offset ||
        header.to_group_offset != l->to_group_offset || header.pool_offset != l->pool_offset)
        return failure{error::bad_layout};
    if (memory.size() < l->total_size)
        return failure{error::region_too_small};
    return ring_region(memory.data(), c);
}

ring_control* ring_region::ring_at(std::uint32_t offset) const {
    return std::launder(reinterpret_cast<ring_control*>(base_ + offset));
}

std::atomic<std::uint32_t>* ring_region::entries(ring_control* ring) const {
    return std::launder(reinterpret_cast<std::atomic<std::uint32_t>*>(
        reinterpret_cast<std::byte*>(ring) + sizeof(ring_control)));
}

element_header* ring_region::element_at(std::uint32_t index) const {
    return std::launder(reinterpret_cast<element_header*>(
        base_ + pool_offset_ + std::size_t{index} * element_size_));
}

endpoint ring_region::group() const {
    return endpoint(*this, ring_at(to_kernel_offset_), config_.to_kernel_capacity,
                    ring_at(to_group_offset_), config_.to_group_capacity);
}

endpoint ring_region::kernel() const {
    return endpoint(*this, ring_at(to_group_offset_), config_.to_group_capacity,
                    ring_at(to_kernel_offset_), config_.to_kernel_capacity);
}

// --- endpoint ---------------------------------------------------------------------------------

endpoint::endpoint(const ring_region& region, ring_control* outgoing,
                   std::uint32_t outgoing_capacity, ring_control* incoming,
                   std::uint32_t incoming_capacity)
    : region_(region), outgoing_(outgoing), outgoing_capacity_(outgoing_capacity),
      incoming_(incoming), incoming_capacity_(incoming_capacity) {}

result<element_index, error> endpoint::allocate() {
    auto* free_list = std::launder(reinterpret_cast<free_list_control*>(
        region_.base_ + sizeof(region_header)));
    const std::uint32_t count = region_.config_.element_count;
    // Acquire: the link read below was written before the push that published this head.
    std::uint32_t head = free_list->head.load(std::memory_order_acquire);
    for (int attempt = 0; attempt < max_free_list_attempts; ++attempt) {
        const std::uint32_t index = head & index_mask;
        if (index == null_index)
            return failure{error::pool_empty};
        if (index >= count)
            return failure{error::corrupt};
        // May be stale if another thread pops and pushes `index` meanwhile; the tag in the
        // compare-and-swap below then fails, so a stale link is never installed (ABA).
        const std::uint32_t next =
            region_.element_at(index)->free_next.load(std::memory_order_relaxed);
        if (next != null_index && next >= count) {
            // Only an error if the head did not move: otherwise the link was merely stale.
            const std::uint32_t now = free_list->head.load(std::memory_order_acquire);
            if (now == head)
                return failure{error::corrupt};
            head = now;
            continue;
        }
        const std::uint32_t tag = (head >> tag_shift) + 1;
        // Acquire on success: the element's contents written by the releaser happen-before the
        // new holder's reads (the releasing push was a release in the head's modification
        // order).
        if (free_list->head.compare_exchange_weak(head, pack_head(tag, next),
                                                  std::memory_order_acquire,
                                                  std::memory_order_acquire))
            return element_index{index};
    }
    return failure{error::contended};
}

result<void, error> endpoint::release(element_index index) {
    if (index >= region_.config_.element_count)
        return failure{error::bad_index};
    auto* free_list = std::launder(reinterpret_cast<free_list_control*>(
        region_.base_ + sizeof(region_header)));
    element_header* element = region_.element_at(index);
    std::uint32_t head = free_list->head.load(std::memory_order_relaxed);
    for (int attempt = 0; attempt < max_free_list_attempts; ++attempt) {
        element->free_next.store(head & index_mask, std::memory_order_relaxed);
        const std::uint32_t tag = (head >> tag_shift) + 1;
        // Release: publishes the link and everything the holder wrote to the element.
        if (free_list->head.compare_exchange_weak(head, pack_head(tag, index),
                                                  std::memory_order_release,
                                                  std::memory_order_relaxed))
            return {};
    }
    return failure{error::contended};
}

result<void, error> endpoint::submit(element_index index) {
    if (index >= region_.config_.element_count)
        return failure{error::bad_index};
    // Our own counter: only this endpoint writes it, but it lives in shared memory, so it is
    // checked against the peer's like everything else.
    const std::uint32_t tail = outgoing_->tail.load(std::memory_order_relaxed);
    // Acquire: the consumer's read of a slot happens-before we overwrite that slot.
    const std::uint32_t head = outgoing_->head.load(std::memory_order_acquire);
    const std::uint32_t used = tail - head;
    if (used > outgoing_capacity_)
        return failure{error::corrupt};
    if (used == outgoing_capacity_)
        return failure{error::ring_full};
    region_.entries(outgoing_)[tail & (outgoing_capacity_ - 1)].store(
        index, std::memory_order_relaxed);
    // Release: publishes the slot and the element's contents to the consumer.
    outgoing_->tail.store(tail + 1, std::memory_order_release);
    return {};
}

result<std::optional<element_index>, error> endpoint::poll() {
    const std::uint32_t head = incoming_->head.load(std::memory_order_relaxed);
    // Acquire: pairs with the producer's release of the tail.
    const std::uint32_t tail = incoming_->tail.load(std::memory_order_acquire);
    const std::uint32_t available = tail - head;
    if (available > incoming_capacity_)
        return failure{error::corrupt};
    if (available == 0)
        return std::optional<element_index>{};
    const std::uint32_t index =
        region_.entries(incoming_)[head & (incoming_capacity_ - 1)].load(
            std::memory_order_relaxed);
    // Release: our read of the slot happens-before the producer reuses it.
    incoming_->head.store(head + 1, std::memory_order_release);
    if (index >= region_.config_.element_count)
        return failure{error::bad_index};
    return std::optional<element_index>{index};
}

result<element_view, error> endpoint::element(element_index index) const {
    if (index >= region_.config_.element_count)
        return failure{error::bad_index};
    element_header* header = region_.element_at(index);
    auto* payload = reinterpret_cast<std::byte*>(header) + sizeof(element_header);
    return element_view{header, {payload, region_.config_.payload_size}};
}

std::uint32_t endpoint::pending() const {
    const std::uint32_t available = incoming_->tail.load(std::memory_order_acquire) -
                                    incoming_->head.load(std::memory_order_relaxed);
    return available > incoming_capacity_ ? 0 : available;
}

}  // namespace amb::rings
