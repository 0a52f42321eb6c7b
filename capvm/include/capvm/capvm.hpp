// CapVM: programmable constraints for CAPLets tokens.
//
// A constraint is a short CapVM program (bytecode, see docs/capvm.md) that decides whether a
// request is accepted. It reads the validation context through VM calls that the host
// implements (`capvm::context`: current time, the requester's address, battery level, sensor
// values, application calls) and the token being validated through a read-only view
// (`capvm::token_view`). Evaluation is a pure function of the bytecode, the context and the
// token: it never allocates, never throws, keeps all its state in a `capvm::machine` of fixed
// size on the caller's stack, and stops after an instruction budget.
//
// Usage:
//
//     capvm::call_table<4> host;                // or any class implementing capvm::context
//     host.add(capvm::vm_call::now, &read_clock, nullptr);
//     auto outcome = capvm::evaluate(bytecode, host, &token, {});
//     if (!outcome)  reject(capvm::describe(outcome.error().kind), outcome.error().offset);
//     else if (!outcome->accepted) reject("constraint not met");
//
// Safety: `evaluate` is safe on any bytes. Every memory access is checked against the fixed
// linear memory, every token access against the item it reads, every jump against the code;
// every fault stops evaluation with a `fault` naming its kind and the offset of the instruction,
// and a fault always means the request is rejected. `verify` makes the same decoding checks once
// ahead of time (at derivation, say) and returns a `program` that evaluates without repeating
// them. Thread safety: evaluation touches only its arguments; a context is called from the
// evaluating thread only.
#pragma once

#include <base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace amb::capvm {

/// Why an evaluation stopped without a verdict. Any fault rejects the request.
enum class fault_kind : std::uint8_t {
    bad_opcode,            // a byte that is no instruction
    truncated_instruction, // an instruction running past the end of the code
    bad_register,          // a register id beyond r15 (cannot happen with this ISA's 4-bit ids)
    bad_literal,           // a variable-length literal longer than 10 bytes or not canonical
    bad_padding,           // non-zero padding bits after an instruction's operands
    end_of_code,           // execution ran off the end of the code without accept/reject
    budget_exceeded,       // more instructions than limits::instructions
    out_of_bounds,         // a linear-memory or token-item access outside its bounds
    bad_jump,              // a jump or call outside the code (or, for verify, mid-instruction)
    call_stack_overflow,   // more than machine::call_depth nested calls
    call_stack_underflow,  // ret without call
    division_by_zero,      // div or rem by zero
    bad_vm_call,           // a VM call the host did not register, or with wrong arguments
    vm_call_failed,        // the host could not answer a VM call (sensor not ready, ...)
    no_token,              // a token instruction without a token
    no_such_item,          // a frame, capability or constraint index beyond the token's
    code_too_large,        // code longer than limits allow (65535 bytes; 4096 for verify)
};

/// A short, static, human-readable description of `kind`.
const char* describe(fault_kind kind);

/// A fault and where it happened: the byte offset of the faulting instruction.
struct fault {
    fault_kind kind;
    std::uint32_t offset;
};

/// The verdict of an evaluation that did not fault.
struct evaluation {
    bool accepted;
    std::uint32_t executed; // instructions executed, including the final one
};

/// Bounds of one evaluation.
struct limits {
    std::uint32_t instructions = 1000;
};

/// Identifiers of the standard VM calls. Ids 0..15 are reachable with the 2-byte `vcall`;
/// ids 0..7 are reserved for the standard calls, 8..255 are the application's.
namespace vm_call {
inline constexpr std::uint8_t now = 0;       // () -> seconds since the Unix epoch (UTC)
inline constexpr std::uint8_t endpoint = 1;  // () -> requester's IPv4 address as a number
                                             //    (10.0.0.1 = 0x0a000001), -1 if not IPv4
inline constexpr std::uint8_t endpoint6 = 2; // (half) -> bits 127..64 (half 0) or 63..0
                                             //    (half 1) of the requester's IPv6 address;
                                             //    an IPv4 requester is ::ffff:a.b.c.d
inline constexpr std::uint8_t battery = 3;   // () -> battery level in percent, 0..100
inline constexpr std::uint8_t sensor = 4;    // (n) -> current value of sensor n
inline constexpr std::uint8_t first_application = 8;
} // namespace vm_call

