// libFuzzer target: arbitrary bytes as a token (binary, and as text), parsed and verified with
// auxiliary tokens, revocation and sequence state. Nothing may crash or read out of bounds. The
// key is the one the seed tokens were minted with, so that mutations of valid tokens reach the
// derivation and constraint checks; a token that verifies must have the tag its chain gives.
#include <caplets/caplets.hpp>

#include "text.hpp"

#include <cstring>
#include <vector>

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
        if (caplets::verify(key, *token, context)) {
            caplets::tag_bytes tags[caplets::max_frames];
            caplets::chain_tags(key, *token, std::span(tags, token->frame_count()));
            if (tags[token->frame_count() - 1] != token->tag())
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
