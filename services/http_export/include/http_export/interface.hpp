// What the HTTP exporter needs to know about a lidl interface, without templates: its name and,
// per procedure, how to build a call message from JSON and how to read a reply message as JSON.
//
// `interface_of<S>()` builds the table from the generated code of service `S`: the message roots
// named by `S::lidl_procedure<Id>` (`call_message`, `reply_message`) and the JSON mapping of the
// schema's `<stem>.lidl.json.hpp`, which must be included before this header is used with `S`.
//
//     #include "averager.lidl.json.hpp"
//     const http_export::interface_codec& codec = http_export::interface_of<demo::averager>();
//
// The table is a function-local static: built once, never freed, read-only afterwards (safe
// from any thread).
#pragma once

#include <lidl/json.hpp>

#include <base/result.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace amb::http_export {

/// Why a JSON body could not become a call message.
struct json_failure {
    /// Where and what: `path` names the offending parameter as in the lidl file, e.g. `amount`,
    /// `readings[2].tags[0]`; empty for the body as a whole.
    lidl::json::json_error error;
    /// True when the message did not fit the buffer (the body is well-formed but too large).
    bool too_large = false;
};

struct procedure_codec {
    std::string_view name;
    /// Builds the call message of this procedure from `parameters` (a JSON object with one key
    /// per parameter) into `out`, which must be empty. Returns the message bytes.
    result<std::span<const std::uint8_t>, json_failure> (*call_from_json)(
        const lidl::json::value& parameters, lidl::builder& out);
    /// Verifies `reply` (a reply message of this procedure) and returns its result as JSON
    /// (`null` for procedures that return nothing).
    result<lidl::json::value, lidl::verify_error> (*reply_to_json)(
        std::span<const std::uint8_t> reply);
};

struct interface_codec {
    /// The interface's qualified lidl name, e.g. `demo::averager`.
    std::string_view name;
    /// Indexed by procedure id.
    std::span<const procedure_codec> procedures;
};

namespace detail {

/// Drops the leading '.' that the JSON mapping puts before each field of the root.
inline void tidy_path(std::string& path) {
    if (!path.empty() && path.front() == '.')
        path.erase(0, 1);
}

template <class Call>
result<std::span<const std::uint8_t>, json_failure>
call_from_json(const lidl::json::value& parameters, lidl::builder& out) {
    json_failure failed;
    Call* root = out.create_root<Call>();
    if (root == nullptr) {
        failed.error.message = "the call message does not fit its buffer";
        failed.too_large = true;
        return failure{failed};
    }
    if (!lidl::json::from_json(parameters, out, *root, failed.error, std::string())) {
        tidy_path(failed.error.path);
        failed.too_large = out.failed();
        if (failed.too_large)
            failed.error.message = "the call message does not fit its buffer";
        return failure{failed};
    }
    auto finished = out.finish();
    if (!finished) {
        failed.error.message = "the call message does not fit its buffer";
        failed.too_large = true;
        return failure{failed};
    }
    return finished.value();
}

template <class Reply>
result<lidl::json::value, lidl::verify_error> reply_to_json(std::span<const std::uint8_t> reply) {
    auto checked = lidl::verify<Reply>(reply);
    if (!checked)
        return failure{checked.error()};
    return lidl::json::to_json(*checked.value());
}

template <class Service, std::size_t... Ids>
constexpr std::array<procedure_codec, sizeof...(Ids)> procedure_table(std::index_sequence<Ids...>) {
    return {procedure_codec{
        Service::template lidl_procedure<static_cast<std::uint32_t>(Ids)>::name,
        &call_from_json<typename Service::template lidl_procedure<static_cast<std::uint32_t>(
            Ids)>::call_message>,
        &reply_to_json<typename Service::template lidl_procedure<static_cast<std::uint32_t>(
            Ids)>::reply_message>}...};
}

} // namespace detail

/// The codec of generated service `Service`.
template <class Service>
const interface_codec& interface_of() {
    static constexpr auto procedures =
        detail::procedure_table<Service>(std::make_index_sequence<Service::lidl_procedure_count>());
    static constexpr interface_codec codec{Service::lidl_name,
                                           std::span<const procedure_codec>(procedures)};
    return codec;
}

} // namespace amb::http_export
