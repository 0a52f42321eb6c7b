// The C++ generator of lidlc. Emits, for the declarations of the main file:
//   - enums, structs (C layout, checked by static_asserts against the checker's layout) and
//     union classes, with doc comments;
//   - lidl::type_info specialisations: name, verification, deep copy, enum names;
//   - per service: the abstract interface (procedures return lidl::completion<R>: the value
//     or a call_error), parameter tuples,
//     the codec that turns tuples into call/reply messages and back, the dispatcher (by
//     compile-time and by run-time id, and `serve`: call message in, reply message out), and
//     the zero-copy client template over a backend.
// The JSON mapping goes into a separate header (generate_cpp_json) so that code which does not
// need it does not pay for the JSON library's header. It covers every enum, struct and union of
// the main file and, per service, the call messages (an object of the parameters) and wrapped
// reply messages (the result value itself), so a call can be made from JSON (HTTP export).
#include "cpp_generator.hpp"

#include <set>
#include <string>
#include <string_view>

namespace lidl::compiler {
namespace {

const std::set<std::string_view>& cpp_keywords() {
    static const std::set<std::string_view> words = {
        "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
        "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
        "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
        "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
        "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
        "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
        "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
        "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
        "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local",
        "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using",
        "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq", "errno", "assert",
        "offsetof", "NULL", "EOF", "stdin", "stdout", "stderr"};
    return words;
}

/// A schema identifier as a C++ identifier (keywords get a trailing underscore).
std::string id(const std::string& name) {
    if (cpp_keywords().count(name) != 0)
        return name + "_";
    return name;
}

std::string qualified(const declaration& d) {
    std::string out = "::";
    if (!d.name_space.empty())
        out += d.name_space + "::";
    return out + id(d.name);
}

/// An enum value as a C++ literal of its underlying type (u64 values above INT64_MAX are stored
/// as their bit pattern in the AST).
std::string enum_literal(builtin underlying, std::int64_t value) {
    if (underlying == builtin::u64)
        return std::to_string(static_cast<std::uint64_t>(value)) + "ULL";
    if (underlying == builtin::i64 && value == INT64_MIN)
        return "(-9223372036854775807LL - 1)";
    return std::to_string(value);
}

std::string builtin_cpp(builtin b) {
    switch (b) {
    case builtin::bool_: return "bool";
    case builtin::i8: return "std::int8_t";
    case builtin::i16: return "std::int16_t";
    case builtin::i32: return "std::int32_t";
    case builtin::i64: return "std::int64_t";
    case builtin::u8: return "std::uint8_t";
    case builtin::u16: return "std::uint16_t";
    case builtin::u32: return "std::uint32_t";
    case builtin::u64: return "std::uint64_t";
    case builtin::f32: return "float";
    case builtin::f64: return "double";
    case builtin::string: return "::lidl::string";
    case builtin::string_view: return "::lidl::string";
    }
    return "void";
}

bool is_scalar(const type_expr& t) {
    return t.k == type_expr::kind::builtin && t.b != builtin::string && t.b != builtin::string_view;
}
bool is_string(const type_expr& t) {
    return t.k == type_expr::kind::builtin &&
           (t.b == builtin::string || t.b == builtin::string_view);
}
bool is_enum(const type_expr& t) {
    return t.k == type_expr::kind::named && t.resolved && t.resolved->k == declaration::kind::enum_;
}
bool is_struct_or_union(const type_expr& t) {
    return t.k == type_expr::kind::named && t.resolved && t.resolved->k != declaration::kind::enum_;
}
bool is_sequence(const type_expr& t) {
    return t.k == type_expr::kind::vector || t.k == type_expr::kind::span;
}

/// The wire type of `t`; views map to their wire forms (string_view -> string, span -> vector).
std::string wire(const type_expr& t) {
    switch (t.k) {
    case type_expr::kind::builtin: return builtin_cpp(t.b);
    case type_expr::kind::array:
        return "::lidl::array<" + wire(*t.element) + ", " + std::to_string(t.array_size) + ">";
    case type_expr::kind::vector:
    case type_expr::kind::span: return "::lidl::vector<" + wire(*t.element) + ">";
    case type_expr::kind::optional: return "::lidl::optional<" + wire(*t.element) + ">";
    case type_expr::kind::named: return t.resolved ? qualified(*t.resolved) : "::" + t.name;
    }
    return "void";
}

bool has_references(const type_expr& t) {
    switch (t.k) {
    case type_expr::kind::builtin: return is_string(t);
    case type_expr::kind::vector:
    case type_expr::kind::span: return true;
    case type_expr::kind::array:
    case type_expr::kind::optional: return has_references(*t.element);
    case type_expr::kind::named: return t.resolved && t.resolved->has_references;
    }
    return false;
}

bool trivially_valid(const declaration& d);

bool trivially_valid(const type_expr& t) {
    switch (t.k) {
    case type_expr::kind::builtin: return is_scalar(t) && t.b != builtin::bool_;
    case type_expr::kind::array: return trivially_valid(*t.element);
    case type_expr::kind::named: return t.resolved && trivially_valid(*t.resolved);
    default: return false;
    }
}

bool trivially_valid(const declaration& d) {
    if (d.k != declaration::kind::struct_)
        return false;
    for (const field& f : d.fields)
        if (!trivially_valid(f.type))
            return false;
    return true;
}

// How a parameter appears in the interface signature and in the parameter tuple.
std::string param_signature_type(const type_expr& t) {
    if (is_scalar(t) || is_enum(t))
        return wire(t);
    if (is_string(t))
        return "std::string_view";
    if (is_sequence(t))
        return "std::span<const " + wire(*t.element) + ">";
    return "const " + wire(t) + "&";
}

std::string param_tuple_type(const type_expr& t) {
    if (is_scalar(t) || is_enum(t) || is_string(t) || is_sequence(t))
        return param_signature_type(t);
    return "const " + wire(t) + "*";
}

enum class result_mode {
    none,      // void
    value,     // returned by value (scalars, enums, value-only wire types)
    view,      // string, vector, string_view, span: a view (into the response builder or memory
               // the implementation keeps valid)
    built,     // a wire type with references, built in the response builder: const W*
};

result_mode mode_of(const procedure& p) {
    if (!p.result)
        return result_mode::none;
    const type_expr& t = *p.result;
    if (is_string(t) || is_sequence(t))
        return result_mode::view;
    if (has_references(t))
        return result_mode::built;
    return result_mode::value;
}

bool needs_response(const procedure& p) {
    result_mode m = mode_of(p);
    return m == result_mode::view || m == result_mode::built;
}

std::string result_type(const procedure& p) {
    const type_expr& t = *p.result;
    switch (mode_of(p)) {
    case result_mode::none: return "void";
    case result_mode::value: return wire(t);
    case result_mode::view:
        return is_string(t) ? "std::string_view" : "std::span<const " + wire(*t.element) + ">";
    case result_mode::built: return "const " + wire(t) + "*";
    }
    return "void";
}

/// The root type of a reply message: the result's own type for structs and unions, otherwise
/// the generated `<procedure>_reply` wrapper.
bool reply_is_wrapped(const procedure& p) {
    return !(p.result && is_struct_or_union(*p.result));
}

class writer {
public:
    void line(const std::string& text = "") {
        if (!text.empty())
            out_.append(static_cast<std::size_t>(indent_) * 4, ' ');
        out_ += text;
        out_ += '\n';
    }
    void open(const std::string& text) {
        line(text);
        ++indent_;
    }
    void close(const std::string& text = "}") {
        --indent_;
        line(text);
    }
    void doc(const std::string& text) {
        if (text.empty())
            return;
        std::size_t start = 0;
        while (start <= text.size()) {
            std::size_t end = text.find('\n', start);
            if (end == std::string::npos)
                end = text.size();
            line("/// " + text.substr(start, end - start));
            start = end + 1;
        }
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
    int indent_ = 0;
};

std::string file_stem(const std::string& path) {
    std::size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    std::size_t dot = name.rfind(".lidl");
    return dot == std::string::npos ? name : name.substr(0, dot);
}

std::string guard_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

class generator {
public:
    explicit generator(const schema& s) : schema_(s) {}

