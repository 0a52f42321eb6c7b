// The policy language's syntax: lexer and parser producing a folded expression tree. Private to
// capvm_tools; the generator (policy.cpp) turns the tree into bytecode.
#pragma once

#include <capvm/assembler.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace amb::capvm::policy {

enum class node_kind {
    number,  // value
    call,    // name(arguments...)
    unary,   // op arguments[0]            ("!", "-", "~")
    binary,  // arguments[0] op arguments[1]
    in_cidr, // arguments[0] in value/prefix (IPv4)
};

/// One node of an expression.
struct node {
    node_kind kind;
    std::string op;   // operator, or the function name of a call
    std::int64_t value = 0;
    int prefix = 0;
    std::vector<std::unique_ptr<node>> arguments;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

using node_ptr = std::unique_ptr<node>;

/// Parses and constant-folds a whole policy.
amb::result<node*, tool_error> parse(std::string_view source, node_ptr& root);

} // namespace amb::capvm::policy
