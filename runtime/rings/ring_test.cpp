// Tests of the ring region: the ABI layout, header validation, back-pressure, wrap-around, both
// directions, and rejection of corrupt data written by the peer. The two-thread stress test is
// ring_stress_test.cpp.
#include <rings/ring.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace amb::rings {
namespace {

/// Heap memory with a `region_alignment`-aligned window, optionally shifted to misalign it.
class aligned_buffer {
public:
    explicit aligned_buffer(std::size_t size, std::size_t shift = 0)
        : storage_(size + region_alignment + shift) {
        auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
        std::size_t pad = (region_alignment - address % region_alignment) % region_alignment;
        bytes_ = std::span<std::byte>(storage_.data() + pad + shift, size);
    }
    std::span<std::byte> bytes() const { return bytes_; }

private:
    std::vector<std::byte> storage_;
    std::span<std::byte> bytes_;
};

std::uint32_t read_u32(std::span<const std::byte> bytes, std::size_t offset) {
    std::uint32_t v;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

void write_u32(std::span<std::byte> bytes, std::size_t offset, std::uint32_t v) {
    std::memcpy(bytes.data() + offset, &v, sizeof v);
}

std::uint16_t read_u16(std::span<const std::byte> bytes, std::size_t offset) {
    std::uint16_t v;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

// The small configuration whose layout docs/runtime-rings.md spells out.
constexpr config small{8, 16, 4, 8};

// Offsets of the small configuration (see the header dump test).
constexpr std::size_t free_list_at = 64;
constexpr std::size_t to_kernel_at = 128;
constexpr std::size_t to_group_at = 320;
constexpr std::size_t pool_at = 512;
constexpr std::size_t tail_word = 0;  // within a ring
constexpr std::size_t head_word = 64;
constexpr std::size_t entries_at = 128;

TEST(ring, abi_layout) {
    EXPECT_EQ(offsetof(element_header, free_next), 0u);
    EXPECT_EQ(offsetof(element_header, kind), 4u);
    EXPECT_EQ(offsetof(element_header, status), 6u);
    EXPECT_EQ(offsetof(element_header, procedure), 8u);
    EXPECT_EQ(offsetof(element_header, payload_length), 12u);
    EXPECT_EQ(offsetof(element_header, cookie), 16u);
    EXPECT_EQ(sizeof(element_header), 24u);

    EXPECT_EQ(offsetof(region_header, magic), 0u);
    EXPECT_EQ(offsetof(region_header, version), 4u);
    EXPECT_EQ(offsetof(region_header, header_size), 6u);
    EXPECT_EQ(offsetof(region_header, total_size), 8u);
    EXPECT_EQ(offsetof(region_header, element_count), 12u);
    EXPECT_EQ(offsetof(region_header, element_size), 16u);
    EXPECT_EQ(offsetof(region_header, payload_size), 20u);
    EXPECT_EQ(offsetof(region_header, to_kernel_capacity), 24u);
    EXPECT_EQ(offsetof(region_header, to_group_capacity), 28u);
    EXPECT_EQ(offsetof(region_header, free_list_offset), 32u);
    EXPECT_EQ(offsetof(region_header, to_kernel_offset), 36u);
    EXPECT_EQ(offsetof(region_header, to_group_offset), 40u);
    EXPECT_EQ(offsetof(region_header, pool_offset), 44u);
    EXPECT_EQ(offsetof(region_header, reserved), 48u);
    EXPECT_EQ(sizeof(region_header), 64u);

    EXPECT_EQ(offsetof(ring_control, tail), 0u);
    EXPECT_EQ(offsetof(ring_control, head), 64u);
    EXPECT_EQ(sizeof(ring_control), 128u);
    EXPECT_EQ(sizeof(free_list_control), 64u);
}

TEST(ring, header_dump) {
    auto size = region_size(small);
    ASSERT_TRUE(size);
    EXPECT_EQ(*size, 832u);
    aligned_buffer buffer(*size);
    auto region = ring_region::init(buffer.bytes(), small);
    ASSERT_TRUE(region);
    auto bytes = buffer.bytes();

    // Print the header so that a reader of the test log sees the ABI bytes.
    std::printf("ring region header (%zu bytes total):\n", *size);
    for (std::size_t row = 0; row < sizeof(region_header); row += 16) {
        std::printf("  %04zx:", row);
        for (std::size_t i = 0; i < 16; ++i)
            std::printf(" %02x", static_cast<unsigned>(bytes[row + i]));
        std::printf("\n");
    }

    EXPECT_EQ(read_u32(bytes, 0), 0x52424d41u);
    EXPECT_EQ(std::memcmp(bytes.data(), "AMBR", 4), 0);
    EXPECT_EQ(read_u16(bytes, 4), 1u);
    EXPECT_EQ(read_u16(bytes, 6), 64u);
    EXPECT_EQ(read_u32(bytes, 8), 832u);   // total size
    EXPECT_EQ(read_u32(bytes, 12), 8u);    // element count
    EXPECT_EQ(read_u32(bytes, 16), 40u);   // element size: 24 + 16
    EXPECT_EQ(read_u32(bytes, 20), 16u);   // payload size
    EXPECT_EQ(read_u32(bytes, 24), 4u);    // to_kernel capacity
    EXPECT_EQ(read_u32(bytes, 28), 8u);    // to_group capacity
    EXPECT_EQ(read_u32(bytes, 32), free_list_at);
    EXPECT_EQ(read_u32(bytes, 36), to_kernel_at);  // 128 + 4 entries → 192 bytes
    EXPECT_EQ(read_u32(bytes, 40), to_group_at);   // 128 + 8 entries → 192 bytes
    EXPECT_EQ(read_u32(bytes, 44), pool_at);       // 8 × 40 = 320 bytes
    for (std::size_t offset = 48; offset < 64; offset += 4)
        EXPECT_EQ(read_u32(bytes, offset), 0u);

    // Free list: head tag 0, index 0; element i links to i + 1; the last to null.
    EXPECT_EQ(read_u32(bytes, free_list_at), 0u);
    for (std::uint32_t i = 0; i < 8; ++i)
        EXPECT_EQ(read_u32(bytes, pool_at + i * 40), i + 1 < 8 ? i + 1 : 0xffffu);
    // Rings empty.
    for (std::size_t ring : {to_kernel_at, to_group_at}) {
        EXPECT_EQ(read_u32(bytes, ring + tail_word), 0u);
        EXPECT_EQ(read_u32(bytes, ring + head_word), 0u);
    }

    auto layout = layout_of(small);
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->pool_offset, pool_at);
    EXPECT_EQ(layout->element_size, 40u);
}

TEST(ring, init_rejects_bad_configs) {
    aligned_buffer buffer(1 << 16);
    auto expect_bad = [&](config c) {
        auto region = ring_region::init(buffer.bytes(), c);
        ASSERT_FALSE(region);
        EXPECT_EQ(region.error(), error::bad_config);
        auto size = region_size(c);
        ASSERT_FALSE(size);
        EXPECT_EQ(size.error(), error::bad_config);
    };
    expect_bad({0, 16, 4, 4});
    expect_bad({3, 16, 4, 4});
    expect_bad({max_element_count * 2, 16, 4, 4});
    expect_bad({8, 12, 4, 4});
    expect_bad({8, max_payload_size + 8, 4, 4});
    expect_bad({8, 16, 0, 4});
    expect_bad({8, 16, 4, 6});
    expect_bad({8, 16, max_ring_capacity * 2, 4});
    // The largest valid configuration is accepted by the size computation.
    EXPECT_TRUE(region_size({max_element_count, max_payload_size, max_ring_capacity,
                             max_ring_capacity}));
}

TEST(ring, init_rejects_small_or_misaligned_memory) {
    aligned_buffer exact(832);
    EXPECT_TRUE(ring_region::init(exact.bytes(), small));
    aligned_buffer short_by_one(831);
    auto too_small = ring_region::init(short_by_one.bytes(), small);
    ASSERT_FALSE(too_small);
    EXPECT_EQ(too_small.error(), error::region_too_small);
    aligned_buffer shifted(832, 8);
    auto misaligned = ring_region::init(shifted.bytes(), small);
    ASSERT_FALSE(misaligned);
    EXPECT_EQ(misaligned.error(), error::region_misaligned);
}

TEST(ring, attach_validates_header) {
    aligned_buffer buffer(832);
    auto bytes = buffer.bytes();
    ASSERT_TRUE(ring_region::init(bytes, small));
    auto attached = ring_region::attach(bytes);
    ASSERT_TRUE(attached);
    EXPECT_EQ(attached->sizes().element_count, 8u);
    EXPECT_EQ(attached->sizes().payload_size, 16u);
    EXPECT_EQ(attached->sizes().to_kernel_capacity, 4u);
    EXPECT_EQ(attached->sizes().to_group_capacity, 8u);
    EXPECT_EQ(attached->size(), 832u);

    auto expect_attach = [&](std::span<std::byte> memory, error expected) {
        auto region = ring_region::attach(memory);
        ASSERT_FALSE(region);
        EXPECT_EQ(region.error(), expected) << describe(region.error());
    };
    auto with_word = [&](std::size_t offset, std::uint32_t value, error expected) {
        std::uint32_t saved = read_u32(bytes, offset);
        write_u32(bytes, offset, value);
        expect_attach(bytes, expected);
        write_u32(bytes, offset, saved);
        EXPECT_TRUE(ring_region::attach(bytes));
    };
    with_word(0, 0x12345678, error::bad_magic);
    with_word(4, read_u32(bytes, 4) + 1, error::bad_version);          // version 2
    with_word(4, (read_u32(bytes, 4) & 0xffff) | (32u << 16), error::bad_layout);  // header size
    with_word(8, 896, error::bad_layout);                               // total size
    with_word(12, 6, error::bad_config);                                // element count
    with_word(12, 0, error::bad_config);
    with_word(12, 16, error::bad_layout);  // valid sizes, but total/offsets disagree
    with_word(16, 48, error::bad_layout);  // element size
    with_word(20, 15, error::bad_config);  // payload size
    with_word(24, 3, error::bad_config);   // capacity
    with_word(28, 0x80000000u, error::bad_config);
    with_word(44, 0, error::bad_layout);  // pool offset pointing at the header
    with_word(40, 64, error::bad_layout);

    // A header claiming more memory than was mapped.
    expect_attach(bytes.first(831), error::region_too_small);
    expect_attach(bytes.first(63), error::region_too_small);
    // Zeroed (never initialised) memory.
    aligned_buffer zero(832);
    expect_attach(zero.bytes(), error::bad_magic);
    aligned_buffer shifted(832, 4);
    expect_attach(shifted.bytes(), error::region_misaligned);
}

TEST(ring, pool_exhaustion_and_release) {
    aligned_buffer buffer(832);
    auto region = ring_region::init(buffer.bytes(), small);
    ASSERT_TRUE(region);
    auto group = region->group();
    auto kernel = region->kernel();
    std::vector<element_index> taken;
    for (int i = 0; i < 8; ++i) {
        // Both sides allocate from the one pool.
        auto index = (i % 2 ? kernel : group).allocate();
        ASSERT_TRUE(index);
        EXPECT_EQ(*index, static_cast<element_index>(i));
        taken.push_back(*index);
    }
    auto empty = group.allocate();
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error(), error::pool_empty);
    EXPECT_FALSE(kernel.allocate());

    ASSERT_TRUE(kernel.release(5));
    auto again = group.allocate();
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, 5u);

