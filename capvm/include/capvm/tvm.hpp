// TVM: a compile-time generator of bytecode interpreters.
//
// A virtual machine is declared once, in C++: its state is a struct, each instruction is a
// function `tvm::flow name(machine&, operands...)` whose parameter types say what its operands
// are (`tvm::reg<4>` a register id of 4 bits, `tvm::u_lit<6>` / `tvm::s_lit<12>` unsigned or
// signed literals of N bits, `tvm::v_lit` a variable-length signed literal, `tvm::offset<8>` a
// code offset relative to the next instruction), and the instruction set lists the functions
// with explicitly assigned opcodes:
//
//     using isa = tvm::instruction_set<machine,
//         tvm::instruction<0x01, &accept, "accept">,
//         tvm::instruction<0x20, &add, "add">>;
//
// Removing an instruction never renumbers the others. From that single declaration TVM derives
// the decoder of every instruction, the instruction lengths, the dispatch loop (`tvm::run`), and
// the tables (`isa::infos`) that drive a generic encoder with operand checking (`tvm::encode`),
// decoder (`tvm::decode`, used by verifiers and disassemblers).
//
// Encoding: one opcode byte; then every fixed-width operand packed most significant bit first,
// in parameter order, into the fewest whole bytes; then every variable-length literal (signed
// LEB128, canonical, at most 10 bytes) in parameter order.
//
// The machine struct provides `static constexpr unsigned register_count`, a
// `std::uint32_t pc` (TVM sets it to the next instruction before calling the instruction, so
// jumps are relative to the next instruction and simply assign it), an unsigned `start` (TVM
// stores the offset of the executing instruction there, for fault reports), and
// `tvm::flow trap(tvm::trap)` called on a decoding fault. Instructions return `flow::next` to go
// on or `flow::stop` after recording an outcome in the machine.
//
// Dispatch strategies (`tvm::dispatch`): a switch in a loop (a compact jump table; best where
// there is no branch predictor to feed, so the default for microcontrollers), a table of
// function pointers (one indirect call per instruction; dense and small, but no inlining across
// the call), and threaded code (computed goto with a dispatch at the end of every handler, so
// each instruction has its own predicted indirect branch; best on hosts with modern branch
// predictors, so the default there). The build picks the default with AMB_TVM_DISPATCH; every
// strategy is always available and they are benchmarked side by side in bench/capvm_bench.cpp.
//
// Header-only, freestanding: no exceptions, RTTI or allocation.
#pragma once

#include <base/result.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

// The decoder of each instruction is inlined into its dispatch slot: that is what makes the
// generated interpreter as fast as a hand-written one.
#define AMB_TVM_INLINE [[gnu::always_inline]] inline