    std::string run() {
        w_.line("// Generated by lidlc from " + file_stem(schema_.main_file) +
                ".lidl. Do not edit: change the schema instead.");
        w_.line("#pragma once");
        w_.line();
        w_.line("#include <lidl/lidl.hpp>");
        w_.line();
        for (const std::string& file : schema_.imported_files)
            w_.line("#include \"" + file_stem(file) + ".lidl.hpp\"");
        w_.line("#include <cstddef>");
        w_.line("#include <cstring>");
        w_.line("#include <cstdint>");
        w_.line("#include <span>");
        w_.line("#include <string_view>");
        w_.line();

        for (const auto& d : schema_.declarations)
            if (!d->imported && d->k != declaration::kind::service)
                type_declaration(*d);
        for (const auto& d : schema_.declarations)
            if (!d->imported && d->k == declaration::kind::union_)
                union_definitions(*d);
        for (const auto& d : schema_.declarations)
            if (!d->imported && d->k != declaration::kind::service)
                type_info_declaration(*d);
        for (const auto& d : schema_.declarations)
            if (!d->imported && d->k != declaration::kind::service)
                type_info_definitions(*d);
        for (const auto& d : schema_.declarations)
            if (!d->imported && d->k == declaration::kind::service)
                service(*d);
        return w_.take();
    }

private:
    void type_declaration(const declaration& d) {
        // Global-namespace schemas are emitted without a namespace block.
        bool named = !d.name_space.empty();
        if (named)
            w_.open("namespace " + d.name_space + " {");
        w_.line();
        w_.doc(d.doc);
        switch (d.k) {
        case declaration::kind::enum_: enum_declaration(d); break;
        case declaration::kind::struct_: struct_declaration(d); break;
        case declaration::kind::union_: union_declaration(d); break;
        case declaration::kind::service: break;
        }
        if (named)
            w_.close("}  // namespace " + d.name_space);
        w_.line();
        layout_asserts(d);
    }

    void enum_declaration(const declaration& d) {
        w_.open("enum class " + id(d.name) + " : " + builtin_cpp(d.underlying) + " {");
        for (const enum_value& v : d.values) {
            w_.doc(v.doc);
            w_.line(id(v.name) + " = " + enum_literal(d.underlying, v.value) + ",");
        }
        w_.close("};");
    }

    void struct_declaration(const declaration& d) {
        w_.open("struct " + id(d.name) + " {");
        for (const field& f : d.fields) {
            w_.doc(f.doc);
            w_.line(wire(f.type) + " " + id(f.name) + ";");
        }
        if (d.fields.empty())
            w_.line("std::uint8_t lidl_reserved_;  // an empty struct occupies one byte");
        w_.close("};");
    }

    void union_declaration(const declaration& d) {
        std::string name = id(d.name);
        w_.open("class " + name + " {");
        w_.line("public:");
        w_.line("/// On the wire, tag 0 means empty and alternative i has tag i + 1.");
        w_.open("enum class alternative : std::uint32_t {");
        w_.line("lidl_empty = 0,");
        for (const field& f : d.fields)
            w_.line(id(f.name) + " = " + std::to_string(f.index + 1) + ",");
        w_.close("};");
        w_.line("static constexpr std::uint32_t alternative_count = " +
                std::to_string(d.fields.size()) + ";");
        w_.line();
        w_.line("/// Which alternative this union holds (lidl_empty when none).");
        w_.line("alternative which() const { return static_cast<alternative>(lidl_header.tag()); }");
        w_.line("bool has_value() const { return lidl_header.has_value(); }");
        for (const field& f : d.fields) {
            w_.line();
            w_.doc(f.doc);
            w_.line("/// The `" + f.name + "` alternative, or nullptr when the union holds another.");
            w_.line("const " + wire(f.type) + "* " + id(f.name) + "() const;");
            w_.line("/// Makes this union hold a new, zeroed `" + f.name +
                    "` built in `out`; returns it to fill in (nullptr when out of space).");
            w_.line(wire(f.type) + "* set_" + f.name + "(::lidl::builder& out);");
        }
        w_.line();
        w_.line("::lidl::union_header lidl_header;");
        w_.close("};");
    }

    void union_definitions(const declaration& d) {
        bool named = !d.name_space.empty();
        if (named)
            w_.open("namespace " + d.name_space + " {");
        std::string name = id(d.name);
        for (const field& f : d.fields) {
            std::string type = wire(f.type);
            w_.open("inline const " + type + "* " + name + "::" + id(f.name) + "() const {");
            w_.line("return lidl_header.tag() == " + std::to_string(f.index + 1) +
                    "u ? &lidl_header.payload<" + type + ">() : nullptr;");
            w_.close();
            w_.open("inline " + type + "* " + name + "::set_" + f.name +
                    "(::lidl::builder& out) {");
            w_.line("return out.set_union<" + type + ">(lidl_header, " +
                    std::to_string(f.index + 1) + "u);");
            w_.close();
        }
        if (named)
            w_.close("}  // namespace " + d.name_space);
        w_.line();
    }

