// The CapVM instruction set, declared with TVM: the machine state, one function per
// instruction, and the opcode list. Everything else (decoders, dispatch, assembler operand
// checks, disassembler) is derived from this file; docs/capvm.md describes the result.
//
// Adding an instruction: write its function in `ops` and add one `tvm::instruction` line with
// an unused opcode to `capvm::isa`. Never renumber or reuse an opcode: deployed tokens carry
// bytecode.
//
// Machine: 16 registers r0..r15 of 64 bits (signed, arithmetic wraps), 64 bytes of linear
// memory, a 4-deep return stack, the token item last selected by `tsel`. Users call
// capvm::evaluate (capvm.hpp); this header is for tools, tests and benchmarks that need the
// instruction tables or a specific dispatch strategy.
#pragma once

#include <capvm/capvm.hpp>
#include <capvm/tvm.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

namespace amb::capvm {

/// The whole state of one evaluation.
struct machine {
    static constexpr unsigned register_count = 16;
    static constexpr unsigned memory_bytes = 64;
    static constexpr unsigned call_depth = 4;

    enum class outcome : std::uint8_t { running, accepted, rejected, faulted };

    std::int64_t registers[register_count];
    std::uint8_t memory[memory_bytes];
    context* host;
    const token_view* token;
    const std::uint8_t* selected; // bytes of the item chosen by tsel
    std::uint32_t selected_size;
    std::uint32_t pc;    // TVM: the next instruction while one executes
    std::uint16_t start; // TVM: the instruction executing, for fault offsets
    std::uint16_t code_size;
    std::uint16_t return_stack[call_depth];
    std::uint8_t depth;
    outcome result;
    fault_kind fault;

    tvm::flow fail(fault_kind kind) {
        result = outcome::faulted;
        fault = kind;
        return tvm::flow::stop;
    }
    tvm::flow finish(bool accepted) {
        result = accepted ? outcome::accepted : outcome::rejected;
        return tvm::flow::stop;
    }
    tvm::flow trap(tvm::trap t) {
        start = static_cast<std::uint16_t>(pc);
        switch (t) {
        case tvm::trap::bad_opcode:
            return fail(fault_kind::bad_opcode);
        case tvm::trap::truncated_instruction:
            return fail(fault_kind::truncated_instruction);
        case tvm::trap::bad_register:
            return fail(fault_kind::bad_register);
        case tvm::trap::bad_literal:
            return fail(fault_kind::bad_literal);
        case tvm::trap::bad_padding:
            return fail(fault_kind::bad_padding);
        case tvm::trap::end_of_code:
            return fail(fault_kind::end_of_code);
        case tvm::trap::budget_exceeded:
            return fail(fault_kind::budget_exceeded);
        }
        return fail(fault_kind::bad_opcode);
    }
};

namespace ops {

using r = tvm::reg<4>;
using tvm::flow;

inline std::int64_t wrap(std::uint64_t value) { return static_cast<std::int64_t>(value); }

// ---- Arithmetic, logic and comparisons: one functor per operation, two forms each ----------

// Each computes `out` from a and b; false means division by zero.
struct add_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = wrap(std::uint64_t(a) + std::uint64_t(b)); return true; } };
struct sub_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = wrap(std::uint64_t(a) - std::uint64_t(b)); return true; } };
struct mul_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = wrap(std::uint64_t(a) * std::uint64_t(b)); return true; } };
struct div_op {
    static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) {
        if (b == 0)
            return false;
        // INT64_MIN / -1 overflows; wrap like the other operations instead of trapping.
        out = (b == -1) ? wrap(0 - std::uint64_t(a)) : a / b;
        return true;
    }
};
struct rem_op {
    static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) {
        if (b == 0)
            return false;
        out = (b == -1) ? 0 : a % b;
        return true;
    }
};
struct and_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a & b; return true; } };
struct or_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a | b; return true; } };
struct xor_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a ^ b; return true; } };
// Shift counts use their low 6 bits, so every shift is defined.
struct shl_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = wrap(std::uint64_t(a) << (b & 63)); return true; } };
struct shr_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = wrap(std::uint64_t(a) >> (b & 63)); return true; } };
struct sar_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a >> (b & 63); return true; } };
struct eq_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a == b; return true; } };
struct ne_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a != b; return true; } };
struct lt_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a < b; return true; } };
struct le_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a <= b; return true; } };
struct gt_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a > b; return true; } };
struct ge_op  { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = a >= b; return true; } };
struct ltu_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = std::uint64_t(a) < std::uint64_t(b); return true; } };
struct leu_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = std::uint64_t(a) <= std::uint64_t(b); return true; } };
struct gtu_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = std::uint64_t(a) > std::uint64_t(b); return true; } };
struct geu_op { static bool apply(std::int64_t a, std::int64_t b, std::int64_t& out) { out = std::uint64_t(a) >= std::uint64_t(b); return true; } };