namespace amb::tvm {

/// What an instruction tells the dispatch loop.
enum class flow : std::uint8_t { next, stop };

/// Faults found while decoding, reported to the machine's `trap`.
enum class trap : std::uint8_t {
    bad_opcode,            // no instruction has this opcode
    truncated_instruction, // the instruction runs past the end of the code
    bad_register,          // a register id beyond the machine's register count
    bad_literal,           // a variable-length literal that is too long or not canonical
    bad_padding,           // non-zero bits after the fixed-width operands (one encoding only)
    end_of_code,           // execution reached the end of the code without stopping
    budget_exceeded,       // the instruction budget ran out
};

/// How the dispatch loop finds the next instruction's code.
enum class dispatch : std::uint8_t { switch_loop, function_table, threaded };

#ifndef AMB_TVM_DISPATCH
#define AMB_TVM_DISPATCH switch_loop
#endif
/// The strategy this build uses unless a caller asks for another (set per port by the build).
inline constexpr dispatch default_dispatch = dispatch::AMB_TVM_DISPATCH;

enum class operand_kind : std::uint8_t { reg, unsigned_literal, signed_literal, varint, offset };

/// A register id of `Bits` bits.
template <unsigned Bits>
struct reg {
    static_assert(Bits >= 1 && Bits <= 8);
    static constexpr operand_kind kind = operand_kind::reg;
    static constexpr unsigned bits = Bits;
    std::uint8_t index;
};

/// An unsigned literal of `Bits` bits.
template <unsigned Bits>
struct u_lit {
    static_assert(Bits >= 1 && Bits <= 32);
    static constexpr operand_kind kind = operand_kind::unsigned_literal;
    static constexpr unsigned bits = Bits;
    std::uint32_t value;
};

/// A two's complement signed literal of `Bits` bits.
template <unsigned Bits>
struct s_lit {
    static_assert(Bits >= 2 && Bits <= 32);
    static constexpr operand_kind kind = operand_kind::signed_literal;
    static constexpr unsigned bits = Bits;
    std::int32_t value;
};

/// A signed 64-bit literal in as few bytes as it needs (signed LEB128: 1 byte for -64..63,
/// 5 bytes for a 32-bit Unix time, at most 10).
struct v_lit {
    static constexpr operand_kind kind = operand_kind::varint;
    static constexpr unsigned bits = 0;
    std::int64_t value;
};

/// A signed code offset of `Bits` bits, relative to the start of the next instruction.
template <unsigned Bits>
struct offset {
    static_assert(Bits >= 2 && Bits <= 32);
    static constexpr operand_kind kind = operand_kind::offset;
    static constexpr unsigned bits = Bits;
    std::int32_t value;
};

/// A string usable as a template argument (instruction mnemonics).
template <std::size_t N>
struct fixed_string {
    constexpr fixed_string(const char (&text)[N]) {
        for (std::size_t i = 0; i < N; ++i)
            chars[i] = text[i];
    }
    char chars[N];
};

/// One instruction: its opcode, its function and its mnemonic.
template <std::uint8_t Opcode, auto Function, fixed_string Name>
struct instruction {
    static constexpr std::uint8_t opcode = Opcode;
    static constexpr auto function = Function;
    static constexpr const char* name = Name.chars;
};

inline constexpr std::size_t max_operands = 5;

/// Run-time description of an operand, for tools.
struct operand_info {
    operand_kind kind;
    std::uint8_t bits; // 0 for variable-length literals
};

/// Run-time description of an instruction, for tools.
struct instruction_info {
    std::uint8_t opcode;
    const char* name;
    std::uint8_t operand_count;
    std::uint8_t fixed_bytes;   // bytes after the opcode holding the fixed-width operands
    std::uint8_t varint_count;  // variable-length literals that follow them
    std::array<operand_info, max_operands> operands;
    /// Bytes of the instruction when it has no variable-length literal (else the minimum).
    constexpr std::uint32_t min_length() const { return 1u + fixed_bytes + varint_count; }
};

namespace detail {

template <class F>
struct signature;

template <class Machine, class... Operands>
struct signature<flow (*)(Machine&, Operands...)> {
    using machine = Machine;
    using operands = std::tuple<Operands...>;
    static constexpr std::size_t count = sizeof...(Operands);
};

template <class Tuple>
struct operand_layout;

template <class... Operands>
struct operand_layout<std::tuple<Operands...>> {
    static constexpr unsigned fixed_bits = (0u + ... + Operands::bits);
    static constexpr unsigned fixed_bytes = (fixed_bits + 7) / 8;
    static constexpr unsigned varints = (0u + ... + (Operands::kind == operand_kind::varint));
    static_assert(fixed_bytes <= 8, "an instruction's fixed operands must fit in 64 bits");

