// Parsing, minting and deriving tokens; the tag chain.
#include <caplets/caplets.hpp>

#include <cstring>

namespace caplets {

const char* describe(check c) {
    switch (c) {
    case check::malformed: return "the token or one of its frames is malformed";
    case check::too_many_frames: return "the token has no frames or too many";
    case check::bad_tag: return "the tag does not match (forged, tampered, or another origin's)";
    case check::not_a_subset:
        return "a capability is not within any capability of the previous frame";
    case check::dropped_constraint: return "a constraint of the previous frame was dropped";
    case check::derived_from_leaf_only:
        return "a frame was derived from a request or encrypt frame";
    case check::bad_path: return "a path is not absolute and normalised";
    case check::expired: return "the token has expired";
    case check::not_yet_valid: return "the token is not valid yet";
    case check::endpoint_mismatch: return "the request comes from outside the allowed endpoint";
    case check::signature_mismatch:
        return "a signature constraint names a token other than the one it accompanies";
    case check::identity_missing: return "no valid identity token for the required identity";
    case check::sequence_replayed: return "the sequence number was already used (replay)";
    case check::sequence_unavailable: return "replay protection state is unavailable";
    case check::revoked: return "the token or an ancestor has been revoked";
    case check::dynamic_rejected: return "a CapVM constraint rejected the request";
    case check::dynamic_unavailable: return "a CapVM constraint cannot be evaluated here";
    case check::not_a_request: return "the token holds no request";
    case check::not_an_encryption_token: return "the token holds no encrypt capability";
    case check::audience_mismatch:
        return "the token is meant for another verifier (audience), or the request names none";
    case check::dynamic_budget:
        return "the token's CapVM constraints exceed the instruction budget of one verification";
    }
    return "unknown check";
}

lidl::refusal refusal_of(check c) {
    switch (c) {
    case check::expired:
    case check::not_yet_valid: return lidl::refusal::not_valid_now;
    case check::revoked: return lidl::refusal::revoked;
    case check::sequence_replayed:
    case check::sequence_unavailable: return lidl::refusal::replayed;
    case check::endpoint_mismatch:
    case check::dynamic_rejected:
    case check::dynamic_unavailable:
    case check::dynamic_budget: return lidl::refusal::not_permitted;
    case check::malformed:
    case check::too_many_frames:
    case check::bad_tag:
    case check::not_a_subset:
    case check::dropped_constraint:
    case check::derived_from_leaf_only:
    case check::bad_path:
    case check::signature_mismatch:
    case check::identity_missing:
    case check::not_a_request:
    case check::not_an_encryption_token:
    case check::audience_mismatch: return lidl::refusal::invalid_token;
    }
    return lidl::refusal::invalid_token;
}

const char* describe(build_error e) {
    switch (e) {
    case build_error::buffer_too_small: return "the buffer is too small for the token";
    case build_error::bad_frame: return "the frame is not a valid frame message";
    case build_error::too_many_frames: return "the token would have too many frames";
    }
    return "unknown build error";
}

amb::result<token_view, reason> token_view::parse(byte_view bytes) {
    reason why;
    auto message = lidl::verify<token>(bytes);
    if (!message) {
        why.parse = message.error();
        return amb::failure{why};
    }
    const token& root = *message.value();
    if (root.frames.empty() || root.frames.size() > max_frames) {
        why.what = check::too_many_frames;
        return amb::failure{why};
    }
    // The container must have the one layout mint/derive write (header, root, frame slots,
    // then each frame 8-byte aligned with zero padding, nothing after), so that a token has a
    // single byte representation: no byte of an accepted token can change.
    std::uint32_t root_size;
    std::memcpy(&root_size, bytes.data() + 4, 4);
    std::size_t position = lidl::header_size + sizeof(token) + 8 * root.frames.size();
    if (root_size != sizeof(token) ||
        reinterpret_cast<const std::uint8_t*>(root.frames.view().data()) !=
            bytes.data() + lidl::header_size + sizeof(token)) {
        why.parse = lidl::verify_error{lidl::error::bad_offset, 0, "caplets::token", "frames"};
        return amb::failure{why};
    }
    for (std::size_t i = 0; i < root.frames.size(); ++i) {
        why.frame = static_cast<std::uint8_t>(i);
        byte_view frame_range = root.frames[i].view();
        std::size_t start = (position + 7) & ~std::size_t{7};
        bool canonical = frame_range.data() == bytes.data() + start;
        if (canonical && start != position) {
            // The padding (1 to 7 bytes) ends the 8-byte word before the frame, which lies
            // inside the token since the frame starts at `start`: one load checks it.
            std::uint64_t word;
            std::memcpy(&word, bytes.data() + start - 8, 8);
            canonical = (word >> (8 * (8 - (start - position)))) == 0;
        }
        if (!canonical) {
            why.parse = lidl::verify_error{lidl::error::bad_offset,
                                           static_cast<std::uint32_t>(position), "caplets::token",
                                           "frames"};
            return amb::failure{why};
        }
        position = start + frame_range.size();
        auto frame_message = lidl::verify<frame>(frame_range);
        if (!frame_message) {
            // Includes frames that are not 8-byte aligned inside the token (misaligned_buffer).
            why.parse = frame_message.error();
            return amb::failure{why};
        }
    }
    if (position != bytes.size()) {
        why.parse = lidl::verify_error{lidl::error::bad_offset, static_cast<std::uint32_t>(position),
                                       "caplets::token", "trailing bytes"};
        return amb::failure{why};
    }
    return token_view(&root, bytes);
}

byte_view token_view::frame_bytes(std::size_t i) const { return token_->frames[i].view(); }

const frame& token_view::frame_at(std::size_t i) const {
    // Verified by parse(): the header and the whole frame message.
    return *reinterpret_cast<const frame*>(frame_bytes(i).data() + lidl::header_size);
}

void chain_tags(const secret_key& secret, const token_view& token, std::span<tag_bytes> tags) {
    AMB_REQUIRE(tags.size() == token.frame_count(), "chain_tags needs one slot per frame");
    byte_view key = secret.bytes;
    for (std::size_t i = 0; i < token.frame_count(); ++i) {
        tags[i] = amb::crypto::hmac_sha256::mac(key, token.frame_bytes(i));
        key = tags[i];
    }
}

namespace {

// Writes a token of `frames` (existing frame byte ranges, then `extra`) with `tag`.
amb::result<byte_view, build_error> write_token(std::span<const byte_view> frames, byte_view extra,
                                                const tag_bytes& tag, lidl::builder& out) {
    token* root = out.create_root<token>();
    if (root == nullptr)
        return amb::failure{build_error::buffer_too_small};
    std::size_t count = frames.size() + 1;
    lidl::vector<std::uint8_t>* slots = out.create_vector(root->frames, count);
    if (slots == nullptr)
        return amb::failure{build_error::buffer_too_small};
    for (std::size_t i = 0; i < count; ++i) {
        byte_view bytes = i < frames.size() ? frames[i] : extra;
        // Frames are messages of their own: keep them 8-byte aligned so they read in place.
        std::uint8_t* data = out.create_vector(slots[i], bytes.size(), lidl::message_alignment);
        if (data == nullptr)
            return amb::failure{build_error::buffer_too_small};
        std::memcpy(data, bytes.data(), bytes.size());
    }
    root->tag = tag;
    auto finished = out.finish();
    if (!finished)
        return amb::failure{build_error::buffer_too_small};
    return finished.value();
}

bool is_frame(byte_view message) {
    return lidl::verify<frame>(message).has_value();
}

}  // namespace

amb::result<byte_view, build_error> mint(const secret_key& secret, byte_view frame_message,
                                         lidl::builder& out) {
    if (!is_frame(frame_message))
        return amb::failure{build_error::bad_frame};
    tag_bytes tag = amb::crypto::hmac_sha256::mac(secret.bytes, frame_message);
    return write_token({}, frame_message, tag, out);
}

amb::result<byte_view, build_error> derive(const token_view& parent, byte_view frame_message,
                                           lidl::builder& out) {
    if (!is_frame(frame_message))
        return amb::failure{build_error::bad_frame};
    if (parent.frame_count() >= max_frames)
        return amb::failure{build_error::too_many_frames};
    byte_view frames[max_frames];
    for (std::size_t i = 0; i < parent.frame_count(); ++i)
        frames[i] = parent.frame_bytes(i);
    tag_bytes tag = amb::crypto::hmac_sha256::mac(parent.tag(), frame_message);
    return write_token(std::span<const byte_view>(frames, parent.frame_count()), frame_message,
                       tag, out);
}

}  // namespace caplets