/// rd = rd OP rs (2 bytes).
template <class Op>
flow binary(machine& m, r d, r s) {
    if (!Op::apply(m.registers[d.index], m.registers[s.index], m.registers[d.index]))
        return m.fail(fault_kind::division_by_zero);
    return flow::next;
}

/// rd = rd OP literal (2 + literal bytes).
template <class Op>
flow binary_literal(machine& m, r d, tvm::v_lit literal) {
    if (!Op::apply(m.registers[d.index], literal.value, m.registers[d.index]))
        return m.fail(fault_kind::division_by_zero);
    return flow::next;
}

// ---- Moves, memory --------------------------------------------------------------------------

inline flow mov(machine& m, r d, r s) { m.registers[d.index] = m.registers[s.index]; return flow::next; }
/// rd = -8..7 (2 bytes).
inline flow lis(machine& m, r d, tvm::s_lit<4> value) { m.registers[d.index] = value.value; return flow::next; }
/// rd = any 64-bit literal (2 + literal bytes).
inline flow li(machine& m, r d, tvm::v_lit value) { m.registers[d.index] = value.value; return flow::next; }
/// rd = !rd (logical).
inline flow lnot(machine& m, r d) { m.registers[d.index] = m.registers[d.index] == 0; return flow::next; }
inline flow neg(machine& m, r d) { m.registers[d.index] = wrap(0 - std::uint64_t(m.registers[d.index])); return flow::next; }

/// Checks [address, address + width) against the linear memory, without overflow.
inline bool in_memory(std::int64_t address, std::int64_t width) {
    constexpr std::int64_t size = machine::memory_bytes;
    return width >= 0 && width <= size && address >= 0 && address <= size - width;
}

/// Address ra + offset of a load or store, or -1 when ra is outside the memory (keeps the sum
/// from overflowing).
inline std::int64_t effective_address(const machine& m, r a, tvm::u_lit<8> offset) {
    const std::int64_t base = m.registers[a.index];
    if (base < 0 || base > machine::memory_bytes)
        return -1;
    return base + std::int64_t{offset.value};
}

inline std::uint64_t load_le(const std::uint8_t* bytes, unsigned width) {
    std::uint64_t value = 0;
    for (unsigned i = width; i-- > 0;)
        value = (value << 8) | bytes[i];
    return value;
}

/// rd = zero-extended little-endian Width bytes at memory[ra + offset].
template <unsigned Width>
flow load(machine& m, r d, r a, tvm::u_lit<8> offset) {
    const std::int64_t address = effective_address(m, a, offset);
    if (!in_memory(address, Width))
        return m.fail(fault_kind::out_of_bounds);
    m.registers[d.index] = wrap(load_le(&m.memory[address], Width));
    return flow::next;
}

/// memory[ra + offset] = low Width bytes of rs, little-endian.
template <unsigned Width>
flow store(machine& m, r s, r a, tvm::u_lit<8> offset) {
    const std::int64_t address = effective_address(m, a, offset);
    if (!in_memory(address, Width))
        return m.fail(fault_kind::out_of_bounds);
    auto value = static_cast<std::uint64_t>(m.registers[s.index]);
    for (unsigned i = 0; i < Width; ++i, value >>= 8)
        m.memory[address + i] = static_cast<std::uint8_t>(value);
    return flow::next;
}

// ---- Control ---------------------------------------------------------------------------------

inline flow reject(machine& m) { return m.finish(false); }
inline flow accept(machine& m) { return m.finish(true); }
/// Accept when rs is non-zero, else reject.
inline flow halt(machine& m, r s) { return m.finish(m.registers[s.index] != 0); }
/// Reject unless rs is non-zero.
inline flow req(machine& m, r s) { return m.registers[s.index] != 0 ? flow::next : m.finish(false); }

