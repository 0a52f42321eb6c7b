// Crypto tests for one backend (the build compiles this file once per backend): every published
// vector check, plus API behaviour that the portable checks do not cover.
#include <crypto/crypto.hpp>

#include "crypto_vectors.hpp"

#include <gtest/gtest.h>

#if defined(AMB_CRYPTO_BACKEND_MBEDTLS)
#include <mbedtls/version.h>
#endif

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <string>
#include <vector>

// The backend probe. The build links this test with `--wrap=FUNCTION` (crypto/CMakeLists.txt),
// FUNCTION being the SHA-256 finish function of the backend it names: the backend's calls of
// FUNCTION then land in __wrap_FUNCTION below, which counts them and forwards to the library's
// own (__real_FUNCTION). Declared with opaque pointers: the test does not include the
// libraries' headers, and both functions take (context, output) and return an int.
namespace backend_probe {
std::uint32_t calls = 0;
#if defined(AMB_CRYPTO_BACKEND_OPENSSL)
constexpr const char* function = "SHA256_Final";
constexpr const char* library = "libcrypto.so";
constexpr const char* other_library = "libmbedcrypto.so";
#elif defined(AMB_CRYPTO_BACKEND_MBEDTLS)
#if MBEDTLS_VERSION_MAJOR >= 3
constexpr const char* function = "mbedtls_sha256_finish";
#else
constexpr const char* function = "mbedtls_sha256_finish_ret";
#endif
constexpr const char* library = "libmbedcrypto.so";
constexpr const char* other_library = "libcrypto.so";
#else
#error "the build names no crypto backend (AMB_CRYPTO_BACKEND_OPENSSL or _MBEDTLS)"
#endif
}  // namespace backend_probe

extern "C" {
#if defined(AMB_CRYPTO_BACKEND_OPENSSL)
int __real_SHA256_Final(unsigned char* out, void* context);
int __wrap_SHA256_Final(unsigned char* out, void* context) {
    ++backend_probe::calls;
    return __real_SHA256_Final(out, context);
}
#elif MBEDTLS_VERSION_MAJOR >= 3
int __real_mbedtls_sha256_finish(void* context, unsigned char* out);
int __wrap_mbedtls_sha256_finish(void* context, unsigned char* out) {
    ++backend_probe::calls;
    return __real_mbedtls_sha256_finish(context, out);
}
#else
int __real_mbedtls_sha256_finish_ret(void* context, unsigned char* out);
int __wrap_mbedtls_sha256_finish_ret(void* context, unsigned char* out) {
    ++backend_probe::calls;
    return __real_mbedtls_sha256_finish_ret(context, out);
}
#endif
}

namespace amb::crypto {
namespace {

// The path of every shared object loaded in this process.
std::vector<std::string> loaded_objects() {
    std::vector<std::string> names;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0')
                static_cast<std::vector<std::string>*>(out)->emplace_back(info->dlpi_name);
            return 0;
        },
        &names);
    return names;
}

}  // namespace

namespace vectors {
// Prints a check by name in test output.
void PrintTo(const check& value, std::ostream* out) { *out << value.name; }
}  // namespace vectors

