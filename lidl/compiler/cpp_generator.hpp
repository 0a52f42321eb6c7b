// The C++ generator of lidlc: from a checked schema, one header with the wire types, traits
// (verification, JSON), and per service the interface, parameter tuples, zero-copy client,
// dispatcher and message encode/decode.
#pragma once

#include "ast.hpp"

#include <string>

namespace lidl::compiler {

/// The generated header for `s` (declarations of the main file; imported declarations are
/// included through their own generated headers, named after their files with `.hpp` appended
/// to the stem, e.g. common.lidl -> common.lidl.hpp).
std::string generate_cpp(const schema& s);

/// The JSON mapping header for `s` (`<stem>.lidl.json.hpp`): lidl::json::mapping
/// specialisations for every enum, struct and union of the main file. Kept apart from the main
/// header so that only code that maps JSON includes the JSON library.
std::string generate_cpp_json(const schema& s);

}  // namespace lidl::compiler