/// pc = next + offset, inside the code.
inline flow jump_to(machine& m, std::int32_t offset) {
    const std::int64_t target = std::int64_t{m.pc} + offset;
    if (target < 0 || target >= m.code_size)
        return m.fail(fault_kind::bad_jump);
    m.pc = static_cast<std::uint32_t>(target);
    return flow::next;
}

inline flow jmp(machine& m, tvm::offset<8> o) { return jump_to(m, o.value); }
inline flow jmpw(machine& m, tvm::offset<16> o) { return jump_to(m, o.value); }
inline flow call(machine& m, tvm::offset<16> o) {
    if (m.depth == machine::call_depth)
        return m.fail(fault_kind::call_stack_overflow);
    m.return_stack[m.depth++] = static_cast<std::uint16_t>(m.pc);
    return jump_to(m, o.value);
}
inline flow ret(machine& m) {
    if (m.depth == 0)
        return m.fail(fault_kind::call_stack_underflow);
    m.pc = m.return_stack[--m.depth];
    return flow::next;
}
/// Branch when rs is zero / non-zero; 12-bit offsets (+-2 KiB).
inline flow bz(machine& m, r s, tvm::offset<12> o) { return m.registers[s.index] == 0 ? jump_to(m, o.value) : flow::next; }
inline flow bnz(machine& m, r s, tvm::offset<12> o) { return m.registers[s.index] != 0 ? jump_to(m, o.value) : flow::next; }

/// Branch when `ra OP rb` (3 bytes, 8-bit offset).
template <class Op>
flow branch(machine& m, r a, r b, tvm::offset<8> o) {
    std::int64_t taken = 0;
    Op::apply(m.registers[a.index], m.registers[b.index], taken);
    return taken ? jump_to(m, o.value) : flow::next;
}

/// Reject unless `ra OP literal`: one conjunct of a policy in 2 + literal bytes.
template <class Op>
flow require(machine& m, r a, tvm::v_lit literal) {
    std::int64_t holds = 0;
    Op::apply(m.registers[a.index], literal.value, holds);
    return holds ? flow::next : m.finish(false);
}

// ---- VM calls -------------------------------------------------------------------------------

inline flow vm_call_into(machine& m, std::int64_t& out, std::uint8_t id,
                         std::span<const std::int64_t> args) {
    auto answer = m.host->call(id, args);
    if (!answer)
        return m.fail(answer.error());
    out = *answer;
    return flow::next;
}

/// rd = call id() for ids 0..15 (2 bytes).
inline flow vcall(machine& m, r d, tvm::u_lit<4> id) {
    return vm_call_into(m, m.registers[d.index], static_cast<std::uint8_t>(id.value), {});
}
/// rd = call id(ra, ..., ra + count - 1) for any id, 0..3 arguments (4 bytes).
inline flow vcallx(machine& m, r d, tvm::u_lit<8> id, r a, tvm::u_lit<2> count) {
    if (a.index + count.value > machine::register_count)
        return m.fail(fault_kind::bad_vm_call);
    return vm_call_into(m, m.registers[d.index], static_cast<std::uint8_t>(id.value),
                        std::span<const std::int64_t>(&m.registers[a.index], count.value));
}
/// Reject unless call id() OP literal: a whole "battery() >= 20" in 3 bytes.
template <class Op>
[[gnu::always_inline]] inline flow require_call(machine& m, tvm::u_lit<8> id, tvm::v_lit literal) {
    std::int64_t value = 0;
    if (vm_call_into(m, value, static_cast<std::uint8_t>(id.value), {}) != flow::next)
        return flow::stop;
    std::int64_t holds = 0;
    Op::apply(value, literal.value, holds);
    return holds ? flow::next : m.finish(false);
}

// ---- Token ----------------------------------------------------------------------------------

/// Resolves a frame or item index; negative indices count from the end (-1 is the last).
inline bool resolve_index(std::int64_t index, std::uint32_t count, std::uint32_t& out) {
    if (index < 0)
        index += count;
    if (index < 0 || index >= count)
        return false;
    out = static_cast<std::uint32_t>(index);
    return true;
}

/// rd = number of frames (kind 0), or of capabilities (1) / constraints (2) of frame rf.
inline flow tcnt(machine& m, r d, tvm::u_lit<2> kind, r f) {
    if (m.token == nullptr)
        return m.fail(fault_kind::no_token);
    const std::uint32_t frames = m.token->count(item_kind::frame, 0);
    if (kind.value == 0) {
        m.registers[d.index] = frames;
        return flow::next;
    }
    std::uint32_t frame = 0;
    if (kind.value == 3 || !resolve_index(m.registers[f.index], frames, frame))
        return m.fail(fault_kind::no_such_item);
    m.registers[d.index] = m.token->count(static_cast<item_kind>(kind.value), frame);
    return flow::next;
}