namespace {

class vectors_test : public testing::TestWithParam<vectors::check> {};

TEST_P(vectors_test, passes) { EXPECT_TRUE(GetParam().run()) << GetParam().name; }

INSTANTIATE_TEST_SUITE_P(published, vectors_test, testing::ValuesIn(vectors::all()),
                         [](const testing::TestParamInfo<vectors::check>& info) {
                             return std::string(info.param.name);
                         });

TEST(crypto, backend_is_the_one_named) {
    // Guards against the build linking the wrong backend into this test: a SHA-256 computed
    // through amb::crypto must reach the named library's own finish function (counted by the
    // linker wrap above, a name only that library defines), that function must live in that
    // library's shared object, and the other backend's library must not be loaded at all.
    const std::uint32_t calls_before = backend_probe::calls;
    sha256 hash;
    hash.update(as_bytes("abc"));
    EXPECT_EQ(hash.finish(), sha256::digest(as_bytes("abc")));
    EXPECT_GE(backend_probe::calls, calls_before + 1)
        << "sha256::finish did not call " << backend_probe::function << " of " AMB_CRYPTO_BACKEND;

    void* function = ::dlsym(RTLD_DEFAULT, backend_probe::function);
    ASSERT_NE(function, nullptr) << backend_probe::function << " is not linked";
    Dl_info where{};
    ASSERT_NE(::dladdr(function, &where), 0);
    ASSERT_NE(where.dli_fname, nullptr);
    EXPECT_NE(std::string(where.dli_fname).find(backend_probe::library), std::string::npos)
        << backend_probe::function << " lives in " << where.dli_fname << ", not in "
        << backend_probe::library;

    const std::vector<std::string> loaded = loaded_objects();
    for (const std::string& object : loaded)
        EXPECT_EQ(object.find(backend_probe::other_library), std::string::npos)
            << "the " AMB_CRYPTO_BACKEND " test also loads " << object;
}

TEST(crypto, hmac_one_shot_matches_incremental_for_every_length) {
    std::vector<std::uint8_t> key(32, 0x42);
    std::vector<std::uint8_t> message(300);
    for (std::size_t i = 0; i < message.size(); ++i)
        message[i] = static_cast<std::uint8_t>(i * 7);
    for (std::size_t length = 0; length <= message.size(); ++length) {
        byte_view part(message.data(), length);
        hmac_sha256 incremental(key);
        for (std::uint8_t b : part)
            incremental.update(byte_view(&b, 1));
        ASSERT_EQ(hmac_sha256::mac(key, part), incremental.finish()) << "length " << length;
    }
}

TEST(crypto, hmac_differs_with_key_and_message) {
    std::uint8_t key[32] = {1};
    sha256_digest base = hmac_sha256::mac(key, as_bytes("frame"));
    key[31] ^= 1;
    EXPECT_NE(base, hmac_sha256::mac(key, as_bytes("frame")));
    key[31] ^= 1;
    EXPECT_NE(base, hmac_sha256::mac(key, as_bytes("framf")));
    EXPECT_EQ(base, hmac_sha256::mac(key, as_bytes("frame")));
}

TEST(crypto, sha256_copy_continues_from_shared_prefix) {
    sha256 prefix;
    prefix.update(as_bytes("shared prefix|"));
    sha256 copy = prefix;
    prefix.update(as_bytes("one"));
    copy.update(as_bytes("two"));
    EXPECT_EQ(prefix.finish(), sha256::digest(as_bytes("shared prefix|one")));
    EXPECT_EQ(copy.finish(), sha256::digest(as_bytes("shared prefix|two")));
}

TEST(crypto, aes_ctr_round_trips_and_survives_moves) {
    std::uint8_t key[16] = {9};
    std::uint8_t iv[16] = {3};
    std::vector<std::uint8_t> plain(1000);
    for (std::size_t i = 0; i < plain.size(); ++i)
        plain[i] = static_cast<std::uint8_t>(i);
    std::vector<std::uint8_t> cipher(plain.size());
    ASSERT_TRUE(aes128_ctr_xor(key, iv, plain, cipher));
    EXPECT_NE(plain, cipher);

    // Decrypt in place across a move in the middle of a block.
    result<aes128_ctr, error> first = aes128_ctr::create(key, iv);
    ASSERT_TRUE(first);
    byte_span data(cipher);
    ASSERT_TRUE(first->apply(data.first(37), data.first(37)));
    aes128_ctr moved = std::move(*first);
    ASSERT_TRUE(moved.apply(data.subspan(37), data.subspan(37)));
    EXPECT_EQ(plain, cipher);
}

TEST(crypto, x25519_shared_secret_feeds_hkdf_into_matching_keys) {
    result<x25519_keypair, error> alice = x25519_generate();
    result<x25519_keypair, error> bob = x25519_generate();
    ASSERT_TRUE(alice && bob);
    result<x25519_key, error> alice_secret = x25519_shared_secret(alice->private_key, bob->public_key);
    result<x25519_key, error> bob_secret = x25519_shared_secret(bob->private_key, alice->public_key);
    ASSERT_TRUE(alice_secret && bob_secret);
    std::uint8_t alice_key[32];
    std::uint8_t bob_key[32];
    ASSERT_TRUE(hkdf({}, *alice_secret, as_bytes("session"), alice_key));
    ASSERT_TRUE(hkdf({}, *bob_secret, as_bytes("session"), bob_key));
    EXPECT_TRUE(constant_time_equal(alice_key, bob_key));
}

TEST(crypto, constant_time_equal_sees_every_byte_of_every_length) {
    std::uint8_t a[37];
    std::uint8_t b[37];
    for (std::size_t i = 0; i < sizeof a; ++i)
        a[i] = b[i] = static_cast<std::uint8_t>(i * 7 + 1);
    for (std::size_t length = 0; length <= sizeof a; ++length) {
        EXPECT_TRUE(constant_time_equal({a, length}, {b, length})) << length;
        for (std::size_t flip = 0; flip < length; ++flip) {
            b[flip] ^= 0x80;
            EXPECT_FALSE(constant_time_equal({a, length}, {b, length})) << length << " " << flip;
            b[flip] ^= 0x80;
        }
    }
    EXPECT_FALSE(constant_time_equal({a, 8}, {b, 9}));
}

TEST(crypto, errors_are_described) {
    for (error e : {error::bad_key_size, error::bad_nonce_size, error::length_mismatch,
                    error::bad_output_size, error::weak_shared_secret, error::random_unavailable,
                    error::backend_failure})
        EXPECT_STRNE(describe(e), "unknown crypto error");
}

}  // namespace
}  // namespace amb::crypto