    void layout_asserts(const declaration& d) {
        std::string q = qualified(d);
        w_.line("static_assert(sizeof(" + q + ") == " + std::to_string(d.size) + " && alignof(" +
                q + ") == " + std::to_string(d.align) + ", \"lidl layout of " + d.name + "\");");
        if (d.k != declaration::kind::struct_)
            return;
        for (const field& f : d.fields)
            w_.line("static_assert(offsetof(" + q + ", " + id(f.name) + ") == " +
                    std::to_string(f.offset) + ");");
        w_.line();
    }

    // lidl::type_info specialisations are emitted in two passes: first every class with its
    // member declarations, then the member definitions, so that a definition may use the
    // type_info of a type declared later (a struct holding a vector of a later struct).
    void type_info_declaration(const declaration& d) {
        std::string q = qualified(d);
        w_.line("template <>");
        w_.line("struct lidl::type_info<" + q + "> {");
        w_.line("    static constexpr const char* name = " + guard_string(d.qualified_name()) + ";");
        w_.line("    static constexpr bool trivially_valid = " +
                std::string(trivially_valid(d) ? "true" : "false") + ";");
        w_.line("    static bool verify(::lidl::verifier& check, const " + q +
                "& value, const char* type, const char* field);");
        w_.line("    static bool copy(::lidl::builder& out, " + q + "& to, const " + q + "& from);");
        if (d.k == declaration::kind::enum_)
            enum_names(d, q);
        w_.line("};");
        w_.line();
    }

    void type_info_definitions(const declaration& d) {
        std::string q = qualified(d);
        std::string prefix = "inline bool lidl::type_info<" + q + ">::";
        w_.line(prefix + "verify(::lidl::verifier& check, const " + q +
                "& value, [[maybe_unused]] const char* type, [[maybe_unused]] const char* field) {");
        switch (d.k) {
        case declaration::kind::enum_: {
            std::string raw = builtin_cpp(d.underlying);
            w_.line("    " + raw + " raw;");
            w_.line("    std::memcpy(&raw, &value, sizeof raw);");
            w_.line("    return is_valid(raw) || check.fail(::lidl::error::bad_enum, &value, type, "
                    "field);");
            break;
        }
        case declaration::kind::struct_: w_.line(field_checks(d.fields)); break;
        case declaration::kind::union_:
            w_.line("    switch (value.lidl_header.tag()) {");
            w_.line("    case 0: return check.empty_union(value.lidl_header, name, \"\");");
            for (const field& f : d.fields)
                w_.line("    case " + std::to_string(f.index + 1) + ": return check.alternative<" +
                        wire(f.type) + ">(value.lidl_header, name, \"" + f.name + "\");");
            w_.line("    default: return check.fail(::lidl::error::bad_union_tag, &value, name, "
                    "\"\");");
            w_.line("    }");
            break;
        case declaration::kind::service: break;
        }
        w_.line("}");
        w_.line(prefix + "copy([[maybe_unused]] ::lidl::builder& out, " + q + "& to, const " + q +
                "& from) {");
        if (d.k == declaration::kind::union_) {
            w_.line("    switch (from.lidl_header.tag()) {");
            w_.line("    case 0: return true;");
            for (const field& f : d.fields) {
                w_.line("    case " + std::to_string(f.index + 1) + ": {");
                w_.line("        auto* item = to.set_" + f.name + "(out);");
                w_.line("        return item != nullptr && ::lidl::copy(out, *item, *from." +
                        id(f.name) + "());");
                w_.line("    }");
            }
            w_.line("    default: return false;");
            w_.line("    }");
        } else if (!d.has_references) {
            w_.line("    to = from;");
            w_.line("    return true;");
        } else {
            w_.line(field_copies(d.fields));
        }
        w_.line("}");
        w_.line();
    }

    static std::string field_checks(const std::vector<field>& fields) {
        std::string checks;
        for (const field& f : fields) {
            if (trivially_valid(f.type))
                continue;
            checks += checks.empty() ? "    return " : "\n        && ";
            checks += "check.value(value." + id(f.name) + ", name, \"" + f.name + "\")";
        }
        return checks.empty() ? "    (void)check; (void)value; return true;" : checks + ";";
    }

    static std::string field_copies(const std::vector<field>& fields) {
        std::string copies;
        for (const field& f : fields) {
            copies += copies.empty() ? "    return " : "\n        && ";
            copies += "::lidl::copy(out, to." + id(f.name) + ", from." + id(f.name) + ")";
        }
        return copies.empty() ? "    (void)to; (void)from; return true;" : copies + ";";
    }

    void enum_names(const declaration& d, const std::string& q) {
        std::string raw = builtin_cpp(d.underlying);
        w_.line("    static constexpr bool is_valid(" + raw + " value) {");
        w_.line("        switch (value) {");
        std::set<std::int64_t> seen;
        for (const enum_value& v : d.values)
            if (seen.insert(v.value).second)
                w_.line("        case " + enum_literal(d.underlying, v.value) + ": return true;");
        w_.line("        default: return false;");
        w_.line("        }");
        w_.line("    }");
        w_.line("    static constexpr const char* to_string(" + q + " value) {");
        w_.line("        switch (value) {");
        for (const enum_value& v : d.values)
            w_.line("        case " + q + "::" + id(v.name) + ": return \"" + v.name + "\";");
        w_.line("        }");
        w_.line("        return nullptr;");
        w_.line("    }");
        w_.line("    static constexpr bool from_string(std::string_view text, " + q + "& out) {");
        for (const enum_value& v : d.values)
            w_.line("        if (text == \"" + v.name + "\") { out = " + q + "::" + id(v.name) +
                    "; return true; }");
        w_.line("        return false;");
        w_.line("    }");
    }

    // --- services -------------------------------------------------------------------------

    std::string signature(const procedure& p, bool with_names) {
        std::string out;
        for (const field& param : p.params) {
            if (!out.empty())
                out += ", ";
            out += param_signature_type(param.type);
            if (with_names)
                out += " " + id(param.name);
        }
        if (needs_response(p)) {
            if (!out.empty())
                out += ", ";
            out += "::lidl::builder&";
            if (with_names)
                out += " response";
        }
        return out;
    }