/// The validation context, implemented by the host. `call` answers VM call `id` with `args`
/// (at most 3); it returns bad_vm_call for a call it does not implement or arguments it does
/// not accept, and vm_call_failed when it cannot answer now. Called only from the evaluating
/// thread, during `evaluate`.
class context {
public:
    virtual amb::result<std::int64_t, fault_kind> call(std::uint8_t id,
                                                       std::span<const std::int64_t> args) = 0;

protected:
    ~context() = default;
};

/// A context made of registered functions, one per call id; unregistered ids fail with
/// bad_vm_call. No allocation: at most `Capacity` calls.
template <std::size_t Capacity = 8>
class call_table final : public context {
public:
    using function = amb::result<std::int64_t, fault_kind> (*)(
        void* user, std::span<const std::int64_t> args);

    /// Registers `f` (called with `user`) for `id`. False when `id` is taken or the table full.
    bool add(std::uint8_t id, function f, void* user) {
        if (count_ == Capacity || find(id) != nullptr)
            return false;
        entries_[count_++] = entry{id, f, user};
        return true;
    }

    amb::result<std::int64_t, fault_kind> call(std::uint8_t id,
                                               std::span<const std::int64_t> args) override {
        const entry* found = find(id);
        if (found == nullptr)
            return amb::failure{fault_kind::bad_vm_call};
        return found->f(found->user, args);
    }

private:
    struct entry {
        std::uint8_t id;
        function f;
        void* user;
    };
    const entry* find(std::uint8_t id) const {
        for (std::size_t i = 0; i < count_; ++i)
            if (entries_[i].id == id)
                return &entries_[i];
        return nullptr;
    }
    entry entries_[Capacity]{};
    std::size_t count_ = 0;
};

/// What a token instruction reads: a whole frame, or one capability or constraint of a frame.
enum class item_kind : std::uint8_t { frame = 0, capability = 1, constraint = 2 };

/// A read-only view of the token being validated, implemented by the host (CAPLets adapts its
/// lidl frames). Frame 0 is the root, frame count() - 1 the leaf. The VM checks every index
/// before asking for an item, so the preconditions below always hold. The spans returned must
/// stay valid during the evaluation.
class token_view {
public:
    /// Frames of the token (kind frame, `frame` ignored), or capabilities or constraints of
    /// frame `frame` (< frames).
    virtual std::uint32_t count(item_kind kind, std::uint32_t frame) const = 0;
    /// The bytes of frame `frame` (kind frame, `index` ignored), or of capability or
    /// constraint `index` (< count(kind, frame)) of that frame.
    virtual std::span<const std::uint8_t> item(item_kind kind, std::uint32_t frame,
                                               std::uint32_t index) const = 0;

protected:
    ~token_view() = default;
};

/// Bytecode that passed `verify`. Does not own the bytes: they must outlive the program.
class program {
public:
    std::span<const std::uint8_t> code() const { return code_; }

private:
    friend amb::result<program, fault> verify(std::span<const std::uint8_t> bytecode);
    explicit program(std::span<const std::uint8_t> code) : code_(code) {}
    std::span<const std::uint8_t> code_;
};

/// Static checks, once: the code is at most 4096 bytes, every instruction from offset 0
/// decodes (known opcode, not truncated, canonical literals), and every jump and call target is
/// the start of an instruction inside the code. Faults name the first offending instruction.
amb::result<program, fault> verify(std::span<const std::uint8_t> bytecode);

/// Runs `bytecode` (any bytes) against `host` and `token` (nullptr when there is none: token
/// instructions then fault with no_token). Never allocates.
amb::result<evaluation, fault> evaluate(std::span<const std::uint8_t> bytecode, context& host,
                                        const token_view* token, limits bounds = {});

/// Runs verified code, skipping the decoding checks `verify` made. Same results as evaluating
/// the same bytes unverified.
amb::result<evaluation, fault> evaluate(const program& verified, context& host,
                                        const token_view* token, limits bounds = {});

/// Bytes of interpreter state one evaluation uses (sizeof(machine)).
std::size_t machine_bytes();

} // namespace amb::capvm
