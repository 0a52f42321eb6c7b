// ARM semihosting calls used by the Cortex-M port under QEMU (`-semihosting-config
// enable=on,target=native`): report an exit status to the host, and read host files.
//
// Semihosting traps into the debugger (QEMU here). On real hardware without a debugger these
// calls fault, so only images meant for emulation or a debug probe use them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace amb::ports::cortex_m::semihosting {

/// Stops the machine and makes QEMU exit with `status` (SYS_EXIT_EXTENDED).
[[noreturn]] void exit(int status);

/// Opens a host file read-only in binary mode; returns a handle or -1.
int open_read(const char* path);

/// Reads into `out`; returns false unless every byte was read.
bool read(int handle, std::span<std::uint8_t> out);

void close(int handle);

}  // namespace amb::ports::cortex_m::semihosting
