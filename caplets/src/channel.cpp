// The CAPLets key exchange and record layer (docs/caplets-channel.md has the byte layouts and
// the reasoning behind each check).
#include <caplets/channel.hpp>

#include <cstring>
#include <initializer_list>

namespace caplets::channel {
namespace {

namespace crypto = amb::crypto;

constexpr std::uint8_t protocol_version = 1;
constexpr std::uint8_t hello_type = 1;
constexpr std::uint8_t reply_type = 2;
constexpr std::uint8_t client_proof_type = 3;
constexpr std::uint8_t client_to_server = 1;
constexpr std::uint8_t server_to_client = 2;
constexpr std::size_t ephemeral_part_size = crypto::x25519_key_size + proof_size;  // key + MAC

// Each domain is "\xff" "AMB-CAPLETS-CHANNEL-v1" "\0" label "\0" (the literal's own terminator
// is the final NUL, so labels are prefix-free). "\xff" stands alone: a hex escape would swallow
// the 'A' after it.
constexpr char client_ephemeral_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0client-ephemeral";
constexpr char server_ephemeral_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0server-ephemeral";
constexpr char server_proof_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0server-proof";
constexpr char client_proof_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0client-proof";
constexpr char keys_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0keys";
constexpr char record_domain[] = "\xff" "AMB-CAPLETS-CHANNEL-v1\0record";

template <std::size_t N>
byte_view literal_bytes(const char (&text)[N]) {
    return {reinterpret_cast<const std::uint8_t*>(text), N};  // N counts the final NUL
}

// Big-endian integers of the message and record layouts.
template <class T>
void store_be(std::uint8_t* out, T value) {
    for (std::size_t i = sizeof(T); i-- > 0; value = static_cast<T>(value >> 8))
        out[i] = static_cast<std::uint8_t>(value);
}

template <class T>
T load_be(const std::uint8_t* in) {
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        value = static_cast<T>((value << 8) | in[i]);
    return value;
}

void store_be32(std::uint8_t* out, std::uint32_t value) { store_be(out, value); }
std::uint32_t load_be32(const std::uint8_t* in) { return load_be<std::uint32_t>(in); }
void store_be64(std::uint8_t* out, std::uint64_t value) { store_be(out, value); }
std::uint64_t load_be64(const std::uint8_t* in) { return load_be<std::uint64_t>(in); }

// HMAC(key, domain(p) || parts...).
crypto::sha256_digest domain_mac(byte_view key, purpose p, std::initializer_list<byte_view> parts) {
    crypto::hmac_sha256 mac(key);
    mac.update(domain(p));
    for (byte_view part : parts)
        mac.update(part);
    return mac.finish();
}

std::size_t ephemeral_size(mode m) { return m == mode::forward_secret ? ephemeral_part_size : 0; }

void write_header(std::uint8_t* out, std::uint8_t type, mode m, std::size_t total) {
    out[0] = protocol_version;
    out[1] = type;
    out[2] = static_cast<std::uint8_t>(m);
    out[3] = 0;
    store_be32(out + 4, static_cast<std::uint32_t>(total - message_header_size));
}

// Checks version, type, reserved byte, mode and that the length field covers exactly the rest of
// `message` (no truncation, no trailing bytes).
bool read_header(byte_view message, std::uint8_t type, mode& m) {
    if (message.size() < message_header_size || message[0] != protocol_version ||
        message[1] != type || message[3] != 0 || message[2] > 1)
        return false;
    if (load_be32(message.data() + 4) != message.size() - message_header_size)
        return false;
    m = static_cast<mode>(message[2]);
    return true;
}

error from_crypto(crypto::error e) {
    switch (e) {
    case crypto::error::weak_shared_secret: return error::weak_shared_secret;
    case crypto::error::random_unavailable: return error::random_unavailable;
    default: return error::crypto_failure;
    }
}

amb::failure<handshake_error> handshake_failure(error what) {
    handshake_error failure_info;
    failure_info.what = what;
    return amb::failure{failure_info};
}

amb::failure<handshake_error> token_failure(const reason& why) {
    handshake_error failure_info;
    failure_info.what = error::bad_token;
    failure_info.token = why;
    return amb::failure{failure_info};
}

bool is_encryption_leaf(const frame& leaf) {
    return leaf.capabilities.size() == 1 &&
           leaf.capabilities[0].which() == capability::alternative::encrypt;
}

using transcript_hash = crypto::sha256_digest;

}  // namespace

const char* describe(error e) {
    switch (e) {
    case error::bad_message: return "the handshake message or record is malformed";
    case error::bad_token: return "the encryption token was rejected";
    case error::token_too_large: return "the encryption token is too large for a hello";
    case error::forward_secrecy_required: return "the server requires forward secrecy";
    case error::bad_proof: return "the peer did not prove knowledge of the encryption token's tag";
    case error::bad_ephemeral_auth: return "an ephemeral public key is not authenticated";
    case error::weak_shared_secret: return "the peer sent a low-order ephemeral key";
    case error::replayed_or_out_of_order: return "the record is replayed, reordered or after a gap";
    case error::bad_record_tag: return "the record's MAC is wrong";
    case error::record_too_large: return "the record exceeds the maximum record size";
    case error::counter_exhausted: return "the record counter is exhausted: start a new session";
    case error::buffer_too_small: return "the output buffer is too small";
    case error::random_unavailable: return "the entropy source is unavailable";
    case error::crypto_failure: return "the crypto backend failed";
    case error::wrong_state: return "the call is out of order for this handshake or session";
    }
    return "unknown channel error";
}

byte_view domain(purpose p) {
    switch (p) {
    case purpose::client_ephemeral: return literal_bytes(client_ephemeral_domain);
    case purpose::server_ephemeral: return literal_bytes(server_ephemeral_domain);
    case purpose::server_proof: return literal_bytes(server_proof_domain);
    case purpose::client_proof: return literal_bytes(client_proof_domain);
    case purpose::keys: return literal_bytes(keys_domain);
    case purpose::record: return literal_bytes(record_domain);
    }
    AMB_REQUIRE(false, "unknown channel purpose");
    return {};
}

amb::result<token_view, error> derive_encryption_token(const token_view& token,
                                                       std::span<std::uint8_t> frame_scratch,
                                                       lidl::builder& out) {
    frame_spec spec;
    if (!spec.add_encrypt() || !spec.inherit_constraints(token.leaf()))
        return amb::failure{error::bad_token};
    lidl::builder frame_out(frame_scratch);
    auto frame_message = spec.write(frame_out);
    if (!frame_message)
        return amb::failure{error::buffer_too_small};
    auto derived = caplets::derive(token, *frame_message, out);
    if (!derived)
        return amb::failure{derived.error() == build_error::buffer_too_small
                                ? error::buffer_too_small
                                : error::bad_token};
    auto parsed = token_view::parse(*derived);
    if (!parsed)
        return amb::failure{error::bad_token};
    return *parsed;
}

// --- keys ----------------------------------------------------------------------------------------

namespace {

constexpr std::size_t key_material_size = 2 * (crypto::aes128_key_size + crypto::sha256_size);

// HKDF-SHA256(salt = Nc || Ns, ikm = K [|| X25519 secret], info = domain(keys) || th) split into
// enc c->s (16), mac c->s (32), enc s->c (16), mac s->c (32).
amb::result<void, error> expand_keys(const tag_bytes& shared, byte_view exchanged,
                                     byte_view client_nonce, byte_view server_nonce,
                                     const transcript_hash& transcript,
                                     std::span<std::uint8_t, key_material_size> keys) {
    std::array<std::uint8_t, 2 * nonce_size> salt{};
    std::memcpy(salt.data(), client_nonce.data(), nonce_size);
    std::memcpy(salt.data() + nonce_size, server_nonce.data(), nonce_size);
    std::array<std::uint8_t, 2 * crypto::sha256_size> input{};
    std::memcpy(input.data(), shared.data(), shared.size());
    if (!exchanged.empty())
        std::memcpy(input.data() + shared.size(), exchanged.data(), exchanged.size());
    byte_view label = domain(purpose::keys);
    std::array<std::uint8_t, 64 + crypto::sha256_size> info{};
    static_assert(sizeof keys_domain <= 64);
    std::memcpy(info.data(), label.data(), label.size());
    std::memcpy(info.data() + label.size(), transcript.data(), transcript.size());
    auto expanded = crypto::hkdf(salt, std::span(input).first(shared.size() + exchanged.size()),
                                 std::span(info).first(label.size() + transcript.size()), keys);
    crypto::secure_zero(input);
    if (!expanded) {
        crypto::secure_zero(keys);
        return amb::failure{error::crypto_failure};
    }
    return {};
}

}  // namespace

// --- session -------------------------------------------------------------------------------------

namespace {

crypto::sha256_digest record_tag(byte_view mac_key, std::uint8_t direction, byte_view counter,
                                 byte_view ciphertext) {
    crypto::hmac_sha256 mac(mac_key);
    mac.update(domain(purpose::record));
    mac.update(byte_view(&direction, 1));
    mac.update(counter);
    mac.update(ciphertext);
    return mac.finish();
}

// The CTR counter block of a record: its counter in the high half, the block index within the
// record in the low half, so distinct records never share a key stream block.
std::array<std::uint8_t, crypto::aes128_ctr_iv_size> record_iv(std::uint64_t counter) {
    std::array<std::uint8_t, crypto::aes128_ctr_iv_size> iv{};
    store_be64(iv.data(), counter);
    return iv;
}

}  // namespace

session session::from_key_material(byte_view keys, bool is_client) {
    AMB_REQUIRE(keys.size() == key_material_size, "session key material has the wrong size");
    session s;
    direction_state client_state;
    direction_state server_state;
    std::size_t at = 0;
    for (direction_state* state : {&client_state, &server_state}) {
        std::memcpy(state->encryption_key.data(), keys.data() + at, state->encryption_key.size());
        at += state->encryption_key.size();
        std::memcpy(state->mac_key.data(), keys.data() + at, state->mac_key.size());
        at += state->mac_key.size();
    }
    client_state.direction = client_to_server;
    server_state.direction = server_to_client;
    s.send_ = is_client ? client_state : server_state;
    s.receive_ = is_client ? server_state : client_state;
    s.live_ = true;
    for (direction_state* state : {&client_state, &server_state}) {
        crypto::secure_zero(state->encryption_key);
        crypto::secure_zero(state->mac_key);
    }
    return s;
}

session::session(session&& other) noexcept
    : send_(other.send_), receive_(other.receive_), live_(other.live_) {
    other.wipe();
}

session& session::operator=(session&& other) noexcept {
    if (this == &other)
        return *this;
    wipe();
    send_ = other.send_;
    receive_ = other.receive_;
    live_ = other.live_;
    other.wipe();
    return *this;
}

session::~session() { wipe(); }

void session::wipe() {
    for (direction_state* state : {&send_, &receive_}) {
        crypto::secure_zero(state->encryption_key);
        crypto::secure_zero(state->mac_key);
        state->counter = 0;
        state->direction = 0;
    }
    live_ = false;
}

amb::result<byte_view, error> session::seal(byte_view plaintext, std::span<std::uint8_t> out) {
    if (!live_)
        return amb::failure{error::wrong_state};
    if (std::uint64_t{plaintext.size()} > max_record_plaintext)
        return amb::failure{error::record_too_large};
    if (send_.counter == UINT64_MAX)
        return amb::failure{error::counter_exhausted};
    if (out.size() < overhead || out.size() - overhead < plaintext.size())
        return amb::failure{error::buffer_too_small};
    const std::size_t size = plaintext.size();
    store_be64(out.data(), send_.counter);
    std::span<std::uint8_t> ciphertext = out.subspan(counter_size, size);
    if (size > 0) {
        auto encrypted = crypto::aes128_ctr_xor(send_.encryption_key, record_iv(send_.counter),
                                                plaintext, ciphertext);
        if (!encrypted) {
            crypto::secure_zero(out.first(counter_size + size));
            return amb::failure{error::crypto_failure};
        }
    }
    crypto::sha256_digest tag =
        record_tag(send_.mac_key, send_.direction, out.first(counter_size), ciphertext);
    std::memcpy(out.data() + counter_size + size, tag.data(), tag_size);
    ++send_.counter;
    return byte_view(out.first(size + overhead));
}

amb::result<byte_view, error> session::open(byte_view record, std::span<std::uint8_t> out) {
    if (!live_)
        return amb::failure{error::wrong_state};
    if (record.size() < overhead)
        return amb::failure{error::bad_message};
    const std::size_t size = record.size() - overhead;
    if (std::uint64_t{size} > max_record_plaintext)
        return amb::failure{error::record_too_large};
    // Strictly the next counter: a replay, a reordering or a gap all fail here. The counter is
    // also under the MAC, so it cannot be rewritten to pass this check.
    if (load_be64(record.data()) != receive_.counter)
        return amb::failure{error::replayed_or_out_of_order};
    if (out.size() < size)
        return amb::failure{error::buffer_too_small};
    byte_view ciphertext = record.subspan(counter_size, size);
    crypto::sha256_digest tag =
        record_tag(receive_.mac_key, receive_.direction, record.first(counter_size), ciphertext);
    // Encrypt-then-MAC: nothing is decrypted before the tag matches.
    if (!crypto::constant_time_equal(byte_view(tag).first(tag_size),
                                     record.subspan(counter_size + size, tag_size)))
        return amb::failure{error::bad_record_tag};
    if (size > 0) {
        auto decrypted = crypto::aes128_ctr_xor(receive_.encryption_key,
                                                record_iv(receive_.counter), ciphertext,
                                                out.first(size));
        if (!decrypted) {
            crypto::secure_zero(out.first(size));
            return amb::failure{error::crypto_failure};
        }
    }
    ++receive_.counter;
    return byte_view(out.first(size));
}

// --- client --------------------------------------------------------------------------------------

client_handshake::~client_handshake() { wipe(); }

void client_handshake::wipe() {
    crypto::secure_zero(shared_);
    crypto::secure_zero(ephemeral_.private_key);
}

amb::result<byte_view, handshake_error> client_handshake::start(const token_view& encryption_token,
                                                                mode m,
                                                                std::span<std::uint8_t> out) {
    // Failures here send nothing, so the object stays idle and may start again.
    if (stage_ != stage::idle)
        return handshake_failure(error::wrong_state);
    if (!is_encryption_leaf(encryption_token.leaf())) {
        // Sending the body of any other token would hand out a key that someone could derive
        // further from: only a leaf-only encrypt frame makes tag(T_E) a dead end (§4.4.9).
        reason why;
        why.what = check::not_an_encryption_token;
        why.frame = static_cast<std::uint8_t>(encryption_token.frame_count() - 1);
        return token_failure(why);
    }
    byte_view token_bytes = encryption_token.bytes();
    if (token_bytes.size() > max_token_size)
        return handshake_failure(error::token_too_large);
    const std::size_t size = hello_size(m, token_bytes.size());
    if (out.size() < size)
        return handshake_failure(error::buffer_too_small);
    if (auto nonce = crypto::random_bytes(client_nonce_); !nonce)
        return handshake_failure(from_crypto(nonce.error()));
    if (m == mode::forward_secret) {
        auto generated = crypto::x25519_generate();
        if (!generated)
            return handshake_failure(from_crypto(generated.error()));
        ephemeral_ = generated.value();
        crypto::secure_zero(generated.value().private_key);
    }
    shared_ = encryption_token.tag();

    std::uint8_t* at = out.data();
    write_header(at, hello_type, m, size);
    at += message_header_size;
    std::memcpy(at, client_nonce_.data(), nonce_size);
    at += nonce_size;
    if (m == mode::forward_secret) {
        std::memcpy(at, ephemeral_.public_key.data(), crypto::x25519_key_size);
        at += crypto::x25519_key_size;
        crypto::sha256_digest auth = domain_mac(shared_, purpose::client_ephemeral,
                                                {client_nonce_, ephemeral_.public_key});
        std::memcpy(at, auth.data(), auth.size());
        at += auth.size();
    }
    // The token without its tag: the tag is K, which never crosses the network.
    std::memcpy(at, token_bytes.data(), token_bytes.size());
    const std::size_t tag_offset =
        static_cast<std::size_t>(encryption_token.tag().data() - token_bytes.data());
    std::memset(at + tag_offset, 0, sizeof(tag_bytes));

    byte_view hello = out.first(size);
    transcript_ = crypto::sha256();
    transcript_.update(hello);
    mode_ = m;
    stage_ = stage::awaiting_reply;
    return hello;
}

amb::result<client_handshake::finished, handshake_error> client_handshake::on_server_reply(
    byte_view reply, std::span<std::uint8_t> out) {
    if (stage_ != stage::awaiting_reply)
        return handshake_failure(error::wrong_state);
    if (out.size() < client_proof_size)
        return handshake_failure(error::buffer_too_small);
    auto fail = [this](error what) {
        wipe();
        stage_ = stage::done;
        return handshake_failure(what);
    };
    mode m{};
    if (!read_header(reply, reply_type, m) || m != mode_ || reply.size() != reply_size(mode_))
        return fail(error::bad_message);
    const std::uint8_t* at = reply.data() + message_header_size;
    byte_view server_nonce(at, nonce_size);
    at += nonce_size;
    crypto::x25519_key server_public{};
    if (mode_ == mode::forward_secret) {
        std::memcpy(server_public.data(), at, server_public.size());
        crypto::sha256_digest expected =
            domain_mac(shared_, purpose::server_ephemeral,
                       {client_nonce_, server_nonce, ephemeral_.public_key, server_public});
        if (!crypto::constant_time_equal(expected,
                                         byte_view(at + server_public.size(), proof_size)))
            return fail(error::bad_ephemeral_auth);
    }
    crypto::sha256 transcript = transcript_;
    transcript.update(reply.first(reply.size() - proof_size));
    const transcript_hash hash = transcript.finish();
    crypto::sha256_digest expected_proof = domain_mac(shared_, purpose::server_proof, {hash});
    if (!crypto::constant_time_equal(expected_proof, reply.last(proof_size)))
        return fail(error::bad_proof);

    crypto::x25519_key exchanged{};
    if (mode_ == mode::forward_secret) {
        auto secret = crypto::x25519_shared_secret(ephemeral_.private_key, server_public);
        if (!secret)
            return fail(from_crypto(secret.error()));
        exchanged = secret.value();
        crypto::secure_zero(secret.value());
    }
    std::array<std::uint8_t, key_material_size> keys{};
    auto expanded = expand_keys(shared_,
                                mode_ == mode::forward_secret ? byte_view(exchanged) : byte_view(),
                                client_nonce_, server_nonce, hash, keys);
    crypto::secure_zero(exchanged);
    if (!expanded)
        return fail(expanded.error());
    session keys_session = session::from_key_material(keys, true);
    crypto::secure_zero(keys);

    crypto::sha256_digest proof = domain_mac(shared_, purpose::client_proof, {hash});
    write_header(out.data(), client_proof_type, mode_, client_proof_size);
    std::memcpy(out.data() + message_header_size, proof.data(), proof.size());
    wipe();
    stage_ = stage::done;
    return finished{out.first(client_proof_size), std::move(keys_session)};
}

// --- server --------------------------------------------------------------------------------------

server_handshake::~server_handshake() { wipe(); }

void server_handshake::wipe() {
    crypto::secure_zero(expected_client_proof_);
    pending_.wipe();
    for (verification_details::pending_sequence& p : sequences_.sequences) {
        crypto::secure_zero(p.key.root);
        crypto::secure_zero(p.key.holder);
    }
    crypto::secure_zero(sequences_.holder);
    sequences_.sequence_count = 0;
}

amb::result<byte_view, handshake_error> server_handshake::on_hello(const secret_key& secret,
                                                                   byte_view hello,
                                                                   const verify_context& context,
                                                                   std::span<std::uint8_t> out) {
    if (stage_ != stage::idle)
        return handshake_failure(error::wrong_state);
    auto fail = [this](error what) {
        wipe();
        stage_ = stage::done;
        return handshake_failure(what);
    };
    mode m{};
    if (!read_header(hello, hello_type, m))
        return fail(error::bad_message);
    if (require_forward_secrecy_ && m != mode::forward_secret)
        return fail(error::forward_secrecy_required);
    // Before anything with side effects (verification may consume a sequence number).
    const std::size_t size = reply_size(m);
    if (out.size() < size)
        return handshake_failure(error::buffer_too_small);
    const std::size_t fixed = message_header_size + nonce_size + ephemeral_size(m);
    if (hello.size() <= fixed)
        return fail(error::bad_message);
    if (hello.size() - fixed > max_token_size)
        return fail(error::token_too_large);
    AMB_REQUIRE(reinterpret_cast<std::uintptr_t>(hello.data()) % lidl::message_alignment == 0,
                "a hello must start on an 8-byte boundary");

    const std::uint8_t* at = hello.data() + message_header_size;
    byte_view client_nonce(at, nonce_size);
    at += nonce_size;
    byte_view client_public;
    byte_view client_auth;
    if (m == mode::forward_secret) {
        client_public = byte_view(at, crypto::x25519_key_size);
        client_auth = byte_view(at + crypto::x25519_key_size, proof_size);
    }
    auto token = token_view::parse(hello.subspan(fixed));
    if (!token) {
        wipe();
        stage_ = stage::done;
        return token_failure(token.error());
    }
    // The tag must not travel: a client that sent it has leaked K to every listener.
    for (std::uint8_t b : token->tag())
        if (b != 0)
            return fail(error::bad_message);
    // The hello is not authenticated yet (anyone can build one from public frame bytes): its
    // sequence numbers are checked now and recorded only after the client's proof.
    verify_context deferred = context;
    deferred.defer_sequences = true;
    auto verified = verify_encryption_token(secret, *token, deferred, &sequences_);
    if (verified) {
        auto fresh = check_sequences(deferred, sequences_);
        if (!fresh) {
            crypto::secure_zero(verified.value());
            wipe();
            stage_ = stage::done;
            return token_failure(fresh.error());
        }
    }
    if (!verified) {
        wipe();
        stage_ = stage::done;
        return token_failure(verified.error());
    }
    sequence_context_ = verify_context{};
    sequence_context_.now = context.now;
    sequence_context_.sequences = context.sequences;
    tag_bytes shared = verified.value();
    crypto::secure_zero(verified.value());

    // Everything below needs K; `finish` erases it on every path.
    auto finish = [&](error what) {
        crypto::secure_zero(shared);
        return fail(what);
    };
    if (m == mode::forward_secret) {
        crypto::sha256_digest expected =
            domain_mac(shared, purpose::client_ephemeral, {client_nonce, client_public});
        if (!crypto::constant_time_equal(expected, client_auth))
            return finish(error::bad_ephemeral_auth);
    }
    std::array<std::uint8_t, nonce_size> server_nonce{};
    if (auto random = crypto::random_bytes(server_nonce); !random)
        return finish(from_crypto(random.error()));
    crypto::x25519_keypair ephemeral{};
    crypto::x25519_key exchanged{};
    auto erase_ephemeral = [&] {
        crypto::secure_zero(ephemeral.private_key);
        crypto::secure_zero(exchanged);
    };
    if (m == mode::forward_secret) {
        auto generated = crypto::x25519_generate();
        if (!generated)
            return finish(from_crypto(generated.error()));
        ephemeral = generated.value();
        crypto::secure_zero(generated.value().private_key);
        crypto::x25519_key peer{};
        std::memcpy(peer.data(), client_public.data(), peer.size());
        auto secret_point = crypto::x25519_shared_secret(ephemeral.private_key, peer);
        if (!secret_point) {
            erase_ephemeral();
            return finish(from_crypto(secret_point.error()));
        }
        exchanged = secret_point.value();
        crypto::secure_zero(secret_point.value());
    }

    std::uint8_t* write = out.data();
    write_header(write, reply_type, m, size);
    write += message_header_size;
    std::memcpy(write, server_nonce.data(), nonce_size);
    write += nonce_size;
    if (m == mode::forward_secret) {
        std::memcpy(write, ephemeral.public_key.data(), crypto::x25519_key_size);
        write += crypto::x25519_key_size;
        crypto::sha256_digest auth =
            domain_mac(shared, purpose::server_ephemeral,
                       {client_nonce, server_nonce, client_public, ephemeral.public_key});
        std::memcpy(write, auth.data(), auth.size());
        write += auth.size();
    }
    crypto::sha256 transcript;
    transcript.update(hello);
    transcript.update(out.first(size - proof_size));
    const transcript_hash hash = transcript.finish();
    crypto::sha256_digest proof = domain_mac(shared, purpose::server_proof, {hash});
    std::memcpy(write, proof.data(), proof.size());

    std::array<std::uint8_t, key_material_size> keys{};
    auto expanded =
        expand_keys(shared, m == mode::forward_secret ? byte_view(exchanged) : byte_view(),
                    client_nonce, server_nonce, hash, keys);
    erase_ephemeral();
    if (!expanded) {
        crypto::secure_zero(out.first(size));
        return finish(expanded.error());
    }
    pending_ = session::from_key_material(keys, false);
    crypto::secure_zero(keys);
    // K is no longer needed once the proof the client must send is known.
    expected_client_proof_ = domain_mac(shared, purpose::client_proof, {hash});
    crypto::secure_zero(shared);
    mode_ = m;
    stage_ = stage::awaiting_proof;
    return byte_view(out.first(size));
}

amb::result<session, handshake_error> server_handshake::on_client_proof(byte_view proof) {
    if (stage_ != stage::awaiting_proof)
        return handshake_failure(error::wrong_state);
    auto fail = [this](error what) {
        wipe();
        stage_ = stage::done;
        return handshake_failure(what);
    };
    mode m{};
    if (!read_header(proof, client_proof_type, m) || m != mode_ ||
        proof.size() != client_proof_size)
        return fail(error::bad_message);
    if (!crypto::constant_time_equal(expected_client_proof_, proof.last(proof_size)))
        return fail(error::bad_proof);
    // The client knows tag(T_E): only now does its hello's sequence number count.
    auto recorded = commit_sequences(sequence_context_, sequences_);
    if (!recorded) {
        wipe();
        stage_ = stage::done;
        return token_failure(recorded.error());
    }
    session established = std::move(pending_);
    wipe();
    stage_ = stage::done;
    return amb::result<session, handshake_error>(std::move(established));
}

}  // namespace caplets::channel