    /// Bit position (from the most significant end of the fixed bytes) of operand I.
    template <std::size_t I>
    static constexpr unsigned bit_offset() {
        constexpr unsigned widths[] = {Operands::bits..., 0u};
        unsigned sum = 0;
        for (std::size_t i = 0; i < I; ++i)
            sum += widths[i];
        return sum;
    }
};

/// Reads a canonical signed LEB128 value at `cursor`, advancing it, one byte at a time. False
/// when the encoding runs past `size`, is longer than 10 bytes or is not the shortest one.
/// The reference for `read_varint`, which gives the same answers faster, and its slow path (out
/// of line, so that it does not weigh on the dispatch loop it is inlined in).
[[gnu::noinline]] constexpr bool read_varint_bytewise(const std::uint8_t* code, std::uint32_t size,
                                    std::uint32_t& cursor, std::int64_t& out) {
    std::uint64_t value = 0;
    unsigned shift = 0;
    std::uint8_t previous = 0;
    for (unsigned i = 0; i < 10; ++i) {
        if (cursor >= size)
            return false;
        const std::uint8_t byte = code[cursor++];
        if (i == 9 && byte != 0x00 && byte != 0x7f)
            return false;
        value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        shift += 7;
        if ((byte & 0x80) == 0) {
            // Canonical: a last byte that only repeats the sign of the previous one is padding.
            if (i > 0 && ((byte == 0x00 && (previous & 0x40) == 0) ||
                          (byte == 0x7f && (previous & 0x40) != 0)))
                return false;
            if (shift < 64 && (byte & 0x40))
                value |= ~std::uint64_t{0} << shift;
            out = static_cast<std::int64_t>(value);
            return true;
        }
        previous = byte;
    }
    return false;
}

/// read_varint_bytewise, with the same results, in a few dozen instructions for the literals
/// policies carry. A one-byte literal (-64..63) is read on its own; a longer one, when eight
/// bytes of code remain, from one 64-bit word: its last byte is the first without the
/// continuation bit, and the seven-bit groups are gathered pairwise (8 bytes -> 4 x 14 bits ->
/// 2 x 28 bits -> 56 bits). Literals of nine or ten bytes, and literals near the end of the
/// code, take the bytewise path. Never reads at or past `size`.
AMB_TVM_INLINE constexpr bool read_varint(const std::uint8_t* code, std::uint32_t size,
                                          std::uint32_t& cursor, std::int64_t& out) {
    if (cursor >= size)
        return false;
    const std::uint8_t first = code[cursor];
    if ((first & 0x80) == 0) {
        ++cursor;
        out = static_cast<std::int64_t>(first & 0x3f) - static_cast<std::int64_t>(first & 0x40);
        return true;
    }
    if (size - cursor >= 8) {
        // The eight bytes as a little-endian word: one load on little-endian hosts.
        std::uint64_t word = 0;
        if (std::endian::native == std::endian::little && !std::is_constant_evaluated()) {
            std::memcpy(&word, code + cursor, sizeof word);
        } else {
            for (unsigned k = 0; k < 8; ++k)
                word |= static_cast<std::uint64_t>(code[cursor + k]) << (8 * k);
        }
        const std::uint64_t stops = ~word & 0x8080808080808080u;
        if (stops != 0) {
            // Bytes of the literal: 2..8 (the first byte continues).
            const unsigned length = static_cast<unsigned>(std::countr_zero(stops)) / 8 + 1;
            const auto last = static_cast<std::uint8_t>(word >> (8 * (length - 1)));
            const auto previous = static_cast<std::uint8_t>(word >> (8 * (length - 2)));
            if ((last == 0x00 && (previous & 0x40) == 0) || (last == 0x7f && (previous & 0x40) != 0))
                return false;
            std::uint64_t value = word & 0x7f7f7f7f7f7f7f7fu;
            if (length < 8)
                value &= (std::uint64_t{1} << (8 * length)) - 1;
            value = (value & 0x007f007f007f007fu) | ((value & 0x7f007f007f007f00u) >> 1);
            value = (value & 0x00003fff00003fffu) | ((value & 0x3fff00003fff0000u) >> 2);
            value = (value & 0x000000000fffffffu) | ((value & 0x0fffffff00000000u) >> 4);
            if (last & 0x40)
                value |= ~std::uint64_t{0} << (7 * length);
            cursor += length;
            out = static_cast<std::int64_t>(value);
            return true;
        }
    }
    return read_varint_bytewise(code, size, cursor, out);
}

} // namespace detail

/// Bytes of the canonical signed LEB128 encoding of `value`.
constexpr std::uint32_t varint_length(std::int64_t value) {
    std::uint32_t length = 1;
    while (value < -64 || value > 63) {
        value >>= 7; // arithmetic shift: C++20 defines it
        ++length;
    }
    return length;
}

/// Writes the canonical signed LEB128 encoding of `value` at `out` (which must have room for
/// varint_length(value) bytes); returns the bytes written.
constexpr std::uint32_t write_varint(std::int64_t value, std::uint8_t* out) {
    std::uint32_t length = 0;
    for (;;) {
        const auto byte = static_cast<std::uint8_t>(value & 0x7f);
        value >>= 7;
        const bool done = (value == 0 && !(byte & 0x40)) || (value == -1 && (byte & 0x40));
        out[length++] = static_cast<std::uint8_t>(done ? byte : (byte | 0x80));
        if (done)
            return length;
    }
}

/// An instruction set: the machine type and its instructions. Opcodes must be distinct.
template <class Machine, class... Instructions>
struct instruction_set {
    using machine = Machine;
    static constexpr std::size_t size = sizeof...(Instructions);

private:
    template <class I>
    using layout = detail::operand_layout<
        typename detail::signature<std::remove_cv_t<decltype(I::function)>>::operands>;

