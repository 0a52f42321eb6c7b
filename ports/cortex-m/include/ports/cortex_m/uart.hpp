// The CMSDK APB UART of the MPS2 boards (UART0 of `mps2-an386` is the node console).
#pragma once

#include <cstdint>
#include <string_view>

namespace amb::ports::cortex_m {

class cmsdk_uart {
public:
    explicit cmsdk_uart(std::uintptr_t base) : base_(base) {}

    /// Enables the transmitter. Idempotent.
    void enable_transmit();

    /// Writes `text`, waiting while the transmit buffer is full.
    void write(std::string_view text);

private:
    std::uintptr_t base_;
};

inline constexpr std::uintptr_t mps2_uart0_base = 0x40004000;

}  // namespace amb::ports::cortex_m
