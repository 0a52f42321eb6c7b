// The lidl parser: builds the syntax tree of one schema file (ast.hpp) from its tokens.
//
// Grammar (`{x}` repeats, `[x]` is optional):
//
//     file        = [ "namespace" qualified ";" ] { import | declaration }
//     import      = "import" STRING ";"
//     declaration = enum | struct | union | service        (each may be followed by a stray ";")
//     enum        = "enum" NAME ":" type "{" [ value { "," value } [ "," ] ] "}"
//     value       = NAME "=" [ "-" ] INTEGER
//     struct      = "struct" NAME "{" { NAME ":" type ";" } "}"
//     union       = "union" NAME "{" { NAME ":" type ";" } "}"
//     service     = "service" NAME "{" { procedure } "}"
//     procedure   = NAME "(" [ param { "," param } [ "," ] ] ")" [ "->" ( "void" | type ) ] ";"
//     param       = NAME ":" type
//     type        = BUILTIN | qualified | ("vector" | "optional" | "span") "<" type ">"
//                 | "array" "<" type "," INTEGER ">"
//     qualified   = NAME { "::" NAME }
//
// The parser stops at the first syntax error of a file (reported, `parsed_file::complete` false):
// what follows a syntax error is too often misread to be worth more messages. Problems that
// leave the tree well-formed are reported without stopping: a misplaced or repeated `namespace`,
// an enum whose underlying type is not an integer or whose value does not fit it, `void` used as
// a value type. Everything that needs other declarations (names, types, layouts) is left to the
// checker.
#pragma once

#include "ast.hpp"
#include "diagnostics.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lidl::compiler {

struct import_statement {
    std::string path;      // as written between the quotes
    source_location loc;   // of the string
    std::size_t length = 0;
};

struct parsed_file {
    std::string file;  // the name used in locations
    std::string name_space;
    source_location namespace_loc;  // of the namespace's name, if declared
    std::vector<import_statement> imports;
    /// In source order; `name_space` and `loc` are set, nothing the checker sets.
    std::vector<std::unique_ptr<declaration>> declarations;
    /// False when a syntax error stopped parsing: the declarations are then only a prefix.
    bool complete = true;
};

/// Parses `text`, the contents of `file`. Reports to `diag`; never fails otherwise.
parsed_file parse(std::string file, std::string_view text, diagnostics& diag);

/// The spelling of a built-in type in lidl ("u32", "string_view").
std::string_view spelling(builtin b);
/// The built-in type spelled `name`, if any.
std::optional<builtin> builtin_named(std::string_view name);
/// A type written back in lidl syntax ("vector<demo::frame>"), for messages.
std::string spelling(const type_expr& type);

/// How deeply type expressions may nest (`vector<vector<...>>`): deeper is an error, which also
/// bounds the recursion of every later stage.
inline constexpr int max_type_depth = 32;

}  // namespace lidl::compiler
