// How a call ended when it produced no result: one `call_error` for every backend (direct,
// rings and channels between groups, remote calls over the network, HTTP imports) and every
// server of call messages (lidl_dispatch::serve). Each backend maps its own failures to one of
// these kinds, so a caller handles "the deadline passed" or "the callee refused" the same way
// whatever path the call took (DESIGN.md §3: a call completes exactly once, with the result or
// a call_error).
//
//     lidl::call_result<double> r = co_await ...;
//     if (!r) log("%s", lidl::describe(r.error().what));
#pragma once

#include <lidl/error.hpp>

#include <base/result.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace lidl {

/// What failed. Values are stable: they travel in messages (reply headers, logs).
enum class call_fault : std::uint8_t {
    unknown_procedure = 1, ///< the callee has no procedure with that id: nothing was invoked
    malformed_call,        ///< the call message did not verify at the callee: nothing invoked
    call_too_large,        ///< the call does not fit the channel, packet or request buffer
    reply_too_large,       ///< the procedure ran, but its reply does not fit the reply buffers
                           ///< (or a built result is missing: the implementation returned null)
    malformed_reply,       ///< the reply did not verify at the caller
    deadline_passed,       ///< no answer before the call's deadline
    peer_exited,           ///< the callee's group or process went away during the call
    refused,               ///< access control refused the call (`code`: the reason class)
    unreachable,           ///< no route, connection or service to carry the call to
    busy,                  ///< the callee has no room for another call now; try again later
    no_memory,             ///< a buffer or coroutine frame for the call could not be allocated
    callee_error,          ///< the callee answered with an error of its own (`code`)
};

/// A sentence for `fault`.
constexpr const char* describe(call_fault fault) {
    switch (fault) {
    case call_fault::unknown_procedure:
        return "the callee has no such procedure";
    case call_fault::malformed_call:
        return "the call message does not verify";
    case call_fault::call_too_large:
        return "the call is too large";
    case call_fault::reply_too_large:
        return "the reply does not fit the reply buffer";
    case call_fault::malformed_reply:
        return "the reply does not verify";
    case call_fault::deadline_passed:
        return "the deadline passed before an answer came";
    case call_fault::peer_exited:
        return "the callee went away during the call";
    case call_fault::refused:
        return "access control refused the call";
    case call_fault::unreachable:
        return "the callee cannot be reached";
    case call_fault::busy:
        return "the callee is busy";
    case call_fault::no_memory:
        return "no memory for the call";
    case call_fault::callee_error:
        return "the callee answered with an error";
    }
    return "unknown call fault";
}

/// The fault's name as spelled above ("deadline_passed"), for logs and JSON error bodies.
constexpr const char* name(call_fault fault) {
    switch (fault) {
    case call_fault::unknown_procedure:
        return "unknown_procedure";
    case call_fault::malformed_call:
        return "malformed_call";
    case call_fault::call_too_large:
        return "call_too_large";
    case call_fault::reply_too_large:
        return "reply_too_large";
    case call_fault::malformed_reply:
        return "malformed_reply";
    case call_fault::deadline_passed:
        return "deadline_passed";
    case call_fault::peer_exited:
        return "peer_exited";
    case call_fault::refused:
        return "refused";
    case call_fault::unreachable:
        return "unreachable";
    case call_fault::busy:
        return "busy";
    case call_fault::no_memory:
        return "no_memory";
    case call_fault::callee_error:
        return "callee_error";
    }
    return "unknown";
}

/// The fault named `text` (as `name` spells it), if there is one: how a fault that crossed a
/// text protocol (an HTTP export's JSON error) is read back.
constexpr std::optional<call_fault> fault_named(std::string_view text) {
    for (std::uint8_t value = 1; value <= static_cast<std::uint8_t>(call_fault::callee_error);
         ++value)
        if (text == name(static_cast<call_fault>(value)))
            return static_cast<call_fault>(value);
    return std::nullopt;
}

