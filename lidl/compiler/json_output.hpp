// `lidlc --json`: a JSON description of a checked schema, for tools that want lidl's types and
// layouts without parsing lidl (documentation, other language bindings, wire inspectors).
// The format is documented in docs/lidlc-json.md; keep the two in step.
#pragma once

#include "ast.hpp"

#include <string>
#include <string_view>

namespace lidl::compiler {

/// The JSON description of `s` (every declaration, imported ones marked), ending in a newline.
std::string to_json(const schema& s);

/// `text` as a JSON string literal, quotes included, written by nlohmann-json. Invalid UTF-8
/// becomes U+FFFD so the output is always valid JSON, whatever bytes a doc comment held.
std::string json_string(std::string_view text);

}  // namespace lidl::compiler
