// The cryptographic layer of Ambience: SHA-256, HMAC-SHA256, HKDF-SHA256, AES-128-CTR, X25519,
// constant-time comparison, secure random bytes and explicit zeroing of secrets.
//
// One portable header with two backends, chosen at link time: OpenSSL 3 libcrypto on the hosted
// port (its SHA-NI and AES-NI code) and mbedTLS on bare-metal ports. Everything here is
// freestanding-friendly: no exceptions, no RTTI, no allocation except inside the OpenSSL AES
// context set-up. HMAC and HKDF are the standard constructions (RFC 2104, RFC 5869) composed in
// this library over the backend's SHA-256, so both backends share one implementation of them.
//
// Errors are values (`result<T, error>`); `describe(error)` gives a sentence for a user. Objects
// that hold key material zero it when destroyed. No function here keeps global state, and all
// of them may be called from several threads on distinct objects.
#pragma once

#include <base/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace amb::crypto {

using byte_view = std::span<const std::uint8_t>;
using byte_span = std::span<std::uint8_t>;

inline constexpr std::size_t sha256_size = 32;
inline constexpr std::size_t sha256_block_size = 64;
inline constexpr std::size_t aes128_key_size = 16;
inline constexpr std::size_t aes128_ctr_iv_size = 16;
inline constexpr std::size_t x25519_key_size = 32;
/// RFC 5869: HKDF-Expand produces at most 255 hash lengths.
inline constexpr std::size_t hkdf_max_output = 255 * sha256_size;

using sha256_digest = std::array<std::uint8_t, sha256_size>;
using x25519_key = std::array<std::uint8_t, x25519_key_size>;

enum class error : std::uint8_t {
    bad_key_size = 1,    ///< a key has the wrong length for the algorithm
    bad_nonce_size,      ///< an IV or nonce has the wrong length
    length_mismatch,     ///< an output buffer does not match the input length
    bad_output_size,     ///< an output length the algorithm cannot produce (0, or too long)
    weak_shared_secret,  ///< X25519 produced the all-zero secret (peer sent a low-order point)
    random_unavailable,  ///< the platform entropy source failed or does not exist
    backend_failure,     ///< the crypto library reported an internal failure
};

/// A sentence describing `e`, for error messages.
const char* describe(error e);

/// Views the bytes of a string (for messages and labels given as text).
inline byte_view as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// --- SHA-256 (FIPS 180-4) ---------------------------------------------------------------------

/// Incremental SHA-256. Copyable: a copy continues from the same state (useful to hash several
/// messages that share a prefix). `finish` may be called once; the object is then spent.
class sha256 {
public:
    sha256();
    ~sha256();
    sha256(const sha256&) = default;
    sha256& operator=(const sha256&) = default;

    void update(byte_view data);
    sha256_digest finish();

    /// One-shot digest of `data`.
    static sha256_digest digest(byte_view data);

private:
    // Backend state (OpenSSL SHA256_CTX or mbedtls_sha256_context), kept opaque so that this
    // header does not depend on the backend. Both are plain data and may be copied bytewise.
    alignas(8) std::uint8_t state_[128];
};

// --- HMAC-SHA256 (RFC 2104) ------------------------------------------------------------------

/// Incremental HMAC-SHA256 with a key of any length.
class hmac_sha256 {
public:
    explicit hmac_sha256(byte_view key);
    ~hmac_sha256();
    hmac_sha256(const hmac_sha256&) = default;
    hmac_sha256& operator=(const hmac_sha256&) = default;

    void update(byte_view data);
    sha256_digest finish();

    /// One-shot HMAC of `message` under `key`. This is the unit CAPLets verification is built
    /// from (a fresh key at every link of a tag chain), so it is tuned to cost little more than
    /// the SHA-256 compressions it must perform.
    static sha256_digest mac(byte_view key, byte_view message);

private:
    sha256 inner_;
    sha256 outer_;
};

