#include <remote/sealing.hpp>

#include <caplets/channel.hpp>
#include <crypto/crypto.hpp>

#include <cstring>

namespace amb::remote {

const char* describe(seal_error error) {
    switch (error) {
    case seal_error::not_sealed:
        return "the payload is not sealed";
    case seal_error::malformed:
        return "the sealed payload is too short or its header is not version 1";
    case seal_error::buffer_too_small:
        return "buffer too small for the sealed or opened payload";
    case seal_error::bad_credential:
        return "no encryption token can be derived from the credential";
    case seal_error::crypto_failure:
        return "the crypto backend failed";
    }
    return "unknown sealing error";
}

namespace {

constexpr std::size_t key_size = crypto::aes128_key_size;

// D(purpose) = 0xff "AMB-REMOTE-SEAL-v1" 0x00 purpose 0x00 (the string literals' own NULs).
constexpr char request_domain[] = "\xff"
                                  "AMB-REMOTE-SEAL-v1\0request";
constexpr char reply_domain[] = "\xff"
                                "AMB-REMOTE-SEAL-v1\0reply";

byte_view domain(const char* text, std::size_t size_with_nul) {
    return {reinterpret_cast<const std::uint8_t*>(text), size_with_nul};
}

void write_header(byte_span out) {
    out[0] = sealed_marker;
    out[1] = sealed_version;
    out[2] = 0;
    out[3] = 0;
}

bool header_ok(byte_view sealed) {
    return sealed.size() >= sealed_header_size && sealed[0] == sealed_marker &&
           sealed[1] == sealed_version && sealed[2] == 0 && sealed[3] == 0;
}

// AES-128-CTR of `in` into `out` under HKDF(salt, K, info); the key is zeroed afterwards.
result<void, seal_error> apply(const pair_key& key, byte_view salt, byte_view info, byte_view in,
                               byte_span out) {
    std::uint8_t message_key[key_size];
    if (!crypto::hkdf(salt, key, info, message_key))
        return failure{seal_error::crypto_failure};
    // Each key seals one message: the counter block can start at zero.
    const std::uint8_t counter_block[crypto::aes128_ctr_iv_size] = {};
    auto done = crypto::aes128_ctr_xor(message_key, counter_block, in, out);
    crypto::secure_zero(message_key);
    if (!done)
        return failure{seal_error::crypto_failure};
    return {};
}

} // namespace

result<pair_key, seal_error> pair_key_of_credential(const caplets::token_view& credential,
                                                    byte_span scratch) {
    // Half for the encrypt frame, half for T_E (a credential is far smaller than either).
    const std::size_t half = (scratch.size() / 2) & ~std::size_t{7};
    lidl::builder out(scratch.subspan(half));
    auto encryption_token =
        caplets::channel::derive_encryption_token(credential, scratch.first(half), out);
    if (!encryption_token)
        return failure{encryption_token.error() == caplets::channel::error::buffer_too_small
                           ? seal_error::buffer_too_small
                           : seal_error::bad_credential};
    pair_key key = encryption_token->tag();
    crypto::secure_zero(scratch);
    return key;
}

result<pair_key, seal_error> pair_key_of_request(const caplets::secret_key& node_key,
                                                 const caplets::token_view& request,
                                                 byte_span scratch) {
    if (request.frame_count() < 2)
        return failure{seal_error::bad_credential};
    // The credential is the request without its last frame: minted from frame 0 with the node
    // key, then each further credential frame derived, alternating between two buffers; T_E is
    // derived into what the credential does not occupy.
    const std::size_t part = (scratch.size() / 3) & ~std::size_t{7};
    byte_span buffers[2] = {scratch.first(part), scratch.subspan(part, part)};
    auto rebuild = [&]() -> result<pair_key, seal_error> {
        lidl::builder first(buffers[0]);
        auto minted = caplets::mint(node_key, request.frame_bytes(0), first);
        if (!minted)
            return failure{seal_error::buffer_too_small};
        auto credential = caplets::token_view::parse(*minted);
        if (!credential)
            return failure{seal_error::bad_credential};
        std::size_t current = 0;
        for (std::size_t i = 1; i + 1 < request.frame_count(); ++i) {
            lidl::builder next(buffers[1 - current]);
            auto derived = caplets::derive(*credential, request.frame_bytes(i), next);
            if (!derived)
                return failure{seal_error::buffer_too_small};
            credential = caplets::token_view::parse(*derived);
            if (!credential)
                return failure{seal_error::bad_credential};
            current = 1 - current;
        }
        return pair_key_of_credential(*credential, current == 0 ? scratch.subspan(part)
                                                                : scratch.subspan(2 * part));
    };
    auto key = rebuild();
    crypto::secure_zero(scratch.first(2 * part)); // the credential tokens carry chain tags
    return key;
}

result<byte_view, seal_error> seal_call_in_place(const pair_key& key, byte_span buffer,
                                                 std::size_t call_size) {
    if (buffer.size() < sealed_call_overhead || buffer.size() - sealed_call_overhead < call_size)
        return failure{seal_error::buffer_too_small};
    byte_span nonce = buffer.subspan(sealed_header_size, sealed_nonce_size);
    if (!crypto::random_bytes(nonce))
        return failure{seal_error::crypto_failure};
    byte_span data = buffer.subspan(sealed_call_overhead, call_size);
    auto sealed = apply(key, nonce, domain(request_domain, sizeof request_domain), data, data);
    if (!sealed)
        return failure{sealed.error()};
    write_header(buffer);
    return byte_view(buffer.first(sealed_call_overhead + call_size));
}

result<byte_view, seal_error> open_call(const pair_key& key, byte_view sealed, byte_span out) {
    if (!is_sealed(sealed))
        return failure{seal_error::not_sealed};
    if (sealed.size() < sealed_call_overhead || !header_ok(sealed))
        return failure{seal_error::malformed};
    byte_view data = sealed.subspan(sealed_call_overhead);
    if (out.size() < data.size())
        return failure{seal_error::buffer_too_small};
    auto opened = apply(key, sealed.subspan(sealed_header_size, sealed_nonce_size),
                        domain(request_domain, sizeof request_domain), data,
                        out.first(data.size()));
    if (!opened)
        return failure{opened.error()};
    return byte_view(out.first(data.size()));
}

result<byte_view, seal_error> seal_reply(const pair_key& key, const caplets::tag_bytes& request_tag,
                                         byte_view reply, byte_span out) {
    if (out.size() < sealed_header_size || out.size() - sealed_header_size < reply.size())
        return failure{seal_error::buffer_too_small};
    auto sealed = apply(key, request_tag, domain(reply_domain, sizeof reply_domain), reply,
                        out.subspan(sealed_header_size, reply.size()));
    if (!sealed)
        return failure{sealed.error()};
    write_header(out);
    return byte_view(out.first(sealed_header_size + reply.size()));
}

result<byte_view, seal_error> open_reply(const pair_key& key, const caplets::tag_bytes& request_tag,
                                         byte_view sealed, byte_span out) {
    if (!is_sealed(sealed))
        return failure{seal_error::not_sealed};
    if (!header_ok(sealed))
        return failure{seal_error::malformed};
    byte_view data = sealed.subspan(sealed_header_size);
    if (out.size() < data.size())
        return failure{seal_error::buffer_too_small};
    auto opened = apply(key, request_tag, domain(reply_domain, sizeof reply_domain), data,
                        out.first(data.size()));
    if (!opened)
        return failure{opened.error()};
    return byte_view(out.first(data.size()));
}

} // namespace amb::remote
