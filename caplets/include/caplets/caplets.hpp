// CAPLets: capability tokens that a microcontroller can verify.
//
// A token is a chain of frames (capabilities + constraints, lidl messages from caplets.lidl) and
// a 32-byte tag: tag_0 = HMAC(secret, frame_0), tag_i = HMAC(tag_{i-1}, frame_i). Anyone holding
// a token can derive a narrower one by appending a frame; only the origin, which holds the
// secret, can verify. This header is the portable core: parsing (`token_view`), minting and
// deriving into caller buffers, the subset rules, and verification of a request with its
// auxiliary tokens, which reports *why* a token was rejected (`reason`: which token, which frame,
// which check, which capability or constraint). No exceptions, no allocation: verification runs
// in a few hundred bytes of stack on a Cortex-M. A verifier that receives many tokens derived
// from the same one (a serving node: a caller's credential plus one request frame) can keep a
// `verified_prefix` per sender and verify only the frames after it, with the same outcome.
//
// Lifetimes: a token_view and everything read through it point into the caller's buffer, which
// must outlive them. Thread-safety: all functions are reentrant; the state objects
// (revocation_list, sequence_store) are not synchronised.
#pragma once

#include "caplets.lidl.hpp"

#include <base/result.hpp>
#include <crypto/crypto.hpp>
#include <lidl/call_error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace caplets {

using byte_view = std::span<const std::uint8_t>;
using tag_bytes = std::array<std::uint8_t, 32>;

inline constexpr std::size_t max_frames = 32;

/// The origin's secret. Zeroed on destruction.
struct secret_key {
    std::array<std::uint8_t, 32> bytes{};
    ~secret_key() { amb::crypto::secure_zero(bytes); }
};

/// Rights bits of path capabilities and operations of path requests.
namespace rights {
inline constexpr std::uint8_t read = 1;
inline constexpr std::uint8_t write = 2;
inline constexpr std::uint8_t exec = 4;
inline constexpr std::uint8_t create = 8;
inline constexpr std::uint8_t remove = 16;  // "d" (delete)
inline constexpr std::uint8_t all = 31;
}  // namespace rights

/// The check that rejected a token.
enum class check : std::uint8_t {
    malformed = 1,           ///< not a token, or a frame is not a valid frame message
    too_many_frames,         ///< more than max_frames frames (or none)
    bad_tag,                 ///< the tag chain does not match: forged, tampered or another origin
    not_a_subset,            ///< a capability is not within any capability of the previous frame
    dropped_constraint,      ///< a constraint of the previous frame is missing
    derived_from_leaf_only,  ///< a frame was derived from a request or encrypt frame
    bad_path,                ///< a path is not absolute and normalised
    expired,                 ///< now is at or after `expires`
    not_yet_valid,           ///< now is before `not_before`
    endpoint_mismatch,       ///< the request's endpoint is outside `endpoint` (or unknown)
    signature_mismatch,      ///< `signature` names a token that is not the one it accompanies
    identity_missing,        ///< `identity` without a valid identity token for that id
    sequence_replayed,       ///< `sequence` not above the last accepted (see current_sequence)
    sequence_unavailable,    ///< `sequence` but no sequence store, or the store failed
    revoked,                 ///< the token or an ancestor is on the revocation list
    dynamic_rejected,        ///< a CapVM constraint rejected (or faulted)
    dynamic_unavailable,     ///< a CapVM constraint but no evaluator
    not_a_request,           ///< a request was expected but the leaf frame holds none
    not_an_encryption_token, ///< key exchange: the leaf frame holds no encrypt capability
    audience_mismatch,       ///< `audience` names another verifier, or a request names none
    dynamic_budget,          ///< the CapVM constraints of one verification ran out of budget
};

/// A sentence for `c`.
const char* describe(check c);

/// The reason class a caller is told when check `c` refused its token (lidl::refusal).
lidl::refusal refusal_of(check c);

