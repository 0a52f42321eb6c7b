// The CAPLets key exchange and channel against the attacks the design and the thesis name:
// wrong or tampered tokens, eavesdroppers, forged proofs and ephemeral keys, low-order points,
// downgrades, tampered, replayed, reordered, dropped and reflected records, and the thesis'
// attack of asking a party to MAC something under tag(T_E) and using that MAC as the tag of a
// derivation of T_E.
#include <caplets/channel.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace caplets::channel {
namespace {

using bytes = std::vector<std::uint8_t>;
namespace crypto = amb::crypto;

// 8-byte aligned storage: lidl messages, and hellos (the server reads the token in place).
class aligned {
public:
    explicit aligned(std::size_t size) : storage_(size / 8 + 1), size_(size) {}
    explicit aligned(byte_view content) : aligned(content.size()) {
        if (!content.empty())
            std::memcpy(data(), content.data(), content.size());
    }
    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(storage_.data()); }
    std::span<std::uint8_t> span() { return {data(), size_}; }
    byte_view view() { return {data(), size_}; }

private:
    std::vector<std::uint64_t> storage_;
    std::size_t size_;
};

// An origin (its secret) and the storage of every token a test makes.
class origin {
public:
    explicit origin(std::uint8_t fill = 0x42) { key_.bytes.fill(fill); }
    const secret_key& key() const { return key_; }

    token_view mint(const frame_spec& spec) { return make(nullptr, spec); }

    token_view derive(const token_view& parent, frame_spec spec) {
        spec.inherit_constraints(parent.leaf());
        return make(&parent, spec);
    }

    // T_E from T, as a client does it.
    token_view encryption_token(const token_view& parent) {
        aligned frame_storage(4096);
        aligned& storage = next();
        lidl::builder out(storage.span());
        auto derived = derive_encryption_token(parent, frame_storage.span(), out);
        EXPECT_TRUE(derived) << describe(derived.error());
        return keep(derived->bytes());
    }

    token_view keep(byte_view token_bytes) {
        aligned& storage = next();
        std::memcpy(storage.data(), token_bytes.data(), token_bytes.size());
        auto view = token_view::parse(storage.view().first(token_bytes.size()));
        EXPECT_TRUE(view);
        return *view;
    }

private:
    // Writes `spec` as a frame and mints it (no parent) or derives it from `parent`.
    token_view make(const token_view* parent, const frame_spec& spec) {
        aligned frame_storage(4096);
        lidl::builder frame_out(frame_storage.span());
        auto frame_message = spec.write(frame_out);
        EXPECT_TRUE(frame_message);
        aligned& storage = next();
        lidl::builder out(storage.span());
        auto token = parent == nullptr ? caplets::mint(key_, *frame_message, out)
                                       : caplets::derive(*parent, *frame_message, out);
        EXPECT_TRUE(token);
        return keep(*token);
    }

    aligned& next() { return storage_.emplace_back(std::size_t{8192}); }

    secret_key key_;
    std::deque<aligned> storage_;
};

// The error of a result, or nothing when it succeeded (so that an unexpected success is a test
// failure rather than a precondition stop).
template <class T>
std::optional<error> failed_with(const amb::result<T, error>& r) {
    return r ? std::nullopt : std::optional<error>(r.error());
}
template <class T>
std::optional<error> failed_with(const amb::result<T, handshake_error>& r) {
    return r ? std::nullopt : std::optional<error>(r.error().what);
}
template <class T>
std::optional<check> failed_with(const amb::result<T, reason>& r) {
    return r ? std::nullopt : std::optional<check>(r.error().what);
}

verify_context at(std::uint64_t now) {
    verify_context context;
    context.now = now;
    return context;
}

frame_spec path_spec(std::string_view prefix, std::uint8_t bits) {
    frame_spec spec;
    spec.add_path(prefix, bits);
    return spec;
}

// A client's token T (alice's home, read/write, expiring at 5000) and T_E derived from it.
struct tokens {
    token_view holder;
    token_view encryption;
};

tokens alice_tokens(origin& o) {
    frame_spec root;
    root.add_root();
    frame_spec alice = path_spec("/home/alice", rights::read | rights::write);
    alice.add_expires(5000);
    token_view holder = o.derive(o.mint(root), alice);
    return {holder, o.encryption_token(holder)};
}

std::string what(const handshake_error& e) {
    std::string text = describe(e.what);
    if (e.what == error::bad_token)
        text += std::string(": ") + caplets::describe(e.token.what);
    return text;
}

// Everything that crossed the network, and the two sessions.
struct connection {
    bytes hello;
    bytes reply;
    bytes proof;
    std::optional<session> client;
    std::optional<session> server;
};

void establish(const origin& o, const token_view& encryption, mode m, connection& c,
               const verify_context& context = at(1000)) {
    client_handshake client;
    server_handshake server;
    aligned hello_out(hello_size(m, encryption.bytes().size()));
    auto hello = client.start(encryption, m, hello_out.span());
    ASSERT_TRUE(hello) << what(hello.error());
    c.hello.assign(hello->begin(), hello->end());
    aligned received(c.hello);
    aligned reply_out(reply_size(m));
    auto reply = server.on_hello(o.key(), received.view(), context, reply_out.span());
    ASSERT_TRUE(reply) << what(reply.error());
    EXPECT_EQ(server.negotiated(), m);
    c.reply.assign(reply->begin(), reply->end());
    aligned proof_out(client_proof_size);
    auto finished = client.on_server_reply(c.reply, proof_out.span());
    ASSERT_TRUE(finished) << what(finished.error());
    c.proof.assign(finished->proof.begin(), finished->proof.end());
    c.client.emplace(std::move(finished->keys));
    auto established = server.on_client_proof(c.proof);
    ASSERT_TRUE(established) << what(established.error());
    c.server.emplace(std::move(*established));
}

bytes seal(session& s, std::string_view text) {
    bytes out(text.size() + session::overhead);
    auto record = s.seal(crypto::as_bytes(text), out);
    EXPECT_TRUE(record) << describe(record.error());
    if (!record)
        return {};
    EXPECT_EQ(record->size(), out.size());
    return out;
}

amb::result<std::string, error> open(session& s, byte_view record) {
    bytes out(record.size());
    auto plaintext = s.open(record, out);
    if (!plaintext)
        return amb::failure{plaintext.error()};
    return std::string(plaintext->begin(), plaintext->end());
}

// The documented MAC input: domain(p) || parts.
bytes mac_input(purpose p, std::initializer_list<byte_view> parts) {
    bytes input(domain(p).begin(), domain(p).end());
    for (byte_view part : parts)
        input.insert(input.end(), part.begin(), part.end());
    return input;
}

tag_bytes documented_mac(byte_view key, purpose p, std::initializer_list<byte_view> parts) {
    return crypto::hmac_sha256::mac(key, mac_input(p, parts));
}

