// Tests of the checker: wire layouts, declaration order, ids and indexes, doc comments, name
// resolution across files and namespaces, and the semantic errors.
#include "checker.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lidl::compiler {
namespace {

using testing::compile_file;
using testing::compile_text;
using testing::compiled;
using testing::scratch_directory;

const field& field_named(const declaration& d, const std::string& name) {
    for (const field& f : d.fields)
        if (f.name == name)
            return f;
    ADD_FAILURE() << "no field " << name << " in " << d.name;
    return d.fields.front();
}

std::vector<std::string> order_of(const schema& s) {
    std::vector<std::string> names;
    for (const auto& d : s.declarations)
        names.push_back(d->name);
    return names;
}

void expect_layout(const compiled& c, const std::string& name, std::uint32_t size,
                   std::uint32_t align, bool has_references) {
    const declaration* d = c.find(name);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->size, size) << name;
    EXPECT_EQ(d->align, align) << name;
    EXPECT_EQ(d->has_references, has_references) << name;
}

// --- layouts ---------------------------------------------------------------------------------

TEST(checker_layout, scalars_are_naturally_aligned_with_padding) {
    const compiled c = compile_text(R"(
        struct mixed { a: u8; b: u32; c: u16; d: u64; e: bool; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    const declaration& d = *c.find("mixed");
    EXPECT_EQ(field_named(d, "a").offset, 0u);
    EXPECT_EQ(field_named(d, "b").offset, 4u);
    EXPECT_EQ(field_named(d, "c").offset, 8u);
    EXPECT_EQ(field_named(d, "d").offset, 16u);
    EXPECT_EQ(field_named(d, "e").offset, 24u);
    expect_layout(c, "mixed", 32, 8, false);
}

TEST(checker_layout, every_builtin_has_its_size) {
    const compiled c = compile_text(R"(
        struct all {
            a: bool; b: i8; c: u8; d: i16; e: u16; f: i32; g: u32; h: f32; i: i64; j: u64;
            k: f64; l: string;
        }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    const declaration& d = *c.find("all");
    const std::uint32_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 8};
    const std::uint32_t aligns[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 4};
    ASSERT_EQ(d.fields.size(), 12u);
    for (std::size_t i = 0; i < d.fields.size(); ++i) {
        EXPECT_EQ(d.fields[i].type.size, sizes[i]) << d.fields[i].name;
        EXPECT_EQ(d.fields[i].type.align, aligns[i]) << d.fields[i].name;
    }
}

TEST(checker_layout, empty_struct_has_size_one) {
    const compiled c = compile_text("struct nothing {}\nstruct holder { a: nothing; b: nothing; }");
    ASSERT_TRUE(c.result) << c.messages;
    expect_layout(c, "nothing", 1, 1, false);
    expect_layout(c, "holder", 2, 1, false);
    EXPECT_EQ(field_named(*c.find("holder"), "b").offset, 1u);
}

TEST(checker_layout, optional_puts_the_value_after_a_flag_at_its_alignment) {
    const compiled c = compile_text(R"(
        struct pair { x: u16; y: u16; }
        struct o8 { v: optional<u8>; }
        struct o32 { v: optional<u32>; }
        struct o64 { v: optional<u64>; }
        struct opair { v: optional<pair>; }
        struct ostring { v: optional<string>; }
        struct nested { v: optional<optional<u8>>; }
        struct after { a: optional<u8>; b: u8; c: optional<u16>; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    expect_layout(c, "o8", 2, 1, false);
    expect_layout(c, "o32", 8, 4, false);
    expect_layout(c, "o64", 16, 8, false);
    expect_layout(c, "opair", 6, 2, false);
    expect_layout(c, "ostring", 12, 4, true);
    expect_layout(c, "nested", 3, 1, false);
    const declaration& after = *c.find("after");
    EXPECT_EQ(field_named(after, "b").offset, 2u);
    EXPECT_EQ(field_named(after, "c").offset, 4u);
    expect_layout(c, "after", 8, 2, false);
}

TEST(checker_layout, arrays_repeat_their_element) {
    const compiled c = compile_text(R"(
        struct pair { x: u32; y: u8; }
        struct arrays { a: array<u8, 3>; b: array<pair, 2>; c: array<string, 2>; }
        struct biggest { a: array<u8, 65536>; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    expect_layout(c, "pair", 8, 4, false);
    const declaration& d = *c.find("arrays");
    EXPECT_EQ(field_named(d, "a").type.size, 3u);
    EXPECT_EQ(field_named(d, "a").type.align, 1u);
    EXPECT_EQ(field_named(d, "b").offset, 4u);
    EXPECT_EQ(field_named(d, "b").type.size, 16u);
    EXPECT_EQ(field_named(d, "c").offset, 20u);
    EXPECT_EQ(field_named(d, "c").type.size, 16u);
    expect_layout(c, "arrays", 36, 4, true);
    expect_layout(c, "biggest", 65536, 1, false);
}

TEST(checker_layout, references_and_unions) {
    const compiled c = compile_text(R"(
        enum small : i16 { a = -1, b = 2 }
        enum big : u64 { top = 0xFFFFFFFFFFFFFFFF }
        union choice { n: u8; s: string; }
        struct refs { e: small; u: choice; v: vector<u64>; s: string; f: big; }
        struct plain { e: small; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    expect_layout(c, "small", 2, 2, false);
    expect_layout(c, "big", 8, 8, false);
    expect_layout(c, "choice", 12, 4, true);
    const declaration& d = *c.find("refs");
    EXPECT_EQ(field_named(d, "u").offset, 4u);
    EXPECT_EQ(field_named(d, "v").offset, 16u);
    EXPECT_EQ(field_named(d, "s").offset, 24u);
    EXPECT_EQ(field_named(d, "f").offset, 32u);
    expect_layout(c, "refs", 40, 8, true);
    expect_layout(c, "plain", 2, 2, false);
    EXPECT_EQ(static_cast<std::uint64_t>(c.find("big")->values[0].value), UINT64_MAX);
}

TEST(checker_layout, nested_types_and_parameters_get_sizes) {
    const compiled c = compile_text(R"(
        struct node { value: u32; children: vector<node>; }
        service s { p(a: span<node>, b: string_view, c: optional<u16>) -> vector<array<u8, 4>>; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    expect_layout(c, "node", 12, 4, true);
    const field& children = field_named(*c.find("node"), "children");
    EXPECT_EQ(children.type.size, 8u);
    ASSERT_TRUE(children.type.element);
    EXPECT_EQ(children.type.element->size, 12u);  // laid out although node contains it
    const procedure& p = c.find("s")->procedures[0];
    EXPECT_EQ(p.params[0].type.size, 0u);  // a view has no wire layout...
    EXPECT_EQ(p.params[0].type.element->size, 12u);  // ...but its element has
    EXPECT_EQ(p.params[2].type.size, 4u);
    EXPECT_EQ(p.params[2].type.align, 2u);
    ASSERT_TRUE(p.result);
    EXPECT_EQ(p.result->element->size, 4u);
}

// --- order, ids, indexes, docs ---------------------------------------------------------------

TEST(checker_order, types_follow_what_they_contain_by_value) {
    const compiled c = compile_text(R"(
        service first { get() -> outer; }
        struct outer { i: inner; e: kind; o: optional<array<wrapped, 2>>; later: vector<later>; }
        struct later { x: u8; }
        union u { a: outer; }
        struct inner { x: u8; }
        enum kind : u8 { a = 0 }
        struct wrapped { u: u; }
        service second {}
    )");
    ASSERT_TRUE(c.result) << c.messages;
    EXPECT_EQ(order_of(*c),
              (std::vector<std::string>{"inner", "kind", "u", "wrapped", "outer", "later", "first",
                                        "second"}));
}

TEST(checker_order, ids_and_indexes_count_from_zero) {
    const compiled c = compile_text(R"(
        struct s { a: u8; b: u8; c: u8; }
        union u { x: u8; y: s; }
        service svc { one(); two(a: u8, b: u16) -> u8; three() -> void; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    const declaration& s = *c.find("s");
    for (std::uint32_t i = 0; i < 3; ++i)
        EXPECT_EQ(s.fields[i].index, i);
    EXPECT_EQ(c.find("u")->fields[1].index, 1u);
    const declaration& svc = *c.find("svc");
    ASSERT_EQ(svc.procedures.size(), 3u);
    for (std::uint32_t i = 0; i < 3; ++i)
        EXPECT_EQ(svc.procedures[i].id, i);
    EXPECT_EQ(svc.procedures[1].params[1].index, 1u);
    EXPECT_FALSE(svc.procedures[0].result);
    EXPECT_FALSE(svc.procedures[2].result);
    EXPECT_TRUE(svc.procedures[1].result);
}

TEST(checker_order, docs_are_attached_to_the_next_item) {
    const compiled c = compile_text(R"(
/// A colour.
///
///  Indented line.
enum colour : u8 {
    /// Red.
    red = 0,
    green = 1, /// Not for green: for blue.
    blue = 2,
}
// A plain comment between a doc comment and its item does not detach it.
/// A point.
////////////// a ruler, not documentation
struct point {
    /// Across.
    x: i32;
    y: i32;
}
union shape {
    /// Round.
    circle: point;
}
/// Drawing.
service canvas {
    /// Draws.
    /// Twice.
    draw(/** not doc */ at: point);
}
    )");
    ASSERT_TRUE(c.result) << c.messages;
    const declaration& colour = *c.find("colour");
    EXPECT_EQ(colour.doc, "A colour.\n\n Indented line.");
    EXPECT_EQ(colour.values[0].doc, "Red.");
    EXPECT_EQ(colour.values[1].doc, "");
    EXPECT_EQ(colour.values[2].doc, "Not for green: for blue.");
    const declaration& point = *c.find("point");
    EXPECT_EQ(point.doc, "A point.");
    EXPECT_EQ(point.fields[0].doc, "Across.");
    EXPECT_EQ(point.fields[1].doc, "");
    EXPECT_EQ(c.find("shape")->fields[0].doc, "Round.");
    const declaration& canvas = *c.find("canvas");
    EXPECT_EQ(canvas.doc, "Drawing.");
    EXPECT_EQ(canvas.procedures[0].doc, "Draws.\nTwice.");
}

// --- resolution across files and namespaces --------------------------------------------------

TEST(checker_resolution, imports_come_first_and_names_resolve_across_namespaces) {
    scratch_directory dir;
    dir.write("common/time.lidl", R"(
        namespace demo::common;
        struct timestamp { seconds: u64; nanos: u32; }
        struct id { value: u32; }
    )");
    dir.write("shapes.lidl", R"(
        namespace demo::shapes;
        import "common/time.lidl";
        struct point { x: i32; y: i32; at: timestamp; }
    )");
    const std::string main = dir.write("main.lidl", R"(
        namespace demo::app;
        import "shapes.lidl";
        import "common/time.lidl";
        struct id { text: string; }
        struct uses {
            own: id;                  // demo::app::id, the current namespace first
            common: demo::common::id; // fully qualified
            p: point;                 // unique among the imported namespaces
        }
    )");
    const compiled c = compile_file(main);
    ASSERT_TRUE(c.result) << c.messages;
    EXPECT_EQ(c->name_space, "demo::app");
    EXPECT_EQ(c->imported_files.size(), 2u);
    EXPECT_EQ(order_of(*c), (std::vector<std::string>{"timestamp", "id", "point", "id", "uses"}));
    EXPECT_TRUE(c->declarations[0]->imported);
    EXPECT_TRUE(c->declarations[2]->imported);
    EXPECT_FALSE(c->declarations[3]->imported);

    const declaration& uses = *c.find("demo::app::uses");
    EXPECT_EQ(field_named(uses, "own").type.resolved, c.find("demo::app::id"));
    EXPECT_EQ(field_named(uses, "common").type.resolved, c.find("demo::common::id"));
    EXPECT_EQ(field_named(uses, "p").type.resolved, c.find("demo::shapes::point"));
    EXPECT_EQ(field_named(uses, "p").offset, 16u);
    expect_layout(c, "demo::shapes::point", 24, 8, false);
}

TEST(checker_resolution, fully_qualified_names_work_inside_their_namespace) {
    const compiled c = compile_text(R"(
        namespace outer;
        struct holder { i: inner_type; }
        struct inner_type { x: u8; }
        struct again { h: outer::holder; }
    )");
    ASSERT_TRUE(c.result) << c.messages;
    EXPECT_EQ(field_named(*c.find("outer::again"), "h").type.resolved, c.find("outer::holder"));
}

TEST(checker_resolution, the_same_name_in_two_imported_namespaces_is_ambiguous) {
    scratch_directory dir;
    dir.write("a.lidl", "namespace a; struct thing { x: u8; }");
    dir.write("b.lidl", "namespace b; struct thing { y: u8; }");
    const std::string main = dir.write("main.lidl", R"(namespace m;
import "a.lidl";
import "b.lidl";
struct user { t: thing; ok: a::thing; }
)");
    const compiled c = compile_file(main);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find("main.lidl:4:18: error: ambiguous type 'thing': it could be "
                              "'a::thing' and 'b::thing'; write the qualified name"),
              std::string::npos)
        << c.messages;
    EXPECT_NE(c.messages.find("note: 'a::thing' is declared here"), std::string::npos);
    EXPECT_EQ(c.messages.find("error", c.messages.find("error") + 1), std::string::npos)
        << "only one error: 'a::thing' resolves";
}

TEST(checker_resolution, declarations_of_files_not_imported_are_invisible) {
    scratch_directory dir;
    dir.write("hidden.lidl", "namespace h; struct secret { x: u8; }");
    dir.write("middle.lidl", "namespace h; import \"hidden.lidl\";");
    dir.write("other.lidl", "namespace h; struct other { s: secret; }");
    const std::string main =
        dir.write("main.lidl", "import \"middle.lidl\";\nimport \"other.lidl\";\n"
                               "struct user { s: h::secret; }\n");
    const compiled c = compile_file(main);
    EXPECT_FALSE(c.result);
    // Transitive imports are visible: main sees hidden.lidl through middle.lidl. other.lidl
    // imports nothing, so it does not see it.
    EXPECT_NE(c.messages.find("other.lidl:1:32: error: unknown type 'secret': 'h::secret' is "
                              "declared in "),
              std::string::npos)
        << c.messages;
    EXPECT_NE(c.messages.find("which this file does not import"), std::string::npos);
    EXPECT_EQ(c.messages.find("main.lidl"), std::string::npos) << c.messages;
}

TEST(checker_resolution, include_directories_are_searched_after_the_importing_directory) {
    scratch_directory dir;
    dir.write("include/lib.lidl", "namespace lib; struct from_include { x: u8; }");
    dir.write("src/lib.lidl", "namespace lib; struct from_src { x: u8; }");
    const std::string main =
        dir.write("src/main.lidl", "import \"lib.lidl\";\nstruct user { a: lib::from_src; }\n");
    load_options options;
    options.include_directories.push_back(dir.path() + "/include");
    const compiled c = compile_file(main, options);
    ASSERT_TRUE(c.result) << c.messages;

    const std::string other =
        dir.write("elsewhere/main.lidl",
                  "import \"lib.lidl\";\nstruct user { a: lib::from_include; }\n");
    const compiled d = compile_file(other, options);
    ASSERT_TRUE(d.result) << d.messages;
    const compiled e = compile_file(other);
    EXPECT_NE(e.messages.find("cannot find imported file 'lib.lidl'; looked for"),
              std::string::npos)
        << e.messages;
}

TEST(checker_resolution, a_file_imported_twice_is_loaded_once) {
    scratch_directory dir;
    dir.write("shared.lidl", "namespace s; struct one { x: u8; }");
    dir.write("left.lidl", "import \"shared.lidl\";");
    dir.write("sub/right.lidl", "import \"../shared.lidl\";");
    const std::string main =
        dir.write("main.lidl", "import \"left.lidl\"; import \"sub/right.lidl\";\n"
                               "struct user { a: s::one; }");
    const compiled c = compile_file(main);
    ASSERT_TRUE(c.result) << c.messages;
    EXPECT_EQ(c->imported_files.size(), 3u);
    EXPECT_EQ(order_of(*c), (std::vector<std::string>{"one", "user"}));
}

TEST(checker_resolution, import_cycles_show_the_chain) {
    scratch_directory dir;
    dir.write("b.lidl", "import \"c.lidl\";");
    dir.write("c.lidl", "import \"a.lidl\";");
    const std::string main = dir.write("a.lidl", "import \"b.lidl\";");
    const compiled c = compile_file(main);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find("error: import cycle: "), std::string::npos) << c.messages;
    EXPECT_NE(c.messages.find("a.lidl -> "), std::string::npos) << c.messages;
    EXPECT_NE(c.messages.find("b.lidl -> "), std::string::npos) << c.messages;
    EXPECT_NE(c.messages.find("c.lidl -> "), std::string::npos) << c.messages;
}

// --- errors ----------------------------------------------------------------------------------

struct error_case {
    const char* name;
    const char* source;
    const char* message;  // expected somewhere in the output, with its location
};

class checker_error : public ::testing::TestWithParam<error_case> {};

TEST_P(checker_error, is_reported) {
    const error_case& param = GetParam();
    const compiled c = compile_text(param.source);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find(param.message), std::string::npos)
        << "expected: " << param.message << "\ngot:\n" << c.messages;
}

const error_case error_cases[] = {
    {"unknown_type", "struct s { a: u33; }",
     "test.lidl:1:15: error: unknown type 'u33'; did you mean 'u32'?"},
    {"unknown_named_type", "struct resolution {}\nstruct s { a: resolutoin; }",
     "test.lidl:2:15: error: unknown type 'resolutoin'; did you mean 'resolution'?"},
    {"unknown_type_no_suggestion", "struct s { a: zzzzzz; }",
     "test.lidl:1:15: error: unknown type 'zzzzzz'\n"},
    {"duplicate_type", "struct a {}\nunion a { x: u8; }",
     "test.lidl:2:7: error: duplicate name 'a': a struct with this name is already declared at "
     "the top level"},
    {"duplicate_type_note", "namespace n;\nstruct a {}\nservice a {}",
     "test.lidl:2:8: note: the first declaration of 'a' is here"},
    {"duplicate_field", "struct s { a: u8; a: u16; }",
     "test.lidl:1:19: error: duplicate field 'a' in struct 's'"},
    {"duplicate_alternative", "union u { a: u8; a: u16; }",
     "test.lidl:1:18: error: duplicate alternative 'a' in union 'u'"},
    {"duplicate_procedure", "service s { p(); p(); }",
     "test.lidl:1:18: error: duplicate procedure 'p' in service 's'"},
    {"duplicate_parameter", "service s { p(a: u8, a: u8); }",
     "test.lidl:1:22: error: duplicate parameter 'a' in procedure 'p'"},
    {"duplicate_enum_value_name", "enum e : u8 { a = 0, a = 1 }",
     "test.lidl:1:22: error: duplicate value name 'a' in enum 'e'"},
    {"duplicate_enum_value", "enum e : u8 { a = 0, b = 0x0 }",
     "test.lidl:1:22: error: duplicate value 0 in enum 'e': 'b' has the same value as 'a'"},
    {"enum_out_of_range", "enum e : i8 { a = -129 }",
     "test.lidl:1:19: error: value -129 of 'a' is out of range for the underlying type 'i8' "
     "(-128 to 127)"},
    {"enum_negative_unsigned", "enum e : u32 { a = -1 }",
     "error: value -1 of 'a' is out of range for the underlying type 'u32' (0 to 4294967295)"},
    {"enum_not_integer", "enum e : f32 { a = 0 }",
     "test.lidl:1:10: error: the underlying type of enum 'e' must be an integer type"},
    {"enum_empty", "enum e : u8 {}", "error: enum 'e' has no values"},
    {"view_in_struct", "struct s { a: string_view; }",
     "test.lidl:1:15: error: 'string_view' cannot be the type of a struct field"},
    {"span_in_union", "union u { a: span<u8>; }",
     "error: 'span<u8>' cannot be the type of a union alternative: view types are only allowed "
     "as the type of a procedure parameter or result; use 'vector<u8>' here"},
    {"view_in_optional", "service s { p(a: optional<string_view>); }",
     "error: 'string_view' cannot be an optional value"},
    {"view_in_array", "service s { p() -> array<string_view, 2>; }",
     "error: 'string_view' cannot be an array element"},
    {"view_in_span", "service s { p(a: span<span<u8>>); }",
     "error: 'span<u8>' cannot be a span element"},
    {"array_empty", "struct s { a: array<u8, 0>; }",
     "test.lidl:1:15: error: an array needs at least one element"},
    {"array_too_long", "struct s { a: array<u8, 65537>; }",
     "error: array of 65537 elements is too large: an array may have at most 65536 elements"},
    {"type_too_large", "struct s { a: array<array<u8, 65536>, 257>; }",
     "test.lidl:1:15: error: 'array<array<u8, 65536>, 257>' is 16842752 bytes, more than the "
     "16777216 bytes (16 MiB) a wire type may have"},
    {"struct_too_large",
     "struct big { a: array<array<u8, 65536>, 256>; }\nstruct s { a: big; c: u8; }",
     "test.lidl:2:8: error: struct 's' is 16777217 bytes, more than the 16777216 bytes"},
    {"self_containing", "struct node { next: node; }",
     "test.lidl:1:15: error: struct 'node' contains itself by value (node.next -> node)"},
    {"containing_through_optional", "struct a { b: optional<b>; }\nstruct b { a: array<a, 2>; }",
     "error: struct 'a' contains itself by value (a.b -> b.a -> a)"},
    {"empty_union", "union u {}", "test.lidl:1:7: error: union 'u' has no alternatives"},
    {"service_as_type", "service s {}\nstruct t { a: vector<s>; }",
     "test.lidl:2:22: error: 's' is a service, not a type"},
    {"cpp_keyword", "struct s { class: u8; }",
     "test.lidl:1:12: error: 'class' is a C++ keyword and cannot be used as a field name"},
    {"reserved_name", "struct s__t {}", "error: 's__t' cannot be used as a struct name"},
    {"builtin_as_name", "struct u8 {}",
     "test.lidl:1:8: error: 'u8' is a built-in type and cannot be used as a struct name"},
    {"keyword_in_namespace", "namespace a::new::b;",
     "test.lidl:1:14: error: 'new' is a C++ keyword and cannot be used as a namespace name"},
    {"standard_macro", "struct s { errno: u8; }",
     "test.lidl:1:12: error: 'errno' is a macro of the C++ standard library and cannot be used "
     "as a field name"},

    // Names that would collide in the generated C++ (cpp_generator.cpp), one case per kind.
    {"procedure_named_like_its_service", "namespace n;\nservice s { s(); }",
     "test.lidl:2:13: error: procedure 's' of service 's' collides in generated C++ with the "
     "constructor of class 's'"},
    {"procedure_named_like_the_client", "namespace n;\nservice s { s_client(); }",
     "test.lidl:2:13: error: procedure 's_client' of service 's' collides in generated C++ with "
     "the constructor of the client class 's_client'"},
    {"procedure_named_like_a_client_member", "namespace n;\nservice s { backend(); }",
     "test.lidl:2:13: error: procedure 'backend' of service 's' collides in generated C++ with "
     "the member 'backend' of the client class 's_client'"},
    {"procedure_named_like_the_client_storage", "namespace n;\nservice s { backend_(); }",
     "test.lidl:2:13: error: procedure 'backend_' of service 's' collides in generated C++ with "
     "the member 'backend_' of the client class 's_client'"},
    {"procedure_named_like_the_deadline_setter", "namespace n;\nservice s { within(); }",
     "test.lidl:2:13: error: procedure 'within' of service 's' collides in generated C++ with "
     "the member 'within' of class 's' (it sets the deadline of the next call)"},
    {"procedure_named_like_the_template_parameter", "namespace n;\nservice s { Backend(); }",
     "test.lidl:2:13: error: procedure 'Backend' of service 's' collides in generated C++ with "
     "the template parameter 'Backend'"},
    {"procedure_named_like_a_parameter_struct", "namespace n;\nservice s { a(); a_params(); }",
     "test.lidl:2:18: error: procedure 'a_params' of service 's' collides in generated C++ with "
     "the type 's::a_params' lidlc generates for procedure 'a'"},
    {"procedure_named_like_a_result_alias", "namespace n;\nservice s { a_result(); a(); }",
     "test.lidl:2:13: error: procedure 'a_result' of service 's' collides in generated C++ with "
     "the type 's::a_result' lidlc generates for procedure 'a'"},
    {"procedure_with_the_generated_prefix", "namespace n;\nservice s { lidl_name(); }",
     "test.lidl:2:13: error: 'lidl_name' cannot be used as a procedure name: names starting "
     "with 'lidl_' are reserved for the members lidlc generates"},
    {"parameter_named_response", "namespace n;\nservice s { a(response: u8); }",
     "test.lidl:2:15: error: parameter 'response' of procedure 'a' collides in generated C++ "
     "with the 'response' builder"},
    {"parameter_named_like_a_local", "namespace n;\nservice s { a(x: u8, params: u8); }",
     "test.lidl:2:22: error: parameter 'params' of procedure 'a' collides in generated C++ with "
     "a local variable of the generated client's call functions"},
    {"parameter_named_result", "namespace n;\nservice s { a(result: u8); }",
     "test.lidl:2:15: error: parameter 'result' of procedure 'a'"},
    {"parameter_named_like_the_client_storage", "namespace n;\nservice s { a(backend_: u8); }",
     "test.lidl:2:15: error: parameter 'backend_' of procedure 'a' collides in generated C++ "
     "with the member 'backend_'"},
    {"parameter_named_like_the_template_parameter", "namespace n;\nservice s { a(Backend: u8); }",
     "test.lidl:2:15: error: parameter 'Backend' of procedure 'a' collides in generated C++ with "
     "the template parameter 'Backend'"},
    {"parameter_named_like_a_parameter_struct", "namespace n;\nservice s { a(a_params: u8); }",
     "test.lidl:2:15: error: parameter 'a_params' of procedure 'a' collides in generated C++ "
     "with the type 's::a_params'"},
    {"field_named_like_its_struct", "namespace n;\nstruct p { x: u8; p: u8; }",
     "test.lidl:2:19: error: field 'p' has the name of its struct"},
    {"field_with_the_generated_prefix", "namespace n;\nstruct p { lidl_reserved_: u8; }",
     "test.lidl:2:12: error: 'lidl_reserved_' cannot be used as a field name: names starting "
     "with 'lidl_'"},
    {"alternative_named_like_its_union", "namespace n;\nunion u { u: u8; }",
     "test.lidl:2:11: error: alternative 'u' of union 'u' collides in generated C++ with the "
     "constructor of class 'u'"},
    {"alternative_named_like_a_union_member", "namespace n;\nunion u { a: u8; which: u8; }",
     "test.lidl:2:18: error: alternative 'which' of union 'u' collides in generated C++ with the "
     "member 'which' lidlc generates in every union class"},
    {"alternative_named_like_the_alternative_enum", "namespace n;\nunion u { alternative: u8; }",
     "test.lidl:2:11: error: alternative 'alternative' of union 'u' collides"},
    {"alternative_named_like_a_setter", "namespace n;\nunion u { set_b: u8; b: u16; }",
     "test.lidl:2:11: error: alternative 'set_b' of union 'u' collides in generated C++ with the "
     "setter 'set_b' lidlc generates for alternative 'b'"},
    {"alternative_named_like_the_empty_tag", "namespace n;\nunion u { lidl_empty: u8; }",
     "test.lidl:2:11: error: 'lidl_empty' cannot be used as an alternative name"},
    {"type_named_like_a_client_class", "namespace n;\nstruct s_client {}\nservice s { a(); }",
     "test.lidl:2:8: error: struct 's_client' collides in generated C++ with the client class "
     "template 's_client' lidlc generates for service 's'"},
    {"type_named_like_a_wire_namespace", "namespace n;\nservice s { a(); }\nenum s_wire : u8 { x = 0 }",
     "test.lidl:3:6: error: enum 's_wire' collides in generated C++ with the namespace 's_wire' "
     "lidlc generates for the messages of service 's'"},
    {"service_named_like_another_services_client", "namespace n;\nservice s {}\nservice s_client {}",
     "test.lidl:3:9: error: service 's_client' collides in generated C++ with the client class "
     "template 's_client'"},
    {"type_named_std", "namespace n;\nstruct std {}",
     "test.lidl:2:8: error: 'std' cannot be used as a struct name: generated code uses namespace "
     "'std'"},
    {"global_type_named_like_a_runtime_namespace", "struct lidl {}",
     "test.lidl:1:8: error: 'lidl' cannot be used as a struct name in the global namespace"},
    {"global_type_named_like_a_c_type", "struct uint32_t {}",
     "test.lidl:1:8: error: 'uint32_t' cannot be used as a struct name in the global namespace: "
     "names ending in '_t' are reserved"},
    {"namespace_std", "namespace a::std;",
     "test.lidl:1:14: error: 'a::std' cannot be the namespace of a schema: generated code relies "
     "on namespace 'std' being the C++ standard library's"},
    {"namespace_lidl", "namespace lidl::mine;",
     "test.lidl:1:11: error: 'lidl::mine' cannot be the namespace of a schema"},
    {"namespace_amb", "namespace amb;",
     "test.lidl:1:11: error: 'amb' cannot be the namespace of a schema"},
};

INSTANTIATE_TEST_SUITE_P(cases, checker_error, ::testing::ValuesIn(error_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(checker_errors, independent_errors_are_all_reported_in_source_order) {
    const compiled c = compile_text(R"(struct a { x: nope; }
struct b { y: string_view; }
union c {}
)");
    EXPECT_FALSE(c.result);
    const std::size_t first = c.messages.find("test.lidl:1:");
    const std::size_t second = c.messages.find("test.lidl:2:");
    const std::size_t third = c.messages.find("test.lidl:3:");
    ASSERT_NE(first, std::string::npos) << c.messages;
    ASSERT_NE(second, std::string::npos) << c.messages;
    ASSERT_NE(third, std::string::npos) << c.messages;
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
}

TEST(checker_errors, no_follow_on_errors_for_types_that_failed) {
    const compiled c = compile_text(R"(struct a { x: nope; }
struct b { y: a; z: array<a, 70000>; w: optional<array<u8, 0>>; }
struct c { n: c; }
struct d { m: c; }
)");
    EXPECT_FALSE(c.result);
    EXPECT_EQ(c.messages.find("test.lidl:2:15"), std::string::npos) << c.messages;
    EXPECT_EQ(c.messages.find("test.lidl:4:"), std::string::npos) << c.messages;
    EXPECT_NE(c.messages.find("test.lidl:2:21: error: array of 70000"), std::string::npos);
    EXPECT_NE(c.messages.find("test.lidl:2:50: error: an array needs"), std::string::npos)
        << c.messages;
}

TEST(checker_errors, a_type_named_like_a_namespace_of_another_file_is_refused) {
    scratch_directory dir;
    dir.write("outer.lidl", "namespace n;\nstruct inner { a: u8; }\n");
    const std::string main = dir.write("main.lidl", "namespace n::inner;\nimport \"outer.lidl\";\n"
                                                    "struct t { b: n::inner; }\n");
    const compiled c = compile_file(main);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find("outer.lidl:2:8: error: struct 'inner' has the C++ name of "
                              "namespace 'n::inner', declared by another schema file"),
              std::string::npos)
        << c.messages;
    EXPECT_NE(c.messages.find("main.lidl:1:11: note: namespace 'n::inner' is declared here"),
              std::string::npos)
        << c.messages;
}

TEST(checker_errors, a_type_in_a_generated_message_namespace_is_refused) {
    scratch_directory dir;
    dir.write("service.lidl", "namespace n;\nservice s { get(); }\n");
    const std::string main =
        dir.write("main.lidl", "namespace n::s_wire;\nimport \"service.lidl\";\n"
                               "struct get_call { a: u8; }\nstruct other { a: u8; }\n");
    const compiled c = compile_file(main);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find("main.lidl:3:8: error: struct 'get_call' collides in generated "
                              "C++ with the message struct 's_wire::get_call' lidlc generates "
                              "for procedure 'get' of service 's'"),
              std::string::npos)
        << c.messages;
    EXPECT_EQ(c.messages.find("'other'"), std::string::npos) << c.messages;  // merges: fine
}

TEST(checker_errors, names_next_to_the_generated_ones_are_accepted) {
    // The same names as lidl/tests/schemas/edge_names.lidl, whose generated header the runtime
    // tests compile and call.
    const compiled c = compile_text(R"(namespace edge::names;
enum names : u8 { names = 0, std = 1 }
struct get_params { std: u32; value: u32; }
struct get_result { item: u32; }
union shape { std: u32; set_: u32; set: u32; }
struct lidl_thing { a: u8; }
service probe {
    probe_wire(x: u32) -> u32;
    get(request: get_params, tuple: u32) -> get_result;
    std(std: u32, implementation: string) -> string;
    Arguments(arguments: vector<u32>) -> u64;
    response(backend: u32) -> vector<u8>;
}
)");
    EXPECT_TRUE(c.result) << c.messages;
    EXPECT_EQ(c.messages, "");
}

// --- robustness ------------------------------------------------------------------------------

TEST(checker_robustness, long_chains_do_not_exhaust_the_stack) {
    // s0 contains s1, which contains s2, ... and the last one contains `last_field`.
    constexpr int count = 50000;
    const auto chain = [&](const std::string& last_field) {
        std::string text;
        for (int i = 0; i < count; ++i)
            text += "struct s" + std::to_string(i) + " { x: s" + std::to_string(i + 1) + "; }\n";
        return text + "struct s" + std::to_string(count) + " { x: " + last_field + "; }\n";
    };
    const compiled c = compile_text(chain("u8"));
    ASSERT_TRUE(c.result) << c.messages.substr(0, 1000);
    EXPECT_EQ(c->declarations.front()->name, "s" + std::to_string(count));
    EXPECT_EQ(c->declarations.back()->name, "s0");

    const compiled cyclic = compile_text(chain("s0"));
    EXPECT_FALSE(cyclic.result);
    EXPECT_NE(cyclic.messages.find("test.lidl:1:13: error: struct 's0' contains itself by value"),
              std::string::npos)
        << cyclic.messages.substr(0, 1000);
}

TEST(checker_robustness, suggestions_stop_once_errors_are_no_longer_shown) {
    // Each suggestion scans every declaration, so a schema of many unknown types would cost a
    // quadratic time if every one got a suggestion; once `max_errors` errors are reported, no
    // more are shown and none is computed. Seen here without a clock: `u33` on the first line
    // is reported by the type pass after the name pass has reported `duplicates` errors further
    // down, and printed first (errors print in source order): it carries a suggestion exactly
    // when fewer than max_errors errors came before it.
    const auto schema = [](int duplicates) {
        std::string text = "struct first { a: u33; }\n";
        for (int i = 0; i <= duplicates; ++i)
            text += "struct twin { x: u8; }\n";  // every copy after the first: one error
        return text;
    };
    const std::string unknown = "test.lidl:1:19: error: unknown type 'u33'";

    const compiled below_limit = compile_text(schema(diagnostics::max_errors - 1));
    EXPECT_NE(below_limit.messages.find(unknown + "; did you mean 'u32'?"), std::string::npos)
        << below_limit.messages.substr(0, 1000);

    const compiled at_limit = compile_text(schema(diagnostics::max_errors));
    EXPECT_NE(at_limit.messages.find(unknown + "\n"), std::string::npos)
        << at_limit.messages.substr(0, 1000);
    EXPECT_EQ(at_limit.messages.find("did you mean"), std::string::npos)
        << at_limit.messages.substr(0, 1000);

    // A hostile schema of that shape: it ends (a hang would be stopped by ctest's timeout, not
    // measured here) with the errors cut short.
    std::string text;
    for (int i = 0; i < 30000; ++i)
        text += "struct s" + std::to_string(i) + " { a: unknown" + std::to_string(i) + "; }\n";
    const compiled c = compile_text(text);
    EXPECT_FALSE(c.result);
    EXPECT_NE(c.messages.find("too many errors"), std::string::npos);
}

TEST(checker_robustness, garbage_never_crashes) {
    // Deterministic pseudo-random inputs built from lidl fragments and raw bytes.
    const std::vector<std::string> fragments = {
        "struct", "union", "enum", "service", "namespace", "import", "a", "b", "u8", "string_view",
        "span", "vector", "array", "optional", "<", ">", "{", "}", "(", ")", ";", ":", "::", ",",
        "=", "-", "->", "0", "0x", "65536", "\"x.lidl\"", "///d\n", "//\n", "/*", "*/", "\"",
        "\xff", "\t", "\n", " ", "void", "i64", "99999999999999999999",
    };
    std::uint64_t state = 0x9E3779B97F4A7C15u;
    const auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const int length = static_cast<int>(next() % 60);
        for (int i = 0; i < length; ++i) {
            if (next() % 8 == 0)
                text.push_back(static_cast<char>(next() % 256));
            else
                text += fragments[next() % fragments.size()] + " ";
        }
        const compiled c = compile_text(text);
        if (!c.result) {
            EXPECT_NE(c.messages.find("error"), std::string::npos) << text;
        }
    }
}

}  // namespace
}  // namespace lidl::compiler
