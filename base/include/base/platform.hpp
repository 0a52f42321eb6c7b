// The portable contract every port implements: console output, stopping on a broken check, and
// entropy.
//
// Portable code calls these functions; exactly one port library (ports/hosted, ports/cortex-m,
// ...) defines them, and the build links the one it picked. There is no `#ifdef PLATFORM` in
// portable code: the choice is made by the linker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace amb::port {

/// Writes text to the node's console (stderr on Linux, UART0 on a microcontroller). Blocking,
/// never fails visibly: a console that cannot take output drops it.
void write_console(std::string_view text);

/// Prints a failed check (kind is "precondition" or "invariant") and stops the program.
[[noreturn]] void panic(const char* kind, const char* file, int line, const char* condition,
                        const char* message);

/// Fills `out` with bytes from the platform's entropy source, suitable for keys. Returns false
/// when the platform has no source or the source failed; `out` is then unspecified.
/// Thread-safe.
[[nodiscard]] bool fill_entropy(std::span<std::uint8_t> out);

}  // namespace amb::port
