// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF,
// the checksum of zlib, Ethernet and PNG): detects accidental corruption of a datagram or a
// reassembled message.
//
// It is not a message authentication code: an attacker who can modify a datagram can fix the
// CRC up. Integrity against attackers comes from CAPLets (DESIGN.md §10), one layer above the
// transports. Usage: `crc32(bytes)`, or `crc32_update` across several pieces starting from
// `crc32_initial` and finishing with `crc32_finish`. Pure functions, any thread.
//
// Two implementations, chosen by the port at build time (runtime/net/CMakeLists.txt): the
// hosted port uses zlib's `crc32_z` (same polynomial, word-at-a-time tables), the Cortex-M port
// the bytewise table below (1 KiB). `crc32_update_bytewise` is always built: it is the
// reference the tests compare the port's implementation with.
#pragma once

#include <cstdint>
#include <span>

namespace amb::net {

inline constexpr std::uint32_t crc32_initial = 0xffffffffu;

/// Continues a CRC over `bytes`; start from `crc32_initial`. The port's implementation.
std::uint32_t crc32_update(std::uint32_t state, std::span<const std::uint8_t> bytes) noexcept;

/// The same, one table lookup per byte (portable reference).
std::uint32_t crc32_update_bytewise(std::uint32_t state,
                                    std::span<const std::uint8_t> bytes) noexcept;

/// The CRC value of a finished state.
constexpr std::uint32_t crc32_finish(std::uint32_t state) noexcept {
    return state ^ 0xffffffffu;
}

/// CRC-32 of one contiguous buffer ("123456789" gives 0xCBF43926).
inline std::uint32_t crc32(std::span<const std::uint8_t> bytes) noexcept {
    return crc32_finish(crc32_update(crc32_initial, bytes));
}

} // namespace amb::net