/// Selects frame rf (kind 0; ri ignored), or its capability / constraint ri (kinds 1, 2), for
/// the tlen / tld / tcpy / teq that follow.
inline flow tsel(machine& m, tvm::u_lit<2> kind, r f, r i) {
    if (m.token == nullptr)
        return m.fail(fault_kind::no_token);
    std::uint32_t frame = 0;
    std::uint32_t index = 0;
    if (kind.value == 3 ||
        !resolve_index(m.registers[f.index], m.token->count(item_kind::frame, 0), frame))
        return m.fail(fault_kind::no_such_item);
    const auto k = static_cast<item_kind>(kind.value);
    if (k != item_kind::frame && !resolve_index(m.registers[i.index], m.token->count(k, frame), index))
        return m.fail(fault_kind::no_such_item);
    const std::span<const std::uint8_t> bytes = m.token->item(k, frame, index);
    m.selected = bytes.data();
    m.selected_size = static_cast<std::uint32_t>(bytes.size());
    return flow::next;
}

inline flow tlen(machine& m, r d) { m.registers[d.index] = m.selected_size; return flow::next; }

inline bool in_item(const machine& m, std::int64_t offset, std::int64_t length) {
    return offset >= 0 && length >= 0 && length <= m.selected_size &&
           offset <= std::int64_t{m.selected_size} - length;
}

/// rd = zero-extended little-endian Width bytes of the selected item at offset ro.
template <unsigned Width>
flow tld(machine& m, r d, r o) {
    if (!in_item(m, m.registers[o.index], Width))
        return m.fail(fault_kind::out_of_bounds);
    m.registers[d.index] = wrap(load_le(m.selected + m.registers[o.index], Width));
    return flow::next;
}

/// memory[rm .. rm + rn) = selected item [ro .. ro + rn).
inline flow tcpy(machine& m, r dst, r o, r n) {
    const std::int64_t length = m.registers[n.index];
    const std::int64_t address = m.registers[dst.index];
    if (!in_item(m, m.registers[o.index], length) || !in_memory(address, length))
        return m.fail(fault_kind::out_of_bounds);
    if (length > 0)
        std::memcpy(&m.memory[address], m.selected + m.registers[o.index],
                    static_cast<std::size_t>(length));
    return flow::next;
}

/// rd = 1 when the selected item is exactly the rn bytes at memory[rm], else 0.
inline flow teq(machine& m, r d, r a, r n) {
    const std::int64_t length = m.registers[n.index];
    const std::int64_t address = m.registers[a.index];
    if (!in_memory(address, length))
        return m.fail(fault_kind::out_of_bounds);
    m.registers[d.index] =
        length == m.selected_size &&
        (length == 0 || std::memcmp(&m.memory[address], m.selected, static_cast<std::size_t>(length)) == 0);
    return flow::next;
}

} // namespace ops

