// The `calls` service of benchmark `ipc` (bench/ipc_schemas/calls.lidl) as the benchmark's
// callee, and what a caller needs to check its answers: parameter tuples filled from a seed and
// the answer each procedure must give.
//
//     ipc_bench::calls::mixed_32_params params{};
//     fill_params<7>(params, seed);                 // 7: mixed_32's procedure id
//     std::uint64_t expected = expected_answer<7>(params);
//
// Every scalar procedure answers the sum of its arguments (sum_terms: integers modulo 2^64,
// floats truncated towards zero, bools 0 or 1), so the callee reads every argument. `buffer`
// reads only the first and the last byte (buffer_answer), `add` adds. Header-only; no state but
// a counter of calls.
#pragma once

#include "calls.lidl.hpp"

#include <groups/marshal.hpp>

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

namespace amb::ipc_anchors {

// Procedure ids of `calls` (declaration order in calls.lidl).
inline constexpr std::uint32_t uniform_first_id = 0;  // uniform_8 … uniform_128: 0 … 4
inline constexpr std::uint32_t mixed_first_id = 5;    // mixed_8 … mixed_128: 5 … 9
inline constexpr std::uint32_t buffer_id = 10;
inline constexpr std::uint32_t add_id = 11;
inline constexpr std::size_t scalar_sizes[] = {8, 16, 32, 64, 128};

template <class T>
constexpr std::uint64_t term(T value) {
    if constexpr (std::is_floating_point_v<T>)
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(value));
    else
        return static_cast<std::uint64_t>(value);
}

template <class... T>
constexpr std::uint64_t sum_terms(T... values) {
    return (std::uint64_t{0} + ... + term(values));
}

// The value of argument `index` for `seed` (small enough for every type, floats exact).
template <class T>
constexpr T argument_value(std::uint64_t seed, std::size_t index) {
    const std::uint64_t n = (seed + index * 3) % 100;
    if constexpr (std::is_same_v<T, bool>)
        return (n & 1) != 0;
    else if constexpr (std::is_floating_point_v<T>)
        return static_cast<T>(n) + static_cast<T>(0.5);
    else
        return static_cast<T>(n);
}

template <auto... Members, class Params, std::size_t... I>
void fill_members(lidl::field_list<Members...>, Params& params, std::uint64_t seed,
                  std::index_sequence<I...>) {
    ((params.*Members = argument_value<groups::member_type<Members>>(seed, I)), ...);
}

template <auto... Members, class Params>
std::uint64_t sum_members(lidl::field_list<Members...>, const Params& params) {
    return sum_terms(params.*Members...);
}

template <auto... Members>
constexpr std::size_t field_count(lidl::field_list<Members...>) {
    return sizeof...(Members);
}

template <std::uint32_t Id>
using calls_procedure = ipc_bench::calls::lidl_procedure<Id>;

// Fills scalar procedure `Id`'s parameter tuple from `seed`.
template <std::uint32_t Id>
void fill_params(typename calls_procedure<Id>::params& params, std::uint64_t seed) {
    using fields = typename calls_procedure<Id>::fields;
    fill_members(fields{}, params, seed, std::make_index_sequence<field_count(fields{})>{});
}

// What scalar procedure `Id` answers for `params`.
template <std::uint32_t Id>
std::uint64_t expected_answer(const typename calls_procedure<Id>::params& params) {
    return sum_members(typename calls_procedure<Id>::fields{}, params);
}

// What `buffer` answers for `data`.
inline std::uint64_t buffer_answer(std::span<const std::uint8_t> data) {
    if (data.empty())
        return 0;
    return (static_cast<std::uint64_t>(data.size()) << 16) +
           (static_cast<std::uint64_t>(data.front()) << 8) + data.back();
}

