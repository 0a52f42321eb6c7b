// Frames of the static and dynamic strategies (groups/marshal.hpp): both write the same bytes,
// read back what was written, and reject every malformed slot.
#include <groups/marshal.hpp>

#include "probe.lidl.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

namespace {

using namespace amb::groups;
using node_test::probe;

template <std::uint32_t Id>
using fields_of = typename probe::lidl_procedure<Id>::fields;
template <std::uint32_t Id>
using params_of = typename probe::lidl_procedure<Id>::params;

// Writes params with both strategies and checks that the frames are byte for byte the same.
template <std::uint32_t Id>
std::vector<std::byte> both_ways(const params_of<Id>& params, heap_view heap = {}) {
    std::array<std::uint64_t, 64> first{}, second{};
    frame_writer a{{reinterpret_cast<std::byte*>(first.data()), sizeof first}, 0, heap, {}, 0};
    frame_writer b{{reinterpret_cast<std::byte*>(second.data()), sizeof second}, 0, heap, {}, 0};
    std::size_t length_a = 0, length_b = 0;
    EXPECT_TRUE(static_marshal<fields_of<Id>>::write(params, a, length_a));
    auto arguments = typed_pointers(fields_of<Id>{}, const_cast<params_of<Id>&>(params));
    EXPECT_TRUE(dynamic_marshal::write(arguments, b, length_b));
    EXPECT_EQ(length_a, length_b);
    EXPECT_EQ(std::memcmp(first.data(), second.data(), sizeof first), 0);
    auto* bytes = reinterpret_cast<const std::byte*>(first.data());
    return {bytes, bytes + length_a};
}

}  // namespace

TEST(marshal, static_and_dynamic_write_the_same_frames_and_read_them_back) {
    params_of<0> mix{40, -2, true, node_test::mode::doubled, 1.5};
    auto frame = both_ways<0>(mix);
    EXPECT_EQ(frame.size(), static_marshal<fields_of<0>>::fixed_size);
    params_of<0> back{};
    frame_reader in{frame, 0, {}};
    ASSERT_TRUE(static_marshal<fields_of<0>>::read(back, in));
    EXPECT_EQ(back.a, 40u);
    EXPECT_EQ(back.b, -2);
    EXPECT_TRUE(back.flag);
    EXPECT_EQ(back.m, node_test::mode::doubled);
    EXPECT_EQ(back.scale, 1.5);
    params_of<0> dynamic_back{};
    frame_reader again{frame, 0, {}};
    ASSERT_TRUE(dynamic_marshal::read(typed_pointers(fields_of<0>{}, dynamic_back), again));
    EXPECT_EQ(dynamic_back.b, -2);

    const std::uint32_t values[] = {5, 6, 7};
    params_of<5> total{std::span<const std::uint32_t>(values)};
    auto total_frame = both_ways<5>(total);
    params_of<5> total_back{};
    frame_reader total_in{total_frame, 0, {}};
    ASSERT_TRUE(static_marshal<fields_of<5>>::read(total_back, total_in));
    ASSERT_EQ(total_back.values.size(), 3u);
    EXPECT_EQ(total_back.values[2], 7u);

    node_test::point p{3, -4};
    params_of<4> shift{&p, 1, 2};
    auto shift_frame = both_ways<4>(shift);
    params_of<4> shift_back{};
    frame_reader shift_in{shift_frame, 0, {}};
    ASSERT_TRUE(static_marshal<fields_of<4>>::read(shift_back, shift_in));
    EXPECT_EQ(shift_back.p->y, -4);
    EXPECT_EQ(shift_back.dy, 2);
}