/// Why verification failed. `token` is 0 for the main token and i for auxiliary token i-1;
/// `capability` / `constraint` index into the frame named by `frame` (-1 when not applicable).
struct reason {
    check what = check::malformed;
    std::uint8_t token = 0;
    std::uint8_t frame = 0;
    std::int16_t capability = -1;
    std::int16_t constraint = -1;
    /// For sequence_replayed: the last accepted number (the client should go above it).
    std::uint64_t current_sequence = 0;
    /// For malformed: what the lidl verifier found.
    lidl::verify_error parse{};
};

// --- tokens --------------------------------------------------------------------------------------

/// A parsed token: the lidl token message and every frame message verified, read in place.
class token_view {
public:
    /// Checks `bytes` (8-byte aligned) completely: the token message, the frame count, each
    /// frame's alignment and frame message. Errors: malformed, too_many_frames.
    static amb::result<token_view, reason> parse(byte_view bytes);

    std::size_t frame_count() const { return token_->frames.size(); }
    /// The exact bytes frame i was MACed over.
    byte_view frame_bytes(std::size_t i) const;
    /// Frame i, read in place.
    const frame& frame_at(std::size_t i) const;
    const frame& leaf() const { return frame_at(frame_count() - 1); }
    const tag_bytes& tag() const { return token_->tag; }
    byte_view bytes() const { return bytes_; }

private:
    token_view(const token* root, byte_view bytes) : token_(root), bytes_(bytes) {}
    const token* token_;
    byte_view bytes_;
};

/// The tags of the chain computed from `secret` over the token's frames, one per frame
/// (`tags` must have frame_count() entries); the last one is the tag the token must carry.
void chain_tags(const secret_key& secret, const token_view& token, std::span<tag_bytes> tags);

enum class build_error : std::uint8_t {
    buffer_too_small = 1,
    bad_frame,        ///< the frame message does not verify as a `frame`
    too_many_frames,
};
const char* describe(build_error e);

/// Writes a token of one frame (`frame_message`: a finished lidl message with root `frame`).
amb::result<byte_view, build_error> mint(const secret_key& secret, byte_view frame_message,
                                         lidl::builder& out);

/// Writes `parent` with `frame_message` appended; tag = HMAC(parent.tag, frame). Anyone can do
/// this: it does not check that the new frame is a subset (verification does; see
/// check_derivation to check before sending).
amb::result<byte_view, build_error> derive(const token_view& parent, byte_view frame_message,
                                           lidl::builder& out);

// --- frames -------------------------------------------------------------------------------------

/// Describes a frame to write: up to 16 capabilities and 16 constraints given as views of the
/// caller's data (which must live until write()). No allocation.
class frame_spec {
public:
    static constexpr std::size_t capacity = 16;

    bool add_root();
    bool add_path(std::string_view prefix, std::uint8_t rights);
    /// `procedures` empty and `all` true means "*".
    bool add_service(std::string_view name, std::span<const std::string_view> procedures, bool all);
    bool add_identity(std::string_view id);
    bool add_encrypt();
    bool add_path_request(std::uint8_t operation, std::string_view path);
    bool add_call_request(std::string_view service, std::string_view procedure,
                          byte_view arguments);
    bool add_extension(std::uint32_t type_id, byte_view body);

    bool add_expires(std::uint64_t unix_seconds);
    bool add_not_before(std::uint64_t unix_seconds);
    /// `address`: 4 bytes (IPv4) or 16 (IPv6); prefix_length up to 32 / 128.
    bool add_endpoint(byte_view address, std::uint8_t prefix_length);
    bool add_signature(const tag_bytes& tag);
    bool add_identity_constraint(std::string_view id);
    bool add_sequence(std::uint64_t number);
    bool add_capvm(byte_view bytecode);
    /// The verifier that may accept the token (see verify_context::audience).
    bool add_audience(std::string_view verifier);
    /// Adds a copy of each constraint of `parent` (derivations must keep them all).
    bool inherit_constraints(const frame& parent);

