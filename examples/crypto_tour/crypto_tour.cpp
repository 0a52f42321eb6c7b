// A tour of the crypto layer, run by `./ambience demo`: a key exchange, a sealed message
// exchange with a forged message rejected, and a CAPLets-style HMAC tag chain. Exits non-zero if
// anything does not behave as expected, so it doubles as an end-to-end test.
#include <crypto/crypto.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace amb::crypto;
using amb::result;

std::string hex(byte_view bytes, std::size_t limit = 8) {
    std::string out;
    char pair[3];
    for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
        std::snprintf(pair, sizeof pair, "%02x", bytes[i]);
        out += pair;
    }
    if (bytes.size() > limit)
        out += "...";
    return out;
}

bool expect(bool condition, const char* what) {
    std::printf("  [%s] %s\n", condition ? " ok " : "FAIL", what);
    return condition;
}

// Keys for one direction of a session.
struct direction_keys {
    std::uint8_t encryption[16];
    std::uint8_t authentication[32];
};

bool derive(const x25519_key& shared, std::string_view label, direction_keys& keys) {
    std::uint8_t material[48];
    if (!hkdf(as_bytes("ambience crypto tour"), shared, as_bytes(label), material))
        return false;
    std::memcpy(keys.encryption, material, 16);
    std::memcpy(keys.authentication, material + 16, 32);
    secure_zero(material);
    return true;
}

// Sealed message: 8-byte counter, ciphertext, 32-byte tag (encrypt-then-MAC).
std::vector<std::uint8_t> seal(const direction_keys& keys, std::uint64_t counter,
                               std::string_view text) {
    std::vector<std::uint8_t> out(8 + text.size() + 32);
    std::uint8_t iv[16] = {};
    for (int i = 0; i < 8; ++i)
        out[i] = iv[i] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
    byte_span body(out.data() + 8, text.size());
    if (!aes128_ctr_xor(keys.encryption, iv, as_bytes(text), body))
        return {};
    sha256_digest tag = hmac_sha256::mac(keys.authentication, byte_view(out.data(), 8 + text.size()));
    std::memcpy(out.data() + 8 + text.size(), tag.data(), tag.size());
    return out;
}

bool open(const direction_keys& keys, byte_view sealed, std::string& text) {
    if (sealed.size() < 40)
        return false;
    byte_view authenticated = sealed.first(sealed.size() - 32);
    sha256_digest tag = hmac_sha256::mac(keys.authentication, authenticated);
    if (!constant_time_equal(tag, sealed.last(32)))
        return false;  // nothing is decrypted unless the tag is right
    std::uint8_t iv[16] = {};
    std::memcpy(iv, sealed.data(), 8);
    text.assign(authenticated.size() - 8, '\0');
    byte_span out(reinterpret_cast<std::uint8_t*>(text.data()), text.size());
    return aes128_ctr_xor(keys.encryption, iv, authenticated.subspan(8), out).has_value();
}

}  // namespace

using namespace amb::crypto;
using amb::result;

int main() {
    bool ok = true;
    std::printf("1. Key agreement (X25519)\n");
    result<x25519_keypair, error> alice = x25519_generate();
    result<x25519_keypair, error> bob = x25519_generate();
    if (!alice || !bob) {
        std::printf("  key generation failed: %s\n", describe(alice ? bob.error() : alice.error()));
        return 1;
    }
    std::printf("  alice public %s, bob public %s\n", hex(alice->public_key).c_str(),
                hex(bob->public_key).c_str());
    result<x25519_key, error> alice_shared = x25519_shared_secret(alice->private_key, bob->public_key);
    result<x25519_key, error> bob_shared = x25519_shared_secret(bob->private_key, alice->public_key);
    ok &= expect(alice_shared && bob_shared && *alice_shared == *bob_shared,
                 "both sides computed the same shared secret");
    x25519_key low_order{};  // u = 0, a point a man-in-the-middle could inject
    result<x25519_key, error> forced = x25519_shared_secret(alice->private_key, low_order);
    ok &= expect(!forced && forced.error() == error::weak_shared_secret,
                 "a low-order public key is refused (weak_shared_secret)");

    std::printf("2. Session keys (HKDF-SHA256), one pair per direction\n");
    direction_keys alice_to_bob{};
    direction_keys bob_view{};
    ok &= expect(derive(*alice_shared, "alice->bob", alice_to_bob) &&
                     derive(*bob_shared, "alice->bob", bob_view) &&
                     constant_time_equal(alice_to_bob.authentication, bob_view.authentication),
                 "alice and bob derived the same alice->bob keys");

    std::printf("3. Sealed messages (AES-128-CTR, then HMAC-SHA256 over counter and ciphertext)\n");
    std::vector<std::uint8_t> sealed = seal(alice_to_bob, 1, "turn on the porch light");
    std::printf("  sealed message: %s (%zu bytes)\n", hex(sealed, 16).c_str(), sealed.size());
    std::string received;
    ok &= expect(open(bob_view, sealed, received) && received == "turn on the porch light",
                 "bob opened it: \"turn on the porch light\"");
    sealed[10] ^= 0x01;  // an attacker flips one ciphertext bit
    ok &= expect(!open(bob_view, sealed, received), "a message with one flipped bit is rejected");

    std::printf("4. A CAPLets-style tag chain: tag_i = HMAC(tag_{i-1}, frame_i)\n");
    std::uint8_t origin_secret[32];
    ok &= expect(random_bytes(origin_secret).has_value(), "origin secret drawn from the OS");
    const char* frames[] = {"root", "path /home/alice rw", "path /home/alice/photos r"};
    sha256_digest tag = hmac_sha256::mac(origin_secret, as_bytes(frames[0]));
    for (int i = 1; i < 3; ++i)
        tag = hmac_sha256::mac(tag, as_bytes(frames[i]));
    std::printf("  token tag after 3 frames: %s\n", hex(tag, 16).c_str());
    auto verify = [&](const char* const (&chain)[3]) {
        sha256_digest check = hmac_sha256::mac(origin_secret, as_bytes(chain[0]));
        for (int i = 1; i < 3; ++i)
            check = hmac_sha256::mac(check, as_bytes(chain[i]));
        return constant_time_equal(check, tag);
    };
    ok &= expect(verify(frames), "the origin recomputes the chain and accepts the token");
    const char* widened[] = {"root", "path /home/alice rw", "path /home/alice rw"};
    ok &= expect(!verify(widened), "a holder who rewrites the last frame to widen it is caught");
    secure_zero(origin_secret);

    std::printf("%s\n", ok ? "crypto tour: every step behaved as expected"
                           : "crypto tour: SOME STEPS FAILED");
    return ok ? 0 : 1;
}
