// OpenSSL 3 libcrypto backend (hosted port).
//
// SHA-256 goes through OpenSSL's low-level SHA256_* functions rather than EVP: they run the same
// SHA-NI/AVX2 block code, but without EVP's per-call algorithm fetch and context allocation,
// which cost several times the compressions themselves for the short messages CAPLets hashes.
// Those functions are deprecated in 3.0 (still present and supported there);
// TODO(port): revisit if a future OpenSSL removes them. AES-CTR and X25519 use EVP so that they
// get AES-NI and the constant-time field arithmetic.
#define OPENSSL_API_COMPAT 0x10101000L  // see above: low-level SHA256_* on purpose

#include <crypto/crypto.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <climits>
#include <cstring>
#include <new>

namespace amb::crypto {
namespace {

static_assert(sizeof(SHA256_CTX) <= 128, "sha256::state_ is too small for SHA256_CTX");

SHA256_CTX& context(std::uint8_t* state) { return *std::launder(reinterpret_cast<SHA256_CTX*>(state)); }

EVP_CIPHER_CTX*& cipher_context(std::uint8_t* state) {
    return *std::launder(reinterpret_cast<EVP_CIPHER_CTX**>(state));
}

bool is_all_zero(const x25519_key& key) {
    std::uint8_t accumulated = 0;
    for (std::uint8_t b : key)
        accumulated |= b;
    return accumulated == 0;
}

// Owns an EVP_PKEY for the duration of one X25519 operation.
struct pkey_handle {
    EVP_PKEY* key = nullptr;
    ~pkey_handle() { EVP_PKEY_free(key); }
};

struct pkey_context_handle {
    EVP_PKEY_CTX* context = nullptr;
    ~pkey_context_handle() { EVP_PKEY_CTX_free(context); }
};

}  // namespace

// --- SHA-256 ---

sha256::sha256() {
    new (state_) SHA256_CTX;
    SHA256_Init(&context(state_));
}

sha256::~sha256() { secure_zero(state_); }

void sha256::update(byte_view data) {
    if (!data.empty())
        SHA256_Update(&context(state_), data.data(), data.size());
}

sha256_digest sha256::finish() {
    sha256_digest out;
    SHA256_Final(out.data(), &context(state_));
    return out;
}

sha256_digest sha256::digest(byte_view data) {
    sha256_digest out;
    SHA256(data.data(), data.size(), out.data());
    return out;
}

// --- AES-128-CTR ---

result<aes128_ctr, error> aes128_ctr::create(byte_view key, byte_view initial_counter_block) {
    if (key.size() != aes128_key_size)
        return failure{error::bad_key_size};
    if (initial_counter_block.size() != aes128_ctr_iv_size)
        return failure{error::bad_nonce_size};
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr)
        return failure{error::backend_failure};
    if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key.data(),
                           initial_counter_block.data()) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return failure{error::backend_failure};
    }
    aes128_ctr cipher;
    cipher_context(cipher.state_) = ctx;
    cipher.live_ = true;
    return cipher;
}

aes128_ctr::aes128_ctr(aes128_ctr&& other) noexcept : live_(other.live_) {
    std::memcpy(state_, other.state_, sizeof state_);
    other.live_ = false;
}

aes128_ctr& aes128_ctr::operator=(aes128_ctr&& other) noexcept {
    if (this == &other)
        return *this;
    release();
    std::memcpy(state_, other.state_, sizeof state_);
    live_ = other.live_;
    other.live_ = false;
    return *this;
}

aes128_ctr::~aes128_ctr() { release(); }

void aes128_ctr::release() {
    if (!live_)
        return;
    EVP_CIPHER_CTX_free(cipher_context(state_));  // also clears the key schedule
    live_ = false;
}

result<void, error> aes128_ctr::apply(byte_view in, byte_span out) {
    AMB_REQUIRE(live_, "apply() on a moved-from aes128_ctr");
    if (in.size() != out.size())
        return failure{error::length_mismatch};
    std::size_t done = 0;
    while (done < in.size()) {
        int chunk = static_cast<int>(std::min<std::size_t>(in.size() - done, INT_MAX / 2));
        int written = 0;
        if (EVP_EncryptUpdate(cipher_context(state_), out.data() + done, &written,
                              in.data() + done, chunk) != 1 ||
            written != chunk)
            return failure{error::backend_failure};
        done += static_cast<std::size_t>(chunk);
    }
    return {};
}

// --- X25519 ---

result<x25519_key, error> x25519_public_key(const x25519_key& private_key) {
    pkey_handle key{EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                                 private_key.size())};
    if (key.key == nullptr)
        return failure{error::backend_failure};
    x25519_key out;
    std::size_t length = out.size();
    if (EVP_PKEY_get_raw_public_key(key.key, out.data(), &length) != 1 || length != out.size())
        return failure{error::backend_failure};
    return out;
}

result<x25519_key, error> x25519_shared_secret(const x25519_key& private_key,
                                               const x25519_key& peer_public_key) {
    pkey_handle own{EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                                 private_key.size())};
    pkey_handle peer{EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr,
                                                 peer_public_key.data(), peer_public_key.size())};
    if (own.key == nullptr || peer.key == nullptr)
        return failure{error::backend_failure};
    pkey_context_handle ctx{EVP_PKEY_CTX_new(own.key, nullptr)};
    if (ctx.context == nullptr || EVP_PKEY_derive_init(ctx.context) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.context, peer.key) != 1)
        return failure{error::backend_failure};
    x25519_key out;
    std::size_t length = out.size();
    // With valid key objects, OpenSSL's X25519 derivation fails only when the result is all
    // zero (RFC 7748 §6.1 check), i.e. for a low-order peer point.
    if (EVP_PKEY_derive(ctx.context, out.data(), &length) != 1)
        return failure{error::weak_shared_secret};
    if (length != out.size())
        return failure{error::backend_failure};
    if (is_all_zero(out))
        return failure{error::weak_shared_secret};
    return out;
}

// --- Randomness ---

result<void, error> random_bytes(byte_span out) {
    std::size_t done = 0;
    while (done < out.size()) {
        int chunk = static_cast<int>(std::min<std::size_t>(out.size() - done, INT_MAX / 2));
        if (RAND_bytes(out.data() + done, chunk) != 1)
            return failure{error::random_unavailable};
        done += static_cast<std::size_t>(chunk);
    }
    return {};
}

}  // namespace amb::crypto