    /// Writes the frame as a message (root `frame`) into `out`; returns its bytes.
    amb::result<byte_view, lidl::error> write(lidl::builder& out) const;

private:
    struct capability_item {
        capability::alternative kind;
        std::string_view text;
        std::string_view text2;
        std::uint8_t bits = 0;
        bool all = false;
        std::uint32_t type_id = 0;
        std::span<const std::string_view> names;
        byte_view bytes;
    };
    struct constraint_item {
        constraint::alternative kind;
        std::uint64_t number = 0;
        std::array<std::uint8_t, 16> address{};
        std::uint8_t prefix_length = 0;
        bool v6 = false;
        tag_bytes tag{};
        std::string_view text;
        byte_view bytes;
        const constraint* copy_of = nullptr;
    };
    static capability_item make(capability::alternative kind, std::string_view text = {},
                                std::string_view text2 = {}) {
        capability_item item{};
        item.kind = kind;
        item.text = text;
        item.text2 = text2;
        return item;
    }
    static constraint_item make(constraint::alternative kind) {
        constraint_item item{};
        item.kind = kind;
        return item;
    }
    bool push(const capability_item& item);
    bool push(const constraint_item& item);

    capability_item capabilities_[capacity];
    std::size_t capability_count_ = 0;
    constraint_item constraints_[capacity];
    std::size_t constraint_count_ = 0;
};

// --- subset rules ---------------------------------------------------------------------------------

/// An application's subset rule for extension capabilities (false by default: an extension is
/// then only within root).
using extension_rule = bool (*)(const extension_capability& child,
                                const extension_capability& parent);

/// True when `path` is absolute and normalised: "/" or "/a/b", no empty, "." or ".." components.
bool is_normalised_path(std::string_view path);

/// True when `child` grants nothing beyond `parent`.
bool is_subset(const capability& child, const capability& parent, extension_rule rule = nullptr);

/// True for capabilities nothing may be derived from (requests and encrypt).
bool is_leaf_only(const capability& c);

/// True when the two constraints are the same (type and value).
bool same_constraint(const constraint& a, const constraint& b);

/// Checks that `child` is a valid derivation of `parent` (every capability within some parent
/// capability, every parent constraint kept, parent not leaf-only, paths normalised). On
/// failure, returns the reason (with frame left 0 for the caller to fill).
amb::result<void, reason> check_derivation(const frame& parent, const frame& child,
                                           extension_rule rule = nullptr);

// --- verification state ---------------------------------------------------------------------------

/// Revoked tags with the expiry of the revoked token (0: never expires). Revoking a token
/// revokes everything derived from it, because a derived token's chain passes through the
/// revoked token's tag. Fixed capacity, no allocation; persistence is the host's (see
/// caplets/tools/store.hpp for the file-backed list of the hosted port).
class revocation_list {
public:
    static constexpr std::size_t capacity = 256;

    /// Adds `tag` (idempotent). False when full even after pruning entries expired at `now`.
    bool add(const tag_bytes& tag, std::uint64_t expires, std::uint64_t now);
    bool contains(const tag_bytes& tag) const;
    /// Drops entries whose token has expired by `now`.
    void prune(std::uint64_t now);
    std::size_t size() const { return count_; }
    struct entry {
        tag_bytes tag;
        std::uint64_t expires;
    };
    std::span<const entry> entries() const { return {entries_, count_}; }

private:
    entry entries_[capacity]{};
    std::size_t count_ = 0;
};

/// Who a sequence number belongs to. `root` is the chain tag of frame 0 (the credential's root:
/// no derivation changes it, and only the origin mints roots), `holder` the chain tag of the
/// frame before the leaf (the token the request was derived from; for a one-frame token, its own
/// tag). Both are secrets (tags of bearer tokens): compare them in constant time, wipe copies.
struct sequence_key {
    tag_bytes root{};
    tag_bytes holder{};
};

/// Last accepted sequence number per (root, holder). Implementations decide where it lives and
/// how much it holds, with these rules (docs/caplets.md, "Replay"): a holder it does not know
/// starts at its floor; an entry is never dropped while a token it guards can still verify (its
/// `expires` is in the future, or it has none), so when it is full it refuses (fail closed)
/// rather than forget someone.
class sequence_store {
public:
    virtual ~sequence_store() = default;
    /// The last accepted number for `key` (the store's floor if it has none).
    virtual std::uint64_t last_accepted(const sequence_key& key) = 0;
    /// Records `number` as accepted for `key`, durably before returning true. `expires`: the
    /// latest Unix second a token guarded by this entry can verify (0: no expiry), `now` the
    /// verification's time (entries whose tokens all expired may be reused). False: refused
    /// (full, or the store failed); verification then answers sequence_unavailable.
    virtual bool accept(const sequence_key& key, std::uint64_t number, std::uint64_t expires,
                        std::uint64_t now) = 0;
};

