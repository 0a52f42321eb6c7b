// Verification of a token and its auxiliary tokens.
#include <caplets/caplets.hpp>

#include "derivation.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

namespace caplets {
namespace {

using pending_sequence = verification_details::pending_sequence;

// State of one verification: the main token's chain tags, sequence numbers to record, how many
// leading frames of the main token came from context.prefix.
struct session {
    const secret_key& secret;
    const verify_context& context;
    tag_bytes main_tag{};
    // Only the first sequence_count entries are ever written (note_sequence fills each one
    // whole) or read, so only those hold secrets to wipe.
    pending_sequence sequences[verification_details::max_sequences]{};
    std::size_t sequence_count = 0;
    std::size_t reused_frames = 0;
};

reason failed(check what, std::size_t token_index, std::size_t frame_index, int capability = -1,
              int constraint = -1) {
    reason why;
    why.what = what;
    why.token = static_cast<std::uint8_t>(token_index);
    why.frame = static_cast<std::uint8_t>(frame_index);
    why.capability = static_cast<std::int16_t>(capability);
    why.constraint = static_cast<std::int16_t>(constraint);
    return why;
}

bool paths_valid(const frame& f, int& bad) {
    for (std::size_t i = 0; i < f.capabilities.size(); ++i) {
        const capability& c = f.capabilities[i];
        const path_capability* path = c.path();
        const path_request* request = c.path_request();
        if ((path != nullptr && !is_normalised_path(path->prefix)) ||
            (request != nullptr && !is_normalised_path(request->path))) {
            bad = static_cast<int>(i);
            return false;
        }
    }
    return true;
}

}  // namespace

namespace detail {

// The only code that reads or fills a verified_prefix (see its comment in caplets.hpp).
struct prefix_access {
    // When `prefix` holds leading frames of `token` (byte for byte, and at least one frame is
    // left after them) remembered under the same extension rule, copies their tags into `tags`
    // and returns how many; otherwise 0. Frame bytes are public (they travel in every request),
    // so they are compared with memcmp; the tags are never compared here.
    static std::size_t reuse(const verified_prefix& prefix, const token_view& token,
                             extension_rule extensions, std::span<tag_bytes> tags) {
        const std::size_t count = prefix.frames_;
        if (count == 0 || token.frame_count() <= count || prefix.extensions_ != extensions)
            return 0;
        std::size_t offset = 0;
        for (std::size_t i = 0; i < count; ++i) {
            byte_view frame_range = token.frame_bytes(i);
            if (frame_range.size() != prefix.sizes_[i] ||
                std::memcmp(frame_range.data(), prefix.storage_.data() + offset,
                            frame_range.size()) != 0)
                return 0;
            offset += frame_range.size();
        }
        for (std::size_t i = 0; i < count; ++i)
            tags[i] = prefix.tags_[i];
        return count;
    }

    // After `token` passed every check: remembers its frames before the leaf with their tags,
    // unless it holds exactly those already or they do not fit.
    static void remember(verified_prefix& prefix, const token_view& token,
                         std::span<const tag_bytes> tags, extension_rule extensions,
                         std::size_t reused_frames) {
        const std::size_t count = token.frame_count() - 1;
        if (count == 0 || count > verified_prefix::max_frames || reused_frames == count)
            return;
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i)
            total += token.frame_bytes(i).size();
        if (total > prefix.storage_.size())
            return;
        prefix.clear();
        std::size_t offset = 0;
        for (std::size_t i = 0; i < count; ++i) {
            byte_view frame_range = token.frame_bytes(i);
            std::memcpy(prefix.storage_.data() + offset, frame_range.data(), frame_range.size());
            offset += frame_range.size();
            prefix.sizes_[i] = frame_range.size();
            prefix.tags_[i] = tags[i];
        }
        prefix.extensions_ = extensions;
        prefix.frames_ = count;
    }
};

}  // namespace detail

void verified_prefix::clear() {
    amb::crypto::secure_zero(storage_);
    amb::crypto::secure_zero(std::span<std::uint8_t>(tags_[0].data(), sizeof tags_));
    for (std::size_t& size : sizes_)
        size = 0;
    extensions_ = nullptr;
    frames_ = 0;
}