    template <class I, std::size_t... K>
    static constexpr instruction_info info_of(std::index_sequence<K...>) {
        using ops = typename detail::signature<std::remove_cv_t<decltype(I::function)>>::operands;
        instruction_info info{I::opcode, I::name, static_cast<std::uint8_t>(sizeof...(K)),
                              static_cast<std::uint8_t>(layout<I>::fixed_bytes),
                              static_cast<std::uint8_t>(layout<I>::varints), {}};
        ((info.operands[K] = operand_info{std::tuple_element_t<K, ops>::kind,
                                          static_cast<std::uint8_t>(
                                              std::tuple_element_t<K, ops>::bits)}),
         ...);
        return info;
    }

    static constexpr bool distinct_opcodes() {
        constexpr std::uint8_t opcodes[] = {Instructions::opcode...};
        for (std::size_t i = 0; i < size; ++i)
            for (std::size_t j = i + 1; j < size; ++j)
                if (opcodes[i] == opcodes[j])
                    return false;
        return true;
    }
    static_assert(distinct_opcodes(), "two instructions share an opcode");
    static_assert((... && (detail::signature<std::remove_cv_t<decltype(Instructions::function)>>::count <=
                           max_operands)),
                  "too many operands");

public:
    /// Every instruction, in declaration order.
    static constexpr std::array<instruction_info, size> infos = {info_of<Instructions>(
        std::make_index_sequence<detail::signature<std::remove_cv_t<decltype(Instructions::function)>>::count>{})...};

    /// Position in `infos` of each opcode, or -1.
    static constexpr std::array<std::int16_t, 256> index_by_opcode = [] {
        std::array<std::int16_t, 256> table{};
        for (auto& entry : table)
            entry = -1;
        constexpr std::uint8_t opcodes[] = {Instructions::opcode...};
        for (std::size_t i = 0; i < size; ++i)
            table[opcodes[i]] = static_cast<std::int16_t>(i);
        return table;
    }();

    /// The description of `opcode`, or nullptr when no instruction has it.
    static constexpr const instruction_info* info(std::uint8_t opcode) {
        const int index = index_by_opcode[opcode];
        return index < 0 ? nullptr : &infos[static_cast<std::size_t>(index)];
    }