// The opcode map. Groups leave gaps for growth; see docs/capvm.md for the table.
// clang-format off
using isa = tvm::instruction_set<machine,
    // control
    tvm::instruction<0x00, &ops::reject, "reject">,
    tvm::instruction<0x01, &ops::accept, "accept">,
    tvm::instruction<0x02, &ops::halt, "halt">,
    tvm::instruction<0x03, &ops::req, "req">,
    tvm::instruction<0x04, &ops::jmp, "jmp">,
    tvm::instruction<0x05, &ops::jmpw, "jmpw">,
    tvm::instruction<0x06, &ops::call, "call">,
    tvm::instruction<0x07, &ops::ret, "ret">,
    tvm::instruction<0x08, &ops::bz, "bz">,
    tvm::instruction<0x09, &ops::bnz, "bnz">,
    tvm::instruction<0x0a, &ops::branch<ops::eq_op>, "beq">,
    tvm::instruction<0x0b, &ops::branch<ops::ne_op>, "bne">,
    tvm::instruction<0x0c, &ops::branch<ops::lt_op>, "blt">,
    tvm::instruction<0x0d, &ops::branch<ops::ge_op>, "bge">,
    tvm::instruction<0x0e, &ops::branch<ops::ltu_op>, "bltu">,
    tvm::instruction<0x0f, &ops::branch<ops::geu_op>, "bgeu">,
    // moves
    tvm::instruction<0x10, &ops::mov, "mov">,
    tvm::instruction<0x11, &ops::lis, "lis">,
    tvm::instruction<0x12, &ops::li, "li">,
    tvm::instruction<0x13, &ops::lnot, "not">,
    tvm::instruction<0x14, &ops::neg, "neg">,
    // linear memory
    tvm::instruction<0x18, &ops::load<1>, "ld8">,
    tvm::instruction<0x19, &ops::load<2>, "ld16">,
    tvm::instruction<0x1a, &ops::load<4>, "ld32">,
    tvm::instruction<0x1b, &ops::load<8>, "ld64">,
    tvm::instruction<0x1c, &ops::store<1>, "st8">,
    tvm::instruction<0x1d, &ops::store<2>, "st16">,
    tvm::instruction<0x1e, &ops::store<4>, "st32">,
    tvm::instruction<0x1f, &ops::store<8>, "st64">,
    // rd = rd OP rs
    tvm::instruction<0x20, &ops::binary<ops::add_op>, "add">,
    tvm::instruction<0x21, &ops::binary<ops::sub_op>, "sub">,
    tvm::instruction<0x22, &ops::binary<ops::mul_op>, "mul">,
    tvm::instruction<0x23, &ops::binary<ops::div_op>, "div">,
    tvm::instruction<0x24, &ops::binary<ops::rem_op>, "rem">,
    tvm::instruction<0x25, &ops::binary<ops::and_op>, "and">,
    tvm::instruction<0x26, &ops::binary<ops::or_op>, "or">,
    tvm::instruction<0x27, &ops::binary<ops::xor_op>, "xor">,
    tvm::instruction<0x28, &ops::binary<ops::shl_op>, "shl">,
    tvm::instruction<0x29, &ops::binary<ops::shr_op>, "shr">,
    tvm::instruction<0x2a, &ops::binary<ops::sar_op>, "sar">,
    tvm::instruction<0x2b, &ops::binary<ops::eq_op>, "eq">,
    tvm::instruction<0x2c, &ops::binary<ops::ne_op>, "ne">,
    tvm::instruction<0x2d, &ops::binary<ops::lt_op>, "lt">,
    tvm::instruction<0x2e, &ops::binary<ops::le_op>, "le">,
    tvm::instruction<0x2f, &ops::binary<ops::gt_op>, "gt">,
    tvm::instruction<0x30, &ops::binary<ops::ge_op>, "ge">,
    tvm::instruction<0x31, &ops::binary<ops::ltu_op>, "ltu">,
    tvm::instruction<0x32, &ops::binary<ops::leu_op>, "leu">,
    tvm::instruction<0x33, &ops::binary<ops::gtu_op>, "gtu">,
    tvm::instruction<0x34, &ops::binary<ops::geu_op>, "geu">,
    // rd = rd OP literal
    tvm::instruction<0x40, &ops::binary_literal<ops::add_op>, "addi">,
    tvm::instruction<0x41, &ops::binary_literal<ops::sub_op>, "subi">,
    tvm::instruction<0x42, &ops::binary_literal<ops::mul_op>, "muli">,
    tvm::instruction<0x43, &ops::binary_literal<ops::div_op>, "divi">,
    tvm::instruction<0x44, &ops::binary_literal<ops::rem_op>, "remi">,
    tvm::instruction<0x45, &ops::binary_literal<ops::and_op>, "andi">,
    tvm::instruction<0x46, &ops::binary_literal<ops::or_op>, "ori">,
    tvm::instruction<0x47, &ops::binary_literal<ops::xor_op>, "xori">,
    tvm::instruction<0x48, &ops::binary_literal<ops::shl_op>, "shli">,
    tvm::instruction<0x49, &ops::binary_literal<ops::shr_op>, "shri">,
    tvm::instruction<0x4a, &ops::binary_literal<ops::sar_op>, "sari">,
    tvm::instruction<0x4b, &ops::binary_literal<ops::eq_op>, "eqi">,
    tvm::instruction<0x4c, &ops::binary_literal<ops::ne_op>, "nei">,
    tvm::instruction<0x4d, &ops::binary_literal<ops::lt_op>, "lti">,
    tvm::instruction<0x4e, &ops::binary_literal<ops::le_op>, "lei">,
    tvm::instruction<0x4f, &ops::binary_literal<ops::gt_op>, "gti">,
    tvm::instruction<0x50, &ops::binary_literal<ops::ge_op>, "gei">,
    tvm::instruction<0x51, &ops::binary_literal<ops::ltu_op>, "ltui">,
    tvm::instruction<0x52, &ops::binary_literal<ops::leu_op>, "leui">,
    tvm::instruction<0x53, &ops::binary_literal<ops::gtu_op>, "gtui">,
    tvm::instruction<0x54, &ops::binary_literal<ops::geu_op>, "geui">,
    // reject unless rs OP literal
    tvm::instruction<0x60, &ops::require<ops::eq_op>, "req.eq">,
    tvm::instruction<0x61, &ops::require<ops::ne_op>, "req.ne">,
    tvm::instruction<0x62, &ops::require<ops::lt_op>, "req.lt">,
    tvm::instruction<0x63, &ops::require<ops::le_op>, "req.le">,
    tvm::instruction<0x64, &ops::require<ops::gt_op>, "req.gt">,
    tvm::instruction<0x65, &ops::require<ops::ge_op>, "req.ge">,
    // reject unless call id() OP literal
    tvm::instruction<0x68, &ops::require_call<ops::eq_op>, "reqc.eq">,
    tvm::instruction<0x69, &ops::require_call<ops::ne_op>, "reqc.ne">,
    tvm::instruction<0x6a, &ops::require_call<ops::lt_op>, "reqc.lt">,
    tvm::instruction<0x6b, &ops::require_call<ops::le_op>, "reqc.le">,
    tvm::instruction<0x6c, &ops::require_call<ops::gt_op>, "reqc.gt">,
    tvm::instruction<0x6d, &ops::require_call<ops::ge_op>, "reqc.ge">,
    // VM calls
    tvm::instruction<0x70, &ops::vcall, "vcall">,
    tvm::instruction<0x71, &ops::vcallx, "vcallx">,
    // token
    tvm::instruction<0x78, &ops::tcnt, "tcnt">,
    tvm::instruction<0x79, &ops::tsel, "tsel">,
    tvm::instruction<0x7a, &ops::tlen, "tlen">,
    tvm::instruction<0x7b, &ops::tld<1>, "tld8">,
    tvm::instruction<0x7c, &ops::tld<2>, "tld16">,
    tvm::instruction<0x7d, &ops::tld<4>, "tld32">,
    tvm::instruction<0x7e, &ops::tld<8>, "tld64">,
    tvm::instruction<0x7f, &ops::tcpy, "tcpy">,
    tvm::instruction<0x80, &ops::teq, "teq">>;