    auto bad = group.release(8);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), error::bad_index);
    for (element_index index : taken)
        ASSERT_TRUE(group.release(index));
    for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(group.allocate());
}

TEST(ring, full_ring_gives_back_pressure) {
    aligned_buffer buffer(832);
    auto region = ring_region::init(buffer.bytes(), small);
    ASSERT_TRUE(region);
    auto group = region->group();
    auto kernel = region->kernel();
    // to_kernel holds 4.
    for (element_index i = 0; i < 4; ++i) {
        ASSERT_TRUE(group.allocate());
        ASSERT_TRUE(group.submit(i));
    }
    EXPECT_EQ(kernel.pending(), 4u);
    auto extra = group.allocate();
    ASSERT_TRUE(extra);
    auto full = group.submit(*extra);
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error(), error::ring_full);

    auto first = kernel.poll();
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ(**first, 0u);
    ASSERT_TRUE(group.submit(*extra));
    for (element_index expected : {1u, 2u, 3u, 4u}) {
        auto next = kernel.poll();
        ASSERT_TRUE(next && next->has_value());
        EXPECT_EQ(**next, expected);
    }
    auto none = kernel.poll();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    // to_group (capacity 8) was never touched.
    EXPECT_EQ(group.pending(), 0u);
}

TEST(ring, counters_wrap_around) {
    aligned_buffer buffer(832);
    auto bytes = buffer.bytes();
    auto region = ring_region::init(bytes, small);
    ASSERT_TRUE(region);
    // An empty ring whose free-running counters are about to pass 2^32.
    for (std::size_t word : {tail_word, head_word})
        write_u32(bytes, to_kernel_at + word, 0xfffffff0u);
    auto group = region->group();
    auto kernel = region->kernel();
    element_index next_sent = 0;
    element_index next_expected = 0;
    // Bursts of 1..4 so that slots, counters and fill levels all cycle.
    for (int round = 0; round < 40; ++round) {
        int burst = round % 4 + 1;
        for (int i = 0; i < burst; ++i) {
            ASSERT_TRUE(group.submit(next_sent % 8));
            ++next_sent;
        }
        if (burst == 4) {
            EXPECT_EQ(group.submit(0).error(), error::ring_full);
        }
        EXPECT_EQ(kernel.pending(), static_cast<std::uint32_t>(burst));
        for (int i = 0; i < burst; ++i) {
            auto got = kernel.poll();
            ASSERT_TRUE(got && got->has_value());
            EXPECT_EQ(**got, next_expected % 8);
            ++next_expected;
        }
    }
    EXPECT_LT(read_u32(bytes, to_kernel_at + tail_word), 0x100u);  // wrapped
    EXPECT_EQ(read_u32(bytes, to_kernel_at + tail_word),
              read_u32(bytes, to_kernel_at + head_word));
}