    void open_namespace(const declaration& d) {
        if (!d.name_space.empty())
            w_.line("namespace " + d.name_space + " {");
    }
    void close_namespace(const declaration& d) {
        if (!d.name_space.empty())
            w_.line("}  // namespace " + d.name_space);
        w_.line();
    }

    void service(const declaration& d) {
        wire_messages(d);
        open_namespace(d);
        interface(d);
        codec(d);
        dispatch(d);
        client(d);
        close_namespace(d);
    }

    static bool by_pointer(const type_expr& t) {
        return !(is_scalar(t) || is_enum(t) || is_string(t) || is_sequence(t));
    }

    void interface(const declaration& d) {
        std::string name = id(d.name);
        w_.line();
        w_.doc(d.doc);
        w_.line("/// Interface `" + d.name + "`. Implement it to serve the procedures; call an");
        w_.line("/// implementation through `" + d.name + "_client<Backend>`. Procedures whose result");
        w_.line("/// is a string, a vector, a view or has references take a `response` builder: build");
        w_.line("/// a struct or union result as its root; views may point into it or into memory");
        w_.line("/// the implementation keeps valid.");
        w_.open("class " + name + " {");
        w_.line("public:");
        w_.line("virtual ~" + name + "() = default;");
        w_.line();
        w_.line("/// The next call through this reference waits at most `timeout` for its answer,");
        w_.line("/// then completes with deadline_passed: `dependency.within(200ms).P(...)`. A call");
        w_.line("/// to an implementation in the caller's own group runs to completion.");
        w_.open(name + "& within(::amb::loop_clock::duration timeout) {");
        w_.line("lidl_next_.timeout = timeout;");
        w_.line("return *this;");
        w_.close();
        for (const procedure& p : d.procedures) {
            w_.line();
            w_.doc(p.doc);
            w_.line("virtual ::lidl::completion<" + result_type(p) + "> " + id(p.name) + "(" +
                    signature(p, true) + ") = 0;");
        }
        w_.line();
        w_.line("static constexpr const char* lidl_name = " + guard_string(d.qualified_name()) +
                ";");
        w_.line("static constexpr std::uint32_t lidl_procedure_count = " +
                std::to_string(d.procedures.size()) + ";");
        w_.line("/// Name of procedure `id` (nullptr if there is none).");
        w_.open("static constexpr const char* lidl_procedure_name(std::uint32_t id) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures)
            w_.line("case " + std::to_string(p.id) + ": return \"" + p.name + "\";");
        w_.line("default: return nullptr;");
        w_.line("}");
        w_.close();
        w_.line();
        w_.line("// Parameter tuples: scalars by value, views as pointer and length, other types by");
        w_.line("// pointer. The result of procedure P goes to a lidl::slot<P_result>.");
        for (const procedure& p : d.procedures) {
            w_.open("struct " + p.name + "_params {");
            for (const field& param : p.params)
                w_.line(param_tuple_type(param.type) + " " + id(param.name) + ";");
            if (needs_response(p))
                w_.line("::lidl::builder* response;");
            w_.close("};");
            w_.line("using " + p.name + "_result = " + result_type(p) + ";");
        }
        w_.line();
        w_.line("/// Procedure `Id`'s parameter tuple, result type, message roots and name.");
        w_.line("template <std::uint32_t Id>");
        w_.line("struct lidl_procedure;");
        w_.line("struct lidl_dispatch;");
        w_.line("struct lidl_codec;");
        w_.line();
        w_.line("protected:");
        w_.line("/// Options of the next call (set by `within`, taken by clients).");
        w_.line("::lidl::call_options lidl_next_{};");
        w_.close("};");
        w_.line();
        for (const procedure& p : d.procedures) {
            w_.open("template <>");
            w_.line("struct " + name + "::lidl_procedure<" + std::to_string(p.id) + "> {");
            w_.line("    using params = " + p.name + "_params;");
            w_.line("    using result = " + p.name + "_result;");
            w_.line("    /// Roots of the call and reply messages (see lidl_codec).");
            w_.line("    using call_message = " + wire_namespace(d) + p.name + "_call;");
            w_.line("    using reply_message = " +
                    (reply_is_wrapped(p) ? wire_namespace(d) + p.name + "_reply" : wire(*p.result)) +
                    ";");
            w_.line("    static constexpr const char* name = \"" + p.name + "\";");
            // The tuple's members in declaration order (without `response`), for marshallers
            // that copy tuples between address spaces (<lidl/fields.hpp>).
            std::string members;
            for (const field& param : p.params)
                members += std::string(members.empty() ? "" : ", ") + "&params::" + id(param.name);
            w_.line("    using fields = ::lidl::field_list<" + members + ">;");
            w_.close("};");
        }
        w_.line();
    }

    std::string call_arguments(const procedure& p) {
        std::string out;
        for (const field& param : p.params) {
            if (!out.empty())
                out += ", ";
            out += (by_pointer(param.type) ? "*tuple." : "tuple.") + id(param.name);
        }
        if (needs_response(p))
            out += std::string(out.empty() ? "" : ", ") + "*tuple.response";
        return out;
    }

    void dispatch(const declaration& d) {
        std::string name = id(d.name);
        w_.line("/// Runs a procedure of `" + d.name + "` given its parameter tuple and result slot.");
        w_.open("struct " + name + "::lidl_dispatch {");
        w_.line("/// For a procedure known at compile time: an awaitable that calls the");
        w_.line("/// implementation and stores the result, without a coroutine frame of its own.");
        w_.line("template <std::uint32_t Id>");
        w_.open("static auto invoke(" + name +
                "& implementation, const void* params, void* result) {");
        w_.line("static_assert(Id < lidl_procedure_count, \"no such procedure\");");
        bool first = true;
        for (const procedure& p : d.procedures) {
            w_.line(std::string(first ? "if" : "} else if") + " constexpr (Id == " +
                    std::to_string(p.id) + ") {");
            first = false;
            w_.line("    [[maybe_unused]] const auto& tuple = *static_cast<const " + p.name +
                    "_params*>(params);");
            w_.line("    return ::lidl::into_slot<" + p.name + "_result>(implementation." +
                    id(p.name) + "(" + call_arguments(p) + "), result);");
        }
        if (!d.procedures.empty())
            w_.line("}");
        w_.close();
        w_.line();
        w_.line("/// For a procedure id known at run time (rings, network servers). The id must be");
        w_.line("/// below lidl_procedure_count (decoders reject other ids from outside).");
        w_.open("static ::amb::task<void> execute(" + name +
                "& implementation, std::uint32_t id, const void* params, void* result) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures)
            w_.line("case " + std::to_string(p.id) + ": co_await invoke<" + std::to_string(p.id) +
                    ">(implementation, params, result); co_return;");
        w_.line("default: AMB_REQUIRE(false, \"procedure id out of range\");");
        w_.line("}");
        w_.close();
        serve(d);
        w_.close("};");
        w_.line();
    }

    // The one "decode call -> invoke -> encode reply" function that every server of messages
    // uses (network exports, the HTTP export, channels carrying messages). The call is untrusted:
    // nothing is invoked unless the id names a procedure and the message verifies.
    void serve(const declaration& d) {
        std::string name = id(d.name);
        w_.line();
        w_.line("/// Serves one call message from outside: verifies `call` as procedure `Id`'s call");
        w_.line("/// message, runs the procedure on `implementation` and encodes its reply into");
        w_.line("/// `response` (a struct or union result built there as the root is sent as it is)");
        w_.line("/// or `spare`. Completes with the reply bytes (pointing into one of the two), or");
        w_.line("/// with malformed_call (nothing invoked), the error the procedure returned, or");
        w_.line("/// reply_too_large. `call`, `response`");
        w_.line("/// and `spare` are distinct buffers; `call` and both builders must outlive the task.");
        w_.line("/// One coroutine frame per call; an empty task if it could not be allocated.");
        w_.line("template <std::uint32_t Id>");
        w_.open("static ::amb::task<::lidl::serve_result> serve(" + name +
                "& implementation, std::span<const std::uint8_t> call, ::lidl::builder& response, "
                "::lidl::builder& spare) {");
        w_.line("static_assert(Id < lidl_procedure_count, \"no such procedure\");");
        w_.line("typename lidl_procedure<Id>::params params{};");
        w_.line("auto decoded = lidl_codec::decode_call(Id, call, &params, &response);");
        w_.line("if (!decoded)");
        w_.line("    co_return ::amb::failure{::lidl::call_error{"
                "::lidl::call_fault::malformed_call, 0, decoded.error()}};");
        w_.line("::lidl::slot<typename lidl_procedure<Id>::result> result;");
        w_.line("co_await invoke<Id>(implementation, &params, result.address());");
        w_.line("if (result.failed())");
        w_.line("    co_return ::amb::failure{result.error()};");
        w_.line("std::span<const std::uint8_t> reply = lidl_codec::encode_reply(Id, "
                "result.address(), response, spare);");
        w_.line("if (reply.empty())");
        w_.line("    co_return ::amb::failure{::lidl::call_error{"
                "::lidl::call_fault::reply_too_large}};");
        w_.line("co_return reply;");
        w_.close();
        w_.line();
        w_.line("/// The same for a procedure id from outside: an id that names no procedure");
        w_.line("/// completes with unknown_procedure.");
        w_.open("static ::amb::task<::lidl::serve_result> serve(" + name +
                "& implementation, std::uint32_t id, std::span<const std::uint8_t> call, "
                "::lidl::builder& response, ::lidl::builder& spare) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures)
            w_.line("case " + std::to_string(p.id) + ": return serve<" + std::to_string(p.id) +
                    ">(implementation, call, response, spare);");
        w_.line("default: return ::lidl::refuse(::lidl::call_error{"
                "::lidl::call_fault::unknown_procedure});");
        w_.line("}");
        w_.close();
    }

    void client(const declaration& d) {
        std::string name = id(d.name);
        w_.line("/// Implements `" + d.name + "` by handing each call to `Backend` as a procedure");
        w_.line("/// id, a pointer to the parameter tuple and a pointer to the result slot.");
        w_.line("template <class Backend>");
        w_.open("class " + d.name + "_client final : public " + name + " {");
        w_.line("public:");
        w_.line("template <class... Arguments>");
        w_.line("explicit " + d.name + "_client(Arguments&&... arguments)");
        w_.line("    : backend_(static_cast<Arguments&&>(arguments)...) {}");
        w_.line();
        w_.line("Backend& backend() { return backend_; }");
        w_.line();

        for (const procedure& p : d.procedures) {
            std::string arguments;
            for (const field& param : p.params)
                arguments += (arguments.empty() ? "" : ", ") + id(param.name);
            if (needs_response(p))
                arguments += std::string(arguments.empty() ? "" : ", ") + "response";
            w_.line();
            w_.open("::lidl::completion<" + result_type(p) + "> " + id(p.name) + "(" +
                    signature(p, true) + ") override {");
            w_.line("// The call's options are taken now: the call itself starts when awaited.");
            w_.line("[[maybe_unused]] const ::lidl::call_options lidl_options = lidl_next_;");
            w_.line("lidl_next_ = {};");
            w_.line("// A backend that forwards calls (the direct backend) hands the call to the");
            w_.line("// implementation as it is: no tuple, no extra coroutine frame.");
            w_.line("if constexpr (::lidl::forwards_calls<Backend>)");
            w_.line("    return backend_.implementation()." + id(p.name) + "(" + arguments + ");");
            w_.line("else");
            w_.line("    return lidl_call_" + p.name + "(lidl_options" +
                    (arguments.empty() ? "" : ", ") + arguments + ");");
            w_.close();
        }
        w_.line();
        w_.line("private:");
        for (const procedure& p : d.procedures) {
            const std::string sig = signature(p, true);
            w_.open("::lidl::completion<" + result_type(p) + "> lidl_call_" + p.name +
                    "(::lidl::call_options lidl_options" + (sig.empty() ? "" : ", ") + sig +
                    ") {");
            std::string init;
            for (const field& param : p.params) {
                if (!init.empty())
                    init += ", ";
                init += (by_pointer(param.type) ? "&" : "") + id(param.name);
            }
            if (needs_response(p))
                init += std::string(init.empty() ? "" : ", ") + "&response";
            w_.line("const " + p.name + "_params params{" + init + "};");
            w_.line("::lidl::slot<" + p.name + "_result> result;");
            w_.line("co_await backend_.template execute<" + std::to_string(p.id) +
                    ">(&params, result.address(), lidl_options);");
            w_.line("co_return result.take();");
            w_.close();
        }
        w_.line("Backend backend_;");
        w_.close("};");
        w_.line();
    }

    std::string wire_namespace(const declaration& d) {
        std::string ns = d.name_space.empty() ? "" : "::" + d.name_space;
        return ns + "::" + d.name + "_wire::";
    }

    // Wire forms of calls and replies (the roots of network messages) and their type_info.
    void wire_messages(const declaration& d) {
        open_namespace(d);
        w_.line("/// Wire forms of `" + d.name + "` calls and replies (network messages).");
        w_.open("namespace " + d.name + "_wire {");
        for (const procedure& p : d.procedures) {
            w_.open("struct " + p.name + "_call {");
            for (const field& param : p.params)
                w_.line(wire(param.type) + " " + id(param.name) + ";");
            if (p.params.empty())
                w_.line("std::uint8_t lidl_reserved_;");
            w_.close("};");
            if (reply_is_wrapped(p)) {
                w_.open("struct " + p.name + "_reply {");
                if (p.result)
                    w_.line(wire(*p.result) + " value;");
                else
                    w_.line("std::uint8_t lidl_reserved_;");
                w_.close("};");
            }
        }
        w_.close("}  // namespace " + d.name + "_wire");
        close_namespace(d);

        std::string ns = wire_namespace(d);
        for (const procedure& p : d.procedures) {
            message_info(ns + p.name + "_call", d.qualified_name() + "." + p.name + " call",
                         field_checks(p.params), field_copies(p.params));
            if (!reply_is_wrapped(p))
                continue;
            std::string checks = "    (void)check; (void)value; return true;";
            std::string copies = "    (void)out; (void)to; (void)from; return true;";
            if (p.result) {
                if (!trivially_valid(*p.result))
                    checks = "    return check.value(value.value, name, \"value\");";
                copies = "    return ::lidl::copy(out, to.value, from.value);";
            }
            message_info(ns + p.name + "_reply", d.qualified_name() + "." + p.name + " reply",
                         checks, copies);
        }
    }

    void message_info(const std::string& q, const std::string& display, const std::string& checks,
                      const std::string& copies) {
        w_.line("template <>");
        w_.line("struct lidl::type_info<" + q + "> {");
        w_.line("    static constexpr const char* name = " + guard_string(display) + ";");
        w_.line("    static bool verify(::lidl::verifier& check, const " + q +
                "& value, const char*, const char*) {");
        w_.line("    " + checks);
        w_.line("    }");
        w_.line("    static bool copy([[maybe_unused]] ::lidl::builder& out, " + q + "& to, const " +
                q + "& from) {");
        w_.line("    " + copies);
        w_.line("    }");
        w_.line("};");
        w_.line();
    }

    // Converts a parameter-tuple member to its wire field in a call message, and back.
    std::string encode_param(const field& param) {
        std::string to = "call->" + id(param.name);
        std::string from = "tuple." + id(param.name);
        if (is_scalar(param.type) || is_enum(param.type))
            return to + " = " + from + ";";
        if (is_string(param.type))
            return "if (!out.set(" + to + ", " + from + ")) return false;";
        if (is_sequence(param.type))
            return "if (!::lidl::copy_elements(out, " + to + ", " + from + ")) return false;";
        return "if (!::lidl::copy(out, " + to + ", *" + from + ")) return false;";
    }

    std::string decode_param(const field& param) {
        std::string to = "tuple." + id(param.name);
        std::string from = "call->" + id(param.name);
        if (by_pointer(param.type))
            return to + " = &" + from + ";";
        if (is_sequence(param.type) || is_string(param.type))
            return to + " = " + from + ".view();";
        return to + " = " + from + ";";
    }

    void codec(const declaration& d) {
        std::string name = id(d.name);
        std::string ns = wire_namespace(d);
        w_.line("/// Turns `" + d.name + "` parameter tuples and results into messages and back.");
        w_.line("/// Decoding verifies the message first and then points the tuple into it (no");
        w_.line("/// copies), so the message must outlive the call.");
        w_.open("struct " + name + "::lidl_codec {");

        w_.line("/// Builds the call message of procedure `id` from its parameter tuple.");
        w_.open("static bool encode_call(std::uint32_t id, const void* params, "
                "::lidl::builder& out) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures) {
            w_.line("case " + std::to_string(p.id) + ": {");
            w_.line("    [[maybe_unused]] const auto& tuple = *static_cast<const " + p.name +
                    "_params*>(params);");
            w_.line("    auto* call = out.create_root<" + ns + p.name + "_call>();");
            w_.line("    if (call == nullptr) return false;");
            for (const field& param : p.params)
                w_.line("    " + encode_param(param));
            w_.line("    return !out.failed();");
            w_.line("}");
        }
        w_.line("default: return false;");
        w_.line("}");
        w_.close();
        w_.line();

        w_.line("/// Verifies a call message of procedure `id` and fills the tuple with views into");
        w_.line("/// it; `response` is where the implementation builds its result.");
        w_.open("static ::amb::result<void, ::lidl::verify_error> decode_call(std::uint32_t id, "
                "std::span<const std::uint8_t> message, void* params, "
                "[[maybe_unused]] ::lidl::builder* response) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures) {
            w_.line("case " + std::to_string(p.id) + ": {");
            w_.line("    auto checked = ::lidl::verify<" + ns + p.name + "_call>(message);");
            w_.line("    if (!checked) return ::amb::failure{checked.error()};");
            w_.line("    [[maybe_unused]] const auto* call = &*checked.value();");
            w_.line("    [[maybe_unused]] auto& tuple = *static_cast<" + p.name +
                    "_params*>(params);");
            for (const field& param : p.params)
                w_.line("    " + decode_param(param));
            if (needs_response(p))
                w_.line("    tuple.response = response;");
            w_.line("    return {};");
            w_.line("}");
        }
        w_.line("default: return ::amb::failure{::lidl::verify_error{::lidl::error::bad_procedure, "
                "0, lidl_name, \"\"}};");
        w_.line("}");
        w_.close();
        w_.line();

        w_.line("/// The reply message of procedure `id` from its filled result slot: a struct or");
        w_.line("/// union result that the implementation built as the root of `response` is sent");
        w_.line("/// as it is (no copy); anything else is built in `spare`. Empty on failure.");
        w_.open("static std::span<const std::uint8_t> encode_reply(std::uint32_t id, [[maybe_unused]] void* result, "
                "[[maybe_unused]] ::lidl::builder& response, ::lidl::builder& spare) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures)
            encode_reply_case(p, ns);
        w_.line("default: return {};");
        w_.line("}");
        w_.close();
        w_.line();

        w_.line("/// Verifies a reply message of procedure `id` and fills the result slot. Results");
        w_.line("/// with references are first copied into the caller's response builder (named in");
        w_.line("/// the parameter tuple), so they stay valid after `message` is gone.");
        w_.open("static ::amb::result<void, ::lidl::verify_error> decode_reply(std::uint32_t id, "
                "std::span<const std::uint8_t> message, [[maybe_unused]] const void* params, "
                "[[maybe_unused]] void* result) {");
        w_.line("switch (id) {");
        for (const procedure& p : d.procedures)
            decode_reply_case(p, ns);
        w_.line("default: return ::amb::failure{::lidl::verify_error{::lidl::error::bad_procedure, "
                "0, lidl_name, \"\"}};");
        w_.line("}");
        w_.close();
        w_.close("};");
        w_.line();
    }

    void encode_reply_case(const procedure& p, const std::string& ns) {
        std::string reply = ns + p.name + "_reply";
        w_.line("case " + std::to_string(p.id) + ": {");
        result_mode m = mode_of(p);
        if (m == result_mode::none) {
            w_.line("    if (spare.create_root<" + reply + ">() == nullptr) return {};");
        } else {
            w_.line("    auto value = static_cast<::lidl::slot<" + p.name +
                    "_result>*>(result)->take().value();");
            if (m == result_mode::built && !reply_is_wrapped(p)) {
                std::string type = wire(*p.result);
                w_.line("    if (value != nullptr && response.root<" + type +
                        ">() == value && !response.failed()) return response.written();");
                w_.line("    if (value == nullptr || ::lidl::copy_root(spare, *value) == nullptr) "
                        "return {};");
            } else if (!reply_is_wrapped(p)) {
                w_.line("    auto* root = spare.create_root<" + wire(*p.result) + ">();");
                w_.line("    if (root == nullptr) return {};");
                w_.line("    *root = value;");
            } else {
                w_.line("    auto* reply = spare.create_root<" + reply + ">();");
                w_.line("    if (reply == nullptr) return {};");
                if (m == result_mode::view && is_string(*p.result))
                    w_.line("    if (!spare.set(reply->value, value)) return {};");
                else if (m == result_mode::view)
                    w_.line("    if (!::lidl::copy_elements(spare, reply->value, value)) return {};");
                else if (m == result_mode::built)
                    w_.line("    if (value == nullptr || !::lidl::copy(spare, reply->value, *value)) "
                            "return {};");
                else
                    w_.line("    reply->value = value;");
            }
        }
        w_.line("    auto finished = spare.finish();");
        w_.line("    return finished ? finished.value() : std::span<const std::uint8_t>{};");
        w_.line("}");
    }

    void decode_reply_case(const procedure& p, const std::string& ns) {
        result_mode m = mode_of(p);
        std::string root = reply_is_wrapped(p) ? ns + p.name + "_reply" : wire(*p.result);
        std::string slot = "static_cast<::lidl::slot<" + p.name + "_result>*>(result)";
        w_.line("case " + std::to_string(p.id) + ": {");
        if (needs_response(p)) {
            w_.line("    ::lidl::builder& response = *static_cast<const " + p.name +
                    "_params*>(params)->response;");
            w_.line("    if (!response.adopt(message))");
            w_.line("        return ::amb::failure{::lidl::verify_error{::lidl::error::truncated, 0, "
                    "lidl_name, \"the response buffer is too small for the reply\"}};");
            w_.line("    auto checked = ::lidl::verify<" + root + ">(response.written());");
        } else {
            w_.line("    auto checked = ::lidl::verify<" + root + ">(message);");
        }
        w_.line("    if (!checked) return ::amb::failure{checked.error()};");
        switch (m) {
        case result_mode::none: break;
        case result_mode::value:
            w_.line("    " + slot + "->emplace(" +
                    std::string(reply_is_wrapped(p) ? "checked.value()->value" : "*checked.value()") +
                    ");");
            break;
        case result_mode::view: w_.line("    " + slot + "->emplace(checked.value()->value.view());"); break;
        case result_mode::built:
            w_.line("    " + slot + "->emplace(" +
                    std::string(reply_is_wrapped(p) ? "&checked.value()->value" : "&*checked.value()") +
                    ");");
            break;
        }
        w_.line("    return {};");
        w_.line("}");
    }

    const schema& schema_;
    writer w_;
};

}  // namespace

std::string generate_cpp(const schema& s) { return generator(s).run(); }

namespace {

// The JSON mapping of an object with named members: a struct, or the parameters of a procedure
// (the root of its call message). Emits the definitions of mapping<q>::to_json/from_json.
void object_mapping(writer& w, const std::string& q, const std::string& display,
                    const std::vector<field>& fields, const std::string& when_not_empty) {
    w.line("inline lidl::json::value lidl::json::mapping<" + q + ">::to_json(const " + q +
           "& item) {");
    w.line("    value object = value::object();");
    for (const field& f : fields)
        w.line("    object[\"" + f.name + "\"] = ::lidl::json::to_json(item." + id(f.name) + ");");
    if (fields.empty())
        w.line("    (void)item;");
    w.line("    return object;");
    w.line("}");
    w.line("inline bool lidl::json::mapping<" + q + ">::from_json(const value& j, "
           "[[maybe_unused]] ::lidl::builder& out, " + q +
           "& target, json_error& error, const std::string& path) {");
    w.line("    if (!j.is_object())");
    w.line("        return fail(error, path, std::string(\"expected an object for " + display +
           ", found \") + kind_name(j));");
    std::string names;
    for (const field& f : fields)
        names += "\"" + f.name + "\", ";
    if (!fields.empty()) {
        w.line("    static const char* const names[] = {" + names + "};");
        w.line("    if (!only_fields(j, names, \"" + display + "\", error, path)) return false;");
    } else {
        w.line("    (void)target;");
        w.line("    if (!j.empty()) return fail(error, path, \"" + when_not_empty + "\");");
    }
    for (const field& f : fields)
        w.line("    if (!field(j, \"" + f.name + "\", out, target." + id(f.name) +
               ", error, path)) return false;");
    w.line("    return true;");
    w.line("}");
    w.line();
}

void mapping_declaration(writer& w, const std::string& q) {
    w.line("template <>");
    w.line("struct lidl::json::mapping<" + q + "> {");
    w.line("    static value to_json(const " + q + "& item);");
    w.line("    static bool from_json(const value& j, ::lidl::builder& out, " + q +
           "& target, json_error& error, const std::string& path);");
    w.line("};");
    w.line();
}

std::string wire_messages_namespace(const declaration& d) {
    std::string ns = d.name_space.empty() ? "" : "::" + d.name_space;
    return ns + "::" + d.name + "_wire::";
}

// The mappings of a service's call and reply messages: a call message is the object of the
// procedure's parameters (`{"amount": 3}`); a wrapped reply (`<procedure>_reply`, for results
// that are not structs or unions) is its result value itself (null for no result). Struct and
// union results are their own reply roots and use their type's mapping.
void service_mappings(writer& w, const declaration& d) {
    std::string ns = wire_messages_namespace(d);
    for (const procedure& p : d.procedures) {
        mapping_declaration(w, ns + p.name + "_call");
        if (reply_is_wrapped(p))
            mapping_declaration(w, ns + p.name + "_reply");
    }
    for (const procedure& p : d.procedures) {
        object_mapping(w, ns + p.name + "_call",
                       "the parameters of " + d.qualified_name() + "." + p.name, p.params,
                       d.qualified_name() + "." + p.name + " takes no parameters");
        if (!reply_is_wrapped(p))
            continue;
        std::string q = ns + p.name + "_reply";
        w.line("inline lidl::json::value lidl::json::mapping<" + q + ">::to_json(const " + q +
               "& item) {");
        if (p.result) {
            w.line("    return ::lidl::json::to_json(item.value);");
        } else {
            w.line("    (void)item;");
            w.line("    return value(nullptr);");
        }
        w.line("}");
        w.line("inline bool lidl::json::mapping<" + q + ">::from_json(const value& j, "
               "[[maybe_unused]] ::lidl::builder& out, " + q +
               "& target, json_error& error, const std::string& path) {");
        if (p.result) {
            w.line("    return ::lidl::json::from_json(j, out, target.value, error, path);");
        } else {
            w.line("    (void)target;");
            w.line("    if (!j.is_null())");
            w.line("        return fail(error, path, std::string(\"expected null (" +
                   d.qualified_name() + "." + p.name + " returns nothing), found \") + "
                   "kind_name(j));");
            w.line("    return true;");
        }
        w.line("}");
        w.line();
    }
}

}  // namespace

std::string generate_cpp_json(const schema& s) {
    writer w;
    std::string stem = file_stem(s.main_file);
    w.line("// Generated by lidlc from " + stem + ".lidl: the JSON mapping. Do not edit.");
    w.line("#pragma once");
    w.line();
    w.line("#include \"" + stem + ".lidl.hpp\"");
    for (const std::string& file : s.imported_files)
        w.line("#include \"" + file_stem(file) + ".lidl.json.hpp\"");
    w.line("#include <lidl/json.hpp>");
    w.line();
    for (const auto& d : s.declarations) {
        if (d->imported || d->k == declaration::kind::service)
            continue;
        mapping_declaration(w, qualified(*d));
    }
    for (const auto& d : s.declarations) {
        if (d->imported || d->k == declaration::kind::service)
            continue;
        std::string q = qualified(*d);
        std::string display = d->qualified_name();
        if (d->k == declaration::kind::struct_) {
            object_mapping(w, q, display, d->fields, display + " has no fields");
            continue;
        }
        std::string prefix = "inline lidl::json::value lidl::json::mapping<" + q + ">::";
        w.line(prefix + "to_json(const " + q + "& item) {");
        switch (d->k) {
        case declaration::kind::enum_:
            w.line("    const char* name = ::lidl::type_info<" + q + ">::to_string(item);");
            w.line("    return name != nullptr ? value(name) : value(nullptr);");
            break;
        case declaration::kind::union_:
            w.line("    if (!item.has_value()) return value(nullptr);");
            w.line("    value object = value::object();");
            for (const field& f : d->fields)
                w.line("    if (auto* alternative = item." + id(f.name) + "()) object[\"" + f.name +
                       "\"] = ::lidl::json::to_json(*alternative);");
            w.line("    return object;");
            break;
        case declaration::kind::struct_:
        case declaration::kind::service: break;
        }
        w.line("}");
        w.line("inline bool lidl::json::mapping<" + q + ">::from_json(const value& j, "
               "[[maybe_unused]] ::lidl::builder& out, " + q +
               "& target, json_error& error, const std::string& path) {");
        switch (d->k) {
        case declaration::kind::enum_: {
            std::string names;
            for (const enum_value& v : d->values)
                names += (names.empty() ? "" : ", ") + v.name;
            w.line("    if (!j.is_string() || !::lidl::type_info<" + q +
                   ">::from_string(j.get_ref<const std::string&>(), target))");
            w.line("        return fail(error, path, \"expected one of: " + names + "\");");
            w.line("    return true;");
            break;
        }
        case declaration::kind::union_: {
            std::string names;
            for (const field& f : d->fields)
                names += (names.empty() ? "" : ", ") + f.name;
            w.line("    if (j.is_null()) return true;  // an empty union");
            w.line("    if (!j.is_object() || j.size() != 1)");
            w.line("        return fail(error, path, \"expected an object with exactly one of: " +
                   names + "\");");
            w.line("    const std::string& key = j.begin().key();");
            for (const field& f : d->fields) {
                w.line("    if (key == \"" + f.name + "\") {");
                w.line("        auto* alternative = target.set_" + f.name + "(out);");
                w.line("        if (alternative == nullptr) return fail(error, path, \"the message buffer "
                       "is too small\");");
                w.line("        return ::lidl::json::from_json(j.begin().value(), out, *alternative, "
                       "error, path + \"." + f.name + "\");");
                w.line("    }");
            }
            w.line("    return fail(error, path, \"unknown alternative '\" + key + \"' (expected one "
                   "of: " + names + ")\");");
            break;
        }
        case declaration::kind::struct_:
        case declaration::kind::service: break;
        }
        w.line("}");
        w.line();
    }
    // Services of the main file: the mappings of their call and reply messages.
    for (const auto& d : s.declarations)
        if (!d->imported && d->k == declaration::kind::service)
            service_mappings(w, *d);
    return w.take();
}

}  // namespace lidl::compiler
