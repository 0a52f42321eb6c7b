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

#include <cstdint>
#include <optional>
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

struct call_error {
    call_fault what = call_fault::unreachable;
    /// refused: the reason class of the refusal; callee_error: the callee's own code; 0 else.
    std::uint32_t code = 0;
    /// malformed_call, malformed_reply: what the lidl verifier found and where.
    verify_error detail{};
};

/// The value of a call, or how it failed.
template <class T>
using call_result = amb::result<T, call_error>;

} // namespace lidl