// Group issues, kernel serves; then kernel issues, group serves.
void round_trip(endpoint issuer, endpoint server, std::uint64_t cookie) {
    auto index = issuer.allocate();
    ASSERT_TRUE(index);
    auto request = issuer.element(*index);
    ASSERT_TRUE(request);
    request->header->kind = static_cast<std::uint16_t>(element_kind::request);
    request->header->status = 0;
    request->header->procedure = 7;
    request->header->cookie = cookie;
    std::memcpy(request->payload.data(), "ping", 4);
    request->header->payload_length = 4;
    ASSERT_EQ(request->payload.size(), 16u);
    ASSERT_TRUE(issuer.submit(*index));

    auto received = server.poll();
    ASSERT_TRUE(received && received->has_value());
    auto served = server.element(**received);
    ASSERT_TRUE(served);
    EXPECT_EQ(served->header->kind, static_cast<std::uint16_t>(element_kind::request));
    EXPECT_EQ(served->header->procedure, 7u);
    ASSERT_EQ(served->header->payload_length, 4u);
    EXPECT_EQ(std::memcmp(served->payload.data(), "ping", 4), 0);
    served->header->kind = static_cast<std::uint16_t>(element_kind::response);
    served->header->status = 3;
    std::memcpy(served->payload.data(), "pong!", 5);
    served->header->payload_length = 5;
    ASSERT_TRUE(server.submit(**received));

    auto answered = issuer.poll();
    ASSERT_TRUE(answered && answered->has_value());
    EXPECT_EQ(**answered, *index);
    auto response = issuer.element(**answered);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->header->kind, static_cast<std::uint16_t>(element_kind::response));
    EXPECT_EQ(response->header->cookie, cookie);
    EXPECT_EQ(response->header->status, 3u);
    EXPECT_EQ(std::memcmp(response->payload.data(), "pong!", 5), 0);
    ASSERT_TRUE(issuer.release(**answered));
}

