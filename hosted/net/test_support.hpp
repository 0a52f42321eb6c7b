// Helpers shared by the hosted transport and network tests: random messages, a bounded drive loop
// and a pseudo-terminal pair standing for a serial line.
#pragma once

#include <hosted/net/transport.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace amb::hosted::net::testing {

using bytes = std::vector<std::uint8_t>;

/// Both ends of a pseudo-terminal: `controller` and `line` behave as the two ends of a serial line.
struct pty_pair {
    int controller = -1;
    int line = -1;
};

inline pty_pair open_pty() {
    pty_pair pair;
    pair.controller = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(pair.controller, 0);
    EXPECT_EQ(::grantpt(pair.controller), 0);
    EXPECT_EQ(::unlockpt(pair.controller), 0);
    const char* name = ::ptsname(pair.controller);
    EXPECT_NE(name, nullptr);
    pair.line = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_GE(pair.line, 0);
    return pair;
}


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