/// The bookkeeping of a bounded store over storage its owner gives (no allocation): at most
/// roots.size() roots and `holders_per_root` holders under each (root r owns holders
/// [r * holders_per_root, (r + 1) * holders_per_root); holders.size() must hold them all, or
/// fewer per root are used). An entry lives until the latest `expires` it was recorded with has
/// passed (never, when one had none); a full root, or a table full of live roots, refuses. A
/// lookup compares the roots in use and one root's holders, in constant time each. Not
/// synchronised.
class sequence_table {
public:
    struct root_entry {
        tag_bytes root;
        std::uint32_t holders;  ///< entries in use under this root (0: the slot is free)
    };
    struct holder_entry {
        tag_bytes holder;
        std::uint64_t number;
        std::uint64_t expires;  ///< 0: no expiry
        bool used;
    };

    sequence_table(std::span<root_entry> roots, std::span<holder_entry> holders,
                   std::size_t holders_per_root, std::uint64_t floor);
    ~sequence_table() { clear(); }
    sequence_table(const sequence_table&) = delete;
    sequence_table& operator=(const sequence_table&) = delete;

    std::uint64_t last(const sequence_key& key) const;
    /// False when the root or the table is full of live entries (after reusing dead ones).
    bool record(const sequence_key& key, std::uint64_t number, std::uint64_t expires,
                std::uint64_t now);
    std::uint64_t floor() const { return floor_; }
    /// Raises the floor (never lowers it).
    void raise_floor(std::uint64_t floor) { floor_ = floor > floor_ ? floor : floor_; }
    /// Entries in use (holders) and roots in use.
    std::size_t size() const;
    std::size_t roots() const;
    /// Forgets everything; wipes the tags.
    void clear();

private:
    holder_entry* find(const sequence_key& key, std::size_t& root_index) const;
    std::span<holder_entry> of_root(std::size_t root_index) const;
    void drop_dead(std::size_t root_index, std::uint64_t now);

    std::span<root_entry> roots_;
    std::span<holder_entry> holders_;
    std::size_t roots_high_ = 0;  ///< one past the highest root slot ever used: lookups stop there
    std::size_t holders_per_root_;
    std::uint64_t floor_;
};

/// A bounded in-memory sequence store: 16 roots, 4 holders per root (64 holders), never evicting
/// a live entry (full: refused). `floor` as in sequence_table; 0 by default, since
/// nothing survives a restart anyway (a node that must refuse requests from before a restart
/// persists a high-water mark: see remote::durable_sequence_store on the hosted port).
class memory_sequence_store final : public sequence_store {
public:
    static constexpr std::size_t max_roots = 16;
    static constexpr std::size_t holders_per_root = 4;
    static constexpr std::size_t capacity = max_roots * holders_per_root;
    explicit memory_sequence_store(std::uint64_t floor = 0)
        : table_(roots_, holders_, holders_per_root, floor) {}
    std::uint64_t last_accepted(const sequence_key& key) override { return table_.last(key); }
    bool accept(const sequence_key& key, std::uint64_t number, std::uint64_t expires,
                std::uint64_t now) override {
        return table_.record(key, number, expires, now);
    }
    const sequence_table& table() const { return table_; }

private:
    sequence_table::root_entry roots_[max_roots]{};
    sequence_table::holder_entry holders_[capacity]{};
    sequence_table table_;
};

/// Evaluates dynamic (CapVM) constraints; provided by the host (see capvm/). Returns true to
/// accept.
///
/// Budget: a token may carry any number of programs, so the cost of one verification is bounded
/// as a whole, not per program. Verification calls begin() once before the first program of each
/// verification (the main token and its auxiliary tokens together); an evaluator charges every
/// program against what is left (at least one unit per program, however short) and reports
/// exhaustion through budget_exhausted(), which verification turns into check::dynamic_budget.
class dynamic_evaluator {
public:
    virtual ~dynamic_evaluator() = default;
    /// A new verification starts: refill the budget.
    virtual void begin() {}
    virtual bool accepts(byte_view bytecode, const token_view& token) = 0;
    /// True when the last accepts() refused because the verification's budget ran out.
    virtual bool budget_exhausted() const { return false; }
};

