// The lidl checker: turns the parsed files of a schema into a checked `schema` (ast.hpp) that the
// generators can trust, or reports why it cannot.
//
// It checks names (no duplicates in a scope, no C++ keywords, no built-in type names for types),
// refuses every name that would collide in the generated C++ (each refusal names the collision,
// at the name's file:line:col):
//   - C macros of the standard library (`errno`, `assert`, `NULL`, ...) anywhere;
//   - members (fields, alternatives, procedures, parameters) starting with `lidl_`, the prefix
//     of the members lidlc generates;
//   - a procedure named like its service or its client class `S_client`, or `backend`,
//     `backend_`, `Backend` (members and template parameter of the client class), or `P_params`
//     / `P_result` of a procedure P of its service (the types generated per procedure);
//   - a parameter named `response`, `params`, `result`, `backend_`, `Backend`, or `P_params` /
//     `P_result` of a procedure P of its service (names the generated client code uses beside
//     the parameters);
//   - a field named like its struct; an alternative named like its union, or `alternative`,
//     `alternative_count`, `which`, `has_value`, or `set_A` for an alternative A of its union;
//   - at namespace scope, across all files: a type named like a namespace of another file, like
//     the client class `S_client` or the message namespace `S_wire` of a service S, or like a
//     message struct `S_wire::P_call` / `P_reply`; a type named `std`; in the global namespace a
//     type named `std`, `lidl`, `amb` or `nlohmann` or ending in `_t` (C library names);
//   - namespaces with a component `std`, a first component `lidl`, or exactly `amb`.
// Names one step from these (an enum value named like its enum, a procedure `S_wire`, a field
// `std`) are accepted: lidl/tests/schemas/edge_names.lidl compiles them. It resolves named types, keeps the view types `string_view` and `span<T>` at the top of procedure
// parameters and results, bounds arrays, rejects structs that contain themselves by value, and
// computes the wire layout of every type (the rules are in docs/lidlc-json.md and DESIGN.md §4).
//
// Name resolution, from a file in namespace `ns`, of a name `n` as written (possibly qualified):
// `ns::n`, then `n` as a fully qualified name, then `other::n` for each namespace `other` of the
// imported files, which must then match exactly one declaration. Only declarations of the file
// itself and of the files it imports, directly or not, are visible.
//
// Order of `schema::declarations`: enums, structs and unions first, each after every type it
// contains by value (field, array element, optional value) and otherwise in load order (files
// in `loaded_schema` order, declarations in source order); then services, in load order.
#pragma once

#include "ast.hpp"
#include "diagnostics.hpp"
#include "loader.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace lidl::compiler {

/// Limits of the wire format, checked for every type.
inline constexpr std::uint64_t max_array_elements = 65536;
inline constexpr std::uint64_t max_type_size = 16u << 20;  // 16 MiB

/// Checks `loaded` (which should be complete: see `loaded_schema::complete`). Every problem is
/// reported to `diag`; the schema is returned either way, but is only fully resolved and laid out
/// when no error was reported.
schema check(loaded_schema loaded, diagnostics& diag);

/// The whole front end: loads `main_file` with its imports and checks it, then flushes `diag`.
/// Returns nothing when any error was reported. The checker does not run when loading or parsing
/// failed: its messages would mostly follow from those errors.
std::optional<schema> compile(const std::string& main_file, const load_options& options,
                              diagnostics& diag);

}  // namespace lidl::compiler
