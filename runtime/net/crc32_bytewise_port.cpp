// crc32_update for ports without zlib (Cortex-M): the bytewise table of crc32.cpp.
#include <net/crc32.hpp>

namespace amb::net {

std::uint32_t crc32_update(std::uint32_t state, std::span<const std::uint8_t> bytes) noexcept {
    return crc32_update_bytewise(state, bytes);
}

} // namespace amb::net
