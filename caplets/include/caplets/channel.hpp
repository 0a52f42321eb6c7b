// CAPLets key exchange and secure channel (docs/caplets-channel.md).
//
// A client holding a token T derives an encryption token T_E (a frame with only the encrypt
// capability) and sends it to the origin *without its tag*. The origin recomputes the tag from
// its secret, so afterwards both ends know K = tag(T_E) and nobody else does. Three messages
// follow: hello (T_E without tag, client nonce), reply (server nonce, server proof) and the
// client proof; each side proves it knows K by a MAC over the transcript, and session keys come
// from HKDF over K (with `mode::forward_secret`, over K and an X25519 secret of ephemeral keys
// that are authenticated by MACs under K). Records are AES-128-CTR then HMAC-SHA256 (truncated
// to 16 bytes) with separate keys and a strict counter per direction.
//
// Use: the client calls derive_encryption_token() once per token it wants a channel for, then
// per connection client_handshake::start() -> send hello; on reply, on_server_reply() -> send the
// proof, keep the session. The server makes one server_handshake per connection: on_hello() ->
// send reply; on_client_proof() -> the session. Both then seal() and open() records.
//
// No exceptions, no allocation (except inside OpenSSL's AES set-up on the hosted port): every
// message and record is written into a caller buffer and every result is a value. Secrets (K,
// ephemeral private keys, session keys) are zeroed when no longer needed and on destruction.
// Objects here are not synchronised; use one per connection and per thread.
#pragma once

#include <caplets/caplets.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace caplets::channel {

/// Why a handshake step or a record was refused.
enum class error : std::uint8_t {
    bad_message = 1,           ///< not a well-formed message of the expected kind and length
    bad_token,                 ///< the encryption token was rejected (see handshake_error::token)
    token_too_large,           ///< the encryption token exceeds max_token_size
    forward_secrecy_required,  ///< the server requires mode::forward_secret
    bad_proof,                 ///< the peer did not prove knowledge of tag(T_E)
    bad_ephemeral_auth,        ///< an ephemeral public key's MAC under tag(T_E) is wrong
    weak_shared_secret,        ///< the peer's ephemeral key is a low-order point
    replayed_or_out_of_order,  ///< a record's counter is not the next one expected
    bad_record_tag,            ///< a record's MAC is wrong (tampered, reflected, other session)
    record_too_large,          ///< a record longer than max_record_plaintext
    counter_exhausted,         ///< 2^64 - 1 records sent in this direction: start a new session
    buffer_too_small,          ///< the output buffer cannot hold the message or plaintext
    random_unavailable,        ///< the platform entropy source failed
    crypto_failure,            ///< the crypto backend reported an internal failure
    wrong_state,               ///< a step called out of order, after a failure or on a spent object
};

/// A sentence for `e`.
const char* describe(error e);

/// A handshake failure; `token` says which check rejected the encryption token when `what` is
/// bad_token (and is default otherwise).
struct handshake_error {
    error what = error::bad_message;
    reason token{};
};

/// Whether session keys depend on tag(T_E) only, or also on an X25519 exchange of ephemeral keys
/// (forward secrecy: a later leak of tag(T_E) does not open recorded sessions).
enum class mode : std::uint8_t {
    tag_only = 0,
    forward_secret = 1,
};

/// The purpose of a MAC (or KDF) input. Every such input starts with domain(purpose).
enum class purpose : std::uint8_t {
    client_ephemeral,  ///< auth_c = HMAC(K, D || Nc || Ec)
    server_ephemeral,  ///< auth_s = HMAC(K, D || Nc || Ns || Ec || Es)
    server_proof,      ///< P_s = HMAC(K, D || transcript hash)
    client_proof,      ///< P_c = HMAC(K, D || transcript hash)
    keys,              ///< HKDF info = D || transcript hash
    record,            ///< record tag = HMAC(mac key, D || direction || counter || ciphertext)
};

/// "\xff" "AMB-CAPLETS-CHANNEL-v1" "\0" <purpose label> "\0". The leading 0xff can never start
/// a lidl message (they start with the format version 0x01), so no MAC input of the channel is
/// a frame message and no frame tag is a channel MAC (docs/caplets-channel.md).
byte_view domain(purpose p);