/// The reason class of a refusal (`call_error::code` of `refused`). Coarse on purpose: which
/// check failed, in which frame, is logged by the refusing node, not told to the caller; the
/// class says what the caller can do about it (get a new token, wait, stop asking). Values are
/// stable: they travel in messages.
enum class refusal : std::uint8_t {
    unspecified = 0,    ///< the refusing side did not say (or could not: an unauthenticated path)
    invalid_token,      ///< not a valid token for this verifier: malformed, forged, not derived
                        ///< by the rules, for another audience or verifier
    not_valid_now,      ///< expired, or not valid yet
    revoked,            ///< the token or an ancestor is revoked
    replayed,           ///< its sequence number was accepted before (or cannot be checked)
    not_permitted,      ///< a valid token, but the request is outside what it allows (endpoint,
                        ///< constraints, policies)
    node_policy,        ///< the node's own rules: the request must come from the credential's
                        ///< holder, carry a sequence number, be a call, be sealed, or the node
                        ///< exports nothing
};

/// The class's name as spelled above ("revoked"), for logs and JSON error bodies.
constexpr const char* name(refusal reason) {
    switch (reason) {
    case refusal::unspecified: return "unspecified";
    case refusal::invalid_token: return "invalid_token";
    case refusal::not_valid_now: return "not_valid_now";
    case refusal::revoked: return "revoked";
    case refusal::replayed: return "replayed";
    case refusal::not_permitted: return "not_permitted";
    case refusal::node_policy: return "node_policy";
    }
    return "unknown";
}

/// The refusal class named `text` (as `name` spells it), if there is one.
constexpr std::optional<refusal> refusal_named(std::string_view text) {
    for (std::uint8_t value = 0; value <= static_cast<std::uint8_t>(refusal::node_policy); ++value)
        if (text == name(static_cast<refusal>(value)))
            return static_cast<refusal>(value);
    return std::nullopt;
}

/// The refusal class `code` names, if it names one (codes come from messages).
constexpr std::optional<refusal> refusal_of_code(std::uint32_t code) {
    if (code > static_cast<std::uint32_t>(refusal::node_policy))
        return std::nullopt;
    return static_cast<refusal>(code);
}

struct call_error {
    call_fault what = call_fault::unreachable;
    /// refused: the reason class of the refusal (`refusal`); callee_error: the callee's own
    /// code; network errors: the network's status (docs/remote.md); 0 else.
    std::uint32_t code = 0;
    /// malformed_call, malformed_reply: what the lidl verifier found and where.
    verify_error detail{};
};

/// The error a procedure returned as it travels back in a reply (a channel's failed reply, a
/// remote service_failure): its fault and code as two little-endian u32. The detail does not
/// travel.
inline constexpr std::size_t returned_error_size = 8;

constexpr std::array<std::uint8_t, returned_error_size> encode_returned(const call_error& error) {
    std::array<std::uint8_t, returned_error_size> bytes{};
    const auto fault = static_cast<std::uint32_t>(error.what);
    for (int i = 0; i < 4; ++i) {
        bytes[i] = static_cast<std::uint8_t>(fault >> (8 * i));
        bytes[4 + i] = static_cast<std::uint8_t>(error.code >> (8 * i));
    }
    return bytes;
}

/// The error in `bytes` (from a peer: untrusted), if they are exactly one that names a known
/// fault.
constexpr std::optional<call_error> decode_returned(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != returned_error_size)
        return std::nullopt;
    std::uint32_t fault = 0;
    std::uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
        fault |= std::uint32_t{bytes[i]} << (8 * i);
        code |= std::uint32_t{bytes[4 + i]} << (8 * i);
    }
    if (fault == 0 || fault > static_cast<std::uint32_t>(call_fault::callee_error))
        return std::nullopt;
    return call_error{static_cast<call_fault>(fault), code};
}

/// The value of a call, or how it failed.
template <class T>
using call_result = amb::result<T, call_error>;

} // namespace lidl