crypto::sha256_digest transcript_hash(byte_view hello, byte_view reply) {
    crypto::sha256 hash;
    hash.update(hello);
    hash.update(reply.first(reply.size() - proof_size));
    return hash.finish();
}

// The documented key schedule of mode::tag_only, computed by someone who knows K and saw the
// handshake (the origin; in the forward-secret mode this must *not* give the keys).
std::array<std::uint8_t, 96> tag_only_keys(const tag_bytes& k, byte_view hello, byte_view reply) {
    bytes salt(hello.begin() + 8, hello.begin() + 40);
    salt.insert(salt.end(), reply.begin() + 8, reply.begin() + 40);
    crypto::sha256_digest hash = transcript_hash(hello, reply);
    bytes info = mac_input(purpose::keys, {hash});
    std::array<std::uint8_t, 96> keys{};
    EXPECT_TRUE(crypto::hkdf(salt, k, info, keys));
    return keys;
}

// A hello written by hand from the documented layout (for attackers and malicious clients).
bytes make_hello(const token_view& token, mode m, const tag_bytes& k,
                 const crypto::x25519_key& ephemeral, bool zero_tag = true) {
    bytes nonce(nonce_size, 0x11);
    std::size_t size = hello_size(m, token.bytes().size());
    bytes hello = {1, 1, static_cast<std::uint8_t>(m), 0, 0, 0, 0, 0};
    std::uint32_t length = static_cast<std::uint32_t>(size - 8);
    for (int i = 0; i < 4; ++i)
        hello[4 + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
    hello.insert(hello.end(), nonce.begin(), nonce.end());
    if (m == mode::forward_secret) {
        hello.insert(hello.end(), ephemeral.begin(), ephemeral.end());
        tag_bytes auth = documented_mac(k, purpose::client_ephemeral, {nonce, ephemeral});
        hello.insert(hello.end(), auth.begin(), auth.end());
    }
    std::size_t token_at = hello.size();
    hello.insert(hello.end(), token.bytes().begin(), token.bytes().end());
    if (zero_tag) {
        auto offset = static_cast<std::size_t>(token.tag().data() - token.bytes().data());
        std::fill_n(hello.begin() + static_cast<std::ptrdiff_t>(token_at + offset), 32, 0);
    }
    EXPECT_EQ(hello.size(), size);
    return hello;
}

amb::result<byte_view, handshake_error> serve_hello(server_handshake& server, const origin& o,
                                                    byte_view hello, aligned& reply_out,
                                                    const verify_context& context = at(1000)) {
    aligned received(hello);
    return server.on_hello(o.key(), received.view(), context, reply_out.span());
}

handshake_error refused_hello(const origin& o, byte_view hello,
                              const verify_context& context = at(1000)) {
    server_handshake server;
    aligned reply_out(reply_size(mode::forward_secret));
    auto reply = serve_hello(server, o, hello, reply_out, context);
    EXPECT_FALSE(reply);
    return reply ? handshake_error{} : reply.error();
}

bool contains(byte_view haystack, byte_view needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

const char* const low_order_points[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
};

crypto::x25519_key from_hex(const char* hex) {
    crypto::x25519_key key{};
    for (std::size_t i = 0; i < key.size(); ++i)
        key[i] = static_cast<std::uint8_t>(std::stoi(std::string(hex + 2 * i, 2), nullptr, 16));
    return key;
}

constexpr mode both_modes[] = {mode::tag_only, mode::forward_secret};

// --- handshake -----------------------------------------------------------------------------------

TEST(handshake, both_modes_establish_a_channel_that_works_both_ways) {
    for (mode m : both_modes) {
        SCOPED_TRACE(static_cast<int>(m));
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        EXPECT_EQ(c.hello.size(), hello_size(m, t.encryption.bytes().size()));
        EXPECT_EQ(c.reply.size(), reply_size(m));
        EXPECT_EQ(c.proof.size(), client_proof_size);
        for (int round = 0; round < 5; ++round) {
            std::string request = "read /home/alice/notes.txt #" + std::to_string(round);
            bytes record = seal(*c.client, request);
            EXPECT_FALSE(contains(record, crypto::as_bytes(request)));
            auto opened = open(*c.server, record);
            ASSERT_TRUE(opened) << describe(opened.error());
            EXPECT_EQ(*opened, request);
            std::string response(static_cast<std::size_t>(round) * 37, 'x');
            auto answered = open(*c.client, seal(*c.server, response));
            ASSERT_TRUE(answered) << describe(answered.error());
            EXPECT_EQ(*answered, response);
        }
        EXPECT_EQ(c.client->sent(), 5u);
        EXPECT_EQ(c.client->received(), 5u);
        EXPECT_EQ(c.server->sent(), 5u);
        EXPECT_EQ(c.server->received(), 5u);
    }
}

TEST(handshake, hello_follows_the_documented_layout) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        const bytes& h = c.hello;
        EXPECT_EQ(h[0], 1);
        EXPECT_EQ(h[1], 1);
        EXPECT_EQ(h[2], static_cast<std::uint8_t>(m));
        EXPECT_EQ(h[3], 0);
        std::uint32_t length = (std::uint32_t{h[4]} << 24) | (std::uint32_t{h[5]} << 16) |
                               (std::uint32_t{h[6]} << 8) | h[7];
        EXPECT_EQ(length, h.size() - 8);
        std::size_t token_at = 8 + 32 + (m == mode::forward_secret ? 64 : 0);
        aligned token_copy(byte_view(h).subspan(token_at));
        auto sent = token_view::parse(token_copy.view());
        ASSERT_TRUE(sent);
        EXPECT_EQ(sent->tag(), tag_bytes{});  // sent without its tag
        ASSERT_EQ(sent->frame_count(), t.encryption.frame_count());
        for (std::size_t f = 0; f < sent->frame_count(); ++f)
            EXPECT_TRUE(std::ranges::equal(sent->frame_bytes(f), t.encryption.frame_bytes(f)));
        // T_E = T + one frame: only `encrypt`, with T's constraints kept.
        EXPECT_EQ(t.encryption.frame_count(), t.holder.frame_count() + 1);
        ASSERT_EQ(t.encryption.leaf().capabilities.size(), 1u);
        EXPECT_EQ(t.encryption.leaf().capabilities[0].which(), capability::alternative::encrypt);
        EXPECT_EQ(t.encryption.leaf().constraints.size(), 1u);
    }
}

