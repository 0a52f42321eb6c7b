#include <ports/cortex_m/semihosting.hpp>

#include <cstring>

namespace amb::ports::cortex_m::semihosting {
namespace {

enum operation : std::uint32_t {
    sys_open = 0x01,
    sys_close = 0x02,
    sys_read = 0x06,
    sys_exit_extended = 0x20,
};

constexpr std::uint32_t adp_stopped_application_exit = 0x20026;
constexpr std::uint32_t open_mode_read_binary = 1;  // "rb"

std::int32_t call(std::uint32_t op, const void* argument) {
    register std::uint32_t r0 asm("r0") = op;
    register const void* r1 asm("r1") = argument;
    asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return static_cast<std::int32_t>(r0);
}

}  // namespace

void exit(int status) {
    const std::uint32_t block[2] = {adp_stopped_application_exit, static_cast<std::uint32_t>(status)};
    call(sys_exit_extended, block);
    for (;;)
        asm volatile("wfi");
}

int open_read(const char* path) {
    const std::uint32_t block[3] = {reinterpret_cast<std::uintptr_t>(path), open_mode_read_binary,
                                    static_cast<std::uint32_t>(std::strlen(path))};
    return call(sys_open, block);
}

bool read(int handle, std::span<std::uint8_t> out) {
    const std::uint32_t block[3] = {static_cast<std::uint32_t>(handle),
                                    reinterpret_cast<std::uintptr_t>(out.data()),
                                    static_cast<std::uint32_t>(out.size())};
    // SYS_READ returns the number of bytes *not* read.
    return call(sys_read, block) == 0;
}

void close(int handle) {
    const std::uint32_t block[1] = {static_cast<std::uint32_t>(handle)};
    call(sys_close, block);
}

}  // namespace amb::ports::cortex_m::semihosting
