#include <net/crc32.hpp>

#include <array>

namespace amb::net {

namespace {

// One 256-entry table (1 KiB of read-only data), built at compile time.
constexpr std::array<std::uint32_t, 256> make_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t byte = 0; byte < 256; ++byte) {
        std::uint32_t value = byte;
        for (int bit = 0; bit < 8; ++bit)
            value = (value & 1u) != 0 ? (value >> 1) ^ 0xedb88320u : value >> 1;
        table[byte] = value;
    }
    return table;
}

constexpr std::array<std::uint32_t, 256> table = make_table();

} // namespace

std::uint32_t crc32_update_bytewise(std::uint32_t state,
                                    std::span<const std::uint8_t> bytes) noexcept {
    for (std::uint8_t byte : bytes)
        state = table[(state ^ byte) & 0xffu] ^ (state >> 8);
    return state;
}

} // namespace amb::net