TEST(handshake, proofs_and_ephemeral_macs_are_the_documented_ones) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        const tag_bytes& k = t.encryption.tag();
        byte_view hello = c.hello;
        byte_view reply = c.reply;
        crypto::sha256_digest hash = transcript_hash(hello, reply);
        EXPECT_TRUE(std::ranges::equal(reply.last(32),
                                       documented_mac(k, purpose::server_proof, {hash})));
        EXPECT_TRUE(std::ranges::equal(byte_view(c.proof).last(32),
                                       documented_mac(k, purpose::client_proof, {hash})));
        if (m == mode::forward_secret) {
            byte_view nc = hello.subspan(8, 32), ec = hello.subspan(40, 32);
            byte_view ns = reply.subspan(8, 32), es = reply.subspan(40, 32);
            EXPECT_TRUE(std::ranges::equal(hello.subspan(72, 32),
                                           documented_mac(k, purpose::client_ephemeral, {nc, ec})));
            EXPECT_TRUE(std::ranges::equal(
                reply.subspan(72, 32),
                documented_mac(k, purpose::server_ephemeral, {nc, ns, ec, es})));
        }
    }
}

// The tag never travels, so the origin cannot tell a token of another origin, or a well-formed
// token with changed bytes, from a genuine one: it computes its own tag K' over what it received.
// Key confirmation rejects them: in forward-secret mode the server finds the MAC of the client's
// ephemeral key wrong at once; otherwise the client finds the server's proof wrong (K' != K), and
// a client that insists gets its proof refused. Returns the server's error on the hello, if any.
std::optional<error> expect_key_confirmation_fails(const origin& server_origin,
                                                   const tag_bytes& client_key,
                                                   byte_view hello_sent, client_handshake* client,
                                                   mode m) {
    server_handshake server;
    aligned reply_out(reply_size(m));
    auto reply = serve_hello(server, server_origin, hello_sent, reply_out);
    if (!reply) {
        // Structural problems are found at once, with the reason.
        EXPECT_TRUE(reply.error().what == error::bad_token ||
                    reply.error().what == error::bad_message ||
                    reply.error().what == error::bad_ephemeral_auth)
            << what(reply.error());
        return reply.error().what;
    }
    if (client != nullptr) {
        aligned proof_out(client_proof_size);
        auto finished = client->on_server_reply(*reply, proof_out.span());
        EXPECT_FALSE(finished);
        if (!finished) {
            EXPECT_EQ(failed_with(finished), error::bad_proof);
        }
    }
    bytes proof = {1, 3, static_cast<std::uint8_t>(m), 0, 0, 0, 0, 32};
    tag_bytes p_c =
        documented_mac(client_key, purpose::client_proof, {transcript_hash(hello_sent, *reply)});
    proof.insert(proof.end(), p_c.begin(), p_c.end());
    auto established = server.on_client_proof(proof);
    EXPECT_FALSE(established);
    if (!established) {
        EXPECT_EQ(failed_with(established), error::bad_proof);
    }
    return std::nullopt;
}

TEST(handshake, token_from_another_origin_fails_key_confirmation) {
    origin ours(0x01);
    origin theirs(0x02);
    tokens t = alice_tokens(theirs);
    for (mode m : both_modes) {
        client_handshake client;
        aligned hello_out(hello_size(m, t.encryption.bytes().size()));
        auto hello = client.start(t.encryption, m, hello_out.span());
        ASSERT_TRUE(hello);
        std::optional<error> at_hello =
            expect_key_confirmation_fails(ours, t.encryption.tag(), *hello, &client, m);
        if (m == mode::forward_secret) {
            EXPECT_EQ(at_hello, error::bad_ephemeral_auth);
        } else {
            EXPECT_FALSE(at_hello.has_value());
        }
    }
}

TEST(handshake, every_tampered_token_byte_is_rejected) {
    origin o;
    tokens t = alice_tokens(o);
    const std::size_t token_at = 8 + 32;
    int refused_at_once = 0;
    for (std::size_t i = token_at; i < hello_size(mode::tag_only, t.encryption.bytes().size());
         ++i) {
        client_handshake client;
        aligned hello_out(hello_size(mode::tag_only, t.encryption.bytes().size()));
        auto hello = client.start(t.encryption, mode::tag_only, hello_out.span());
        ASSERT_TRUE(hello);
        bytes tampered(hello->begin(), hello->end());
        tampered[i] ^= 0x01;
        {
            server_handshake probe;
            aligned reply_out(reply_size(mode::tag_only));
            refused_at_once += serve_hello(probe, o, tampered, reply_out) ? 0 : 1;
        }
        SCOPED_TRACE(i);
        (void)expect_key_confirmation_fails(o, t.encryption.tag(), tampered, &client,
                                            mode::tag_only);
    }
    // Most bytes are structure (offsets, union tags, lengths, the tag field, padding).
    EXPECT_GT(refused_at_once, 0);
}

TEST(handshake, leaf_must_hold_only_encrypt) {
    origin o;
    tokens t = alice_tokens(o);
    frame_spec mixed;
    mixed.add_encrypt();
    mixed.add_path("/home/alice", rights::read);
    token_view not_only_encrypt = o.derive(t.holder, mixed);
    for (const token_view& token : {t.holder, not_only_encrypt}) {
        // An honest client refuses to send it...
        client_handshake client;
        aligned out(hello_size(mode::forward_secret, token.bytes().size()));
        auto hello = client.start(token, mode::tag_only, out.span());
        ASSERT_FALSE(hello);
        EXPECT_EQ(failed_with(hello), error::bad_token);
        EXPECT_EQ(hello.error().token.what, check::not_an_encryption_token);
        // ...and the server refuses it from anyone else.
        handshake_error e = refused_hello(o, make_hello(token, mode::tag_only, token.tag(), {}));
        EXPECT_EQ(e.what, error::bad_token);
        EXPECT_EQ(e.token.what, check::not_an_encryption_token);
    }
}

TEST(handshake, constraints_of_the_token_apply) {
    origin o;
    tokens t = alice_tokens(o);  // expires at 5000
    bytes hello = make_hello(t.encryption, mode::tag_only, t.encryption.tag(), {});
    handshake_error e = refused_hello(o, hello, at(5000));
    EXPECT_EQ(e.what, error::bad_token);
    EXPECT_EQ(e.token.what, check::expired);
    EXPECT_EQ(e.token.frame, t.encryption.frame_count() - 1);

    revocation_list revoked;
    tag_bytes tags[max_frames];
    chain_tags(o.key(), t.holder, std::span(tags, t.holder.frame_count()));
    ASSERT_TRUE(revoked.add(tags[t.holder.frame_count() - 1], 5000, 0));
    verify_context context = at(1000);
    context.revoked = &revoked;
    e = refused_hello(o, hello, context);
    EXPECT_EQ(e.what, error::bad_token);
    EXPECT_EQ(e.token.what, check::revoked);
}

TEST(handshake, a_hello_carrying_the_tag_is_refused) {
    origin o;
    tokens t = alice_tokens(o);
    bytes hello = make_hello(t.encryption, mode::tag_only, t.encryption.tag(), {}, false);
    EXPECT_EQ(refused_hello(o, hello).what, error::bad_message);
}