// --- verified prefixes -----------------------------------------------------------------------------

namespace detail {
struct prefix_access;
}  // namespace detail

/// The leading frames of a token that verified, kept by a verifier that sees many tokens derived
/// from one token, so that it verifies only the frames after them: a serving node receives every
/// request of a caller as the caller's credential plus one request frame (docs/remote.md,
/// "Verified credentials"). Give it to verification through `verify_context::prefix`.
///
/// It memoises what verification computes from the secret and those frames *alone*: their exact
/// bytes, their chain tags, and that frame 0's paths and the derivation links between them passed
/// (under the extension rule of that verification). A token reuses it only when its first
/// frames() frames are byte for byte the remembered ones, it has at least one frame more, and the
/// extension rule is the same. Everything else is still checked for every token: the tags of the
/// frames after the prefix and the token's tag, revocation of every tag of the chain (the
/// remembered ones included), the link from the prefix to the next frame, and the leaf's
/// constraints (expiry, sequence, endpoint, CapVM, ...), so a token is accepted or refused, for
/// the same reason, exactly as without it.
///
/// Verification fills it, replacing and wiping what it held, after a token of two or more frames
/// passed every check, with that token's frames before the leaf (when they fit and it did not
/// already hold exactly those); a refused token leaves it unchanged. It is valid only for the
/// secret it was filled under: clear() it when the secret changes (verification cannot tell).
///
/// Memory: the frame bytes live in `storage`, given by the owner, which must outlive this object;
/// its size bounds the prefixes remembered (longer ones are simply verified in full every time).
/// The tags, secrets (tags of bearer tokens), live inline: at most max_frames. Both are wiped by
/// clear() and on destruction. No allocation; not copyable; not synchronised.
class verified_prefix {
public:
    static constexpr std::size_t max_frames = 4;

    /// Holds nothing and never remembers anything.
    verified_prefix() = default;
    explicit verified_prefix(std::span<std::uint8_t> storage) : storage_(storage) {}
    ~verified_prefix() { clear(); }
    verified_prefix(const verified_prefix&) = delete;
    verified_prefix& operator=(const verified_prefix&) = delete;

    /// The number of frames remembered (0: none).
    std::size_t frames() const { return frames_; }
    bool empty() const { return frames_ == 0; }
    /// The most frame bytes it can remember.
    std::size_t capacity() const { return storage_.size(); }
    /// Forgets the prefix; wipes its bytes and tags.
    void clear();

private:
    friend struct detail::prefix_access;
    std::span<std::uint8_t> storage_;
    std::size_t frames_ = 0;
    std::size_t sizes_[max_frames]{};
    tag_bytes tags_[max_frames]{};
    extension_rule extensions_ = nullptr;
};

/// What the verifier knows about the request it is checking.
struct verify_context {
    std::uint64_t now = 0;  ///< Unix seconds
    /// The peer's address: 4 bytes (IPv4) or 16 (IPv6); empty when unknown.
    byte_view endpoint;
    /// Tokens sent alongside (identity tokens bound to the main token by `signature`).
    std::span<const token_view> auxiliary;
    const revocation_list* revoked = nullptr;
    sequence_store* sequences = nullptr;
    /// Verify `sequence` constraints but record nothing: verify() hands the numbers to record in
    /// verification_details (required then), and the caller records them with
    /// commit_sequences() once its own checks (the grant: service, procedure, arguments) passed,
    /// right before acting. Without it, verify() records them itself when everything passed.
    bool defer_sequences = false;
    dynamic_evaluator* dynamic = nullptr;
    /// The name of this verifier (a serving node, an HTTP exporter). A token with an `audience`
    /// constraint is accepted only when every one of them names exactly this (so, never by a
    /// verifier without a name), and when `require_audience` is set, verify_request() refuses a
    /// request that names no audience: a request captured on its way to one verifier cannot be
    /// spent at another that shares the key.
    std::string_view audience;
    bool require_audience = false;
    extension_rule extensions = nullptr;
    /// Optional: a verified prefix of the main token to start from, refilled after success (see
    /// verified_prefix). Auxiliary tokens are always verified in full.
    verified_prefix* prefix = nullptr;
};

