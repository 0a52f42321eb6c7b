// HMAC-SHA256 (RFC 2104) composed over the backend's SHA-256.
#include <crypto/crypto.hpp>

#include <cstring>

namespace amb::crypto {
namespace {

constexpr std::uint8_t inner_pad = 0x36;
constexpr std::uint8_t outer_pad = 0x5c;

// Fills `block` with the key padded (or first hashed, when longer than a block) to one block.
void key_block(byte_view key, std::uint8_t (&block)[sha256_block_size]) {
    std::memset(block, 0, sizeof block);
    if (key.size() > sha256_block_size) {
        sha256_digest hashed = sha256::digest(key);
        std::memcpy(block, hashed.data(), hashed.size());
        secure_zero(hashed);
        return;
    }
    if (!key.empty())
        std::memcpy(block, key.data(), key.size());
}

void xor_block(std::uint8_t (&block)[sha256_block_size], std::uint8_t pad) {
    for (std::uint8_t& b : block)
        b ^= pad;
}

}  // namespace

hmac_sha256::hmac_sha256(byte_view key) {
    std::uint8_t block[sha256_block_size];
    key_block(key, block);
    xor_block(block, inner_pad);
    inner_.update(block);
    xor_block(block, inner_pad ^ outer_pad);
    outer_.update(block);
    secure_zero(block);
}

hmac_sha256::~hmac_sha256() = default;  // the sha256 members zero themselves

void hmac_sha256::update(byte_view data) { inner_.update(data); }

sha256_digest hmac_sha256::finish() {
    sha256_digest inner_digest = inner_.finish();
    outer_.update(inner_digest);
    return outer_.finish();
}

sha256_digest hmac_sha256::mac(byte_view key, byte_view message) {
    // The one-shot path keeps a single key block and hashes inner then outer with one SHA-256
    // state at a time, so that the work is the compressions and little else: two for the padded
    // key blocks, one or more for the message, one for the inner digest.
    std::uint8_t block[sha256_block_size];
    key_block(key, block);
    xor_block(block, inner_pad);
    sha256 hash;
    hash.update(block);
    hash.update(message);
    sha256_digest inner_digest = hash.finish();

    xor_block(block, inner_pad ^ outer_pad);
    sha256 outer;
    outer.update(block);
    outer.update(inner_digest);
    secure_zero(block);
    return outer.finish();
}

}  // namespace amb::crypto
