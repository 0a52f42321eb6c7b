// The CapVM policy language: a small expression language compiled to CapVM bytecode (host
// tool; allocates). docs/capvm.md has the grammar; an example:
//
//     now() < 1767225600 && endpoint() in 10.0.0.0/8 && battery() >= 20
//
// A policy accepts the request when its expression is non-zero. Values are 64-bit signed
// integers; comparisons and logic yield 0 or 1; && and || short-circuit. The compiler folds
// constants and turns each top-level conjunct into the shortest "reject unless" form the ISA
// has (for `battery() >= 20`, one 3-byte reqc.ge).
#pragma once

#include <capvm/assembler.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace amb::capvm {

/// Compiles a policy; errors give the line and column of the offending token.
amb::result<std::vector<std::uint8_t>, tool_error> compile_policy(std::string_view source);

} // namespace amb::capvm
