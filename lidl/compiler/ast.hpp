// The checked syntax tree of a lidl schema: what the parser builds, the checker completes
// (resolution, ids, layouts) and the generators (C++, JSON) read.
//
// Ownership: a `schema` owns every declaration (of the main file and of all imported files).
// Pointers between nodes (`type_expr::resolved`) never own and stay valid as long as the schema.
// Tool code: exceptions are not used, but the standard library (string, vector, unique_ptr) is.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lidl::compiler {

struct source_location {
    std::string file;  // as given on the command line or resolved from an import
    int line = 0;      // 1-based
    int column = 0;    // 1-based, in bytes
};

enum class builtin : std::uint8_t {
    bool_, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64,
    string,       // reference type: {i32 offset, u32 size} on the wire
    string_view,  // view type: procedure parameters and results only
};

struct declaration;

/// A type as written in a field, parameter or result, with its resolution.
struct type_expr {
    enum class kind : std::uint8_t {
        builtin,   // `b`
        array,     // array<element, array_size>
        vector,    // vector<element>
        optional,  // optional<element>
        span,      // span<element>: view type, procedure parameters and results only
        named,     // `name`, resolved by the checker to `resolved` (enum, struct or union)
    };
    kind k = kind::builtin;
    builtin b = builtin::bool_;
    std::unique_ptr<type_expr> element;  // array, vector, optional, span
    std::uint64_t array_size = 0;        // array
    std::string name;                    // named: as written, possibly qualified (a::b::c)
    const declaration* resolved = nullptr;  // named: set by the checker
    source_location loc;

    // Wire layout, set by the checker for every type allowed on the wire (not for views):
    std::uint32_t size = 0;
    std::uint32_t align = 1;
};

/// A struct field, a union alternative or a procedure parameter.
struct field {
    std::string name;
    type_expr type;
    std::string doc;  // text of the `///` comments before it, lines joined with '\n'
    source_location loc;
    std::uint32_t offset = 0;  // struct fields: byte offset set by the checker
    std::uint32_t index = 0;   // position in declaration order (union tag for alternatives)
};

struct enum_value {
    std::string name;
    std::int64_t value = 0;  // checked to fit the underlying type
    // (for u64, values above INT64_MAX are stored as their bit pattern: print them as uint64_t)
    std::string doc;
    source_location loc;
};

struct procedure {
    std::string name;
    std::uint32_t id = 0;  // declaration order within the service, from 0 (stable: append only)
    std::vector<field> params;
    std::optional<type_expr> result;  // nullopt: returns nothing (`-> void` or no arrow)
    std::string doc;
    source_location loc;
};

struct declaration {
    enum class kind : std::uint8_t { enum_, struct_, union_, service };
    kind k = kind::struct_;
    std::string name;           // unqualified
    std::string name_space;     // e.g. "demo::camera" (may be empty)
    std::string doc;
    source_location loc;
    bool imported = false;      // declared in an imported file, not the main one

    // enum_
    builtin underlying = builtin::u32;  // an integer builtin
    std::vector<enum_value> values;
    // struct_ and union_ (union: alternatives, tags = index from 0)
    std::vector<field> fields;
    // service
    std::vector<procedure> procedures;

    // Wire layout of enums, structs and unions, set by the checker.
    std::uint32_t size = 0;
    std::uint32_t align = 1;
    /// True when the wire form contains a reference (string, vector, union, or a struct, array or
    /// optional containing one): such an object is only meaningful inside a message buffer.
    bool has_references = false;

    std::string qualified_name() const {
        return name_space.empty() ? name : name_space + "::" + name;
    }
};

struct schema {
    std::string main_file;
    std::string name_space;  // of the main file
    /// Every declaration, imported ones first. Enums, structs and unions are in an order where
    /// each type used by value (directly, in an array or in an optional) precedes its user.
    std::vector<std::unique_ptr<declaration>> declarations;
    std::vector<std::string> imported_files;  // resolved paths, in load order
};

}  // namespace lidl::compiler
