// The process loop of a test (hosted/loop/process_loop.hpp), made or the test fails.
//
// Make it after node_kernel::start (the groups must not inherit its descriptors), but declare
// the pointer before the kernel and the channel ends that attach to it, so that it outlives
// them: `std::unique_ptr<process_loop> loop;` first, `loop = test_loop();` after start.
#pragma once

#include <hosted/node/node_kernel.hpp>
#include <hosted/loop/process_loop.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace node_test {

using amb::hosted::loop::process_loop;
using amb::loop_clock;

inline std::unique_ptr<process_loop> test_loop(
    loop_clock::duration spin = amb::ports::hosted::default_spin) {
    auto made = process_loop::create(spin);
    if (!made) {
        ADD_FAILURE() << "cannot create a process loop: errno " << made.error();
        std::abort();
    }
    return std::move(*made);
}

/// The loop a started kernel runs on: made after start (the groups never hold its descriptors),
/// and the kernel stopped before the loop goes, whatever the order of declarations.
class kernel_loop {
public:
    explicit kernel_loop(amb::hosted::node::node_kernel& kernel) : loop_(test_loop()), kernel_(kernel) {
        EXPECT_TRUE(kernel.run_on(*loop_));
    }
    ~kernel_loop() { kernel_.stop(); }
    kernel_loop(const kernel_loop&) = delete;
    kernel_loop& operator=(const kernel_loop&) = delete;

    process_loop& operator*() { return *loop_; }
    process_loop* operator->() { return loop_.get(); }

private:
    std::unique_ptr<process_loop> loop_;
    amb::hosted::node::node_kernel& kernel_;
};

/// Runs `loop` until `done()`, for at most `limit` (false then).
template <class Done>
bool run_until(process_loop& loop, Done&& done,
               std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    return loop.run_until(static_cast<Done&&>(done), limit);
}

}  // namespace node_test
