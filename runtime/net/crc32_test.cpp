// CRC-32: published check values, and the port's implementation (zlib on the hosted port)
// against the bytewise reference on every length from 0 to 300 bytes, at odd offsets, and in
// pieces (crc32_update carried across calls).
#include <net/crc32.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace amb::net {
namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::uint32_t bytewise(std::span<const std::uint8_t> bytes) noexcept {
    return crc32_finish(crc32_update_bytewise(crc32_initial, bytes));
}

TEST(crc32, matches_the_published_check_values) {
    for (auto check : {crc32, bytewise}) {
        EXPECT_EQ(check(bytes_of("123456789")), 0xcbf43926u);
        EXPECT_EQ(check(bytes_of("")), 0x00000000u);
        EXPECT_EQ(check(bytes_of("a")), 0xe8b7be43u);
        EXPECT_EQ(check(bytes_of("The quick brown fox jumps over the lazy dog")), 0x414fa339u);
    }
}

TEST(crc32, the_port_implementation_agrees_with_the_bytewise_reference) {
    std::mt19937 random(61);
    std::vector<std::uint8_t> data(4096 + 7);
    for (auto& byte : data)
        byte = static_cast<std::uint8_t>(random());
    for (std::size_t offset : {0u, 1u, 3u, 7u}) {
        for (std::size_t size = 0; size <= 300; ++size) {
            auto piece = std::span<const std::uint8_t>(data).subspan(offset, size);
            ASSERT_EQ(crc32(piece), bytewise(piece)) << "offset " << offset << " size " << size;
        }
        auto all = std::span<const std::uint8_t>(data).subspan(offset, 4096);
        EXPECT_EQ(crc32(all), bytewise(all));
    }
    // In pieces: the running state carries over.
    std::uint32_t state = crc32_initial;
    for (std::size_t at = 0; at < 4096; at += 37)
        state = crc32_update(state, std::span<const std::uint8_t>(data).subspan(
                                        at, at + 37 <= 4096 ? 37 : 4096 - at));
    EXPECT_EQ(crc32_finish(state), bytewise(std::span<const std::uint8_t>(data).first(4096)));
    // One flipped bit changes the value.
    auto flipped = data;
    flipped[100] ^= 0x10;
    EXPECT_NE(crc32(std::span<const std::uint8_t>(flipped).first(4096)),
              crc32(std::span<const std::uint8_t>(data).first(4096)));
}

} // namespace
} // namespace amb::net
