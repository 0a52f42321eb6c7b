// Crypto tests for one backend (the build compiles this file once per backend): every published
// vector check, plus API behaviour that the portable checks do not cover.
#include <crypto/crypto.hpp>

#include "crypto_vectors.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amb::crypto {
namespace {

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
    // Guards against the build linking the wrong backend into this test.
    SUCCEED() << AMB_CRYPTO_BACKEND;
    EXPECT_TRUE(std::string(AMB_CRYPTO_BACKEND) == "openssl" ||
                std::string(AMB_CRYPTO_BACKEND) == "mbedtls");
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
