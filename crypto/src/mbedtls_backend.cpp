// mbedTLS backend (bare-metal ports; also built on the host against Debian's libmbedcrypto so
// that both backends are checked against the same vectors).
//
// Randomness comes straight from the port's entropy source (`amb::port::fill_entropy`): the
// backend keeps no DRBG and therefore no global state. TODO(perf): a port whose entropy source
// is slow should add an HMAC-DRBG in front of it.
#include <crypto/crypto.hpp>

#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include <cstring>
#include <new>

#if MBEDTLS_VERSION_MAJOR >= 3
#define AMB_MBEDTLS_CALL(name) name
#else
#define AMB_MBEDTLS_CALL(name) name##_ret
#endif

namespace amb::crypto {
namespace {

static_assert(sizeof(mbedtls_sha256_context) <= 128, "sha256::state_ too small");

mbedtls_sha256_context& context(std::uint8_t* state) {
    return *std::launder(reinterpret_cast<mbedtls_sha256_context*>(state));
}

// The AES-CTR state. The raw key is kept so that a move can rebuild the key schedule in the
// new object: mbedTLS 2.x key schedules point into themselves and cannot be copied bytewise.
struct ctr_state {
    mbedtls_aes_context aes;
    std::uint8_t key[aes128_key_size];
    std::uint8_t counter[16];
    std::uint8_t stream_block[16];
    std::size_t offset;
};

ctr_state& ctr(std::uint8_t* state) { return *std::launder(reinterpret_cast<ctr_state*>(state)); }

int random_for_mbedtls(void*, unsigned char* out, std::size_t length) {
    return amb::port::fill_entropy(byte_span(out, length)) ? 0 : -1;
}

// Scalar multiplication on Curve25519 with the scalar clamped and the u-coordinate's top bit
// masked as RFC 7748 §5 requires.
result<x25519_key, error> scalar_multiply(const x25519_key& scalar, const x25519_key& u) {
    x25519_key clamped = scalar;
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    x25519_key masked_u = u;
    masked_u[31] &= 127;

    mbedtls_ecp_group group;
    mbedtls_ecp_point point;
    mbedtls_ecp_point product;
    mbedtls_mpi multiplier;
    mbedtls_ecp_group_init(&group);
    mbedtls_ecp_point_init(&point);
    mbedtls_ecp_point_init(&product);
    mbedtls_mpi_init(&multiplier);

    x25519_key out{};
    int status = mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_CURVE25519);
    if (status == 0)
        status = mbedtls_mpi_read_binary_le(&multiplier, clamped.data(), clamped.size());
    if (status == 0)
        status = mbedtls_mpi_read_binary_le(&point.X, masked_u.data(), masked_u.size());
    if (status == 0)
        status = mbedtls_mpi_lset(&point.Z, 1);
    bool weak = false;
    if (status == 0 && mbedtls_ecp_check_pubkey(&group, &point) != 0) {
        // mbedTLS rejects the known low-order points up front; their product would be zero.
        weak = true;
        status = -1;
    }
    if (status == 0)
        status = mbedtls_ecp_mul(&group, &product, &multiplier, &point, random_for_mbedtls,
                                 nullptr);
    if (status == 0)
        status = mbedtls_mpi_write_binary_le(&product.X, out.data(), out.size());

    mbedtls_mpi_free(&multiplier);
    mbedtls_ecp_point_free(&product);
    mbedtls_ecp_point_free(&point);
    mbedtls_ecp_group_free(&group);
    secure_zero(clamped);
    if (weak)
        return failure{error::weak_shared_secret};
    if (status != 0)
        return failure{error::backend_failure};
    return out;
}

}  // namespace

// --- SHA-256 ---

sha256::sha256() {
    new (state_) mbedtls_sha256_context;
    mbedtls_sha256_init(&context(state_));
    AMB_MBEDTLS_CALL(mbedtls_sha256_starts)(&context(state_), 0);
}

sha256::~sha256() { secure_zero(state_); }