namespace {

// Tag chain, revocation of the token and its ancestors, every derivation link. With
// `compare_tag` false the token's own tag is ignored (an encryption token travels without it).
// For the main token (index 0) with context.prefix, the chain starts after the frames the prefix
// holds (s.reused_frames): their tags are the remembered ones, and the checks that depend on
// those frames alone (frame 0's paths, the links between them) passed when they were remembered.
// Revocation is checked for every tag, remembered or not, so the outcome and the reason are
// those of a verification in full.
amb::result<void, reason> check_chain(session& s, const token_view& token,
                                      std::size_t token_index, std::span<tag_bytes> tags,
                                      bool compare_tag = true) {
    std::size_t last = token.frame_count() - 1;
    std::size_t known = 0;
    if (token_index == 0 && s.context.prefix != nullptr)
        known = detail::prefix_access::reuse(*s.context.prefix, token, s.context.extensions, tags);
    s.reused_frames = token_index == 0 ? known : s.reused_frames;
    // Each frame is located once, for its tag and for its links: a frame message's root follows
    // its header (as token_view::frame_at reads it; parse() verified the whole message).
    // Left uninitialised: entry i is written before it is read.
    const frame* frames[max_frames];
    for (std::size_t i = 0; i <= last; ++i) {
        const byte_view bytes = token.frame_bytes(i);
        frames[i] = reinterpret_cast<const frame*>(bytes.data() + lidl::header_size);
        // The chain from the last known tag on: tag_i = HMAC(tag_{i-1}, frame_i), tag_0 from
        // the secret (as chain_tags computes it).
        if (i >= known)
            tags[i] = amb::crypto::hmac_sha256::mac(i == 0 ? byte_view(s.secret.bytes)
                                                           : byte_view(tags[i - 1]),
                                                    bytes);
    }
    if (compare_tag && !amb::crypto::constant_time_equal(tags[last], token.tag()))
        return amb::failure{failed(check::bad_tag, token_index, last)};
    if (s.context.revoked != nullptr)
        for (std::size_t i = 0; i <= last; ++i)
            if (s.context.revoked->contains(tags[i]))
                return amb::failure{failed(check::revoked, token_index, i)};
    int bad = -1;
    if (known == 0 && !paths_valid(*frames[0], bad))
        return amb::failure{failed(check::bad_path, token_index, 0, bad)};
    // Every parent's paths have passed by the time its link is checked: frame 0's just above,
    // each later frame's as the child of the link before, a remembered prefix's when it was
    // remembered.
    for (std::size_t i = known > 0 ? known : 1; i <= last; ++i) {
        auto link = detail::check_link(*frames[i - 1], *frames[i], s.context.extensions, true);
        if (!link) {
            reason why = link.error();
            why.token = static_cast<std::uint8_t>(token_index);
            why.frame = static_cast<std::uint8_t>(i);
            return amb::failure{why};
        }
    }
    return {};
}

bool endpoint_allows(const endpoint_constraint& allowed, byte_view endpoint) {
    std::size_t length = allowed.v6 ? 16 : 4;
    if (endpoint.size() != length || allowed.prefix_length > length * 8)
        return false;
    std::size_t full = allowed.prefix_length / 8;
    if (std::memcmp(endpoint.data(), allowed.address.data(), full) != 0)
        return false;
    std::size_t bits = allowed.prefix_length % 8;
    if (bits == 0)
        return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    return (endpoint[full] & mask) == (allowed.address[full] & mask);
}

amb::result<void, reason> check_leaf(session& s, const token_view& token, std::size_t token_index,
                                     std::span<const tag_bytes> tags);

// An auxiliary token bound to the main token: verified in full, and carrying a signature
// constraint that names the main token.
bool auxiliary_valid(session& s, std::size_t index) {
    const token_view& aux = s.context.auxiliary[index];
    tag_bytes tags[max_frames];
    std::span<tag_bytes> chain(tags, aux.frame_count());
    if (!check_chain(s, aux, index + 1, chain))
        return false;
    return check_leaf(s, aux, index + 1, chain).has_value();
}

bool has_identity(const frame& leaf, std::string_view id) {
    for (const capability& c : leaf.capabilities)
        if (const identity_capability* identity = c.identity())
            if (identity->id.view() == id)
                return true;
    return false;
}

bool binds_to(const frame& leaf, const tag_bytes& tag) {
    for (const constraint& c : leaf.constraints)
        if (const auto* signature = c.signature())
            if (amb::crypto::constant_time_equal(*signature, tag))
                return true;
    return false;
}

// The earliest `expires` of a leaf (0: none). Every constraint of the chain is repeated in the
// leaf, so this is the token's.
std::uint64_t earliest_expiry(const frame& leaf) {
    std::uint64_t earliest = 0;
    for (const constraint& c : leaf.constraints)
        if (const auto* expires = c.expires())
            earliest = earliest == 0 || *expires < earliest ? *expires : earliest;
    return earliest;
}

// One `sequence: number` of token `token_index`: merged into that token's pending entry (the
// largest is kept). The number must be above what the store holds (unless recording is
// deferred: commit_sequences() checks then). Error: sequence_unavailable; a value: replayed,
// with the current number.
amb::result<std::optional<std::uint64_t>, check> note_sequence(session& s,
                                                                std::size_t token_index,
                                                                std::size_t last,
                                                                std::span<const tag_bytes> tags,
                                                                const frame& leaf,
                                                                std::uint64_t number) {
    const bool defer = s.context.defer_sequences;
    if (s.context.sequences == nullptr && !defer)
        return amb::failure{check::sequence_unavailable};
    pending_sequence* entry = nullptr;
    for (std::size_t i = 0; i < s.sequence_count && entry == nullptr; ++i)
        if (s.sequences[i].token == token_index)
            entry = &s.sequences[i];
    if (entry == nullptr) {
        if (s.sequence_count == std::size(s.sequences))
            return amb::failure{check::sequence_unavailable};
        entry = &s.sequences[s.sequence_count++];
        entry->token = static_cast<std::uint8_t>(token_index);
        entry->frame = static_cast<std::uint8_t>(last);
        entry->key.root = tags[0];
        entry->key.holder = tags[last > 0 ? last - 1 : 0];
        entry->expires = earliest_expiry(leaf);
        entry->number = 0;
    }
    if (!defer) {
        const std::uint64_t current = s.context.sequences->last_accepted(entry->key);
        if (number <= current)
            return std::optional<std::uint64_t>(current);
    }
    entry->number = number > entry->number ? number : entry->number;
    return std::optional<std::uint64_t>();
}

amb::result<void, reason> check_leaf(session& s, const token_view& token, std::size_t token_index,
                                     std::span<const tag_bytes> tags) {
    const std::size_t last = token.frame_count() - 1;
    const frame& leaf = token.leaf();
    const bool is_main = token_index == 0;
    for (std::size_t j = 0; j < leaf.constraints.size(); ++j) {
        const constraint& c = leaf.constraints[j];
        auto reject = [&](check what) {
            return amb::failure{failed(what, token_index, last, -1, static_cast<int>(j))};
        };
        switch (c.which()) {
        case constraint::alternative::expires:
            if (s.context.now >= *c.expires())
                return reject(check::expired);
            break;
        case constraint::alternative::not_before:
            if (s.context.now < *c.not_before())
                return reject(check::not_yet_valid);
            break;
        case constraint::alternative::endpoint:
            if (!endpoint_allows(*c.endpoint(), s.context.endpoint))
                return reject(check::endpoint_mismatch);
            break;
        case constraint::alternative::signature: {
            // Valid only alongside the token with that tag: for an auxiliary token, the main
            // token; for the main token, one of the auxiliary tokens (verified in full).
            bool found = false;
            if (!is_main) {
                found = amb::crypto::constant_time_equal(*c.signature(), s.main_tag);
            } else {
                for (std::size_t k = 0; !found && k < s.context.auxiliary.size(); ++k)
                    found = amb::crypto::constant_time_equal(*c.signature(),
                                                             s.context.auxiliary[k].tag()) &&
                            auxiliary_valid(s, k);
            }
            if (!found)
                return reject(check::signature_mismatch);
            break;
        }
        case constraint::alternative::identity: {
            bool found = false;
            for (std::size_t k = 0; is_main && !found && k < s.context.auxiliary.size(); ++k) {
                const token_view& aux = s.context.auxiliary[k];
                found = has_identity(aux.leaf(), c.identity()->view()) &&
                        binds_to(aux.leaf(), s.main_tag) && auxiliary_valid(s, k);
            }
            if (!found)
                return reject(check::identity_missing);
            break;
        }
        case constraint::alternative::sequence: {
            // The numbers of one token: each must be above the last accepted, and the largest is
            // recorded (recording them in order would let a later, smaller one lower it).
            auto why = note_sequence(s, token_index, last, tags, leaf, *c.sequence());
            if (!why)
                return amb::failure{failed(why.error(), token_index, last, -1,
                                           static_cast<int>(j))};
            if (why->has_value()) {
                reason replayed = failed(check::sequence_replayed, token_index, last, -1,
                                         static_cast<int>(j));
                replayed.current_sequence = **why;
                return amb::failure{replayed};
            }
            break;
        }
        case constraint::alternative::capvm:
            if (s.context.dynamic == nullptr)
                return reject(check::dynamic_unavailable);
            if (!s.context.dynamic->accepts(c.capvm()->view(), token))
                return reject(s.context.dynamic->budget_exhausted() ? check::dynamic_budget
                                                                    : check::dynamic_rejected);
            break;
        case constraint::alternative::audience:
            // A verifier without a name satisfies no audience.
            if (s.context.audience.empty() || c.audience()->view() != s.context.audience)
                return reject(check::audience_mismatch);
            break;
        case constraint::alternative::lidl_empty: break;
        }
    }
    return {};
}

// The checks commit_sequences() and check_sequences() share: every pending number still above
// the store's; with `record`, then records them (each entry already holds its token's largest).
amb::result<void, reason> settle_sequences(const verify_context& context,
                                           std::span<const pending_sequence> pending,
                                           bool record) {
    if (pending.empty())
        return {};
    if (context.sequences == nullptr)
        return amb::failure{
            failed(check::sequence_unavailable, pending[0].token, pending[0].frame)};
    for (const pending_sequence& p : pending) {
        const std::uint64_t current = context.sequences->last_accepted(p.key);
        if (p.number <= current) {
            reason why = failed(check::sequence_replayed, p.token, p.frame);
            why.current_sequence = current;
            return amb::failure{why};
        }
    }
    if (!record)
        return {};
    for (const pending_sequence& p : pending)
        if (!context.sequences->accept(p.key, p.number, p.expires, context.now))
            return amb::failure{failed(check::sequence_unavailable, p.token, p.frame)};
    return {};
}

// Records the sequence numbers of a verification that passed every check (unless deferred: then
// they go to `details`, which must be given).
amb::result<void, reason> commit_pending(const session& s, std::size_t frames,
                                         verification_details* details) {
    if (s.sequence_count == 0)
        return {};
    if (s.context.defer_sequences) {
        if (details == nullptr)
            return amb::failure{failed(check::sequence_unavailable, 0, frames - 1)};
        return {};
    }
    return settle_sequences(s.context, std::span(s.sequences, s.sequence_count), true);
}

// After the main token passed every check: refills context.prefix, reports the details.
void finish(const session& s, const token_view& token, std::span<const tag_bytes> tags,
            verification_details* details) {
    if (s.context.prefix != nullptr)
        detail::prefix_access::remember(*s.context.prefix, token, tags, s.context.extensions,
                                        s.reused_frames);
    if (details != nullptr) {
        const std::size_t last = token.frame_count() - 1;
        details->holder = tags[last > 0 ? last - 1 : 0];
        details->reused_frames = s.reused_frames;
        details->sequence_count = s.context.defer_sequences ? s.sequence_count : 0;
        for (std::size_t i = 0; i < details->sequence_count; ++i)
            details->sequences[i] = s.sequences[i];
    }
}

// The chain tags are secrets (tags of bearer tokens): no copy stays on the stack.
void wipe(std::span<tag_bytes> tags) {
    amb::crypto::secure_zero(std::span<std::uint8_t>(tags.data()->data(), tags.size_bytes()));
}

void wipe_pending(session& s) {
    for (pending_sequence& p : std::span(s.sequences, s.sequence_count)) {
        amb::crypto::secure_zero(p.key.root);
        amb::crypto::secure_zero(p.key.holder);
    }
}

amb::result<granted, reason> verify_main(session& s, const token_view& token,
                                         std::span<tag_bytes> chain,
                                         verification_details* details) {
    if (s.context.auxiliary.size() > 8)
        return amb::failure{failed(check::malformed, s.context.auxiliary.size(), 0)};
    auto linked = check_chain(s, token, 0, chain);
    if (!linked)
        return amb::failure{linked.error()};
    s.main_tag = token.tag();
    auto leaf = check_leaf(s, token, 0, chain);
    if (!leaf)
        return amb::failure{leaf.error()};
    // Everything passed: only now consume the sequence numbers.
    auto recorded = commit_pending(s, token.frame_count(), details);
    if (!recorded)
        return amb::failure{recorded.error()};
    finish(s, token, chain, details);
    return granted{&token.leaf(), token.frame_count()};
}

}  // namespace

