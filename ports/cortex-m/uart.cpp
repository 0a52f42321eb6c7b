#include <ports/cortex_m/uart.hpp>

namespace amb::ports::cortex_m {
namespace {

struct uart_registers {
    volatile std::uint32_t data;
    volatile std::uint32_t state;
    volatile std::uint32_t control;
    volatile std::uint32_t interrupt_status;
    volatile std::uint32_t baud_divider;
};

constexpr std::uint32_t state_transmit_full = 1u << 0;
constexpr std::uint32_t control_transmit_enable = 1u << 0;

uart_registers& registers(std::uintptr_t base) { return *reinterpret_cast<uart_registers*>(base); }

}  // namespace

void cmsdk_uart::enable_transmit() {
    uart_registers& uart = registers(base_);
    if (uart.baud_divider < 16)
        uart.baud_divider = 16;  // the smallest divider the CMSDK UART accepts
    uart.control = uart.control | control_transmit_enable;
}

void cmsdk_uart::write(std::string_view text) {
    uart_registers& uart = registers(base_);
    for (char c : text) {
        while (uart.state & state_transmit_full) {
        }
        uart.data = static_cast<std::uint8_t>(c);
    }
}

}  // namespace amb::ports::cortex_m
