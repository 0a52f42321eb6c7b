// Published test vectors for every crypto operation, as a portable list of checks.
//
// The same list runs in the host unit tests (one GoogleTest case per check, once per backend)
// and in the Cortex-M4 smoke image under QEMU, so both tiers are held to the same vectors.
// Sources: FIPS 180-4 / NIST examples (SHA-256), RFC 4231 (HMAC-SHA256), RFC 5869 (HKDF),
// NIST SP 800-38A F.5.1 (AES-128-CTR), RFC 7748 §5.2 and §6.1 (X25519), plus the error cases
// the API promises. No check allocates; each runs in a few kilobytes of stack.
#pragma once

#include <span>

namespace amb::crypto::vectors {

struct check {
    const char* name;
    bool (*run)();
};

/// Every check, in a fixed order.
std::span<const check> all();

}  // namespace amb::crypto::vectors