    /// The instruction with opcode `Opcode` (void when there is none).
    template <std::uint8_t Opcode>
    using at = std::tuple_element_t<
        static_cast<std::size_t>(index_by_opcode[Opcode] < 0 ? size : index_by_opcode[Opcode]),
        std::tuple<Instructions..., void>>;
};

namespace detail {

template <class Operand, std::size_t I, class Layout, bool Checked, class Machine>
AMB_TVM_INLINE bool decode_operand(Operand& out, std::uint64_t word, const std::uint8_t* code,
                           std::uint32_t size, std::uint32_t& cursor) {
    if constexpr (Operand::kind == operand_kind::varint) {
        if constexpr (Checked) {
            return read_varint(code, size, cursor, out.value);
        } else {
            // Verified code: the literal is canonical and inside the code (the real size still
            // bounds the word read_varint loads).
            read_varint(code, size, cursor, out.value);
            return true;
        }
    } else {
        constexpr unsigned shift =
            Layout::fixed_bytes * 8 - Layout::template bit_offset<I>() - Operand::bits;
        constexpr std::uint64_t mask = (std::uint64_t{1} << Operand::bits) - 1;
        const auto raw = static_cast<std::uint32_t>((word >> shift) & mask);
        if constexpr (Operand::kind == operand_kind::reg) {
            out.index = static_cast<std::uint8_t>(raw);
            if constexpr (Checked && (1u << Operand::bits) > Machine::register_count)
                return raw < Machine::register_count;
            return true;
        } else if constexpr (Operand::kind == operand_kind::unsigned_literal) {
            out.value = raw;
            return true;
        } else {
            // Sign-extend the field.
            constexpr std::uint32_t sign = std::uint32_t{1} << (Operand::bits - 1);
            out.value = static_cast<std::int32_t>((raw ^ sign) - sign);
            return true;
        }
    }
}

template <class Machine, class Operand>
constexpr bool bad_register(const Operand& operand) {
    if constexpr (Operand::kind == operand_kind::reg)
        return operand.index >= Machine::register_count;
    else
        return false;
}

/// Decodes and executes the instruction `I` at `m.pc`.
template <class I, bool Checked, class Machine>
AMB_TVM_INLINE flow execute(Machine& m, const std::uint8_t* code, std::uint32_t size) {
    using sig = signature<std::remove_cv_t<decltype(I::function)>>;
    using ops = typename sig::operands;
    using lay = operand_layout<ops>;
    m.start = static_cast<decltype(m.start)>(m.pc);
    std::uint32_t cursor = m.pc + 1;
    if constexpr (Checked && lay::fixed_bytes > 0) {
        if (size - cursor < lay::fixed_bytes)
            return m.trap(trap::truncated_instruction);
    }
    std::uint64_t word = 0;
    for (unsigned k = 0; k < lay::fixed_bytes; ++k)
        word = (word << 8) | code[cursor + k];
    cursor += lay::fixed_bytes;
    if constexpr (Checked && lay::fixed_bytes * 8 > lay::fixed_bits) {
        // Every instruction has exactly one encoding, so bytecode can be compared verbatim.
        constexpr std::uint64_t padding = (std::uint64_t{1} << (lay::fixed_bytes * 8 - lay::fixed_bits)) - 1;
        if (word & padding)
            return m.trap(trap::bad_padding);
    }
    return [&]<std::size_t... K>(std::index_sequence<K...>) __attribute__((always_inline)) -> flow {
        ops operands{};
        if (!(decode_operand<std::tuple_element_t<K, ops>, K, lay, Checked, Machine>(
                  std::get<K>(operands), word, code, size, cursor) &&
              ...)) {
            // Only registers and variable-length literals can fail to decode.
            const bool register_fault =
                (false || ... || bad_register<Machine>(std::get<K>(operands)));
            return m.trap(register_fault ? trap::bad_register : trap::bad_literal);
        }
        m.pc = cursor;
        return I::function(m, std::get<K>(operands)...);
    }(std::make_index_sequence<sig::count>{});
}

template <class Isa, std::uint8_t Opcode, bool Checked>
AMB_TVM_INLINE flow step(typename Isa::machine& m, const std::uint8_t* code, std::uint32_t size) {
    using I = typename Isa::template at<Opcode>;
    if constexpr (std::is_void_v<I>)
        return m.trap(trap::bad_opcode);
    else
        return execute<I, Checked>(m, code, size);
}

template <class Isa, bool Checked>
using handler = flow (*)(typename Isa::machine&, const std::uint8_t*, std::uint32_t);

template <class Isa, bool Checked, std::size_t... Opcode>
constexpr std::array<handler<Isa, Checked>, 256> make_table(std::index_sequence<Opcode...>) {
    return {&step<Isa, static_cast<std::uint8_t>(Opcode), Checked>...};
}

// Expands X(h, l) for every opcode 0xhl, so that switch cases and threaded labels can be
// written once.
#define AMB_TVM_ROW(X, h)                                                                      \
    X(h, 0) X(h, 1) X(h, 2) X(h, 3) X(h, 4) X(h, 5) X(h, 6) X(h, 7) X(h, 8) X(h, 9) X(h, a)    \
        X(h, b) X(h, c) X(h, d) X(h, e) X(h, f)
#define AMB_TVM_ALL_OPCODES(X)                                                                 \
    AMB_TVM_ROW(X, 0) AMB_TVM_ROW(X, 1) AMB_TVM_ROW(X, 2) AMB_TVM_ROW(X, 3) AMB_TVM_ROW(X, 4)  \
    AMB_TVM_ROW(X, 5) AMB_TVM_ROW(X, 6) AMB_TVM_ROW(X, 7) AMB_TVM_ROW(X, 8) AMB_TVM_ROW(X, 9)  \
    AMB_TVM_ROW(X, a) AMB_TVM_ROW(X, b) AMB_TVM_ROW(X, c) AMB_TVM_ROW(X, d) AMB_TVM_ROW(X, e)  \
    AMB_TVM_ROW(X, f)

} // namespace detail

/// Runs the code from `m.pc` until an instruction stops or a trap, executing at most `budget`
/// instructions. Returns the number of instructions started (a trap on the budget does not
/// count). `Checked` = false is only for code that passed `verify_structure`: it skips the
/// truncation, register and literal checks that verification already made.
template <class Isa, dispatch Strategy = default_dispatch, bool Checked = true>
std::uint32_t run(typename Isa::machine& m, std::span<const std::uint8_t> code,
                  std::uint32_t budget) {
    const std::uint8_t* const bytes = code.data();
    const auto size = static_cast<std::uint32_t>(code.size());
    std::uint32_t remaining = budget;
    if constexpr (Strategy == dispatch::threaded) {
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wgnu-label-as-value"
#endif
#define AMB_TVM_LABEL_ADDRESS(h, l) &&op_##h##l,
        static void* const labels[256] = {AMB_TVM_ALL_OPCODES(AMB_TVM_LABEL_ADDRESS)};
#undef AMB_TVM_LABEL_ADDRESS
#define AMB_TVM_DISPATCH_NEXT()                                                                \
    do {                                                                                       \
        if (remaining == 0) {                                                                  \
            m.trap(trap::budget_exceeded);                                                     \
            goto done;                                                                         \
        }                                                                                      \
        if (m.pc >= size) {                                                                    \
            m.trap(trap::end_of_code);                                                         \
            goto done;                                                                         \
        }                                                                                      \
        --remaining;                                                                           \
        goto* labels[bytes[m.pc]];                                                             \
    } while (0)
        AMB_TVM_DISPATCH_NEXT();
#define AMB_TVM_LABEL_BODY(h, l)                                                               \
    op_##h##l : if (detail::step<Isa, 0x##h##l, Checked>(m, bytes, size) != flow::next) goto done; \
    AMB_TVM_DISPATCH_NEXT();
        AMB_TVM_ALL_OPCODES(AMB_TVM_LABEL_BODY)
#undef AMB_TVM_LABEL_BODY
#undef AMB_TVM_DISPATCH_NEXT
    done:
        return budget - remaining;
#pragma GCC diagnostic pop
#else
        return run<Isa, dispatch::switch_loop, Checked>(m, code, budget);
#endif
    } else {
        for (;;) {
            if (remaining == 0) {
                m.trap(trap::budget_exceeded);
                break;
            }
            if (m.pc >= size) {
                m.trap(trap::end_of_code);
                break;
            }
            --remaining;
            flow f;
            if constexpr (Strategy == dispatch::function_table) {
                static constexpr auto table =
                    detail::make_table<Isa, Checked>(std::make_index_sequence<256>{});
                f = table[bytes[m.pc]](m, bytes, size);
            } else {
                switch (bytes[m.pc]) {
#define AMB_TVM_CASE(h, l)                                                                     \
    case 0x##h##l:                                                                             \
        f = detail::step<Isa, 0x##h##l, Checked>(m, bytes, size);                             \
        break;
                    AMB_TVM_ALL_OPCODES(AMB_TVM_CASE)
#undef AMB_TVM_CASE
                default:
                    f = flow::stop; // unreachable: a byte has 256 values
                }
            }
            if (f != flow::next)
                break;
        }
        return budget - remaining;
    }
}

// ---- Tools: generic encoding and decoding driven by the instruction tables ----------------

/// One decoded instruction.
struct decoded {
    const instruction_info* info;
    std::uint32_t length;
    std::array<std::int64_t, max_operands> operands; // register ids, literals, offsets
};

/// Decodes the instruction at `pc` (which must be < code.size()) of an instruction set with
/// `register_count` registers. Fails with the trap the interpreter would raise.
template <class Isa>
amb::result<decoded, trap> decode(std::span<const std::uint8_t> code, std::uint32_t pc) {
    const auto size = static_cast<std::uint32_t>(code.size());
    AMB_REQUIRE(pc < size, "decode past the end of the code");
    const instruction_info* info = Isa::info(code[pc]);
    if (info == nullptr)
        return amb::failure{trap::bad_opcode};
    std::uint32_t cursor = pc + 1;
    if (size - cursor < info->fixed_bytes)
        return amb::failure{trap::truncated_instruction};
    std::uint64_t word = 0;
    for (unsigned k = 0; k < info->fixed_bytes; ++k)
        word = (word << 8) | code[cursor + k];
    cursor += info->fixed_bytes;
    unsigned fixed_bits = 0;
    for (unsigned i = 0; i < info->operand_count; ++i)
        fixed_bits += info->operands[i].bits;
    if (word & ((std::uint64_t{1} << (info->fixed_bytes * 8u - fixed_bits)) - 1))
        return amb::failure{trap::bad_padding};
    decoded out{info, 0, {}};
    unsigned bit = 0;
    for (unsigned i = 0; i < info->operand_count; ++i) {
        const operand_info& op = info->operands[i];
        if (op.kind == operand_kind::varint) {
            if (!detail::read_varint(code.data(), size, cursor, out.operands[i]))
                return amb::failure{trap::bad_literal};
            continue;
        }
        const unsigned shift = info->fixed_bytes * 8u - bit - op.bits;
        bit += op.bits;
        const std::uint64_t raw = (word >> shift) & ((std::uint64_t{1} << op.bits) - 1);
        if (op.kind == operand_kind::signed_literal || op.kind == operand_kind::offset) {
            const std::uint64_t sign = std::uint64_t{1} << (op.bits - 1);
            out.operands[i] = static_cast<std::int64_t>(raw ^ sign) - static_cast<std::int64_t>(sign);
        } else {
            out.operands[i] = static_cast<std::int64_t>(raw);
        }
        if (op.kind == operand_kind::reg && raw >= Isa::machine::register_count)
            return amb::failure{trap::bad_register};
    }
    out.length = cursor - pc;
    return out;
}

/// Why an operand cannot be encoded.
struct encode_error {
    enum kind_type : std::uint8_t { wrong_operand_count, out_of_range, no_room } kind;
    std::uint8_t operand; // index of the operand at fault (out_of_range)
};

/// Bytes `info` with `operands` encodes to.
inline std::uint32_t encoded_length(const instruction_info& info,
                                    std::span<const std::int64_t> operands) {
    std::uint32_t length = 1u + info.fixed_bytes;
    for (unsigned i = 0; i < info.operand_count && i < operands.size(); ++i)
        if (info.operands[i].kind == operand_kind::varint)
            length += varint_length(operands[i]);
    return length;
}

/// Whether `value` fits operand `op` of a machine with `register_count` registers.
constexpr bool operand_fits(const operand_info& op, std::int64_t value, unsigned register_count) {
    switch (op.kind) {
    case operand_kind::reg:
        return value >= 0 && value < (std::int64_t{1} << op.bits) && value < register_count;
    case operand_kind::unsigned_literal:
        return value >= 0 && value < (std::int64_t{1} << op.bits);
    case operand_kind::signed_literal:
    case operand_kind::offset:
        return value >= -(std::int64_t{1} << (op.bits - 1)) &&
               value < (std::int64_t{1} << (op.bits - 1));
    case operand_kind::varint:
        return true;
    }
    return false;
}

/// Encodes one instruction into `out`, checking every operand against its declared width.
/// Returns the bytes written.
template <class Isa>
amb::result<std::uint32_t, encode_error> encode(const instruction_info& info,
                                                std::span<const std::int64_t> operands,
                                                std::span<std::uint8_t> out) {
    if (operands.size() != info.operand_count)
        return amb::failure{encode_error{encode_error::wrong_operand_count, 0}};
    for (unsigned i = 0; i < info.operand_count; ++i)
        if (!operand_fits(info.operands[i], operands[i], Isa::machine::register_count))
            return amb::failure{encode_error{encode_error::out_of_range,
                                             static_cast<std::uint8_t>(i)}};
    const std::uint32_t length = encoded_length(info, operands);
    if (out.size() < length)
        return amb::failure{encode_error{encode_error::no_room, 0}};
    out[0] = info.opcode;
    std::uint64_t word = 0;
    unsigned bit = 0;
    for (unsigned i = 0; i < info.operand_count; ++i) {
        const operand_info& op = info.operands[i];
        if (op.kind == operand_kind::varint)
            continue;
        const std::uint64_t mask = (std::uint64_t{1} << op.bits) - 1;
        word = (word << op.bits) | (static_cast<std::uint64_t>(operands[i]) & mask);
        bit += op.bits;
    }
    word <<= info.fixed_bytes * 8u - bit;
    for (unsigned k = 0; k < info.fixed_bytes; ++k)
        out[1 + k] = static_cast<std::uint8_t>(word >> (8u * (info.fixed_bytes - 1u - k)));
    std::uint32_t cursor = 1u + info.fixed_bytes;
    for (unsigned i = 0; i < info.operand_count; ++i)
        if (info.operands[i].kind == operand_kind::varint)
            cursor += write_varint(operands[i], &out[cursor]);
    return cursor;
}

/// Structural verification: every instruction from offset 0 decodes, and every offset operand
/// lands on the start of an instruction inside the code. `Boundaries` bytes of stack hold a
/// bitmap of instruction starts, so code longer than 8 * Boundaries bytes is refused
/// (code_too_large). On failure, `fault_at` is the offset of the instruction at fault.
struct structure_error {
    enum kind_type : std::uint8_t { decode, bad_jump, code_too_large } kind;
    trap decode_trap;
    std::uint32_t at;
};

template <class Isa, std::size_t Boundaries = 512>
amb::result<void, structure_error> verify_structure(std::span<const std::uint8_t> code) {
    if (code.size() > Boundaries * 8)
        return amb::failure{structure_error{structure_error::code_too_large, trap::bad_opcode, 0}};
    std::array<std::uint8_t, Boundaries> starts{};
    const auto size = static_cast<std::uint32_t>(code.size());
    for (std::uint32_t pc = 0; pc < size;) {
        starts[pc / 8] = static_cast<std::uint8_t>(starts[pc / 8] | (1u << (pc % 8)));
        auto one = decode<Isa>(code, pc);
        if (!one)
            return amb::failure{structure_error{structure_error::decode, one.error(), pc}};
        pc += one->length;
    }
    for (std::uint32_t pc = 0; pc < size;) {
        const decoded one = decode<Isa>(code, pc).value();
        const std::uint32_t next = pc + one.length;
        for (unsigned i = 0; i < one.info->operand_count; ++i) {
            if (one.info->operands[i].kind != operand_kind::offset)
                continue;
            const std::int64_t target = static_cast<std::int64_t>(next) + one.operands[i];
            if (target < 0 || target >= static_cast<std::int64_t>(size) ||
                !(starts[static_cast<std::size_t>(target) / 8] & (1u << (target % 8))))
                return amb::failure{structure_error{structure_error::bad_jump, trap::bad_opcode, pc}};
        }
        pc = next;
    }
    return {};
}

} // namespace amb::tvm
