// TVM on a toy machine of its own, so that the generator is tested apart from CapVM: operand
// packing of odd widths, register checks when the register field is wider than the register
// file, variable-length literals, and identical behaviour of the three dispatch strategies.
#include <capvm/tvm.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace amb::tvm {
namespace {

/// An accumulator machine with 3 registers (2-bit register fields, so r3 must trap).
struct toy {
    static constexpr unsigned register_count = 3;
    std::int64_t registers[3] = {};
    std::int64_t accumulator = 0;
    std::uint32_t pc = 0;
    std::uint32_t start = 0;
    std::optional<tvm::trap> trapped;
    bool halted = false;
    flow trap(tvm::trap t) {
        trapped = t;
        return flow::stop;
    }
};

flow halt(toy& m) {
    m.halted = true;
    return flow::stop;
}
flow load(toy& m, reg<2> r, s_lit<6> value) {
    m.registers[r.index] = value.value;
    return flow::next;
}
flow load_wide(toy& m, reg<2> r, v_lit value, u_lit<3> shift) {
    m.registers[r.index] = value.value << shift.value;
    return flow::next;
}
flow accumulate(toy& m, reg<2> r) {
    m.accumulator += m.registers[r.index];
    return flow::next;
}
flow loop(toy& m, reg<2> r, offset<5> back) {
    if (--m.registers[r.index] > 0)
        m.pc = static_cast<std::uint32_t>(static_cast<std::int64_t>(m.pc) + back.value);
    return flow::next;
}

using toy_isa = instruction_set<toy, instruction<0x00, &halt, "halt">, instruction<0x07, &load, "load">,
                                instruction<0x08, &load_wide, "loadw">, instruction<0x10, &accumulate, "acc">,
                                instruction<0x11, &loop, "loop">>;

static_assert(toy_isa::info(0x07)->fixed_bytes == 1); // 2 + 6 bits
static_assert(toy_isa::info(0x08)->fixed_bytes == 1 && toy_isa::info(0x08)->varint_count == 1);
static_assert(toy_isa::info(0x11)->fixed_bytes == 1); // 2 + 5 bits
static_assert(toy_isa::info(0x01) == nullptr);
static_assert(varint_length(0) == 1 && varint_length(-64) == 1 && varint_length(64) == 2 &&
              varint_length(INT64_MIN) == 10 && varint_length(INT64_MAX) == 10);

template <dispatch Strategy>
toy run_toy(const std::vector<std::uint8_t>& code, std::uint32_t budget = 100) {
    toy m;
    run<toy_isa, Strategy>(m, code, budget);
    return m;
}

TEST(tvm, dispatch_strategies_agree) {
    // r0 = 5; r1 = 3; loop: acc r1; loop r0 back to acc; halt  => accumulator 15
    const std::vector<std::uint8_t> code = {0x07, 0x05, 0x07, 0x43, 0x10, 0x40, 0x11, 0x38, 0x00};
    for (const toy& m : {run_toy<dispatch::switch_loop>(code), run_toy<dispatch::function_table>(code),
                         run_toy<dispatch::threaded>(code)}) {
        EXPECT_TRUE(m.halted);
        EXPECT_FALSE(m.trapped.has_value());
        EXPECT_EQ(m.accumulator, 15);
    }
}

TEST(tvm, decodes_signed_fields_and_varints) {
    // load r2, -32 ; loadw r1, -300 << 7
    std::vector<std::uint8_t> code = {0x07, 0xa0, 0x08, 0x78, 0xd4, 0x7d, 0x00};
    toy m = run_toy<dispatch::switch_loop>(code);
    EXPECT_EQ(m.registers[2], -32);
    EXPECT_EQ(m.registers[1], -300 * 128);
    EXPECT_TRUE(m.halted);
    std::uint8_t out[16];
    const std::int64_t operands[] = {1, -300, 7};
    auto written = encode<toy_isa>(*toy_isa::info(0x08), operands, out);
    ASSERT_TRUE(written.has_value());
    EXPECT_EQ(std::vector<std::uint8_t>(out, out + *written), std::vector<std::uint8_t>(code.begin() + 2, code.end() - 1));
}

TEST(tvm, traps) {
    EXPECT_EQ(run_toy<dispatch::threaded>({0x10, 0xc0}).trapped, trap::bad_register); // r3
    EXPECT_EQ(run_toy<dispatch::function_table>({0x05}).trapped, trap::bad_opcode);
    EXPECT_EQ(run_toy<dispatch::switch_loop>({0x07}).trapped, trap::truncated_instruction);
    EXPECT_EQ(run_toy<dispatch::switch_loop>({0x08, 0x40, 0x80}).trapped, trap::bad_literal);
    EXPECT_EQ(run_toy<dispatch::threaded>({0x07, 0x05}).trapped, trap::end_of_code);
    EXPECT_EQ(run_toy<dispatch::threaded>({0x07, 0x1f, 0x11, 0x3c}, 10).trapped, trap::budget_exceeded);
    const std::int64_t bad[] = {3};
    std::uint8_t out[4];
    EXPECT_EQ(encode<toy_isa>(*toy_isa::info(0x10), bad, out).error().kind, encode_error::out_of_range);
}

TEST(tvm, varints_round_trip) {
    for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{63}, std::int64_t{-64},
                           std::int64_t{64}, std::int64_t{-65}, std::int64_t{1767225600}, INT64_MIN, INT64_MAX}) {
        std::uint8_t buffer[10];
        const std::uint32_t length = write_varint(v, buffer);
        EXPECT_EQ(length, varint_length(v));
        std::uint32_t cursor = 0;
        std::int64_t back = 0;
        ASSERT_TRUE(detail::read_varint(buffer, length, cursor, back));
        EXPECT_EQ(back, v);
        EXPECT_EQ(cursor, length);
    }
}

