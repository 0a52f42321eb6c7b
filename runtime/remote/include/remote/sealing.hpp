// Encrypted payloads of calls between nodes, for networks marked `encrypt=True` (docs/remote.md,
// "Encryption"): the call message inside a request token and the reply message of the answer
// are *sealed* (AES-128-CTR under a key used for that one message), so an observer of a link,
// and every relay, sees neither arguments nor results.
//
// Keys come from the CAPLets channel construction (docs/caplets-channel.md): the caller derives
// the encryption token T_E = channel::derive_encryption_token(credential) once, and the shared
// secret of the pair is K = tag(T_E). T_E is never sent: the serving node rebuilds it from the
// credential frames inside each verified request and its own key (`pair_key_of_request`), so
// there is no handshake, no session state and nothing that a lost or reordered packet can put
// out of step. Each message gets its own key from K by HKDF:
//
//     request key = HKDF-SHA256(salt = nonce (16 random bytes, sent), ikm = K,
//                               info = D("request"), 16 bytes)
//     reply key   = HKDF-SHA256(salt = request tag, ikm = K, info = D("reply"), 16 bytes)
//     D(p)        = 0xff "AMB-REMOTE-SEAL-v1" 0x00 p 0x00
//
// and the data is AES-128-CTR with an all-zero counter block (the key is never used twice).
// Integrity is not added here: a sealed call message sits inside the request frame, so the
// CAPLets tag chain authenticates it (the node verifies the token *before* it opens the call),
// and a sealed reply is the body the reply MAC covers (checked before it is opened): encrypt
// then MAC, with the MACs the protocol already has.
//
//     sealed call  = 0xff 0x01 0x00 0x00 || nonce (16) || AES-CTR(request key, call message)
//     sealed reply = 0xff 0x01 0x00 0x00 || AES-CTR(reply key, reply message)
//
// A plaintext call or reply message is a lidl message and starts with 0x01, a sealed one with
// 0xff, and that byte is authenticated with the rest: whether a payload is sealed cannot be
// changed on the way.
//
// Pure computation, reentrant, no allocation in this code (the hosted AES backend, OpenSSL,
// allocates a context per message). Secrets passed in are not kept.
#pragma once

#include <remote/envelope.hpp>

#include <base/result.hpp>
#include <caplets/caplets.hpp>

#include <cstddef>
#include <cstdint>

namespace amb::remote {

/// K = tag(T_E) of a (caller, serving node) pair.
using pair_key = caplets::tag_bytes;

inline constexpr std::uint8_t sealed_marker = 0xff;
inline constexpr std::uint8_t sealed_version = 1;
inline constexpr std::size_t sealed_header_size = 4;
inline constexpr std::size_t sealed_nonce_size = 16;
/// Bytes a sealed call adds to the call message (a sealed reply adds sealed_header_size).
inline constexpr std::size_t sealed_call_overhead = sealed_header_size + sealed_nonce_size;

enum class seal_error : std::uint8_t {
    not_sealed = 1,     ///< the payload does not start with the sealed header
    malformed,          ///< shorter than the header (and nonce), or an unknown version
    buffer_too_small,   ///< the output cannot hold the result
    bad_credential,     ///< T_E cannot be derived from the credential (too many frames)
    crypto_failure,     ///< the crypto backend (HKDF, AES, random) failed
};
const char* describe(seal_error error);

/// True when `payload` starts with the sealed marker (it is not a lidl message).
inline bool is_sealed(byte_view payload) {
    return !payload.empty() && payload[0] == sealed_marker;
}

/// Caller side, once per credential: K = tag(channel::derive_encryption_token(credential)).
/// `scratch` (8-byte aligned) must hold the credential plus about 200 bytes.
result<pair_key, seal_error> pair_key_of_credential(const caplets::token_view& credential,
                                                    byte_span scratch);

/// Serving side, per verified request: the same K, rebuilt from `node_key` and the credential
/// frames of `request` (every frame but the last; the request must have been verified with
/// `node_key`). `scratch` (8-byte aligned) must hold twice the request plus about 200 bytes.
result<pair_key, seal_error> pair_key_of_request(const caplets::secret_key& node_key,
                                                 const caplets::token_view& request,
                                                 byte_span scratch);

/// Seals the call message that is already at `buffer[sealed_call_overhead ..
/// sealed_call_overhead + call_size)` in place (a fresh random nonce) and returns the sealed
/// call, which starts at `buffer[0]`.
result<byte_view, seal_error> seal_call_in_place(const pair_key& key, byte_span buffer,
                                                 std::size_t call_size);

/// Opens a sealed call into `out` (not overlapping it). Errors: not_sealed, malformed,
/// buffer_too_small, crypto_failure. Call only on authenticated data (a verified token).
result<byte_view, seal_error> open_call(const pair_key& key, byte_view sealed, byte_span out);

/// Seals `reply` for the request whose tag is `request_tag` into `out` (not overlapping).
result<byte_view, seal_error> seal_reply(const pair_key& key, const caplets::tag_bytes& request_tag,
                                         byte_view reply, byte_span out);

/// Opens a sealed reply into `out` (not overlapping). Call only after its MAC was checked.
result<byte_view, seal_error> open_reply(const pair_key& key, const caplets::tag_bytes& request_tag,
                                         byte_view sealed, byte_span out);

} // namespace amb::remote
