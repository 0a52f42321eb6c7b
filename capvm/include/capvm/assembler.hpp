// CapVM assembler and disassembler (host tools; they allocate).
//
// Both are driven by the instruction tables TVM derives from capvm/isa.hpp, so they know every
// instruction, its operands and their widths without a second description. Source format, one
// statement per line:
//
//     ; comment (or #)
//     start:                      ; a label
//         reqc.lt now, 1767225600 ; mnemonic, operands separated by commas
//         bnz r1, start           ; offsets name a label, or give a number relative to the
//         .byte 0x00, 255         ;   next instruction; .byte emits raw bytes
//
// Operands: registers r0..r15; integers (decimal, 0x hex, negative); IPv4 addresses
// (10.0.0.1 is 0x0a000001); names of VM calls (now, endpoint, endpoint6, battery, sensor) and
// of token items (frame, capability, constraint). Every operand is checked against its
// declared width; errors carry a line and a column.
#pragma once

#include <base/result.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amb::capvm {

/// A located error of a host tool. Trivially copyable so that it fits amb::result.
struct tool_error {
    std::uint32_t line;   // 1-based
    std::uint32_t column; // 1-based
    char message[120];
};

/// Makes a tool_error with a printf-style message.
tool_error make_tool_error(std::uint32_t line, std::uint32_t column, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

/// "line:column: message".
std::string format_tool_error(const tool_error& error);

/// Assembles `source` into bytecode.
amb::result<std::vector<std::uint8_t>, tool_error> assemble(std::string_view source);

/// Disassembles any bytes. Without `listing` the text reassembles to the same bytes (labels
/// L<offset> at branch targets, `.byte` for bytes that do not decode); with it, each line also
/// shows the offset and the encoding.
std::string disassemble(std::span<const std::uint8_t> code, bool listing = false);

/// The name of a standard VM call id, or nullptr.
const char* vm_call_name(std::int64_t id);

} // namespace amb::capvm