TEST(handshake, an_eavesdropper_never_sees_the_tag) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        bytes wire = c.hello;
        wire.insert(wire.end(), c.reply.begin(), c.reply.end());
        wire.insert(wire.end(), c.proof.begin(), c.proof.end());
        for (int i = 0; i < 4; ++i) {
            bytes a = seal(*c.client, "secret request");
            bytes b = seal(*c.server, "secret response");
            wire.insert(wire.end(), a.begin(), a.end());
            wire.insert(wire.end(), b.begin(), b.end());
        }
        // No 8-byte window of K (nor of T's tag, from which K is derived) appears anywhere.
        for (const tag_bytes& secret : {t.encryption.tag(), t.holder.tag()})
            for (std::size_t i = 0; i + 8 <= secret.size(); ++i)
                EXPECT_FALSE(contains(wire, byte_view(secret).subspan(i, 8))) << i;
        // Without K, a passive listener's best guess (all-zero K) gives no usable keys.
        if (m == mode::tag_only) {
            std::array<std::uint8_t, 96> guessed = tag_only_keys(tag_bytes{}, c.hello, c.reply);
            bytes record = seal(*c.client, "x");
            bytes input = mac_input(purpose::record, {bytes{1}, byte_view(record).first(9)});
            tag_bytes tag = crypto::hmac_sha256::mac(byte_view(guessed).subspan(16, 32), input);
            EXPECT_FALSE(std::equal(tag.begin(), tag.begin() + 16, record.end() - 16));
        }
    }
}

TEST(handshake, wrong_server_proof_is_rejected) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection good;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, good));
        // Every byte of a genuine reply, flipped: the client refuses each.
        for (std::size_t i = 0; i < reply_size(m); ++i) {
            client_handshake client;
            aligned hello_out(hello_size(m, t.encryption.bytes().size()));
            auto hello = client.start(t.encryption, m, hello_out.span());
            ASSERT_TRUE(hello);
            server_handshake server;
            aligned reply_out(reply_size(m));
            auto reply = serve_hello(server, o, *hello, reply_out);
            ASSERT_TRUE(reply);
            bytes tampered(reply->begin(), reply->end());
            tampered[i] ^= 0x01;
            aligned proof_out(client_proof_size);
            auto finished = client.on_server_reply(tampered, proof_out.span());
            ASSERT_FALSE(finished) << i;
            error e = finished.error().what;
            // The ephemeral MAC covers Ns and Es and is checked before the proof.
            if (i >= reply_size(m) - proof_size)
                EXPECT_EQ(e, error::bad_proof) << i;
            else if (i >= 8)
                EXPECT_EQ(e, m == mode::forward_secret ? error::bad_ephemeral_auth
                                                       : error::bad_proof) << i;
            else
                EXPECT_EQ(e, error::bad_message) << i;
            // A failed handshake is over.
            EXPECT_EQ(failed_with(client.on_server_reply(*reply, proof_out.span())),
                      error::wrong_state);
        }
        // A server that does not know K (another origin, or anyone answering at random).
        client_handshake client;
        aligned hello_out(hello_size(m, t.encryption.bytes().size()));
        auto hello = client.start(t.encryption, m, hello_out.span());
        ASSERT_TRUE(hello);
        bytes impostor = good.reply;  // a well-formed reply from another session
        aligned proof_out(client_proof_size);
        auto finished = client.on_server_reply(impostor, proof_out.span());
        ASSERT_FALSE(finished);
        EXPECT_EQ(failed_with(finished),
                  m == mode::forward_secret ? error::bad_ephemeral_auth : error::bad_proof);
    }
}

TEST(handshake, wrong_client_proof_is_rejected) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        for (std::size_t i = 0; i <= client_proof_size; ++i) {
            client_handshake client;
            aligned hello_out(hello_size(m, t.encryption.bytes().size()));
            auto hello = client.start(t.encryption, m, hello_out.span());
            ASSERT_TRUE(hello);
            server_handshake server;
            aligned reply_out(reply_size(m));
            auto reply = serve_hello(server, o, *hello, reply_out);
            ASSERT_TRUE(reply);
            bytes forged;
            error expected = error::bad_proof;
            if (i < client_proof_size) {
                aligned proof_out(client_proof_size);
                auto finished = client.on_server_reply(*reply, proof_out.span());
                ASSERT_TRUE(finished);
                forged.assign(finished->proof.begin(), finished->proof.end());
                forged[i] ^= 0x80;
                if (i < 8)
                    expected = error::bad_message;
            } else {
                // Reflection: the server's own proof sent back as the client's.
                forged = {1, 3, static_cast<std::uint8_t>(m), 0, 0, 0, 0, 32};
                forged.insert(forged.end(), reply->end() - 32, reply->end());
            }
            auto established = server.on_client_proof(forged);
            ASSERT_FALSE(established) << i;
            EXPECT_EQ(failed_with(established), expected) << i;
            EXPECT_EQ(failed_with(server.on_client_proof(forged)), error::wrong_state);
        }
    }
}

TEST(handshake, tampered_ephemeral_keys_are_rejected) {
    origin o;
    tokens t = alice_tokens(o);
    // Client's key replaced in the hello (a man in the middle inserting his own).
    {
        client_handshake client;
        aligned hello_out(hello_size(mode::forward_secret, t.encryption.bytes().size()));
        auto hello = client.start(t.encryption, mode::forward_secret, hello_out.span());
        ASSERT_TRUE(hello);
        auto attacker = crypto::x25519_generate();
        ASSERT_TRUE(attacker);
        bytes tampered(hello->begin(), hello->end());
        std::copy(attacker->public_key.begin(), attacker->public_key.end(), tampered.begin() + 40);
        EXPECT_EQ(refused_hello(o, tampered).what, error::bad_ephemeral_auth);
    }
    // Server's key replaced in the reply.
    {
        client_handshake client;
        aligned hello_out(hello_size(mode::forward_secret, t.encryption.bytes().size()));
        auto hello = client.start(t.encryption, mode::forward_secret, hello_out.span());
        ASSERT_TRUE(hello);
        server_handshake server;
        aligned reply_out(reply_size(mode::forward_secret));
        auto reply = serve_hello(server, o, *hello, reply_out);
        ASSERT_TRUE(reply);
        auto attacker = crypto::x25519_generate();
        ASSERT_TRUE(attacker);
        bytes tampered(reply->begin(), reply->end());
        std::copy(attacker->public_key.begin(), attacker->public_key.end(), tampered.begin() + 40);
        aligned proof_out(client_proof_size);
        auto finished = client.on_server_reply(tampered, proof_out.span());
        ASSERT_FALSE(finished);
        EXPECT_EQ(failed_with(finished), error::bad_ephemeral_auth);
    }
}