inline constexpr std::size_t nonce_size = 32;
inline constexpr std::size_t proof_size = 32;
inline constexpr std::size_t message_header_size = 8;
/// The largest encryption token a hello may carry.
inline constexpr std::size_t max_token_size = 16384;
/// Sizes of the reply and the client proof.
inline constexpr std::size_t reply_size(mode m) {
    return message_header_size + nonce_size + proof_size + (m == mode::forward_secret ? 64 : 0);
}
inline constexpr std::size_t client_proof_size = message_header_size + proof_size;
/// Size of a hello carrying a token of `token_size` bytes.
inline constexpr std::size_t hello_size(mode m, std::size_t token_size) {
    return message_header_size + nonce_size + (m == mode::forward_secret ? 64 : 0) + token_size;
}

/// Derives T_E from `token`: one frame with only the encrypt capability plus every constraint of
/// the token's leaf (a derivation must keep them). `frame_scratch` (8-byte aligned) holds the
/// frame message while it is built; the token is written by `out` and its view returned (it
/// points into `out`'s buffer). The caller keeps T_E: its tag is the channel secret and must not
/// be sent. Errors: buffer_too_small; bad_token when the token cannot be derived from (its leaf
/// has more than frame_spec::capacity constraints, or it has max_frames frames).
amb::result<token_view, error> derive_encryption_token(const token_view& token,
                                                       std::span<std::uint8_t> frame_scratch,
                                                       lidl::builder& out);

/// An established channel: per direction an AES-128 key, an HMAC key and a record counter.
/// Move-only (a copy would reuse counters, hence key stream); a moved-from session is spent.
class session {
public:
    static constexpr std::size_t counter_size = 8;
    static constexpr std::size_t tag_size = 16;
    /// Bytes a record adds to its plaintext.
    static constexpr std::size_t overhead = counter_size + tag_size;
    /// Records are refused above 2^36 bytes (2^32 AES blocks).
    static constexpr std::uint64_t max_record_plaintext = std::uint64_t{1} << 36;

    session(session&& other) noexcept;
    session& operator=(session&& other) noexcept;
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session();

    /// Writes the record for `plaintext` (counter || ciphertext || tag, plaintext.size() +
    /// overhead bytes) into `out` and returns it. `plaintext` may be exactly
    /// out.subspan(counter_size); no other overlap is allowed. Errors: record_too_large,
    /// buffer_too_small, counter_exhausted, crypto_failure, wrong_state; the counter advances only
    /// on success.
    amb::result<byte_view, error> seal(byte_view plaintext, std::span<std::uint8_t> out);

    /// Checks `record` (its counter must be the next expected, its tag must match; checked before
    /// anything is decrypted) and writes its plaintext into `out` (not overlapping `record`).
    /// Errors: bad_message (shorter than overhead), record_too_large, replayed_or_out_of_order,
    /// buffer_too_small, bad_record_tag, crypto_failure, wrong_state. On any error no plaintext is
    /// released and the session is unchanged, so the next valid record still opens.
    amb::result<byte_view, error> open(byte_view record, std::span<std::uint8_t> out);

    /// Records sealed and opened so far.
    std::uint64_t sent() const { return send_.counter; }
    std::uint64_t received() const { return receive_.counter; }

private:
    friend class client_handshake;
    friend class server_handshake;

    struct direction_state {
        std::array<std::uint8_t, 16> encryption_key{};
        std::array<std::uint8_t, 32> mac_key{};
        std::uint8_t direction = 0;
        std::uint64_t counter = 0;
    };

    session() = default;
    /// A live session from the 96 bytes of HKDF output, for the client or the server role.
    static session from_key_material(byte_view keys, bool is_client);
    void wipe();

    // TODO(perf): keeping keyed HMAC states would save two compressions per record, at the cost
    // of ~0.5 KiB per session.
    direction_state send_;
    direction_state receive_;
    bool live_ = false;
};

/// The client side of one key exchange. Not reusable: make one per connection.
class client_handshake {
public:
    client_handshake() = default;
    client_handshake(const client_handshake&) = delete;
    client_handshake& operator=(const client_handshake&) = delete;
    ~client_handshake();

