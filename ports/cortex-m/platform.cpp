// Cortex-M (QEMU mps2-an386) implementation of the port contract in <base/platform.hpp>.
//
// Console: UART0. Panic: message on UART0, then exit status 134 through semihosting.
// Entropy: the MPS2 boards have no hardware random number generator, so under QEMU the port
// reads the host's /dev/urandom through semihosting. TODO(security): a real board must supply
// its TRNG here; an image without a debugger attached cannot use semihosting.
#include <base/platform.hpp>

#include <ports/cortex_m/semihosting.hpp>
#include <ports/cortex_m/uart.hpp>

#include <bits/functexcept.h>

#include <cstdio>

namespace amb::port {
namespace {

ports::cortex_m::cmsdk_uart console() {
    ports::cortex_m::cmsdk_uart uart(ports::cortex_m::mps2_uart0_base);
    uart.enable_transmit();
    return uart;
}

}  // namespace

void write_console(std::string_view text) { console().write(text); }

void panic(const char* kind, const char* file, int line, const char* condition,
           const char* message) {
    char text[256];
    std::snprintf(text, sizeof text, "%s:%d: %s failed: %s (%s)\n", file, line, kind, condition,
                  message);
    write_console(text);
    ports::cortex_m::semihosting::exit(134);
}

bool fill_entropy(std::span<std::uint8_t> out) {
    if (out.empty())
        return true;
    int handle = ports::cortex_m::semihosting::open_read("/dev/urandom");
    if (handle < 0)
        return false;
    bool complete = ports::cortex_m::semihosting::read(handle, out);
    ports::cortex_m::semihosting::close(handle);
    return complete;
}

}  // namespace amb::port

// The C++ library reports broken preconditions (an index out of range, a length too large) by
// throwing; core code is built without exceptions, so on this port those reports stop the
// program like our own checks instead of pulling in the exception runtime.
namespace std {
[[noreturn]] void __throw_out_of_range_fmt(const char*, ...) {
    amb::port::panic("precondition", "libstdc++", 0, "index in range", "out of range");
}
[[noreturn]] void __throw_out_of_range(const char*) {
    amb::port::panic("precondition", "libstdc++", 0, "index in range", "out of range");
}
[[noreturn]] void __throw_length_error(const char*) {
    amb::port::panic("precondition", "libstdc++", 0, "length", "length error");
}
[[noreturn]] void __throw_logic_error(const char*) {
    amb::port::panic("precondition", "libstdc++", 0, "logic", "logic error");
}
[[noreturn]] void __throw_invalid_argument(const char*) {
    amb::port::panic("precondition", "libstdc++", 0, "argument", "invalid argument");
}
[[noreturn]] void __throw_bad_alloc() {
    amb::port::panic("invariant", "libstdc++", 0, "allocation", "out of memory");
}
[[noreturn]] void __throw_bad_array_new_length() {
    amb::port::panic("invariant", "libstdc++", 0, "allocation", "bad array length");
}
}  // namespace std

// abort() ends here (after raise()): report through semihosting like a failed check.
extern "C" [[noreturn]] void _exit(int status) { amb::ports::cortex_m::semihosting::exit(status); }