TEST(ring, request_response_both_directions) {
    aligned_buffer buffer(832);
    auto region = ring_region::init(buffer.bytes(), small);
    ASSERT_TRUE(region);
    round_trip(region->group(), region->kernel(), 0x1122334455667788u);
    round_trip(region->kernel(), region->group(), 42);
    // Interleaved: one request in flight each way at once.
    auto group = region->group();
    auto kernel = region->kernel();
    auto from_group = group.allocate();
    auto from_kernel = kernel.allocate();
    ASSERT_TRUE(from_group && from_kernel);
    ASSERT_TRUE(group.submit(*from_group));
    ASSERT_TRUE(kernel.submit(*from_kernel));
    auto at_kernel = kernel.poll();
    auto at_group = group.poll();
    ASSERT_TRUE(at_kernel && at_kernel->has_value() && at_group && at_group->has_value());
    EXPECT_EQ(**at_kernel, *from_group);
    EXPECT_EQ(**at_group, *from_kernel);
}

TEST(ring, attach_at_another_address_sees_the_same_state) {
    // What a second process does: the same bytes, mapped elsewhere.
    aligned_buffer first(832);
    auto creator = ring_region::init(first.bytes(), small);
    ASSERT_TRUE(creator);
    auto group = creator->group();
    auto index = group.allocate();
    ASSERT_TRUE(index);
    group.element(*index)->header->cookie = 99;
    ASSERT_TRUE(group.submit(*index));

    aligned_buffer second(832);
    std::memcpy(second.bytes().data(), first.bytes().data(), 832);
    auto peer = ring_region::attach(second.bytes());
    ASSERT_TRUE(peer);
    auto kernel = peer->kernel();
    auto got = kernel.poll();
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ(**got, *index);
    EXPECT_EQ(kernel.element(**got)->header->cookie, 99u);
    auto next = kernel.allocate();
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, 1u);
}