class calls_service final : public ipc_bench::calls {
public:
    lidl::completion<std::uint64_t> uniform_8(std::uint64_t a0) override {
        co_return sum_terms(a0);
    }
    lidl::completion<std::uint64_t> uniform_16(std::uint64_t a0, std::uint64_t a1) override {
        co_return sum_terms(a0, a1);
    }
    lidl::completion<std::uint64_t> uniform_32(std::uint64_t a0, std::uint64_t a1, std::uint64_t a2,
        std::uint64_t a3) override {
        co_return sum_terms(a0, a1, a2, a3);
    }
    lidl::completion<std::uint64_t> uniform_64(std::uint64_t a0, std::uint64_t a1, std::uint64_t a2,
        std::uint64_t a3, std::uint64_t a4, std::uint64_t a5, std::uint64_t a6, std::uint64_t a7)
        override {
        co_return sum_terms(a0, a1, a2, a3, a4, a5, a6, a7);
    }
    lidl::completion<std::uint64_t> uniform_128(std::uint64_t a0, std::uint64_t a1,
        std::uint64_t a2, std::uint64_t a3, std::uint64_t a4, std::uint64_t a5, std::uint64_t a6,
        std::uint64_t a7, std::uint64_t a8, std::uint64_t a9, std::uint64_t a10, std::uint64_t a11,
        std::uint64_t a12, std::uint64_t a13, std::uint64_t a14, std::uint64_t a15) override {
        co_return sum_terms(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
    }
    lidl::completion<std::uint64_t> mixed_8(std::int32_t a, std::int16_t b, std::int8_t c, bool d)
        override {
        co_return sum_terms(a, b, c, d);
    }
    lidl::completion<std::uint64_t> mixed_16(std::uint64_t a, float b, std::int16_t c,
        std::int8_t d, bool e) override {
        co_return sum_terms(a, b, c, d, e);
    }
    lidl::completion<std::uint64_t> mixed_32(std::uint64_t count, std::int64_t offset, bool flag,
        std::int8_t small, float ratio, std::int16_t medium, double scale) override {
        co_return sum_terms(count, offset, flag, small, ratio, medium, scale);
    }
    lidl::completion<std::uint64_t> mixed_64(std::uint64_t count_a, std::int64_t offset_a,
        bool flag_a, std::int8_t small_a, float ratio_a, std::int16_t medium_a, double scale_a,
        std::uint64_t count_b, std::int64_t offset_b, bool flag_b, std::int8_t small_b,
        float ratio_b, std::int16_t medium_b, double scale_b) override {
        co_return sum_terms(count_a, offset_a, flag_a, small_a, ratio_a, medium_a, scale_a,
            count_b, offset_b, flag_b, small_b, ratio_b, medium_b, scale_b);
    }
    lidl::completion<std::uint64_t> mixed_128(std::uint64_t count_a, std::int64_t offset_a, bool
        flag_a, std::int8_t small_a, float ratio_a, std::int16_t medium_a, double scale_a,
        std::uint64_t count_b, std::int64_t offset_b, bool flag_b, std::int8_t small_b, float
        ratio_b, std::int16_t medium_b, double scale_b, std::uint64_t count_c, std::int64_t
        offset_c, bool flag_c, std::int8_t small_c, float ratio_c, std::int16_t medium_c, double
        scale_c, std::uint64_t count_d, std::int64_t offset_d, bool flag_d, std::int8_t small_d,
        float ratio_d, std::int16_t medium_d, double scale_d) override {
        co_return sum_terms(count_a, offset_a, flag_a, small_a, ratio_a, medium_a, scale_a,
            count_b, offset_b, flag_b, small_b, ratio_b, medium_b, scale_b, count_c, offset_c,
            flag_c, small_c, ratio_c, medium_c, scale_c, count_d, offset_d, flag_d, small_d,
            ratio_d, medium_d, scale_d);
    }
    lidl::completion<std::uint64_t> buffer(std::span<const std::uint8_t> data) override {
        co_return buffer_answer(data);
    }
    lidl::completion<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        co_return a + b;
    }
};

}  // namespace amb::ipc_anchors
