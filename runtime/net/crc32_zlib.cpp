// crc32_update for the hosted port: zlib's crc32_z computes the same CRC (IEEE, reflected
// 0xEDB88320) several bytes at a time. zlib takes and returns the finished value, so the running
// state is converted at the edges. crc32_test.cpp checks it against the bytewise reference.
#include <net/crc32.hpp>

#include <zlib.h>

namespace amb::net {

std::uint32_t crc32_update(std::uint32_t state, std::span<const std::uint8_t> bytes) noexcept {
    if (bytes.empty())
        return state;
    const unsigned long finished =
        ::crc32_z(crc32_finish(state), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
    return crc32_finish(static_cast<std::uint32_t>(finished));
}

} // namespace amb::net
