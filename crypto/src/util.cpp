// Backend-independent utilities: error descriptions, constant-time comparison, zeroing, the
// one-shot AES-CTR wrapper, X25519 key generation.
#include <crypto/crypto.hpp>

#include <cstring>

namespace amb::crypto {

const char* describe(error e) {
    switch (e) {
    case error::bad_key_size: return "the key has the wrong length for this algorithm";
    case error::bad_nonce_size: return "the IV or nonce has the wrong length";
    case error::length_mismatch: return "the output buffer does not match the input length";
    case error::bad_output_size: return "the requested output length cannot be produced";
    case error::weak_shared_secret:
        return "X25519 produced an all-zero shared secret (the peer sent a low-order point)";
    case error::random_unavailable: return "the platform entropy source is unavailable";
    case error::backend_failure: return "the cryptographic library reported a failure";
    }
    return "unknown crypto error";
}

bool constant_time_equal(byte_view a, byte_view b) {
    if (a.size() != b.size())
        return false;
    // A machine word at a time (tags are compared on every request of a serving node), then the
    // rest; every byte is read whatever the others hold.
    constexpr std::size_t word = sizeof(std::uintptr_t);
    std::uintptr_t difference = 0;
    std::size_t i = 0;
    for (; i + word <= a.size(); i += word) {
        std::uintptr_t x = 0;
        std::uintptr_t y = 0;
        std::memcpy(&x, a.data() + i, word);
        std::memcpy(&y, b.data() + i, word);
        difference |= x ^ y;
        // Keep the compiler from turning the loop into an early exit on the first difference.
        asm volatile("" : "+r"(difference));
    }
    for (; i < a.size(); ++i) {
        difference |= static_cast<std::uint8_t>(a[i] ^ b[i]);
        asm volatile("" : "+r"(difference));
    }
    return difference == 0;
}

void secure_zero(byte_span secret) {
    if (secret.empty())
        return;
    std::memset(secret.data(), 0, secret.size());
    // The memory clobber makes the stores observable, so they cannot be removed as dead.
    asm volatile("" : : "r"(secret.data()) : "memory");
}

result<x25519_keypair, error> x25519_generate() {
    x25519_keypair pair;
    if (!random_bytes(pair.private_key))
        return failure{error::random_unavailable};
    result<x25519_key, error> public_key = x25519_public_key(pair.private_key);
    if (!public_key) {
        secure_zero(pair.private_key);
        return failure{public_key.error()};
    }
    pair.public_key = *public_key;
    return pair;
}

result<void, error> aes128_ctr_xor(byte_view key, byte_view initial_counter_block, byte_view in,
                                   byte_span out) {
    result<aes128_ctr, error> cipher = aes128_ctr::create(key, initial_counter_block);
    if (!cipher)
        return failure{cipher.error()};
    return cipher->apply(in, out);
}

}  // namespace amb::crypto