/// What verification computed on the way, for verifiers that need more than the grant: an
/// optional out-parameter of verify() and verify_request(), written only on success.
struct verification_details {
    /// The holder's tag: the chain tag of the frame before the leaf, i.e. of the token the leaf
    /// was derived from (for a one-frame token, its own tag). It keys the sequence store, and a
    /// serving node authenticates its answers with it. A secret (the tag of a bearer token):
    /// wipe it when done.
    tag_bytes holder{};
    /// Leading frames taken from `verify_context::prefix` instead of recomputed (0: in full).
    std::size_t reused_frames = 0;

    /// One sequence number to record (per token: the largest of its `sequence` constraints).
    struct pending_sequence {
        sequence_key key;
        std::uint64_t number;
        std::uint64_t expires;  ///< the earliest `expires` of the token (0: none)
        std::uint8_t token;     ///< as in `reason`: 0 the main token, i an auxiliary one
        std::uint8_t frame;     ///< its leaf frame, named by a refusal
    };
    static constexpr std::size_t max_sequences = 4;
    /// With verify_context::defer_sequences: what commit_sequences() will record (main token
    /// first, then auxiliary tokens). Secrets, as `holder`.
    pending_sequence sequences[max_sequences]{};
    std::size_t sequence_count = 0;
};

/// With verify_context::defer_sequences, after verify() passed: whether the numbers in `details`
/// are still above the last accepted ones (read only; a cheap early refusal, sequence_replayed
/// with current_sequence, or sequence_unavailable without a store).
amb::result<void, reason> check_sequences(const verify_context& context,
                                          const verification_details& details);

/// With verify_context::defer_sequences: checks the numbers again and records them (the
/// largest per holder) in context.sequences. Errors: sequence_replayed (another request took the
/// number in between), sequence_unavailable (no store, or it refused: full or failed). Call it
/// once, after every other check, right before acting on the request.
amb::result<void, reason> commit_sequences(const verify_context& context,
                                           const verification_details& details);

/// What a verified token grants: the capabilities of its leaf frame.
struct granted {
    const frame* leaf;
    std::size_t frames;
};

/// Verifies `token` against `secret`: the tag chain (constant-time compare), every derivation
/// link, revocation of the token and its ancestors, and the constraints of the leaf frame
/// (with the auxiliary tokens of `context`, themselves verified the same way). A `sequence`
/// constraint is recorded only when everything else has passed (or, with
/// `context.defer_sequences`, not at all: see commit_sequences). With `context.prefix`, starts
/// from a verified prefix when it matches and refills it after success (same outcome either
/// way). `details`, when given, receives what was computed on the way (only on success).
amb::result<granted, reason> verify(const secret_key& secret, const token_view& token,
                                    const verify_context& context,
                                    verification_details* details = nullptr);

/// Key exchange, origin side: verifies an encryption token that arrived *without* its tag (the
/// tag field is ignored: it never crosses the network) exactly as verify() would (including the
/// use of `context.prefix`), requires its
/// leaf frame to hold only the encrypt capability, and returns the tag the origin computes,
/// which the holder also knows and nobody else does: the shared secret of the channel.
/// `details` as for verify() (with `context.defer_sequences`, the numbers to commit once the
/// peer proved it knows that tag: the key exchange does so after the client's proof).
amb::result<tag_bytes, reason> verify_encryption_token(const secret_key& secret,
                                                       const token_view& token,
                                                       const verify_context& context,
                                                       verification_details* details = nullptr);

/// verify() and also require that the leaf frame holds a request (path or call); returns it.
/// A serving node typically passes `details` for the holder tag (the key of its answers) and a
/// per-caller `context.prefix` (see verified_prefix).
amb::result<const capability*, reason> verify_request(const secret_key& secret,
                                                       const token_view& token,
                                                       const verify_context& context,
                                                       verification_details* details = nullptr);

}  // namespace caplets