TEST(handshake, low_order_points_are_rejected) {
    origin o;
    tokens t = alice_tokens(o);
    const tag_bytes& k = t.encryption.tag();
    for (const char* hex : low_order_points) {
        crypto::x25519_key point = from_hex(hex);
        // A client (it holds K, so its MAC is valid) sending a low-order key.
        bytes hello = make_hello(t.encryption, mode::forward_secret, k, point);
        EXPECT_EQ(refused_hello(o, hello).what, error::weak_shared_secret) << hex;

        // A server that knows K (the origin, or another holder) answering with one.
        client_handshake client;
        aligned hello_out(hello_size(mode::forward_secret, t.encryption.bytes().size()));
        auto sent = client.start(t.encryption, mode::forward_secret, hello_out.span());
        ASSERT_TRUE(sent);
        byte_view nc = sent->subspan(8, 32), ec = sent->subspan(40, 32);
        bytes ns(32, 0x22);
        bytes reply = {1, 2, 1, 0, 0, 0, 0, 128};
        reply.insert(reply.end(), ns.begin(), ns.end());
        reply.insert(reply.end(), point.begin(), point.end());
        tag_bytes auth = documented_mac(k, purpose::server_ephemeral, {nc, ns, ec, point});
        reply.insert(reply.end(), auth.begin(), auth.end());
        reply.resize(reply.size() + 32);
        tag_bytes proof =
            documented_mac(k, purpose::server_proof, {transcript_hash(*sent, reply)});
        std::copy(proof.begin(), proof.end(), reply.end() - 32);
        aligned proof_out(client_proof_size);
        auto finished = client.on_server_reply(reply, proof_out.span());
        ASSERT_FALSE(finished);
        EXPECT_EQ(failed_with(finished), error::weak_shared_secret) << hex;
    }
}

TEST(handshake, downgrade_to_tag_only_is_detected) {
    origin o;
    tokens t = alice_tokens(o);
    client_handshake client;
    aligned hello_out(hello_size(mode::forward_secret, t.encryption.bytes().size()));
    auto hello = client.start(t.encryption, mode::forward_secret, hello_out.span());
    ASSERT_TRUE(hello);
    // The attacker strips the ephemeral key and its MAC and relabels the hello.
    bytes stripped(hello->begin(), hello->begin() + 40);
    stripped.insert(stripped.end(), hello->begin() + 104, hello->end());
    stripped[2] = 0;
    std::uint32_t length = static_cast<std::uint32_t>(stripped.size() - 8);
    for (int i = 0; i < 4; ++i)
        stripped[4 + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
    // A server that insists on forward secrecy refuses outright.
    {
        server_handshake strict(true);
        aligned reply_out(reply_size(mode::forward_secret));
        auto reply = serve_hello(strict, o, stripped, reply_out);
        ASSERT_FALSE(reply);
        EXPECT_EQ(failed_with(reply), error::forward_secrecy_required);
    }
    // A lenient one answers, but the client sees the mode and the transcript differ.
    server_handshake lenient;
    aligned reply_out(reply_size(mode::tag_only));
    auto reply = serve_hello(lenient, o, stripped, reply_out);
    ASSERT_TRUE(reply);
    aligned proof_out(client_proof_size);
    auto finished = client.on_server_reply(*reply, proof_out.span());
    ASSERT_FALSE(finished);
    EXPECT_EQ(failed_with(finished), error::bad_message);
}

TEST(handshake, malformed_messages_are_rejected) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        // Every truncation and a trailing byte.
        for (std::size_t size = 0; size <= c.hello.size(); ++size) {
            bytes hello(c.hello.begin(), c.hello.begin() + static_cast<std::ptrdiff_t>(size));
            if (size == c.hello.size())
                hello.push_back(0);
            EXPECT_EQ(refused_hello(o, hello).what, error::bad_message) << size;
        }
        // Header fields: version, type, mode, reserved byte.
        for (std::size_t i : {0, 1, 2, 3}) {
            bytes hello = c.hello;
            hello[i] ^= 0x02;
            EXPECT_EQ(refused_hello(o, hello).what, error::bad_message) << i;
        }
        for (std::size_t size = 0; size <= c.reply.size(); ++size) {
            client_handshake client;
            aligned hello_out(c.hello.size());
            ASSERT_TRUE(client.start(t.encryption, m, hello_out.span()));
            bytes reply(c.reply.begin(), c.reply.begin() + static_cast<std::ptrdiff_t>(size));
            if (size == c.reply.size())
                reply.push_back(0);
            aligned proof_out(client_proof_size);
            auto finished = client.on_server_reply(reply, proof_out.span());
            ASSERT_FALSE(finished);
            EXPECT_EQ(failed_with(finished), error::bad_message) << size;
        }
        for (std::size_t size = 0; size <= c.proof.size(); ++size) {
            server_handshake server;
            client_handshake client;
            aligned hello_out(c.hello.size());
            auto hello = client.start(t.encryption, m, hello_out.span());
            ASSERT_TRUE(hello);
            aligned reply_out(reply_size(m));
            ASSERT_TRUE(serve_hello(server, o, *hello, reply_out));
            bytes proof(c.proof.begin(), c.proof.begin() + static_cast<std::ptrdiff_t>(size));
            if (size == c.proof.size())
                proof.push_back(0);
            auto established = server.on_client_proof(proof);
            ASSERT_FALSE(established);
            EXPECT_EQ(failed_with(established), error::bad_message) << size;
        }
        // A token larger than any hello may carry: the length is bounded before parsing.
        bytes huge = c.hello;
        huge.resize(hello_size(m, max_token_size + 8));
        std::uint32_t length = static_cast<std::uint32_t>(huge.size() - 8);
        for (int i = 0; i < 4; ++i)
            huge[4 + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
        EXPECT_EQ(refused_hello(o, huge).what, error::token_too_large);
    }
}

