// libFuzzer target: arbitrary bytes as a token (binary, and as text), parsed and verified with
// auxiliary tokens, revocation and sequence state. Nothing may crash or read out of bounds. The
// key is the one the seed tokens were minted with, so that mutations of valid tokens reach the
// derivation and constraint checks; a token that verifies must have the tag its chain gives.
// Each token is verified a second time from a verified prefix that persists across inputs
// (refilled by every accepted token): the outcome and the reason must be the same.
#include <caplets/caplets.hpp>

#include "text.hpp"

#include <cstring>
#include <vector>

namespace {

// Fills `prefix` with the root frame of the seed tokens (frame_spec{root}, minted with the
// fuzzing key), by verifying a token derived from it, so that mutations of the seeds reach the
// verification from a prefix.
bool prime(const caplets::secret_key& key, caplets::verified_prefix& prefix) {
    static std::uint64_t frame_storage[512], root_storage[512], child_storage[512];
    auto span_of = [](std::uint64_t* words) {
        return std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(words), 512 * 8);
    };
    caplets::frame_spec root;
    root.add_root();
    lidl::builder frame_out(span_of(frame_storage));
    lidl::builder root_out(span_of(root_storage));
    auto minted = caplets::mint(key, *root.write(frame_out), root_out);
    auto parent = caplets::token_view::parse(*minted);
    caplets::frame_spec child;
    child.add_path("/home/alice", caplets::rights::read);
    lidl::builder child_frame(span_of(frame_storage));
    lidl::builder child_out(span_of(child_storage));
    auto derived = caplets::derive(*parent, *child.write(child_frame), child_out);
    auto token = caplets::token_view::parse(*derived);
    caplets::verify_context context;
    context.now = 1000;
    context.prefix = &prefix;
    if (!token || !caplets::verify(key, *token, context) || prefix.frames() != 1)
        __builtin_trap();
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 1 << 16)
        return 0;
    std::vector<std::uint64_t> storage(size / 8 + 1);
    std::memcpy(storage.data(), data, size);
    caplets::byte_view bytes(reinterpret_cast<const std::uint8_t*>(storage.data()), size);

    std::string error;
    auto from_text = caplets::text::token_from_text(
        std::string_view(reinterpret_cast<const char*>(data), size), error);

    for (caplets::byte_view candidate : {bytes, from_text ? from_text->bytes() : caplets::byte_view{}}) {
        auto token = caplets::token_view::parse(candidate);
        if (!token)
            continue;
        caplets::secret_key key;
        key.bytes.fill(7);
        caplets::revocation_list revoked;
        caplets::memory_sequence_store sequences;
        caplets::verify_context context;
        context.now = 1000;
        context.auxiliary = std::span<const caplets::token_view>(&*token, 1);
        context.revoked = &revoked;
        context.sequences = &sequences;
        auto in_full = caplets::verify(key, *token, context);
        if (in_full) {
            caplets::tag_bytes tags[caplets::max_frames];
            caplets::chain_tags(key, *token, std::span(tags, token->frame_count()));
            if (tags[token->frame_count() - 1] != token->tag())
                __builtin_trap();
        }
        static std::uint8_t prefix_storage[4096];
        static caplets::verified_prefix prefix(prefix_storage);
        static const bool primed = prime(key, prefix);
        (void)primed;
        caplets::memory_sequence_store prefix_sequences;
        caplets::verify_context from_prefix = context;
        from_prefix.sequences = &prefix_sequences;
        from_prefix.prefix = &prefix;
        auto again = caplets::verify(key, *token, from_prefix);
        if (in_full.has_value() != again.has_value() ||
            (!in_full && (in_full.error().what != again.error().what ||
                          in_full.error().frame != again.error().frame)))
            __builtin_trap();
        // Deferred recording: the same outcome, nothing recorded by verify(), then a commit that
        // records once (a second commit of the same numbers is a replay).
        caplets::memory_sequence_store deferred_sequences;
        caplets::verify_context deferred = context;
        deferred.sequences = &deferred_sequences;
        deferred.defer_sequences = true;
        caplets::verification_details details;
        auto checked = caplets::verify(key, *token, deferred, &details);
        // (Deferring may accept more: a number the in-full run found not above the store's,
        // e.g. 0, is checked only by check_sequences / commit_sequences.)
        if ((in_full && !checked) || deferred_sequences.table().size() != 0)
            __builtin_trap();
        if (checked && details.sequence_count > 0) {
            auto committed = caplets::commit_sequences(deferred, details);
            if (committed && caplets::commit_sequences(deferred, details))
                __builtin_trap();
        }
        // Walk everything the inspector would print.
        for (std::size_t i = 0; i < token->frame_count(); ++i) {
            for (const caplets::capability& c : token->frame_at(i).capabilities)
                (void)caplets::text::capability_to_text(c);
            for (const caplets::constraint& c : token->frame_at(i).constraints)
                (void)caplets::text::constraint_to_text(c);
        }
        (void)caplets::check_derivation(token->frame_at(0), token->leaf());
    }
    return 0;
}