amb::result<granted, reason> verify(const secret_key& secret, const token_view& token,
                                    const verify_context& context,
                                    verification_details* details) {
    session s{secret, context};
    if (context.dynamic != nullptr)
        context.dynamic->begin();
    tag_bytes tags[max_frames];
    std::span<tag_bytes> chain(tags, token.frame_count());
    auto verified = verify_main(s, token, chain, details);
    wipe(chain);
    wipe_pending(s);
    return verified;
}

amb::result<tag_bytes, reason> verify_encryption_token(const secret_key& secret,
                                                       const token_view& token,
                                                       const verify_context& context,
                                                       verification_details* details) {
    const frame& leaf = token.leaf();
    if (leaf.capabilities.size() != 1 ||
        leaf.capabilities[0].which() != capability::alternative::encrypt)
        return amb::failure{failed(check::not_an_encryption_token, 0, token.frame_count() - 1)};
    session s{secret, context};
    if (context.dynamic != nullptr)
        context.dynamic->begin();
    tag_bytes tags[max_frames];
    std::span<tag_bytes> chain(tags, token.frame_count());
    auto checked = [&]() -> amb::result<tag_bytes, reason> {
        auto linked = check_chain(s, token, 0, chain, false);
        if (!linked)
            return amb::failure{linked.error()};
        s.main_tag = chain.back();
        auto leaf_checked = check_leaf(s, token, 0, chain);
        if (!leaf_checked)
            return amb::failure{leaf_checked.error()};
        auto recorded = commit_pending(s, token.frame_count(), details);
        if (!recorded)
            return amb::failure{recorded.error()};
        finish(s, token, chain, details);
        return chain.back();
    }();
    wipe(chain);
    wipe_pending(s);
    return checked;
}