TEST(marshal, views_in_the_heap_travel_as_offsets) {
    alignas(64) std::array<std::uint8_t, 4096> heap_bytes{};
    heap_view heap{reinterpret_cast<const std::byte*>(heap_bytes.data()), heap_bytes.size()};
    params_of<1> measure{std::span<const std::uint8_t>(heap_bytes.data() + 100, 1000)};
    auto frame = both_ways<1>(measure, heap);
    view_ref ref;
    std::memcpy(&ref, frame.data(), sizeof ref);
    EXPECT_EQ(ref.place, static_cast<std::uint32_t>(view_place::caller_heap));
    EXPECT_EQ(ref.offset, 100u);
    EXPECT_EQ(ref.length, 1000u);
    params_of<1> back{};
    frame_reader in{frame, 0, heap};
    ASSERT_TRUE(static_marshal<fields_of<1>>::read(back, in));
    EXPECT_EQ(back.data.data(), heap_bytes.data() + 100);
    // Without the heap mapped, the same frame is refused.
    frame_reader blind{frame, 0, {}};
    EXPECT_FALSE(static_marshal<fields_of<1>>::read(back, blind));
}

TEST(marshal, every_malformed_slot_is_refused) {
    params_of<0> mix{1, 2, false, node_test::mode::plain, 1.0};
    auto frame = both_ways<0>(mix);
    constexpr auto offsets = static_marshal<fields_of<0>>::offsets;
    auto refused = [&](std::size_t at, std::uint8_t value) {
        auto copy = frame;
        copy[at] = std::byte{value};
        params_of<0> back{};
        frame_reader in{copy, 0, {}};
        params_of<0> dynamic_back{};
        frame_reader dynamic_in{copy, 0, {}};
        bool dynamic_ok =
            dynamic_marshal::read(typed_pointers(fields_of<0>{}, dynamic_back), dynamic_in);
        bool static_ok = static_marshal<fields_of<0>>::read(back, in);
        EXPECT_EQ(static_ok, dynamic_ok);
        return !static_ok;
    };
    EXPECT_TRUE(refused(offsets[2], 2));    // bool 2
    EXPECT_TRUE(refused(offsets[2], 255));  // bool 255
    EXPECT_TRUE(refused(offsets[3], 1));    // undeclared enum value
    EXPECT_FALSE(refused(offsets[3], 2));   // declared
    EXPECT_FALSE(refused(offsets[0], 0xff));  // any u64 is fine

    // Truncations: every length below the fixed part is refused.
    for (std::size_t length = 0; length < frame.size(); ++length) {
        params_of<0> back{};
        frame_reader in{std::span<const std::byte>(frame).first(length), 0, {}};
        EXPECT_FALSE(static_marshal<fields_of<0>>::read(back, in)) << length;
    }

    // Views: offsets into the fixed part, past the end, misaligned spans, odd lengths.
    const std::uint32_t values[] = {1, 2};
    params_of<5> total{std::span<const std::uint32_t>(values)};
    auto total_frame = both_ways<5>(total);
    auto view_refused = [&](view_ref ref) {
        auto copy = total_frame;
        std::memcpy(copy.data(), &ref, sizeof ref);
        params_of<5> back{};
        frame_reader in{copy, 0, {}};
        return !static_marshal<fields_of<5>>::read(back, in);
    };
    EXPECT_FALSE(view_refused({16, 8, 0}));
    EXPECT_TRUE(view_refused({0, 8, 0}));        // inside the fixed part
    EXPECT_TRUE(view_refused({16, 9, 0}));       // not a whole number of u32
    EXPECT_TRUE(view_refused({18, 4, 0}));       // misaligned for u32
    EXPECT_TRUE(view_refused({16, 4096, 0}));    // past the frame
    EXPECT_TRUE(view_refused({UINT64_MAX, 4, 0}));
    EXPECT_TRUE(view_refused({16, 8, 1}));       // heap, but no heap
    EXPECT_TRUE(view_refused({16, 8, 2}));       // unknown place
}

TEST(marshal, types_a_frame_cannot_carry_fall_back_to_messages) {
    EXPECT_TRUE((static_capable<probe, 0>));   // scalars, bool, enum
    EXPECT_TRUE((static_capable<probe, 3>));   // string view in, string out
    EXPECT_TRUE((static_capable<probe, 4>));   // struct by value
    EXPECT_FALSE((static_capable<probe, 6>));  // a struct holding a string
}