TEST(handshake, steps_out_of_order_and_small_buffers) {
    origin o;
    tokens t = alice_tokens(o);
    std::size_t hello_bytes = hello_size(mode::forward_secret, t.encryption.bytes().size());
    client_handshake client;
    aligned proof_out(client_proof_size);
    EXPECT_EQ(
        failed_with(client.on_server_reply(bytes(reply_size(mode::tag_only)), proof_out.span())),
        error::wrong_state);
    // Too small: nothing is sent, the handshake can start again.
    aligned small(hello_bytes - 1);
    EXPECT_EQ(failed_with(client.start(t.encryption, mode::forward_secret, small.span())),
              error::buffer_too_small);
    aligned hello_out(hello_bytes);
    auto hello = client.start(t.encryption, mode::forward_secret, hello_out.span());
    ASSERT_TRUE(hello);
    EXPECT_EQ(failed_with(client.start(t.encryption, mode::forward_secret, hello_out.span())),
              error::wrong_state);

    server_handshake server;
    EXPECT_EQ(failed_with(server.on_client_proof(bytes(client_proof_size))), error::wrong_state);
    aligned small_reply(reply_size(mode::forward_secret) - 1);
    auto refused = serve_hello(server, o, *hello, small_reply);
    ASSERT_FALSE(refused);
    EXPECT_EQ(failed_with(refused), error::buffer_too_small);
    aligned reply_out(reply_size(mode::forward_secret));
    auto reply = serve_hello(server, o, *hello, reply_out);
    ASSERT_TRUE(reply) << what(reply.error());
    EXPECT_EQ(failed_with(serve_hello(server, o, *hello, reply_out)), error::wrong_state);

    aligned small_proof(client_proof_size - 1);
    EXPECT_EQ(failed_with(client.on_server_reply(*reply, small_proof.span())),
              error::buffer_too_small);
    auto finished = client.on_server_reply(*reply, proof_out.span());
    ASSERT_TRUE(finished);
    auto established = server.on_client_proof(finished->proof);
    ASSERT_TRUE(established);
    EXPECT_EQ(failed_with(server.on_client_proof(finished->proof)), error::wrong_state);
    EXPECT_EQ(failed_with(client.on_server_reply(*reply, proof_out.span())), error::wrong_state);
}

TEST(handshake, forward_secrecy_keys_do_not_follow_from_the_tag) {
    for (mode m : both_modes) {
        origin o;
        tokens t = alice_tokens(o);
        connection c;
        ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, m, c));
        // Someone who learns K later and recorded everything (or the origin, monitoring).
        std::array<std::uint8_t, 96> keys = tag_only_keys(t.encryption.tag(), c.hello, c.reply);
        const std::string text = "the device owner can read this unless forward secret";
        bytes record = seal(*c.client, text);
        byte_view ciphertext = byte_view(record).subspan(8, text.size());
        bytes input =
            mac_input(purpose::record, {bytes{1}, byte_view(record).first(8), ciphertext});
        tag_bytes tag = crypto::hmac_sha256::mac(byte_view(keys).subspan(16, 32), input);
        bool mac_matches = std::equal(tag.begin(), tag.begin() + 16, record.end() - 16);
        bytes plaintext(text.size());
        std::array<std::uint8_t, 16> iv{};  // counter 0 || 0^8
        ASSERT_TRUE(crypto::aes128_ctr_xor(byte_view(keys).first(16), iv, ciphertext, plaintext));
        bool decrypts = std::ranges::equal(plaintext, crypto::as_bytes(text));
        EXPECT_EQ(mac_matches, m == mode::tag_only);
        EXPECT_EQ(decrypts, m == mode::tag_only);
    }
}

TEST(handshake, sessions_from_the_same_token_are_independent) {
    origin o;
    tokens t = alice_tokens(o);
    connection first;
    connection second;
    ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, mode::tag_only, first));
    ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, mode::tag_only, second));
    bytes record = seal(*first.client, "for the first session");
    EXPECT_EQ(failed_with(open(*second.server, record)), error::bad_record_tag);
    EXPECT_TRUE(open(*first.server, record));
}

// --- records -------------------------------------------------------------------------------------

class records : public ::testing::Test {
protected:
    void SetUp() override {
        tokens t = alice_tokens(origin_);
        ASSERT_NO_FATAL_FAILURE(establish(origin_, t.encryption, mode::forward_secret, c_));
    }
    session& client() { return *c_.client; }
    session& server() { return *c_.server; }

    origin origin_;
    connection c_;
};

TEST_F(records, every_tampered_byte_is_rejected_and_the_channel_survives) {
    const std::string text = "GET /home/alice/notes.txt";
    for (std::size_t i = 0; i < text.size() + session::overhead; ++i) {
        for (std::uint8_t flip : {0x01, 0x80}) {
            bytes record = seal(client(), text);
            bytes tampered = record;
            tampered[i] ^= flip;
            bytes out(record.size(), 0xaa);
            auto opened = server().open(tampered, out);
            ASSERT_FALSE(opened) << i;
            EXPECT_EQ(failed_with(opened),
                      i < 8 ? error::replayed_or_out_of_order : error::bad_record_tag);
            // Nothing of the plaintext was released.
            EXPECT_TRUE(
                std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xaa; }));
            auto genuine = open(server(), record);
            ASSERT_TRUE(genuine) << i;
            EXPECT_EQ(*genuine, text);
        }
    }
    // Truncated and extended records.
    bytes record = seal(client(), text);
    for (std::size_t size = 0; size < record.size(); ++size) {
        auto opened = open(server(), byte_view(record).first(size));
        ASSERT_FALSE(opened);
        EXPECT_EQ(failed_with(opened), size < session::overhead ? error::bad_message
                                                           : error::bad_record_tag);
    }
    bytes longer = record;
    longer.push_back(0);
    EXPECT_EQ(failed_with(open(server(), longer)), error::bad_record_tag);
    EXPECT_TRUE(open(server(), record));
}

TEST_F(records, replay_is_rejected) {
    bytes first = seal(client(), "transfer 10");
    bytes second = seal(client(), "transfer 20");
    ASSERT_TRUE(open(server(), first));
    EXPECT_EQ(failed_with(open(server(), first)), error::replayed_or_out_of_order);
    ASSERT_TRUE(open(server(), second));
    EXPECT_EQ(failed_with(open(server(), first)), error::replayed_or_out_of_order);
    EXPECT_EQ(failed_with(open(server(), second)), error::replayed_or_out_of_order);
    EXPECT_EQ(server().received(), 2u);
}

TEST_F(records, reordering_is_rejected) {
    bytes first = seal(client(), "one");
    bytes second = seal(client(), "two");
    EXPECT_EQ(failed_with(open(server(), second)), error::replayed_or_out_of_order);
    ASSERT_TRUE(open(server(), first));
    auto late = open(server(), second);
    ASSERT_TRUE(late);
    EXPECT_EQ(*late, "two");
}

TEST_F(records, a_gap_is_rejected_and_the_counter_cannot_be_rewritten) {
    bytes dropped = seal(client(), "dropped");
    bytes next = seal(client(), "next");
    bytes after = seal(client(), "after");
    EXPECT_EQ(failed_with(open(server(), next)), error::replayed_or_out_of_order);
    EXPECT_EQ(failed_with(open(server(), after)), error::replayed_or_out_of_order);
    // Relabelling `next` with the missing counter does not help: the counter is under the MAC.
    bytes relabelled = next;
    std::copy(dropped.begin(), dropped.begin() + 8, relabelled.begin());
    EXPECT_EQ(failed_with(open(server(), relabelled)), error::bad_record_tag);
    EXPECT_EQ(server().received(), 0u);
    ASSERT_TRUE(open(server(), dropped));
    ASSERT_TRUE(open(server(), next));
    ASSERT_TRUE(open(server(), after));
}

