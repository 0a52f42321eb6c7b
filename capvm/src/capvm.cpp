// Entry points of the CapVM core: evaluation with the build's dispatch strategy, verification,
// fault descriptions.
#include <capvm/capvm.hpp>

#include <capvm/isa.hpp>

namespace amb::capvm {

const char* describe(fault_kind kind) {
    switch (kind) {
    case fault_kind::bad_opcode:
        return "bad opcode";
    case fault_kind::truncated_instruction:
        return "truncated instruction";
    case fault_kind::bad_register:
        return "bad register";
    case fault_kind::bad_literal:
        return "bad literal (overlong or not canonical)";
    case fault_kind::bad_padding:
        return "non-zero padding bits";
    case fault_kind::end_of_code:
        return "ran off the end of the code";
    case fault_kind::budget_exceeded:
        return "instruction budget exceeded";
    case fault_kind::out_of_bounds:
        return "access out of bounds";
    case fault_kind::bad_jump:
        return "jump outside the code";
    case fault_kind::call_stack_overflow:
        return "call stack overflow";
    case fault_kind::call_stack_underflow:
        return "return without call";
    case fault_kind::division_by_zero:
        return "division by zero";
    case fault_kind::bad_vm_call:
        return "bad VM call";
    case fault_kind::vm_call_failed:
        return "VM call failed";
    case fault_kind::no_token:
        return "no token to read";
    case fault_kind::no_such_item:
        return "no such token item";
    case fault_kind::code_too_large:
        return "code too large";
    }
    return "unknown fault";
}

amb::result<program, fault> verify(std::span<const std::uint8_t> bytecode) {
    // 512 bytes of boundary bitmap on the stack: enough for 4096 bytes of code.
    auto checked = tvm::verify_structure<isa, 512>(bytecode);
    if (checked)
        return program(bytecode);
    const tvm::structure_error error = checked.error();
    switch (error.kind) {
    case tvm::structure_error::code_too_large:
        return amb::failure{fault{fault_kind::code_too_large, 0}};
    case tvm::structure_error::bad_jump:
        return amb::failure{fault{fault_kind::bad_jump, error.at}};
    case tvm::structure_error::decode:
        break;
    }
    machine m{};
    m.pc = error.at;
    m.trap(error.decode_trap);
    return amb::failure{fault{m.fault, error.at}};
}

amb::result<evaluation, fault> evaluate(std::span<const std::uint8_t> bytecode, context& host,
                                        const token_view* token, limits bounds) {
    return evaluate_using<tvm::default_dispatch, true>(bytecode, host, token, bounds);
}

amb::result<evaluation, fault> evaluate(const program& verified, context& host,
                                        const token_view* token, limits bounds) {
    return evaluate_using<tvm::default_dispatch, false>(verified.code(), host, token, bounds);
}

std::size_t machine_bytes() { return sizeof(machine); }

} // namespace amb::capvm
