// The property the HTTP import's answer decoder is fuzzed with (fuzz_answer.cpp) and its seeds
// (fuzz_seeds.cpp): any body answered with status 200 to any procedure of import_test::lab
// either fails the call cleanly or fills the result slot with a result that the generated codec
// can encode again as a reply message (so it is well-formed and inside the caller's buffer).
// Input: byte 0 the procedure id (modulo the count), then the body.
#pragma once

#include <http_import/backend.hpp>

#include "import_lab.lidl.json.hpp"

#include <base/check.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

// g++ 12 cannot see that an accepted answer filled the result slot before encode_reply reads it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace http_import_fuzz {

using lab = import_test::lab;

template <std::uint32_t Id>
void check(const std::string& body) {
    using procedure = lab::lidl_procedure<Id>;
    std::vector<std::uint64_t> response_storage(2048), spare_storage(2048);
    lidl::builder response(
        {reinterpret_cast<std::uint8_t*>(response_storage.data()), response_storage.size() * 8});
    typename procedure::params params{};
    if constexpr (requires { params.response; })
        params.response = &response;
    lidl::slot<typename procedure::result> result;
    auto read = amb::http_import::detail::read_answer<lab, Id>(200, body, &params,
                                                               result.address(), 16 * 1024);
    if (!read)
        return;
    lidl::builder spare(
        {reinterpret_cast<std::uint8_t*>(spare_storage.data()), spare_storage.size() * 8});
    std::span<const std::uint8_t> again =
        lab::lidl_codec::encode_reply(Id, result.address(), response, spare);
    AMB_ASSERT(!again.empty(), "an accepted answer must encode as a reply again");
}

template <std::size_t... Ids>
void check_any(std::uint32_t id, const std::string& body, std::index_sequence<Ids...>) {
    ((id == Ids ? check<static_cast<std::uint32_t>(Ids)>(body) : void()), ...);
}

inline void check_answer(std::span<const std::uint8_t> input) {
    if (input.empty())
        return;
    std::uint32_t id = input[0] % lab::lidl_procedure_count;
    std::string body(reinterpret_cast<const char*>(input.data() + 1), input.size() - 1);
    check_any(id, body, std::make_index_sequence<lab::lidl_procedure_count>());
}

/// Seeds: (procedure id, body).
inline std::vector<std::pair<std::uint8_t, std::string>> seeds() {
    return {
        {0, R"({"result": 42})"},
        {0, R"({"result": 18446744073709551615})"},
        {1, R"({"result": {"count": 2, "total": 1.5, "sensors": ["a", "b"], "label": "x"}})"},
        {1, R"({"result": {"count": 0, "total": 0, "sensors": []}})"},
        {2, R"({"result": "h\u00e9llo"})"},
        {3, R"({"result": {"text": "seven"}})"},
        {3, R"({"result": {"number": -5}})"},
        {4, R"({"result": null})"},
        {7, R"({"result": "xxxx"})"},
        {8, R"({"result": [1.5, -2, 1e300]})"},
        {0, R"({"error": {"code": "x", "message": "y"}})"},
        {0, "not json"},
    };
}

} // namespace http_import_fuzz