// read_varint (one-byte literals on their own, up to eight bytes from one word) must answer
// exactly like the bytewise reference on every input: the same acceptance, value and length,
// whatever follows the literal and however close the end of the code is.
TEST(tvm, varint_fast_path_agrees_with_bytewise_reference) {
    std::mt19937 random(13);
    std::uint8_t buffer[16];
    auto agree = [&](std::uint32_t size, std::uint32_t start) {
        std::uint32_t fast_cursor = start;
        std::uint32_t slow_cursor = start;
        std::int64_t fast = 0;
        std::int64_t slow = 0;
        const bool fast_ok = detail::read_varint(buffer, size, fast_cursor, fast);
        const bool slow_ok = detail::read_varint_bytewise(buffer, size, slow_cursor, slow);
        ASSERT_EQ(fast_ok, slow_ok) << "size " << size << " start " << start;
        if (fast_ok) {
            ASSERT_EQ(fast, slow);
            ASSERT_EQ(fast_cursor, slow_cursor);
        }
    };
    for (int round = 0; round < 200000; ++round) {
        // Continuation bits on for a random prefix, so every length 1..11 comes up; the bytes
        // around the last one (0x00, 0x7f, sign bits) are biased toward the canonical edge cases.
        const unsigned length = 1 + random() % 11;
        for (unsigned i = 0; i < sizeof buffer; ++i) {
            std::uint8_t byte = static_cast<std::uint8_t>(random());
            if (random() % 4 == 0)
                byte = (random() % 2) ? 0x7f : 0x00;
            byte = static_cast<std::uint8_t>(i + 1 < length ? (byte | 0x80) : (byte & 0x7f));
            buffer[i] = byte;
        }
        const std::uint32_t start = random() % 4;
        for (std::uint32_t size = start; size <= sizeof buffer; ++size)
            agree(size, start);
    }
    // Every value's canonical encoding, at every distance from the end of the code.
    for (int round = 0; round < 20000; ++round) {
        const std::int64_t value = static_cast<std::int64_t>(
            (std::uint64_t{random()} << 32 | random()) >> (random() % 64));
        for (const std::int64_t v : {value, -value}) {
            const std::uint32_t length = write_varint(v, buffer);
            for (std::uint32_t size = length; size <= sizeof buffer; ++size) {
                std::uint32_t cursor = 0;
                std::int64_t back = 0;
                ASSERT_TRUE(detail::read_varint(buffer, size, cursor, back));
                ASSERT_EQ(back, v);
                ASSERT_EQ(cursor, length);
                agree(size, 0);
            }
        }
    }
}

} // namespace
} // namespace amb::tvm