TEST_F(records, reflection_is_rejected) {
    bytes from_client = seal(client(), "to the server");
    EXPECT_EQ(failed_with(open(client(), from_client)), error::bad_record_tag);
    bytes from_server = seal(server(), "to the client");
    EXPECT_EQ(failed_with(open(server(), from_server)), error::bad_record_tag);
    // Both still work in the right direction.
    EXPECT_TRUE(open(server(), from_client));
    EXPECT_TRUE(open(client(), from_server));
}

TEST_F(records, sizes_buffers_and_spent_sessions) {
    // Empty and large records.
    auto empty = open(server(), seal(client(), ""));
    ASSERT_TRUE(empty);
    EXPECT_EQ(*empty, "");
    std::string large(200000, 'q');
    for (std::size_t i = 0; i < large.size(); ++i)
        large[i] = static_cast<char>('a' + i % 26);
    auto big = open(client(), seal(server(), large));
    ASSERT_TRUE(big);
    EXPECT_EQ(*big, large);

    // In place: the plaintext already sits where the ciphertext goes.
    bytes buffer(5 + session::overhead);
    std::memcpy(buffer.data() + session::counter_size, "hello", 5);
    auto sealed = client().seal(byte_view(buffer).subspan(session::counter_size, 5), buffer);
    ASSERT_TRUE(sealed);
    auto opened = open(server(), buffer);
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, "hello");

    // Buffers: too small for the record / for the plaintext; state unchanged.
    bytes tiny(10);
    EXPECT_EQ(failed_with(client().seal(crypto::as_bytes("hello"), tiny)), error::buffer_too_small);
    bytes record = seal(client(), "hello");
    bytes short_out(4);
    EXPECT_EQ(failed_with(server().open(record, short_out)), error::buffer_too_small);
    EXPECT_TRUE(open(server(), record));

    // Over 2^36 bytes: refused before a byte is read (the view only pretends to be that long).
    std::uint8_t byte = 0;
    if constexpr (sizeof(std::size_t) > 4) {
        byte_view huge(&byte, static_cast<std::size_t>(session::max_record_plaintext + 1));
        EXPECT_EQ(failed_with(client().seal(huge, tiny)), error::record_too_large);
        byte_view huge_record(&byte, static_cast<std::size_t>(session::max_record_plaintext + 1 +
                                                              session::overhead));
        EXPECT_EQ(failed_with(server().open(huge_record, tiny)), error::record_too_large);
    }

    // A moved-from session is spent.
    session moved = std::move(client());
    EXPECT_EQ(failed_with(client().seal(crypto::as_bytes("x"), tiny)), error::wrong_state);
    EXPECT_EQ(failed_with(client().open(record, tiny)), error::wrong_state);
    EXPECT_TRUE(open(server(), seal(moved, "still works")));
}

// --- the thesis' attack and domain separation ----------------------------------------------------

// A token of `frames` (byte ranges, not necessarily frame messages) with tag `tag`, written as
// mint/derive would, so that only the frames' contents can make parsing fail.
bytes raw_token(std::span<const byte_view> frames, const tag_bytes& tag) {
    aligned storage(8192);
    lidl::builder out(storage.span());
    token* root = out.create_root<token>();
    EXPECT_NE(root, nullptr);
    lidl::vector<std::uint8_t>* slots = out.create_vector(root->frames, frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        std::uint8_t* data =
            out.create_vector(slots[i], frames[i].size(), lidl::message_alignment);
        std::memcpy(data, frames[i].data(), frames[i].size());
    }
    root->tag = tag;
    auto finished = out.finish();
    EXPECT_TRUE(finished);
    return bytes(finished->begin(), finished->end());
}

struct observed_mac {
    bytes input;
    tag_bytes mac;
};

// Every MAC computed under K that an active attacker can obtain from the two parties, with the
// exact input it was computed over (the attacker can compute the inputs: they are public).
std::vector<observed_mac> macs_under_k(origin& o, const tokens& t) {
    std::vector<observed_mac> observed;
    for (mode m : both_modes) {
        // Legitimate runs, observed on the wire.
        connection c;
        establish(o, t.encryption, m, c);
        byte_view hello = c.hello;
        byte_view reply = c.reply;
        crypto::sha256_digest hash = transcript_hash(hello, reply);
        observed.push_back({mac_input(purpose::server_proof, {hash}), {}});
        std::copy(reply.end() - 32, reply.end(), observed.back().mac.begin());
        observed.push_back({mac_input(purpose::client_proof, {hash}), {}});
        std::copy(c.proof.end() - 32, c.proof.end(), observed.back().mac.begin());
        if (m == mode::forward_secret) {
            observed.push_back({mac_input(purpose::client_ephemeral,
                                          {hello.subspan(8, 32), hello.subspan(40, 32)}),
                                {}});
            std::copy(hello.begin() + 72, hello.begin() + 104, observed.back().mac.begin());
        }
        // The attacker replays the hello with a nonce of its choosing: a frame message, hoping
        // the server MACs it under K.
        aligned frame_storage(4096);
        lidl::builder frame_out(frame_storage.span());
        frame_spec wanted = path_spec("/", rights::all);
        auto frame_message = wanted.write(frame_out);
        EXPECT_TRUE(frame_message);
        bytes replayed = c.hello;
        std::copy_n(frame_message->begin(), std::min<std::size_t>(32, frame_message->size()),
                    replayed.begin() + 8);
        if (m == mode::forward_secret)
            replayed = c.hello;  // the nonce is under auth_c: only a verbatim replay passes
        server_handshake server;
        aligned reply_out(reply_size(m));
        auto answer = serve_hello(server, o, replayed, reply_out);
        EXPECT_TRUE(answer);
        if (!answer)
            continue;
        byte_view r = *answer;
        observed.push_back({mac_input(purpose::server_proof, {transcript_hash(replayed, r)}), {}});
        std::copy(r.end() - 32, r.end(), observed.back().mac.begin());
        if (m == mode::forward_secret) {
            observed.push_back({mac_input(purpose::server_ephemeral,
                                          {byte_view(replayed).subspan(8, 32), r.subspan(8, 32),
                                           byte_view(replayed).subspan(40, 32), r.subspan(40, 32)}),
                                {}});
            std::copy(r.begin() + 72, r.begin() + 104, observed.back().mac.begin());
        }
    }
    return observed;
}

TEST(attacks, every_mac_under_k_is_over_a_non_frame_input) {
    origin o;
    tokens t = alice_tokens(o);
    std::vector<observed_mac> observed = macs_under_k(o, t);
    ASSERT_EQ(observed.size(), 2u + 1u + 3u + 2u);
    for (const observed_mac& m : observed) {
        // The documented input is the one the party really MACed...
        EXPECT_EQ(crypto::hmac_sha256::mac(t.encryption.tag(), m.input), m.mac);
        // ...and it is no frame message, nor a token, nor anything lidl accepts.
        aligned copy(m.input);
        auto as_frame = lidl::verify<frame>(copy.view());
        ASSERT_FALSE(as_frame);
        EXPECT_EQ(as_frame.error().kind, lidl::error::bad_header);
        EXPECT_FALSE(lidl::verify<token>(copy.view()));
    }
}

