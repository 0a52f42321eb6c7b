// Big-endian (network order) reads and writes of unsigned integers in byte buffers, used by
// every wire format in <net/...>. The caller checks bounds first; these helpers index the span
// directly (AMB_REQUIRE on a short span would be a caller bug, not bad input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace amb::net {

inline std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
    return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

inline std::uint32_t read_u32(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
    return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
           (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

inline void write_u16(std::span<std::uint8_t> bytes, std::size_t at, std::uint16_t value) noexcept {
    bytes[at] = static_cast<std::uint8_t>(value >> 8);
    bytes[at + 1] = static_cast<std::uint8_t>(value);
}

inline void write_u32(std::span<std::uint8_t> bytes, std::size_t at, std::uint32_t value) noexcept {
    bytes[at] = static_cast<std::uint8_t>(value >> 24);
    bytes[at + 1] = static_cast<std::uint8_t>(value >> 16);
    bytes[at + 2] = static_cast<std::uint8_t>(value >> 8);
    bytes[at + 3] = static_cast<std::uint8_t>(value);
}

} // namespace amb::net