void sha256::update(byte_view data) {
    if (!data.empty())
        AMB_MBEDTLS_CALL(mbedtls_sha256_update)(&context(state_), data.data(), data.size());
}

sha256_digest sha256::finish() {
    sha256_digest out;
    AMB_MBEDTLS_CALL(mbedtls_sha256_finish)(&context(state_), out.data());
    return out;
}

sha256_digest sha256::digest(byte_view data) {
    sha256 hash;
    hash.update(data);
    return hash.finish();
}

// --- AES-128-CTR ---

static_assert(sizeof(ctr_state) <= 352, "aes128_ctr::state_ too small");

result<aes128_ctr, error> aes128_ctr::create(byte_view key, byte_view initial_counter_block) {
    if (key.size() != aes128_key_size)
        return failure{error::bad_key_size};
    if (initial_counter_block.size() != aes128_ctr_iv_size)
        return failure{error::bad_nonce_size};
    aes128_ctr cipher;
    ctr_state& state = *new (cipher.state_) ctr_state;
    mbedtls_aes_init(&state.aes);
    cipher.live_ = true;
    std::memcpy(state.key, key.data(), key.size());
    std::memcpy(state.counter, initial_counter_block.data(), sizeof state.counter);
    std::memset(state.stream_block, 0, sizeof state.stream_block);
    state.offset = 0;
    if (mbedtls_aes_setkey_enc(&state.aes, state.key, 128) != 0)
        return failure{error::backend_failure};
    return cipher;
}

aes128_ctr::aes128_ctr(aes128_ctr&& other) noexcept { *this = static_cast<aes128_ctr&&>(other); }

aes128_ctr& aes128_ctr::operator=(aes128_ctr&& other) noexcept {
    if (this == &other)
        return *this;
    release();
    if (!other.live_)
        return *this;
    ctr_state& from = ctr(other.state_);
    ctr_state& to = *new (state_) ctr_state;
    mbedtls_aes_init(&to.aes);
    std::memcpy(to.key, from.key, sizeof to.key);
    std::memcpy(to.counter, from.counter, sizeof to.counter);
    std::memcpy(to.stream_block, from.stream_block, sizeof to.stream_block);
    to.offset = from.offset;
    // Cannot fail: the same key was accepted when `other` was created.
    int status = mbedtls_aes_setkey_enc(&to.aes, to.key, 128);
    AMB_ASSERT(status == 0, "AES key schedule failed for an accepted key");
    live_ = true;
    other.release();
    return *this;
}

aes128_ctr::~aes128_ctr() { release(); }

void aes128_ctr::release() {
    if (!live_)
        return;
    mbedtls_aes_free(&ctr(state_).aes);
    secure_zero(state_);
    live_ = false;
}

result<void, error> aes128_ctr::apply(byte_view in, byte_span out) {
    AMB_REQUIRE(live_, "apply() on a moved-from aes128_ctr");
    if (in.size() != out.size())
        return failure{error::length_mismatch};
    if (in.empty())
        return {};
    ctr_state& state = ctr(state_);
    if (mbedtls_aes_crypt_ctr(&state.aes, in.size(), &state.offset, state.counter,
                              state.stream_block, in.data(), out.data()) != 0)
        return failure{error::backend_failure};
    return {};
}

// --- X25519 ---

result<x25519_key, error> x25519_public_key(const x25519_key& private_key) {
    static constexpr x25519_key base_point = {9};
    return scalar_multiply(private_key, base_point);
}

result<x25519_key, error> x25519_shared_secret(const x25519_key& private_key,
                                               const x25519_key& peer_public_key) {
    result<x25519_key, error> shared = scalar_multiply(private_key, peer_public_key);
    if (!shared)
        return shared;
    std::uint8_t accumulated = 0;
    for (std::uint8_t b : *shared)
        accumulated |= b;
    if (accumulated == 0)
        return failure{error::weak_shared_secret};
    return shared;
}

// --- Randomness ---

result<void, error> random_bytes(byte_span out) {
    if (!amb::port::fill_entropy(out))
        return failure{error::random_unavailable};
    return {};
}

}  // namespace amb::crypto