amb::result<const capability*, reason> verify_request(const secret_key& secret,
                                                       const token_view& token,
                                                       const verify_context& context,
                                                       verification_details* details) {
    const frame& leaf = token.leaf();
    const capability* request = nullptr;
    for (const capability& c : leaf.capabilities)
        if (c.which() == capability::alternative::path_request ||
            c.which() == capability::alternative::call_request)
            request = &c;
    if (request == nullptr || leaf.capabilities.size() != 1)
        return amb::failure{failed(check::not_a_request, 0, token.frame_count() - 1)};
    if (context.require_audience) {
        // Every constraint of the chain is repeated in the leaf, so the leaf tells. Whether the
        // audience it names is this verifier is checked with the other constraints.
        bool named = false;
        for (const constraint& c : leaf.constraints)
            named = named || c.audience() != nullptr;
        if (!named)
            return amb::failure{failed(check::audience_mismatch, 0, token.frame_count() - 1)};
    }
    auto verified = verify(secret, token, context, details);
    if (!verified)
        return amb::failure{verified.error()};
    return request;
}

amb::result<void, reason> check_sequences(const verify_context& context,
                                          const verification_details& details) {
    const std::size_t count = std::min(details.sequence_count, details.max_sequences);
    return settle_sequences(context, std::span(details.sequences, count), false);
}

amb::result<void, reason> commit_sequences(const verify_context& context,
                                           const verification_details& details) {
    const std::size_t count = std::min(details.sequence_count, details.max_sequences);
    return settle_sequences(context, std::span(details.sequences, count), true);
}

}  // namespace caplets
