#include "crypto_vectors.hpp"

#include <crypto/crypto.hpp>

#include <cstring>

namespace amb::crypto::vectors {
namespace {

// A decoded hex string in a fixed buffer (vectors here are at most 256 bytes).
struct bytes {
    std::uint8_t data[256];
    std::size_t size = 0;
    byte_view view() const { return {data, size}; }
};

int nibble(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bytes hex(const char* text) {
    bytes out;
    for (std::size_t i = 0; text[i] != 0 && text[i + 1] != 0; i += 2) {
        int high = nibble(text[i]);
        int low = nibble(text[i + 1]);
        AMB_ASSERT(high >= 0 && low >= 0 && out.size < sizeof out.data, "bad vector literal");
        out.data[out.size++] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return out;
}

bytes repeated(std::uint8_t value, std::size_t count) {
    bytes out;
    AMB_ASSERT(count <= sizeof out.data, "vector too long");
    std::memset(out.data, value, count);
    out.size = count;
    return out;
}

bytes counting(std::uint8_t first, std::size_t count) {
    bytes out;
    for (std::size_t i = 0; i < count; ++i)
        out.data[i] = static_cast<std::uint8_t>(first + i);
    out.size = count;
    return out;
}

template <std::size_t N>
bool same(const std::array<std::uint8_t, N>& actual, const char* expected_hex) {
    bytes expected = hex(expected_hex);
    return expected.size == N && std::memcmp(actual.data(), expected.data, N) == 0;
}

bool same(byte_view actual, const char* expected_hex) {
    bytes expected = hex(expected_hex);
    return expected.size == actual.size() &&
           std::memcmp(actual.data(), expected.data, actual.size()) == 0;
}

x25519_key key(const char* text) {
    bytes decoded = hex(text);
    AMB_ASSERT(decoded.size == 32, "X25519 vector is not 32 bytes");
    x25519_key out;
    std::memcpy(out.data(), decoded.data, 32);
    return out;
}

// --- SHA-256: FIPS 180-4 examples (NIST CSRC "Examples with intermediate values") ---

bool sha256_empty() {
    return same(sha256::digest({}),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

bool sha256_abc() {
    return same(sha256::digest(as_bytes("abc")),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

bool sha256_two_blocks() {
    return same(sha256::digest(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

bool sha256_896_bits() {
    return same(sha256::digest(as_bytes("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                                        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

bool sha256_million_a() {
    bytes chunk = repeated('a', 200);
    sha256 hash;
    for (int i = 0; i < 5000; ++i)
        hash.update(chunk.view());
    return same(hash.finish(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

bool sha256_incremental_split() {
    // Every split point of a two-block message gives the one-shot digest.
    const char* text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    byte_view all = as_bytes(text);
    sha256_digest expected = sha256::digest(all);
    for (std::size_t split = 0; split <= all.size(); ++split) {
        sha256 hash;
        hash.update(all.first(split));
        hash.update(all.subspan(split));
        if (hash.finish() != expected)
            return false;
    }
    return true;
}

// --- HMAC-SHA256: RFC 4231 §4.2-§4.8 ---

bool hmac_case(byte_view key, byte_view data, const char* expected, std::size_t truncate = 32) {
    sha256_digest one_shot = hmac_sha256::mac(key, data);
    hmac_sha256 incremental(key);
    std::size_t half = data.size() / 2;
    incremental.update(data.first(half));
    incremental.update(data.subspan(half));
    sha256_digest streamed = incremental.finish();
    return same(byte_view(one_shot.data(), truncate), expected) &&
           same(byte_view(streamed.data(), truncate), expected);
}

bool hmac_rfc4231_1() {
    return hmac_case(repeated(0x0b, 20).view(), as_bytes("Hi There"),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

bool hmac_rfc4231_2() {
    return hmac_case(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

bool hmac_rfc4231_3() {
    return hmac_case(repeated(0xaa, 20).view(), repeated(0xdd, 50).view(),
                     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

bool hmac_rfc4231_4() {
    return hmac_case(counting(0x01, 25).view(), repeated(0xcd, 50).view(),
                     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

bool hmac_rfc4231_5() {
    return hmac_case(repeated(0x0c, 20).view(), as_bytes("Test With Truncation"),
                     "a3b6167473100ee06e0c796c2955552b", 16);
}

bool hmac_rfc4231_6() {
    return hmac_case(repeated(0xaa, 131).view(),
                     as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

bool hmac_rfc4231_7() {
    return hmac_case(repeated(0xaa, 131).view(),
                     as_bytes("This is a test using a larger than block-size key and a larger "
                              "than block-size data. The key needs to be hashed before being "
                              "used by the HMAC algorithm."),
                     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

bool hmac_empty_key_and_message() {
    // HMAC is defined for an empty key and an empty message; both paths must agree.
    sha256_digest one_shot = hmac_sha256::mac({}, {});
    hmac_sha256 incremental({});
    return one_shot == incremental.finish() &&
           same(one_shot, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// --- HKDF-SHA256: RFC 5869 Appendix A.1-A.3 ---

bool hkdf_case(byte_view ikm, byte_view salt, byte_view info, const char* prk,
               const char* okm, std::size_t length) {
    std::uint8_t out[82];
    if (!same(hkdf_extract(salt, ikm), prk))
        return false;
    if (!hkdf(salt, ikm, info, byte_span(out, length)))
        return false;
    return same(byte_view(out, length), okm);
}

bool hkdf_rfc5869_1() {
    return hkdf_case(repeated(0x0b, 22).view(), counting(0x00, 13).view(),
                     counting(0xf0, 10).view(),
                     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                     "34007208d5b887185865",
                     42);
}

bool hkdf_rfc5869_2() {
    return hkdf_case(counting(0x00, 80).view(), counting(0x60, 80).view(),
                     counting(0xb0, 80).view(),
                     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                     "cc30c58179ec3e87c14c01d5c1f3434f1d87",
                     82);
}

bool hkdf_rfc5869_3() {
    return hkdf_case(repeated(0x0b, 22).view(), {}, {},
                     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                     "9d201395faa4b61a96c8",
                     42);
}

bool hkdf_rejects_bad_lengths() {
    std::uint8_t prk[32] = {1};
    std::uint8_t out[16];
    static std::uint8_t too_long[hkdf_max_output + 1];
    result<void, error> empty = hkdf_expand(prk, {}, byte_span(out, 0));
    result<void, error> over = hkdf_expand(prk, {}, too_long);
    result<void, error> short_key = hkdf_expand(byte_view(prk, 16), {}, out);
    result<void, error> longest = hkdf_expand(prk, {}, byte_span(too_long, hkdf_max_output));
    return !empty && empty.error() == error::bad_output_size && !over &&
           over.error() == error::bad_output_size && !short_key &&
           short_key.error() == error::bad_key_size && longest.has_value();
}

// --- AES-128-CTR: NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt) and F.5.2 (Decrypt) ---

const char* sp800_38a_key = "2b7e151628aed2a6abf7158809cf4f3c";
const char* sp800_38a_counter = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const char* sp800_38a_plaintext = "6bc1bee22e409f96e93d7e117393172a"
                                  "ae2d8a571e03ac9c9eb76fac45af8e51"
                                  "30c81c46a35ce411e5fbc1191a0a52ef"
                                  "f69f2445df4f9b17ad2b417be66c3710";
const char* sp800_38a_ciphertext = "874d6191b620e3261bef6864990db6ce"
                                   "9806f66b7970fdff8617187bb9fffdff"
                                   "5ae4df3edbd5d35e5b4f09020db03eab"
                                   "1e031dda2fbe03d1792170a0f3009cee";

bool aes128_ctr_encrypt() {
    bytes key = hex(sp800_38a_key);
    bytes counter = hex(sp800_38a_counter);
    bytes plaintext = hex(sp800_38a_plaintext);
    std::uint8_t out[64];
    return aes128_ctr_xor(key.view(), counter.view(), plaintext.view(), out).has_value() &&
           same(byte_view(out, 64), sp800_38a_ciphertext);
}

bool aes128_ctr_decrypt_streamed() {
    // Decrypt F.5.2 in uneven pieces (1, 15, 17, 31 bytes) to exercise partial-block offsets.
    bytes key = hex(sp800_38a_key);
    bytes counter = hex(sp800_38a_counter);
    bytes ciphertext = hex(sp800_38a_ciphertext);
    result<aes128_ctr, error> cipher = aes128_ctr::create(key.view(), counter.view());
    if (!cipher)
        return false;
    std::uint8_t out[64];
    const std::size_t pieces[] = {1, 15, 17, 31};
    std::size_t offset = 0;
    for (std::size_t piece : pieces) {
        if (!cipher->apply(ciphertext.view().subspan(offset, piece), byte_span(out + offset, piece)))
            return false;
        offset += piece;
    }
    return same(byte_view(out, 64), sp800_38a_plaintext);
}

bool aes128_ctr_rejects_bad_sizes() {
    bytes key = hex(sp800_38a_key);
    bytes counter = hex(sp800_38a_counter);
    std::uint8_t data[8] = {};
    std::uint8_t out[7];
    result<void, error> short_key = aes128_ctr_xor(key.view().first(15), counter.view(), data, data);
    result<void, error> long_key = aes128_ctr_xor(counter.view(), key.view().first(8), data, data);
    bytes long_key_bytes = repeated(1, 32);
    result<void, error> aes256_key = aes128_ctr_xor(long_key_bytes.view(), counter.view(), data, data);
    result<void, error> mismatch = aes128_ctr_xor(key.view(), counter.view(), data, out);
    result<void, error> empty = aes128_ctr_xor(key.view(), counter.view(), {}, {});
    return !short_key && short_key.error() == error::bad_key_size && !long_key &&
           long_key.error() == error::bad_nonce_size && !aes256_key &&
           aes256_key.error() == error::bad_key_size && !mismatch &&
           mismatch.error() == error::length_mismatch && empty.has_value();
}

// --- X25519: RFC 7748 §5.2 and §6.1 ---

bool x25519_rfc7748_5_2_first() {
    result<x25519_key, error> out = x25519_shared_secret(
        key("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        key("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
    return out && same(*out, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

bool x25519_rfc7748_5_2_second() {
    // The u-coordinate has its top bit set; RFC 7748 says it must be ignored.
    result<x25519_key, error> out = x25519_shared_secret(
        key("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        key("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"));
    return out && same(*out, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

bool x25519_rfc7748_5_2_iterated() {
    // k = u = 9; repeatedly k, u = X25519(k, u), k. Checked after 1 and 1000 iterations.
    x25519_key k = {9};
    x25519_key u = {9};
    for (int i = 1; i <= 1000; ++i) {
        result<x25519_key, error> next = x25519_shared_secret(k, u);
        if (!next)
            return false;
        u = k;
        k = *next;
        if (i == 1 && !same(k, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"))
            return false;
    }
    return same(k, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

bool x25519_rfc7748_6_1() {
    x25519_key alice = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    x25519_key bob = key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    result<x25519_key, error> alice_public = x25519_public_key(alice);
    result<x25519_key, error> bob_public = x25519_public_key(bob);
    if (!alice_public || !bob_public)
        return false;
    result<x25519_key, error> alice_shared = x25519_shared_secret(alice, *bob_public);
    result<x25519_key, error> bob_shared = x25519_shared_secret(bob, *alice_public);
    const char* shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    return same(*alice_public,
                "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a") &&
           same(*bob_public, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f") &&
           alice_shared && bob_shared && same(*alice_shared, shared) && same(*bob_shared, shared);
}

bool x25519_rejects_low_order_points() {
    // u = 0, u = 1 and a point of order 8: each gives the all-zero secret.
    x25519_key own = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const char* low_order[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    };
    for (const char* point : low_order) {
        result<x25519_key, error> out = x25519_shared_secret(own, key(point));
        if (out || out.error() != error::weak_shared_secret)
            return false;
    }
    return true;
}

bool x25519_generated_pairs_agree() {
    result<x25519_keypair, error> a = x25519_generate();
    result<x25519_keypair, error> b = x25519_generate();
    if (!a || !b || a->private_key == b->private_key)
        return false;
    result<x25519_key, error> ab = x25519_shared_secret(a->private_key, b->public_key);
    result<x25519_key, error> ba = x25519_shared_secret(b->private_key, a->public_key);
    return ab && ba && *ab == *ba;
}

// --- Utilities ---

bool constant_time_equal_behaviour() {
    std::uint8_t a[32] = {};
    std::uint8_t b[32] = {};
    if (!constant_time_equal(a, b) || !constant_time_equal({}, {}))
        return false;
    for (std::size_t i = 0; i < 32; ++i) {
        b[i] = 0x80;
        if (constant_time_equal(a, b))
            return false;
        b[i] = 0;
    }
    return !constant_time_equal(byte_view(a, 31), b);
}

bool random_bytes_vary() {
    std::uint8_t first[32] = {};
    std::uint8_t second[32] = {};
    return random_bytes(first).has_value() && random_bytes(second).has_value() &&
           !constant_time_equal(first, second) && random_bytes({}).has_value();
}

bool secure_zero_clears() {
    std::uint8_t secret[40];
    std::memset(secret, 0xa5, sizeof secret);
    secure_zero(secret);
    for (std::uint8_t b : secret)
        if (b != 0)
            return false;
    return true;
}

constexpr check checks[] = {
    {"sha256_empty", sha256_empty},
    {"sha256_abc", sha256_abc},
    {"sha256_two_blocks", sha256_two_blocks},
    {"sha256_896_bits", sha256_896_bits},
    {"sha256_million_a", sha256_million_a},
    {"sha256_incremental_split", sha256_incremental_split},
    {"hmac_rfc4231_1", hmac_rfc4231_1},
    {"hmac_rfc4231_2", hmac_rfc4231_2},
    {"hmac_rfc4231_3", hmac_rfc4231_3},
    {"hmac_rfc4231_4", hmac_rfc4231_4},
    {"hmac_rfc4231_5_truncated", hmac_rfc4231_5},
    {"hmac_rfc4231_6_long_key", hmac_rfc4231_6},
    {"hmac_rfc4231_7_long_key_and_data", hmac_rfc4231_7},
    {"hmac_empty_key_and_message", hmac_empty_key_and_message},
    {"hkdf_rfc5869_1", hkdf_rfc5869_1},
    {"hkdf_rfc5869_2", hkdf_rfc5869_2},
    {"hkdf_rfc5869_3_empty_salt_info", hkdf_rfc5869_3},
    {"hkdf_rejects_bad_lengths", hkdf_rejects_bad_lengths},
    {"aes128_ctr_sp800_38a_f51_encrypt", aes128_ctr_encrypt},
    {"aes128_ctr_sp800_38a_f52_decrypt_streamed", aes128_ctr_decrypt_streamed},
    {"aes128_ctr_rejects_bad_sizes", aes128_ctr_rejects_bad_sizes},
    {"x25519_rfc7748_5_2_first", x25519_rfc7748_5_2_first},
    {"x25519_rfc7748_5_2_second_high_bit", x25519_rfc7748_5_2_second},
    {"x25519_rfc7748_5_2_iterated_1000", x25519_rfc7748_5_2_iterated},
    {"x25519_rfc7748_6_1_key_agreement", x25519_rfc7748_6_1},
    {"x25519_rejects_low_order_points", x25519_rejects_low_order_points},
    {"x25519_generated_pairs_agree", x25519_generated_pairs_agree},
    {"constant_time_equal", constant_time_equal_behaviour},
    {"random_bytes_vary", random_bytes_vary},
    {"secure_zero_clears", secure_zero_clears},
};

}  // namespace

std::span<const check> all() { return checks; }

}  // namespace amb::crypto::vectors
