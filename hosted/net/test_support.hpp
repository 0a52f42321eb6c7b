// Helpers shared by the hosted transport tests: random messages and a bounded drive loop.
#pragma once

#include <hosted/net/transport.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace amb::hosted::net::testing {

using bytes = std::vector<std::uint8_t>;

inline bytes random_bytes(std::mt19937& random, std::size_t size) {
    bytes data(size);
    for (auto& byte : data)
        byte = static_cast<std::uint8_t>(random());
    return data;
}

/// Drives `transports` with poll_transports until `done()` holds. The wall-clock bound only
/// stops a broken test from hanging; it is not a performance assertion.
template <class Done, class... Transports>
bool drive_until(Done done, Transports&... transports) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up)
            return false;
        int error = poll_transports(std::chrono::milliseconds(100), transports...);
        EXPECT_EQ(error, 0);
    }
    return true;
}

} // namespace amb::hosted::net::testing