// --- HKDF-SHA256 (RFC 5869) ------------------------------------------------------------------

/// HKDF-Extract: a pseudorandom key from input keying material. An empty salt means a salt of
/// 32 zero bytes, as the RFC says.
sha256_digest hkdf_extract(byte_view salt, byte_view input_key_material);

/// HKDF-Expand: fills `out` (1 to `hkdf_max_output` bytes) from a pseudorandom key of at least
/// 32 bytes. Errors: `bad_output_size`, `bad_key_size`.
result<void, error> hkdf_expand(byte_view pseudorandom_key, byte_view info, byte_span out);

/// Extract then expand.
result<void, error> hkdf(byte_view salt, byte_view input_key_material, byte_view info,
                         byte_span out);

// --- AES-128-CTR (NIST SP 800-38A) -----------------------------------------------------------

/// AES-128 in counter mode: a keystream XORed into the data, the whole 16-byte counter block
/// incremented as a big-endian integer after each block. Encryption and decryption are the same
/// operation. Successive `apply` calls continue the keystream where the last one stopped, at any
/// byte offset. Move-only; the key schedule is zeroed on destruction.
class aes128_ctr {
public:
    /// Errors: `bad_key_size` (key is not 16 bytes), `bad_nonce_size` (counter block is not 16
    /// bytes), `backend_failure`.
    static result<aes128_ctr, error> create(byte_view key, byte_view initial_counter_block);

    aes128_ctr(aes128_ctr&& other) noexcept;
    aes128_ctr& operator=(aes128_ctr&& other) noexcept;
    aes128_ctr(const aes128_ctr&) = delete;
    aes128_ctr& operator=(const aes128_ctr&) = delete;
    ~aes128_ctr();

    /// Writes `in` XOR keystream to `out`. `out` must have the size of `in`; they may be the
    /// same buffer. Errors: `length_mismatch`, `backend_failure`.
    result<void, error> apply(byte_view in, byte_span out);

private:
    aes128_ctr() = default;
    void release();

    // Backend state: an OpenSSL EVP_CIPHER_CTX pointer, or an mbedtls_aes_context with the
    // counter block, stream block and offset.
    alignas(8) std::uint8_t state_[352];
    bool live_ = false;
};

/// One-shot AES-128-CTR over `in` into `out` (same size). Errors as `aes128_ctr`.
result<void, error> aes128_ctr_xor(byte_view key, byte_view initial_counter_block, byte_view in,
                                   byte_span out);

// --- X25519 (RFC 7748) -----------------------------------------------------------------------

struct x25519_keypair {
    x25519_key private_key;
    x25519_key public_key;
};

/// A fresh key pair from the platform entropy source. Errors: `random_unavailable`,
/// `backend_failure`.
result<x25519_keypair, error> x25519_generate();

/// The public key of a 32-byte private key (clamped as RFC 7748 says).
result<x25519_key, error> x25519_public_key(const x25519_key& private_key);

/// X25519(private_key, peer_public_key). The top bit of the peer's u-coordinate is ignored, as
/// RFC 7748 requires. Errors: `weak_shared_secret` when the result is all zero (the peer sent a
/// low-order point; the exchange must be abandoned), `backend_failure`.
result<x25519_key, error> x25519_shared_secret(const x25519_key& private_key,
                                               const x25519_key& peer_public_key);

// --- Utilities -------------------------------------------------------------------------------

/// True when `a` and `b` hold the same bytes. The time taken depends only on the lengths (which
/// are not secret), never on the contents.
bool constant_time_equal(byte_view a, byte_view b);

/// Fills `out` with random bytes suitable for keys. Errors: `random_unavailable`.
result<void, error> random_bytes(byte_span out);

/// Overwrites `secret` with zeros in a way the compiler may not remove.
void secure_zero(byte_span secret);

}  // namespace amb::crypto
