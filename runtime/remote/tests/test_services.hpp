// Shared by the remote tests: the services they export and the key material of a test
// deployment.
#pragma once

#include "remote_test.lidl.hpp"

#include <remote/keys.hpp>
#include <remote/node.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace remote_testing {

/// A clock the test moves by hand (`now`); the wall clock starts at a fixed instant and counts
/// up one microsecond per reading, so every token a test mints is unique.
class fake_clock final : public amb::remote::clock_source {
public:
    amb::loop_clock::time_point now{std::chrono::seconds(1000)};
    std::uint64_t unix_now = 1'800'000'000'000'000; // microseconds
    amb::loop_clock::time_point monotonic() override { return now; }
    std::uint64_t unix_microseconds() override { return unix_now++; }
};

/// Keeps every packet a node sends, in order.
class collect final : public amb::remote::link_output {
public:
    std::vector<std::vector<std::uint8_t>> packets;
    bool send(amb::remote::link_id, amb::remote::byte_view data) override {
        packets.emplace_back(data.begin(), data.end());
        return true;
    }
};

/// Counts every call that reached it: a refused request must never get here.
class calculator_impl final : public remote_test::calculator {
public:
    int calls = 0;
    /// A sum that does not fit is the service's own error: callee_error, code EOVERFLOW (75).
    static constexpr std::uint32_t overflow = 75;
    lidl::completion<std::int32_t> add(std::int32_t a, std::int32_t b) override {
        ++calls;
        std::int32_t sum = 0;
        if (__builtin_add_overflow(a, b, &sum))
            co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, overflow}};
        co_return sum;
    }
    lidl::completion<const remote_test::greeting*> greet(std::string_view name,
                                                         lidl::builder& response) override {
        ++calls;
        auto* out = response.create_root<remote_test::greeting>();
        if (out == nullptr)
            co_return nullptr;
        std::string text = "hello " + std::string(name);
        response.set(out->text, text);
        out->length = static_cast<std::uint32_t>(text.size());
        co_return out;
    }
    lidl::completion<void> reset() override {
        ++calls;
        co_return {};
    }
};

class other_impl final : public remote_test::other {
public:
    int calls = 0;
    lidl::completion<std::uint32_t> ping() override {
        ++calls;
        co_return 7;
    }
};

/// A credential as bytes (mint_credential into an aligned buffer, copied out).
inline std::vector<std::uint8_t> credential(const caplets::secret_key& root,
                                            std::string_view caller, std::string_view callee,
                                            std::span<const amb::remote::import_rights> rights,
                                            std::uint64_t expires = 0) {
    std::vector<std::uint64_t> storage(2048);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
    auto token = amb::remote::mint_credential(root, caller, callee, rights, expires, out);
    EXPECT_TRUE(token.has_value());
    if (!token)
        return {};
    return {token->begin(), token->end()};
}

/// Every procedure of `calculator`.
inline std::vector<amb::remote::import_rights> all_of_calculator() {
    return {{"calculator", {}}};
}

inline caplets::secret_key random_key() {
    caplets::secret_key key;
    EXPECT_TRUE(amb::crypto::random_bytes(key.bytes));
    return key;
}

} // namespace remote_testing
