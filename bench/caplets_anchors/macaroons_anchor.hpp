// The anchor of benchmark `caplets`: classic macaroons (Debian's libmacaroons, the same
// HMAC-chain construction), and the content both systems carry, behind a plain C++ interface so
// that bench/caplets_bench.cpp times libmacaroons without including <macaroons.h>.
//
// "The same content" (also stated in bench/caplets.py): chain_content(n) is a delegation chain
// of n steps. Step 0 is what the origin grants Alice, the subtree /home/alice with every right;
// each later step narrows it: every third step (i % 3 == 2) adds an expiry a day earlier than
// the previous one, the other steps narrow the path by one component. Step i becomes
//   - CAPLets: frame i, a path capability for the step's prefix with every right, plus the
//     step's `expires` constraint and (as CAPLets requires of a derivation) a copy of every
//     constraint of frame i-1. Frame 0 is minted with the origin's secret, the others derived.
//   - macaroons: first-party caveat i, "path = <prefix>" or "time < <unix seconds>", added in
//     order to a macaroon whose location and identifier name the origin and its key (the
//     CAPLets origin needs neither: it has one secret and the token is sent to it).
// So n frames against n caveats: CAPLets computes n HMACs; libmacaroons n+2 (its key derivation
// and the identifier's HMAC come with the construction).
//
// What each verifier checks: CAPLets' caplets::verify checks the tag chain, every derivation link
// (path capabilities nested and normalised, constraints kept) and the leaf's constraints against
// `now`. The macaroon verifier recomputes the chain and runs every caveat through a real
// predicate check (macaroon_verifier_satisfy_general): a "path = P" caveat holds when P is
// absolute and normalised and the requested path lies within P; a "time < T" caveat when T is
// a decimal number and now < T; any other caveat fails. It is asked about the chain's narrowest
// path at `now`, the question CAPLets' verify answers for the leaf frame.
//
// Errors: tokens and macaroons from outside are validated, never asserted on; failures come back
// as false or an empty optional. Building (not timed) returns an empty optional when a library
// refuses. Not thread-safe per object; free functions are reentrant.
#pragma once

#include <caplets/caplets.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// libmacaroons' opaque handle (declared by <macaroons.h>, which only the .cpp includes).
struct macaroon;

namespace amb::caplets_anchors {

// --- the same content, both ways ----------------------------------------------------------------

/// 2025-11-25 12:00:00 UTC: the verifiers' "now", before every expiry of chain_content.
inline constexpr std::uint64_t bench_now = 1764072000;
/// 2026-01-01 00:00:00 UTC: the first expiry of a chain; later ones are a day earlier each.
inline constexpr std::uint64_t first_expiry = 1767225600;

/// One step of a delegation chain. `prefix` is the path granted after the step (every step);
/// `expires` is the expiry the step adds (0: none, a path step).
struct chain_step {
    std::string prefix;
    std::uint64_t expires = 0;
};

/// The chain of `steps` steps described in this file's header (steps >= 1).
std::vector<chain_step> chain_content(std::size_t steps);

/// The macaroon caveat of a step: "path = /home/alice/…" or "time < 1767225600".
std::string caveat_text(const chain_step& step);

/// The origin's secret, shared by both systems (32 bytes, the length both recommend).
caplets::secret_key bench_secret();

// --- CAPLets ----------------------------------------------------------------------------------

/// A CAPLets token in 8-byte aligned storage of its own, as a receiver would hold it.
class caplets_token {
public:
    caplets::byte_view bytes() const {
        return {reinterpret_cast<const std::uint8_t*>(storage_.data()), size_};
    }

private:
    friend std::optional<caplets_token> build_caplets_token(const caplets::secret_key&,
                                                            std::span<const chain_step>);
    std::vector<std::uint64_t> storage_;
    std::size_t size_ = 0;
};

/// Frame i of chain_content's step i, minted (frame 0) and derived (the rest) with the library's
/// own mint/derive. Empty when the library refuses a frame or a token.
std::optional<caplets_token> build_caplets_token(const caplets::secret_key& secret,
                                                 std::span<const chain_step> steps);

/// Characters of the token's text form: "cap1_" and the bytes in base64url without padding.
/// CAPLets has no text encoder yet; this is the length such an encoder would produce.
std::size_t caplets_text_size(std::size_t token_bytes);

// --- libmacaroons -------------------------------------------------------------------------------

/// Where the benchmark's macaroons say they are to be used, and the origin key they name.
inline constexpr std::string_view macaroon_location = "https://files.example.com";
inline constexpr std::string_view macaroon_identifier = "root-key-2025-11/7f3a9c21";

/// The V1 text (libmacaroons 0.3.0's macaroon_serialize, its only format: the packet format in
/// base64url without padding) of a macaroon for
/// `location` / `identifier` under `secret` with one first-party caveat per step, in order.
std::optional<std::string> mint_macaroon_v1(const caplets::secret_key& secret,
                                            std::string_view location, std::string_view identifier,
                                            std::span<const chain_step> steps);

/// A macaroon deserialized from its text form. Owns libmacaroons' allocation.
class deserialized_macaroon {
public:
    /// Empty when libmacaroons rejects `text`.
    static std::optional<deserialized_macaroon> parse(const std::string& text);

    ~deserialized_macaroon();
    deserialized_macaroon(deserialized_macaroon&& other) noexcept;
    deserialized_macaroon& operator=(deserialized_macaroon&& other) noexcept;
    deserialized_macaroon(const deserialized_macaroon&) = delete;
    deserialized_macaroon& operator=(const deserialized_macaroon&) = delete;

private:
    friend class macaroon_checker;
    explicit deserialized_macaroon(::macaroon* handle) : handle_(handle) {}
    ::macaroon* handle_;
};

/// A libmacaroons verifier set up once for one request: the requested path at `now`. Its
/// predicate check is the one described in this file's header. Reusable across verifications.
class macaroon_checker {
public:
    macaroon_checker(std::string requested_path, std::uint64_t now);
    ~macaroon_checker();
    macaroon_checker(const macaroon_checker&) = delete;
    macaroon_checker& operator=(const macaroon_checker&) = delete;

    /// macaroon_verify: the signature chain under `secret` and every caveat.
    bool verify(const deserialized_macaroon& token, const caplets::secret_key& secret) const;

    /// macaroon_deserialize, then verify, then macaroon_destroy: from the text form, as the
    /// macaroon arrives.
    bool verify_text(const std::string& text, const caplets::secret_key& secret) const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

// --- libmacaroons' HMAC floor ---------------------------------------------------------------

/// HMAC-SHA256 chains computed with libsodium's crypto_auth_hmacsha256, the primitive
/// libmacaroons 0.3.0 calls for every link of its signature chain: the floor its verification
/// stands on, as amb::crypto's HMAC is CAPLets'. Set up once; `run` is what is timed.
class sodium_hmac_chain {
public:
    /// A chain over `messages`: the first HMAC keyed with `secret`, each next one with the
    /// previous tag. Throws std::runtime_error when libsodium cannot initialise.
    sodium_hmac_chain(const caplets::secret_key& secret, std::vector<std::string> messages);

    /// The last tag of the chain (all zero for no message).
    std::array<std::uint8_t, 32> run() const;

private:
    std::array<std::uint8_t, 32> key_;
    std::vector<std::string> messages_;
};

}  // namespace amb::caplets_anchors
