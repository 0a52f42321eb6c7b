// Tests of the parser: the tree it builds and its syntax errors.
#include "parser.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace lidl::compiler {
namespace {

struct parsed {
    parsed_file file;
    std::string messages;
};

parsed parse_text(const std::string& text) {
    std::ostringstream messages;
    parsed out;
    {
        diagnostics diag(messages);
        out.file = parse("p.lidl", diag.add_source("p.lidl", text), diag);
    }
    out.messages = messages.str();
    return out;
}

TEST(parser, builds_the_tree) {
    const parsed p = parse_text(R"(namespace demo::camera;
import "common.lidl";
/// Formats.
enum pixel_format : i16 { rgb = 0, gray = -0x10, }
struct frame { res: array<u8, 4>; tags: vector<optional<string>>; other: a::b::c; }
union event { motion: frame; };
service camera {
    capture(res: u32, pixels: span<u8>,) -> string_view;
    reset();
    stop() -> void;
}
)");
    ASSERT_TRUE(p.file.complete) << p.messages;
    EXPECT_EQ(p.messages, "");
    EXPECT_EQ(p.file.name_space, "demo::camera");
    ASSERT_EQ(p.file.imports.size(), 1u);
    EXPECT_EQ(p.file.imports[0].path, "common.lidl");
    EXPECT_EQ(p.file.imports[0].loc.line, 2);
    EXPECT_EQ(p.file.imports[0].loc.column, 8);
    ASSERT_EQ(p.file.declarations.size(), 4u);

    const declaration& e = *p.file.declarations[0];
    EXPECT_EQ(e.k, declaration::kind::enum_);
    EXPECT_EQ(e.name, "pixel_format");
    EXPECT_EQ(e.name_space, "demo::camera");
    EXPECT_EQ(e.doc, "Formats.");
    EXPECT_EQ(e.underlying, builtin::i16);
    ASSERT_EQ(e.values.size(), 2u);
    EXPECT_EQ(e.values[1].value, -16);
    EXPECT_EQ(e.loc.line, 4);
    EXPECT_EQ(e.loc.column, 6);

    const declaration& s = *p.file.declarations[1];
    ASSERT_EQ(s.fields.size(), 3u);
    EXPECT_EQ(s.fields[0].type.k, type_expr::kind::array);
    EXPECT_EQ(s.fields[0].type.array_size, 4u);
    EXPECT_EQ(s.fields[0].type.element->b, builtin::u8);
    EXPECT_EQ(spelling(s.fields[1].type), "vector<optional<string>>");
    EXPECT_EQ(s.fields[2].type.k, type_expr::kind::named);
    EXPECT_EQ(s.fields[2].type.name, "a::b::c");
    EXPECT_EQ(s.fields[2].type.loc.column, 74);

    const declaration& service = *p.file.declarations[3];
    ASSERT_EQ(service.procedures.size(), 3u);
    const procedure& capture = service.procedures[0];
    ASSERT_EQ(capture.params.size(), 2u);
    EXPECT_EQ(capture.params[1].type.k, type_expr::kind::span);
    ASSERT_TRUE(capture.result);
    EXPECT_EQ(capture.result->b, builtin::string_view);
    EXPECT_FALSE(service.procedures[1].result);
    EXPECT_FALSE(service.procedures[2].result);
}

struct syntax_case {
    const char* name;
    const char* source;
    const char* message;  // the whole output
};

class parser_error : public ::testing::TestWithParam<syntax_case> {};

TEST_P(parser_error, is_reported) {
    const parsed p = parse_text(GetParam().source);
    EXPECT_EQ(p.messages, GetParam().message);
}

const syntax_case syntax_cases[] = {
    {"missing_semicolon_same_line", "struct s { x: u8 }",
     "p.lidl:1:18: error: expected ';' after field 'x', found '}'\n"
     "    1 | struct s { x: u8 }\n"
     "      |                  ^\n"},
    {"missing_semicolon_next_line", "struct s {\n    x: u8\n}",
     "p.lidl:2:10: error: expected ';' after field 'x', found '}'\n"
     "    2 |     x: u8\n"
     "      |          ^\n"},
    {"keyword_typo", "strcut s {}",
     "p.lidl:1:1: error: expected a declaration ('enum', 'struct', 'union' or 'service') or an "
     "import, found 'strcut'; did you mean 'struct'?\n"
     "    1 | strcut s {}\n"
     "      | ^~~~~~\n"},
    {"end_of_file_in_struct", "struct s {\n  a: u8;\n",
     "p.lidl:2:9: error: unexpected end of file in 's': missing '}'\n"
     "    2 |   a: u8;\n"
     "      |         ^\n"
     "p.lidl:1:10: note: 's' starts here\n"
     "    1 | struct s {\n"
     "      |          ^\n"},
    {"enum_without_value", "enum e : u8 { a, b }",
     "p.lidl:1:16: error: expected '=' and a value after 'a' (every enum value is given "
     "explicitly), found ','\n"
     "    1 | enum e : u8 { a, b }\n"
     "      |                ^\n"},
    {"enum_without_type", "enum e { a = 1 }",
     "p.lidl:1:8: error: expected ':' and an underlying type after 'enum e' (every enum states "
     "its integer type, e.g. ': u8'), found '{'\n"
     "    1 | enum e { a = 1 }\n"
     "      |        ^\n"},
    {"generic_without_argument", "struct s { a: vector; }",
     "p.lidl:1:21: error: expected '<' after 'vector' (write vector<T>), found ';'\n"
     "    1 | struct s { a: vector; }\n"
     "      |                     ^\n"},
    {"array_without_size", "struct s { a: array<u8>; }",
     "p.lidl:1:23: error: expected ',' and the number of elements after the element type of "
     "'array' (write array<T, N>), found '>'\n"
     "    1 | struct s { a: array<u8>; }\n"
     "      |                       ^\n"},
    {"void_field", "struct s { a: void; }",
     "p.lidl:1:15: error: 'void' can only be the result of a procedure ('-> void'), not a value "
     "type\n"
     "    1 | struct s { a: void; }\n"
     "      |               ^~~~\n"},
    {"namespace_twice", "namespace a;\nnamespace b;",
     "p.lidl:2:1: error: the namespace of this file is already declared\n"
     "    2 | namespace b;\n"
     "      | ^~~~~~~~~\n"
     "p.lidl:1:11: note: declared here as 'a'\n"
     "    1 | namespace a;\n"
     "      |           ^\n"},
    {"namespace_late", "struct s {}\nnamespace b;",
     "p.lidl:2:1: error: 'namespace' must come first in the file, before imports and "
     "declarations\n"
     "    2 | namespace b;\n"
     "      | ^~~~~~~~~\n"},
    {"import_without_string", "import common.lidl;",
     "p.lidl:1:8: error: expected a file name in quotes after 'import', found 'common'\n"
     "    1 | import common.lidl;\n"
     "      |        ^~~~~~\n"},
    {"procedure_without_parentheses", "service s { p -> u8; }",
     "p.lidl:1:15: error: expected '(' after procedure name 'p', found '->'\n"
     "    1 | service s { p -> u8; }\n"
     "      |               ^~\n"},
    {"stops_at_the_first_syntax_error", "struct a { x u8; }\nstruct b { y u8; }",
     "p.lidl:1:14: error: expected ':' and a type after field 'x', found 'u8'\n"
     "    1 | struct a { x u8; }\n"
     "      |              ^~\n"},
    {"unknown_character_stops_parsing", "struct a { x: u8; } $ struct {",
     "p.lidl:1:21: error: unknown character '$'\n"
     "    1 | struct a { x: u8; } $ struct {\n"
     "      |                     ^\n"},
};

INSTANTIATE_TEST_SUITE_P(cases, parser_error, ::testing::ValuesIn(syntax_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(parser, deep_nesting_is_an_error_not_a_stack_overflow) {
    std::string text = "struct s { a: ";
    for (int i = 0; i < 100000; ++i)
        text += "vector<";
    const parsed p = parse_text(text);
    EXPECT_FALSE(p.file.complete);
    EXPECT_NE(p.messages.find("error: type nested too deeply (more than 32 levels)"),
              std::string::npos);

    std::string fine = "struct s { a: ";
    for (int i = 0; i < 31; ++i)
        fine += "vector<";
    fine += "u8" + std::string(31, '>') + "; }";
    EXPECT_TRUE(parse_text(fine).file.complete);
}

TEST(parser, declarations_before_a_syntax_error_are_kept) {
    const parsed p = parse_text("struct a {}\nstruct b { x: }");
    EXPECT_FALSE(p.file.complete);
    ASSERT_EQ(p.file.declarations.size(), 1u);
    EXPECT_EQ(p.file.declarations[0]->name, "a");
}

TEST(parser, spelling_of_types) {
    const parsed p = parse_text("struct s { a: array<vector<x::y>, 3>; b: span<string_view>; }");
    ASSERT_TRUE(p.file.complete) << p.messages;
    EXPECT_EQ(spelling(p.file.declarations[0]->fields[0].type), "array<vector<x::y>, 3>");
    EXPECT_EQ(spelling(p.file.declarations[0]->fields[1].type), "span<string_view>");
    EXPECT_EQ(builtin_named("f64"), builtin::f64);
    EXPECT_EQ(builtin_named("vector"), std::nullopt);
    EXPECT_EQ(spelling(builtin::bool_), "bool");
}

}  // namespace
}  // namespace lidl::compiler