    /// Writes the hello for `encryption_token` (whose leaf must hold only the encrypt capability;
    /// its tag is kept here as K and zeroed in the copy that is sent) into `out` (8-byte aligned,
    /// at least hello_size(m, token size) bytes) and returns it. Errors: bad_token (reason
    /// not_an_encryption_token), token_too_large, buffer_too_small, random_unavailable,
    /// crypto_failure, wrong_state (called twice).
    amb::result<byte_view, handshake_error> start(const token_view& encryption_token, mode m,
                                                  std::span<std::uint8_t> out);

    struct finished {
        byte_view proof;  ///< message 3, in the caller's `out`: send it
        session keys;
    };

    /// Checks the server's reply (its ephemeral key's MAC and its proof of K) and writes the
    /// client proof into `out` (client_proof_size bytes). Errors: buffer_too_small (state kept:
    /// retry with a larger buffer), bad_message, bad_ephemeral_auth, bad_proof,
    /// weak_shared_secret, crypto_failure, wrong_state. Any error but buffer_too_small ends the
    /// handshake and erases its secrets.
    amb::result<finished, handshake_error> on_server_reply(byte_view reply,
                                                           std::span<std::uint8_t> out);

private:
    enum class stage : std::uint8_t { idle, awaiting_reply, done };
    void wipe();

    stage stage_ = stage::idle;
    mode mode_ = mode::tag_only;
    tag_bytes shared_{};  // K = tag(T_E)
    std::array<std::uint8_t, nonce_size> client_nonce_{};
    amb::crypto::x25519_keypair ephemeral_{};
    amb::crypto::sha256 transcript_;
};

/// The origin side of one key exchange. Not reusable: make one per connection.
class server_handshake {
public:
    /// With `require_forward_secrecy`, hellos in mode::tag_only are refused.
    explicit server_handshake(bool require_forward_secrecy = false)
        : require_forward_secrecy_(require_forward_secrecy) {}
    server_handshake(const server_handshake&) = delete;
    server_handshake& operator=(const server_handshake&) = delete;
    ~server_handshake();

    /// Verifies the hello's encryption token as verify_encryption_token() does (with `context`;
    /// a `sequence` constraint is checked here and recorded in `context.sequences` only by
    /// on_client_proof(), once the client proved it knows tag(T_E): a hello anyone can build from
    /// public frame bytes must not move a holder's sequence number), checks the client's
    /// ephemeral key MAC, and writes the
    /// reply into `out` (reply_size(mode) bytes). `hello` must start on an 8-byte boundary (the
    /// token inside is read in place). Errors: buffer_too_small (nothing consumed, state kept),
    /// bad_message (including a tag field that is not zero), token_too_large,
    /// forward_secrecy_required, bad_token (with the reason), bad_ephemeral_auth,
    /// weak_shared_secret, random_unavailable, crypto_failure, wrong_state. Other errors end the
    /// handshake.
    amb::result<byte_view, handshake_error> on_hello(const secret_key& secret, byte_view hello,
                                                     const verify_context& context,
                                                     std::span<std::uint8_t> out);

    /// Checks the client's proof of K, then records the hello's sequence numbers (in the store
    /// on_hello's context named, which must still be alive); on success hands over the session.
    /// Errors: bad_message, bad_proof, bad_token (sequence_replayed: another hello took the
    /// number meanwhile; sequence_unavailable: the store refused), wrong_state; every error ends
    /// the handshake.
    amb::result<session, handshake_error> on_client_proof(byte_view proof);

    /// The mode of the hello accepted by on_hello().
    mode negotiated() const { return mode_; }

private:
    enum class stage : std::uint8_t { idle, awaiting_proof, done };
    void wipe();

    bool require_forward_secrecy_;
    stage stage_ = stage::idle;
    mode mode_ = mode::tag_only;
    std::array<std::uint8_t, proof_size> expected_client_proof_{};
    session pending_;
    // The hello's sequence numbers, recorded after the client's proof.
    verification_details sequences_{};
    verify_context sequence_context_{};
};

}  // namespace caplets::channel