TEST(attacks, a_mac_under_k_is_never_the_tag_of_a_derivation_of_t_e) {
    origin o;
    tokens t = alice_tokens(o);
    std::vector<observed_mac> observed = macs_under_k(o, t);
    std::vector<byte_view> frames;
    for (std::size_t f = 0; f < t.encryption.frame_count(); ++f)
        frames.push_back(t.encryption.frame_bytes(f));

    aligned frame_storage(4096);
    lidl::builder frame_out(frame_storage.span());
    frame_spec everything = path_spec("/", rights::all);
    auto wider = everything.write(frame_out);
    ASSERT_TRUE(wider);
    for (const observed_mac& m : observed) {
        // (1) T_E + the MAC input as a frame, with the MAC as tag: the tag chain would match,
        // but the frame is not a frame message, so the token does not even parse.
        std::vector<byte_view> with_input = frames;
        with_input.push_back(m.input);
        bytes forged = raw_token(with_input, m.mac);
        aligned copy(forged);
        ASSERT_EQ(crypto::hmac_sha256::mac(t.encryption.tag(), m.input), m.mac);
        auto parsed = token_view::parse(copy.view());
        ASSERT_FALSE(parsed);
        EXPECT_EQ(failed_with(parsed), check::malformed);
        EXPECT_EQ(parsed.error().parse.kind, lidl::error::bad_header);
        EXPECT_EQ(parsed.error().frame, t.encryption.frame_count());

        // (2) T_E + a real frame with the MAC as tag: the tag does not match.
        std::vector<byte_view> with_frame = frames;
        with_frame.push_back(*wider);
        aligned other(raw_token(with_frame, m.mac));
        auto other_view = token_view::parse(other.view());
        ASSERT_TRUE(other_view);
        auto verified = verify(o.key(), *other_view, at(1000));
        ASSERT_FALSE(verified);
        EXPECT_EQ(failed_with(verified), check::bad_tag);
    }
    // (3) Even the correct tag of a derivation of T_E (which only a holder of K can compute) is
    // useless: nothing may be derived from an encrypt frame.
    for (bool another_encrypt : {false, true}) {
        frame_spec spec;
        if (another_encrypt)
            spec.add_encrypt();
        else
            spec.add_path("/home/alice", rights::read);
        token_view derived = o.derive(t.encryption, spec);
        auto verified = verify(o.key(), derived, at(1000));
        ASSERT_FALSE(verified);
        EXPECT_EQ(failed_with(verified), check::derived_from_leaf_only);
        EXPECT_EQ(verified.error().frame, t.encryption.frame_count());
        auto as_channel = verify_encryption_token(o.key(), derived, at(1000));
        ASSERT_FALSE(as_channel);
        EXPECT_EQ(failed_with(as_channel), another_encrypt ? check::derived_from_leaf_only
                                                           : check::not_an_encryption_token);
    }
}

TEST(attacks, record_mac_inputs_are_not_frames_either) {
    origin o;
    tokens t = alice_tokens(o);
    connection c;
    ASSERT_NO_FATAL_FAILURE(establish(o, t.encryption, mode::tag_only, c));
    std::array<std::uint8_t, 96> keys = tag_only_keys(t.encryption.tag(), c.hello, c.reply);
    for (int direction : {1, 2}) {
        session& sender = direction == 1 ? *c.client : *c.server;
        byte_view mac_key = byte_view(keys).subspan(direction == 1 ? 16 : 64, 32);
        bytes record =
            seal(sender, std::string_view("\x01\x00\x00\x00 looks like a lidl header", 29));
        bytes input = mac_input(purpose::record,
                                {bytes{static_cast<std::uint8_t>(direction)},
                                 byte_view(record).first(8),
                                 byte_view(record).subspan(8, record.size() - 24)});
        tag_bytes tag = crypto::hmac_sha256::mac(mac_key, input);
        EXPECT_TRUE(std::equal(tag.begin(), tag.begin() + 16, record.end() - 16));
        aligned copy(input);
        EXPECT_FALSE(lidl::verify<frame>(copy.view()));
    }
    // The HKDF info (the first input of HKDF-Expand) starts with the same prefix.
    crypto::sha256_digest hash = transcript_hash(c.hello, c.reply);
    aligned info(mac_input(purpose::keys, {hash}));
    EXPECT_FALSE(lidl::verify<frame>(info.view()));
}

TEST(attacks, domains_are_distinct_prefix_free_and_never_a_lidl_header) {
    const purpose all[] = {purpose::client_ephemeral, purpose::server_ephemeral,
                           purpose::server_proof,     purpose::client_proof,
                           purpose::keys,             purpose::record};
    for (purpose p : all) {
        byte_view d = domain(p);
        ASSERT_GE(d.size(), 26u);
        EXPECT_EQ(d[0], 0xff);
        EXPECT_TRUE(std::ranges::equal(
            d.subspan(1, 23), crypto::as_bytes(std::string_view("AMB-CAPLETS-CHANNEL-v1\0", 23))));
        EXPECT_EQ(d.back(), 0);
        EXPECT_EQ(std::count(d.begin(), d.end(), 0), 2);  // prefix-free: label ends at a NUL
        for (purpose q : all) {
            byte_view e = domain(q);
            if (p != q) {
                EXPECT_FALSE(e.size() >= d.size() && std::equal(d.begin(), d.end(), e.begin()));
            }
        }
    }
    // Whatever follows the 0xff, lidl refuses it (format version 1 is 0x01 0x00).
    bytes input(64);
    for (int trial = 0; trial < 256; ++trial) {
        ASSERT_TRUE(crypto::random_bytes(input));
        input[0] = 0xff;
        aligned copy(input);
        EXPECT_FALSE(lidl::verify<frame>(copy.view()));
    }
    // And every frame message starts with the lidl header, never with 0xff.
    aligned storage(4096);
    lidl::builder out(storage.span());
    frame_spec encrypt;
    encrypt.add_encrypt();
    auto frame_message = encrypt.write(out);
    ASSERT_TRUE(frame_message);
    EXPECT_TRUE(std::ranges::equal(frame_message->first(4), bytes{1, 0, 0, 0}));
}

TEST(attacks, describe_names_every_error) {
    for (int e = 1; e <= static_cast<int>(error::wrong_state); ++e)
        EXPECT_STRNE(describe(static_cast<error>(e)), "unknown channel error") << e;
}

}  // namespace
}  // namespace caplets::channel
