// The property the JSON -> call message fuzzer checks, shared with a unit test that replays the
// seeds on every preset. Input: byte 0 picks a procedure of `http_test::lab`, the rest is a
// request body. The body is parsed as the exporter parses it and, when it is a JSON object, built
// into a call message with the exporter's codec. Whatever the input, nothing may crash, and a
// message that was built must (1) verify as the procedure's call message, (2) decode with the
// generated codec, and (3) come back as the same bytes when mapped to JSON and built again.
#pragma once

#include <http_export/interface.hpp>

#include "lab.lidl.json.hpp"

#include <algorithm>
#include <cstdlib>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace http_export_fuzz {

inline void require(bool condition) {
    if (!condition)
        std::abort();
}

template <std::uint32_t Id>
void check_built(std::span<const std::uint8_t> message) {
    using procedure = http_test::lab::lidl_procedure<Id>;
    using call = typename procedure::call_message;
    auto checked = lidl::verify<call>(message);
    require(static_cast<bool>(checked));

    std::vector<std::uint64_t> response_storage(1024);
    lidl::builder response({reinterpret_cast<std::uint8_t*>(response_storage.data()), 8192});
    typename procedure::params params{};
    require(static_cast<bool>(
        http_test::lab::lidl_codec::decode_call(Id, message, &params, &response)));

    lidl::json::value again = lidl::json::to_json(*checked.value());
    std::vector<std::uint64_t> storage(message.size() / 8 + 64);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
    auto rebuilt =
        amb::http_export::interface_of<http_test::lab>().procedures[Id].call_from_json(again, out);
    require(static_cast<bool>(rebuilt));
    require(rebuilt->size() == message.size() &&
            std::equal(message.begin(), message.end(), rebuilt->begin()));
}

template <std::size_t... Ids>
void check_built_by_id(std::uint32_t id, std::span<const std::uint8_t> message,
                       std::index_sequence<Ids...>) {
    ((id == Ids ? check_built<static_cast<std::uint32_t>(Ids)>(message) : void()), ...);
}

/// Returns true when a call message was built (false: the body was rejected, which is fine).
inline bool check_json_call(std::span<const std::uint8_t> input) {
    if (input.empty())
        return false;
    const auto& codec = amb::http_export::interface_of<http_test::lab>();
    std::uint32_t id = input[0] % codec.procedures.size();
    std::string_view body(reinterpret_cast<const char*>(input.data() + 1), input.size() - 1);
    lidl::json::value parameters =
        lidl::json::value::parse(body.begin(), body.end(), nullptr, false);
    if (parameters.is_discarded() || !parameters.is_object())
        return false;
    // Small enough that large inputs also exercise the "does not fit" path.
    std::vector<std::uint64_t> storage(2048);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
    auto message = codec.procedures[id].call_from_json(parameters, out);
    if (!message) {
        require(!message.error().error.message.empty());
        return false;
    }
    check_built_by_id(id, *message,
                      std::make_index_sequence<http_test::lab::lidl_procedure_count>());
    return true;
}

/// Seeds: byte 0 is the procedure id.
inline std::vector<std::pair<std::uint8_t, std::string_view>> seeds() {
    return {
        {0, R"({"amount": 3})"},
        {1, R"({"readings": [{"sensor": "kitchen", "value": 21.5, "unit": "celsius",
               "tags": ["indoor", "north"]}, {"sensor": "roof", "value": -3, "unit": "kelvin",
               "tags": []}], "label": "morning"})"},
        {1, R"({"readings": [], "label": null})"},
        {2, R"({"text": "h\u00e9llo"})"},
        {3, R"({"milliseconds": 20})"},
        {4, R"({"n": {"text": "four"}})"},
        {4, R"({"n": {"number": -9223372036854775808}})"},
        {4, R"({"n": null})"},
        {5, R"({})"},
        {6, R"({"ticket": 4294967295})"},
        {9, R"({"size": 0})"},
    };
}

} // namespace http_export_fuzz