// clang-format on

namespace detail {
template <std::size_t... Piece>
[[gnu::always_inline]] inline void clear_pieces(unsigned char* bytes, std::size_t size,
                                                std::index_sequence<Piece...>) {
    ((std::memset(bytes + Piece * 64, 0, size - Piece * 64 < 64 ? size - Piece * 64 : 64)), ...);
}
} // namespace detail

/// Zeroes every byte of `m`, in 64-byte pieces: g++ turns a single memset of the whole machine
/// into `rep stosq`, whose start-up alone costs about as much as evaluating a short policy;
/// pieces of constant size become a few vector stores.
[[gnu::always_inline]] inline void clear(machine& m) {
    detail::clear_pieces(reinterpret_cast<unsigned char*>(&m), sizeof m,
                         std::make_index_sequence<(sizeof(machine) + 63) / 64>{});
}

/// Evaluates with a chosen dispatch strategy; `Checked` = false only for verified code.
/// capvm::evaluate is this with tvm::default_dispatch.
template <tvm::dispatch Strategy, bool Checked>
amb::result<evaluation, fault> evaluate_using(std::span<const std::uint8_t> code, context& host,
                                              const token_view* token, limits bounds) {
    if (code.size() > 0xffff)
        return amb::failure{fault{fault_kind::code_too_large, 0}};
    machine m;
    clear(m);
    m.host = &host;
    m.token = token;
    m.code_size = static_cast<std::uint16_t>(code.size());
    const std::uint32_t executed = tvm::run<isa, Strategy, Checked>(m, code, bounds.instructions);
    if (m.result == machine::outcome::faulted)
        return amb::failure{fault{m.fault, m.start}};
    return evaluation{m.result == machine::outcome::accepted, executed};
}

} // namespace amb::capvm