TEST(ring, rejects_out_of_range_indices) {
    aligned_buffer buffer(832);
    auto region = ring_region::init(buffer.bytes(), small);
    ASSERT_TRUE(region);
    auto group = region->group();
    EXPECT_EQ(group.submit(8).error(), error::bad_index);
    EXPECT_EQ(group.element(8).error(), error::bad_index);
    EXPECT_EQ(group.element(0xffffffffu).error(), error::bad_index);
    EXPECT_EQ(group.release(0xffff).error(), error::bad_index);
    EXPECT_EQ(region->kernel().pending(), 0u);
}

TEST(ring, rejects_corrupt_entries_from_the_peer) {
    aligned_buffer buffer(832);
    auto bytes = buffer.bytes();
    auto region = ring_region::init(bytes, small);
    ASSERT_TRUE(region);
    auto group = region->group();
    // A faulty kernel publishes index 999, then a valid 3, on to_group.
    write_u32(bytes, to_group_at + entries_at + 0, 999);
    write_u32(bytes, to_group_at + entries_at + 4, 3);
    write_u32(bytes, to_group_at + tail_word, 2);
    auto bad = group.poll();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), error::bad_index);
    auto good = group.poll();  // the bad entry was consumed, the ring is not wedged
    ASSERT_TRUE(good && good->has_value());
    EXPECT_EQ(**good, 3u);

    // Counters further apart than the capacity: nothing is consumed or produced.
    write_u32(bytes, to_group_at + tail_word, 2 + 9);
    auto corrupt = group.poll();
    ASSERT_FALSE(corrupt);
    EXPECT_EQ(corrupt.error(), error::corrupt);
    EXPECT_EQ(read_u32(bytes, to_group_at + head_word), 2u);
    EXPECT_EQ(group.pending(), 0u);
    // The consumer's head ahead of the producer's tail on to_kernel.
    write_u32(bytes, to_kernel_at + head_word, 5);
    auto submit = group.submit(0);
    ASSERT_FALSE(submit);
    EXPECT_EQ(submit.error(), error::corrupt);
    EXPECT_EQ(read_u32(bytes, to_kernel_at + tail_word), 0u);
}

TEST(ring, rejects_a_corrupt_free_list) {
    aligned_buffer buffer(832);
    auto bytes = buffer.bytes();
    auto region = ring_region::init(bytes, small);
    ASSERT_TRUE(region);
    auto group = region->group();
    // Head index out of range (tag 7, index 8).
    write_u32(bytes, free_list_at, (7u << 16) | 8u);
    EXPECT_EQ(group.allocate().error(), error::corrupt);
    // Head fine, but element 0 links to 200.
    write_u32(bytes, free_list_at, 0);
    write_u32(bytes, pool_at, 200);
    EXPECT_EQ(group.allocate().error(), error::corrupt);
    // Repaired: allocation continues.
    write_u32(bytes, pool_at, 1);
    auto index = group.allocate();
    ASSERT_TRUE(index);
    EXPECT_EQ(*index, 0u);
}

TEST(ring, free_list_tag_advances) {
    aligned_buffer buffer(832);
    auto bytes = buffer.bytes();
    auto region = ring_region::init(bytes, small);
    ASSERT_TRUE(region);
    auto group = region->group();
    auto index = group.allocate();
    ASSERT_TRUE(index);
    EXPECT_EQ(read_u32(bytes, free_list_at), (1u << 16) | 1u);
    ASSERT_TRUE(group.release(*index));
    EXPECT_EQ(read_u32(bytes, free_list_at), (2u << 16) | 0u);
    // Pop and push the same element: the head's index is the same, the tag is not (ABA).
    for (int i = 0; i < 3; ++i) {
        auto again = group.allocate();
        ASSERT_TRUE(again);
        ASSERT_TRUE(group.release(*again));
    }
    EXPECT_EQ(read_u32(bytes, free_list_at), (8u << 16) | 0u);
    // The 16-bit tag wraps.
    write_u32(bytes, free_list_at, (0xffffu << 16) | 0u);
    ASSERT_TRUE(group.allocate());
    EXPECT_EQ(read_u32(bytes, free_list_at), 1u);
}

TEST(ring, describe_every_error) {
    for (int e = static_cast<int>(error::region_too_small);
         e <= static_cast<int>(error::contended); ++e)
        EXPECT_STRNE(describe(static_cast<error>(e)), "unknown ring error");
}

}  // namespace
}  // namespace amb::rings
