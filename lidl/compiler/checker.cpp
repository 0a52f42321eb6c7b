#include "checker.hpp"

#include "parser.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace lidl::compiler {
namespace {

// Names become C++ identifiers in generated code, so C++'s reserved words are refused here,
// where the message can say why, instead of failing later in generated code.
constexpr std::string_view cpp_keywords[] = {
    "alignas",      "alignof",     "and",          "and_eq",    "asm",
    "auto",         "bitand",      "bitor",        "bool",      "break",
    "case",         "catch",       "char",         "char8_t",   "char16_t",
    "char32_t",     "class",       "compl",        "concept",   "const",
    "consteval",    "constexpr",   "constinit",    "const_cast", "continue",
    "co_await",     "co_return",   "co_yield",     "decltype",  "default",
    "delete",       "do",          "double",       "dynamic_cast", "else",
    "enum",         "explicit",    "export",       "extern",    "false",
    "float",        "for",         "friend",       "goto",      "if",
    "inline",       "int",         "long",         "mutable",   "namespace",
    "new",          "noexcept",    "not",          "not_eq",    "nullptr",
    "operator",     "or",          "or_eq",        "private",   "protected",
    "public",       "register",    "reinterpret_cast", "requires", "return",
    "short",        "signed",      "sizeof",       "static",    "static_assert",
    "static_cast",  "struct",      "switch",       "template",  "this",
    "thread_local", "throw",       "true",         "try",       "typedef",
    "typeid",       "typename",    "union",        "unsigned",  "using",
    "virtual",      "void",        "volatile",     "wchar_t",   "while",
    "xor",          "xor_eq",
};

// Macros of the C++ standard library that the generated headers' includes define: a name spelled
// like one would be replaced by the preprocessor.
constexpr std::string_view cpp_macros[] = {"errno",  "assert", "offsetof", "NULL",
                                           "EOF",    "stdin",  "stdout",   "stderr"};

// Names the generated code uses unqualified at namespace scope (`std::uint32_t` inside a schema's
// namespace) or qualified from the global namespace (`lidl::type_info`, `amb::task`, and the
// JSON library's namespace in the JSON header): a type of that name would hide or clash with them.
constexpr std::string_view global_names[] = {"std", "lidl", "amb", "nlohmann"};

// Prefix of the members lidlc generates (`lidl_name`, `lidl_header`, `lidl_call_P`, ...).
constexpr std::string_view generated_prefix = "lidl_";

// Words of the lidl type syntax that are not built-in types but still cannot name a type.
constexpr std::string_view type_keywords[] = {"array", "vector", "optional", "span", "void"};

bool contains(const auto& words, std::string_view word) {
    return std::find(std::begin(words), std::end(words), word) != std::end(words);
}

std::string_view kind_word(declaration::kind k) {
    switch (k) {
    case declaration::kind::enum_: return "enum";
    case declaration::kind::struct_: return "struct";
    case declaration::kind::union_: return "union";
    case declaration::kind::service: return "service";
    }
    return "declaration";
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::uint64_t round_up(std::uint64_t value, std::uint64_t alignment) {
    return (value + alignment - 1) / alignment * alignment;
}

/// The wire layout of a type, or `valid == false` for views and for types whose layout cannot
/// be computed because of an error (already reported).
struct layout {
    std::uint64_t size = 0;
    std::uint32_t align = 1;
    bool has_references = false;
    bool valid = false;
};

layout fixed_layout(std::uint64_t size, std::uint32_t align, bool has_references) {
    return layout{size, align, has_references, true};
}

layout builtin_layout(builtin b) {
    switch (b) {
    case builtin::bool_:
    case builtin::i8:
    case builtin::u8: return fixed_layout(1, 1, false);
    case builtin::i16:
    case builtin::u16: return fixed_layout(2, 2, false);
    case builtin::i32:
    case builtin::u32:
    case builtin::f32: return fixed_layout(4, 4, false);
    case builtin::i64:
    case builtin::u64:
    case builtin::f64: return fixed_layout(8, 8, false);
    case builtin::string: return fixed_layout(8, 4, true);  // {i32 offset, u32 size}
    case builtin::string_view: return layout{};
    }
    return layout{};
}

class checker {
public:
    explicit checker(diagnostics& diag) : diag_(diag) {}
    schema run(loaded_schema loaded);

private:
    struct file_info {
        std::string file;
        std::string name_space;
        source_location namespace_loc;  // line 0: no namespace declared
        std::vector<bool> visible;  // by file index: this file and everything it imports
        std::vector<std::string> imported_namespaces;  // other than its own, non-empty
    };
    enum class visit : std::uint8_t { not_started, in_progress, done };
    struct declaration_info {
        declaration* self = nullptr;  // the declaration, writable (the map's key is const)
        std::size_t file = 0;
        visit state = visit::not_started;
        bool in_cycle = false;
        bool laid_out = false;  // false: no layout because of an error
    };
    /// A by-value use of a type by a struct field, for ordering and cycle detection.
    struct edge {
        declaration* target;
        const field* via;
    };
    struct dfs_frame {
        declaration* d;
        std::vector<edge> edges;
        std::size_t next = 0;
    };

    void index_files(loaded_schema& loaded);
    void check_name(std::string_view name, const source_location& loc, std::string_view what);
    void check_member_name(std::string_view name, const source_location& loc,
                           std::string_view what);
    void check_generated_names();
    void check_namespace_scope();
    void check_union_members(const declaration& d);
    void check_service_members(const declaration& d);
    // "<kind> 'name' of <owner> collides in generated C++ with <why>; rename the <kind>".
    void refuse_collision(const source_location& loc, std::string_view kind,
                          const std::string& name, const std::string& owner,
                          const std::string& why);
    void check_type_names();
    void check_members(declaration& d);
    void check_fields(declaration& d, std::string_view member_word);
    void check_enum(declaration& d);
    void check_service(declaration& d);
    void resolve_declaration(declaration& d);
    void resolve(type_expr& type, std::size_t file, std::string_view place, bool view_allowed);
    const declaration* lookup(const type_expr& type, std::size_t file);
    void report_unknown_type(const type_expr& type, std::size_t file,
                             const declaration* not_imported);
    void order_and_lay_out();
    void collect_edges(const field& via, const type_expr& type, std::vector<edge>& edges);
    void report_cycle(const std::vector<dfs_frame>& stack, std::size_t start);
    void lay_out_declaration(declaration& d);
    layout lay_out(type_expr& type, bool report);
    schema assemble(const loaded_schema& loaded);

    diagnostics& diag_;
    std::vector<std::unique_ptr<declaration>> all_;  // load order, source order within a file
    std::vector<file_info> files_;
    std::unordered_map<const declaration*, declaration_info> info_;
    std::unordered_map<std::string, declaration*> by_qualified_name_;  // first of each name
    std::vector<declaration*> type_order_;
};

schema checker::run(loaded_schema loaded) {
    index_files(loaded);
    check_type_names();
    for (const auto& d : all_)
        check_members(*d);
    check_generated_names();
    for (const auto& d : all_)
        resolve_declaration(*d);
    order_and_lay_out();
    return assemble(loaded);
}

void checker::index_files(loaded_schema& loaded) {
    const std::size_t count = loaded.files.size();
    files_.resize(count);
    for (std::size_t index = 0; index < count; ++index) {
        loaded_file& file = loaded.files[index];
        file_info& info = files_[index];
        info.file = file.parsed.file;
        info.name_space = file.parsed.name_space;
        info.namespace_loc = file.parsed.namespace_loc;
        // Files come after their imports, so the imports' visibility is already known.
        info.visible.assign(count, false);
        info.visible[index] = true;
        for (const std::size_t imported : file.imports) {
            if (imported >= index)
                continue;  // cannot happen with a loader's output; never trust it blindly
            for (std::size_t k = 0; k < count; ++k)
                if (files_[imported].visible[k])
                    info.visible[k] = true;
        }
        for (std::size_t k = 0; k < index; ++k) {
            const std::string& other = files_[k].name_space;
            if (info.visible[k] && !other.empty() && other != info.name_space &&
                !contains(info.imported_namespaces, other))
                info.imported_namespaces.push_back(other);
        }

        if (file.parsed.namespace_loc.line != 0) {
            std::string_view rest = info.name_space;
            source_location loc = file.parsed.namespace_loc;
            bool first = true;
            while (!rest.empty()) {
                const std::size_t end = std::min(rest.find("::"), rest.size());
                const std::string_view part = rest.substr(0, end);
                check_name(part, loc, "a namespace name");
                // Generated code says `std::uint32_t` inside the schema's namespace and puts
                // its own names in `lidl` (`lidl::type_info`, `lidl::json`); `amb` holds the
                // runtime's (`amb::task`).
                if (part == "std" || (first && part == "lidl") ||
                    (first && part == "amb" && end == rest.size())) {
                    diag_.error(loc,
                                quoted(info.name_space) + " cannot be the namespace of a "
                                "schema: generated code relies on namespace '" +
                                    std::string(part) + "' being the " +
                                    (part == "std" ? "C++ standard library's"
                                                   : part == "lidl" ? "lidl runtime's"
                                                                    : "Ambience runtime's"),
                                part.size());
                }
                first = false;
                loc.column += static_cast<int>(end) + 2;
                rest.remove_prefix(std::min(end + 2, rest.size()));
            }
        }

        const bool imported = index + 1 != count;
        for (auto& d : file.parsed.declarations) {
            d->imported = imported;
            info_[d.get()] = declaration_info{d.get(), index};
            all_.push_back(std::move(d));
        }
    }
}

void checker::check_name(std::string_view name, const source_location& loc,
                         std::string_view what) {
    if (contains(cpp_keywords, name)) {
        diag_.error(loc,
                    quoted(name) + " is a C++ keyword and cannot be used as " + std::string(what),
                    name.size());
        return;
    }
    if (contains(cpp_macros, name)) {
        diag_.error(loc,
                    quoted(name) + " is a macro of the C++ standard library and cannot be used "
                                   "as " + std::string(what),
                    name.size());
        return;
    }
    // Reserved for the C++ implementation; generated code must not use them.
    if (name.find("__") != std::string_view::npos ||
        (name.size() >= 2 && name[0] == '_' && name[1] >= 'A' && name[1] <= 'Z')) {
        diag_.error(loc,
                    quoted(name) + " cannot be used as " + std::string(what) +
                        ": names containing '__' or starting with '_' and a capital letter "
                        "are reserved in C++",
                    name.size());
    }
}

void checker::check_member_name(std::string_view name, const source_location& loc,
                                std::string_view what) {
    check_name(name, loc, what);
    if (name.starts_with(generated_prefix))
        diag_.error(loc,
                    quoted(name) + " cannot be used as " + std::string(what) +
                        ": names starting with '" + std::string(generated_prefix) +
                        "' are reserved for the members lidlc generates",
                    name.size());
}

void checker::check_type_names() {
    for (const auto& d : all_) {
        const std::string what = "a " + std::string(kind_word(d->k)) + " name";
        if (builtin_named(d->name) || contains(type_keywords, d->name)) {
            diag_.error(d->loc,
                        quoted(d->name) + " is a built-in type and cannot be used as " + what,
                        d->name.size());
        } else {
            check_name(d->name, d->loc, what);
            if (d->name == "std" || (d->name_space.empty() && contains(global_names, d->name)))
                diag_.error(d->loc,
                            quoted(d->name) + " cannot be used as " + what +
                                (d->name_space.empty() ? " in the global namespace" : "") +
                                ": generated code uses namespace " + quoted(d->name),
                            d->name.size());
            else if (d->name_space.empty() && d->name.ends_with("_t"))
                diag_.error(d->loc,
                            quoted(d->name) + " cannot be used as " + what +
                                " in the global namespace: names ending in '_t' are reserved "
                                "for the C library there (such as 'size_t'); declare a "
                                "namespace",
                            d->name.size());
        }

        const auto [it, inserted] = by_qualified_name_.try_emplace(d->qualified_name(), d.get());
        if (inserted)
            continue;
        const declaration& first = *it->second;
        const std::string scope =
            d->name_space.empty() ? "at the top level" : "in namespace '" + d->name_space + "'";
        diag_.error(d->loc,
                    "duplicate name " + quoted(d->name) + ": a " +
                        std::string(kind_word(first.k)) + " with this name is already declared " +
                        scope,
                    d->name.size());
        diag_.note(first.loc, "the first declaration of " + quoted(d->name) + " is here",
                   first.name.size());
    }
}

void checker::check_members(declaration& d) {
    switch (d.k) {
    case declaration::kind::enum_: check_enum(d); break;
    case declaration::kind::struct_: check_fields(d, "field"); break;
    case declaration::kind::union_:
        check_fields(d, "alternative");
        if (d.fields.empty())
            diag_.error(d.loc,
                        "union " + quoted(d.name) +
                            " has no alternatives; a union needs at least one",
                        d.name.size());
        break;
    case declaration::kind::service: check_service(d); break;
    }
}

void checker::check_fields(declaration& d, std::string_view member_word) {
    const std::string member(member_word);
    const std::string what = "a" + std::string(member == "alternative" ? "n " : " ") + member +
                             " name";
    std::unordered_map<std::string_view, const field*> seen;
    for (std::size_t i = 0; i < d.fields.size(); ++i) {
        field& f = d.fields[i];
        f.index = static_cast<std::uint32_t>(i);
        check_member_name(f.name, f.loc, what);
        const auto [it, inserted] = seen.try_emplace(f.name, &f);
        if (inserted)
            continue;
        diag_.error(f.loc,
                    "duplicate " + member + " " + quoted(f.name) + " in " +
                        std::string(kind_word(d.k)) + " " + quoted(d.name),
                    f.name.size());
        diag_.note(it->second->loc, "the first " + member + " " + quoted(f.name) + " is here",
                   f.name.size());
    }
}

void checker::check_enum(declaration& d) {
    if (d.values.empty())
        diag_.error(d.loc, "enum " + quoted(d.name) + " has no values; an enum needs at least one",
                    d.name.size());
    std::unordered_map<std::string_view, const enum_value*> names;
    std::unordered_map<std::int64_t, const enum_value*> values;
    const bool is_unsigned = d.underlying == builtin::u64;
    for (const enum_value& value : d.values) {
        check_name(value.name, value.loc, "an enum value name");
        if (const auto [it, inserted] = names.try_emplace(value.name, &value); !inserted) {
            diag_.error(value.loc,
                        "duplicate value name " + quoted(value.name) + " in enum " +
                            quoted(d.name),
                        value.name.size());
            diag_.note(it->second->loc, "the first " + quoted(value.name) + " is here",
                       value.name.size());
            continue;
        }
        if (const auto [it, inserted] = values.try_emplace(value.value, &value); !inserted) {
            const std::string number = is_unsigned
                                           ? std::to_string(static_cast<std::uint64_t>(value.value))
                                           : std::to_string(value.value);
            diag_.error(value.loc,
                        "duplicate value " + number + " in enum " + quoted(d.name) + ": " +
                            quoted(value.name) + " has the same value as " +
                            quoted(it->second->name),
                        value.name.size());
            diag_.note(it->second->loc, quoted(it->second->name) + " is declared here",
                       it->second->name.size());
        }
    }
}

void checker::check_service(declaration& d) {
    std::unordered_map<std::string_view, const procedure*> procedures;
    for (std::size_t i = 0; i < d.procedures.size(); ++i) {
        procedure& p = d.procedures[i];
        p.id = static_cast<std::uint32_t>(i);
        check_member_name(p.name, p.loc, "a procedure name");
        if (const auto [it, inserted] = procedures.try_emplace(p.name, &p); !inserted) {
            diag_.error(p.loc,
                        "duplicate procedure " + quoted(p.name) + " in service " +
                            quoted(d.name),
                        p.name.size());
            diag_.note(it->second->loc, "the first " + quoted(p.name) + " is here",
                       p.name.size());
        }
        std::unordered_map<std::string_view, const field*> params;
        for (std::size_t k = 0; k < p.params.size(); ++k) {
            field& param = p.params[k];
            param.index = static_cast<std::uint32_t>(k);
            check_member_name(param.name, param.loc, "a parameter name");
            if (const auto [it, inserted] = params.try_emplace(param.name, &param); !inserted) {
                diag_.error(param.loc,
                            "duplicate parameter " + quoted(param.name) + " in procedure " +
                                quoted(p.name),
                            param.name.size());
                diag_.note(it->second->loc, "the first " + quoted(param.name) + " is here",
                           param.name.size());
            }
        }
    }
}

// Names lidlc generates from the schema's names (cpp_generator.cpp), by C++ scope:
//   namespace of a type: the type itself; per service S: class template `S_client` and
//     namespace `S_wire` holding structs `P_call` and `P_reply` for each procedure P;
//   class S of a service: its procedures, `~S`, `within`, and per procedure P: struct
//     `P_params` and alias `P_result`; members starting with `lidl_`;
//   class `S_client<Backend>`: S's procedures, constructor `S_client`, `backend()`, `backend_`,
//     `lidl_call_P`; inside its call functions, beside the parameters: `response`, `params`,
//     `result` and the types `P_params`, `P_result`;
//   class of a union U: an accessor per alternative A and a setter `set_A`, `alternative`,
//     `alternative_count`, `which`, `has_value`, `lidl_header`; enumerators of `alternative`
//     are `lidl_empty` and the alternatives;
//   struct T: its fields (and `lidl_reserved_` when it has none).
// The `lidl_` prefix is refused for members by check_member_name; everything else is here.
void checker::check_generated_names() {
    check_namespace_scope();
    for (const auto& d : all_) {
        if (d->k == declaration::kind::struct_) {
            for (const field& f : d->fields)
                if (f.name == d->name)
                    diag_.error(f.loc,
                                "field " + quoted(f.name) + " has the name of its struct: in "
                                "generated C++ a member named like its class is reserved for "
                                "constructors; rename the field",
                                f.name.size());
        } else if (d->k == declaration::kind::union_) {
            check_union_members(*d);
        } else if (d->k == declaration::kind::service) {
            check_service_members(*d);
        }
    }
}

void checker::check_namespace_scope() {
    // Every C++ name at namespace scope, by qualified name: the schema's namespaces (each
    // prefix), its types, and what lidlc generates for services.
    struct entity {
        enum class kind : std::uint8_t { name_space, type, generated_class, generated_namespace,
                                         generated_struct };
        kind k;
        source_location loc;
        std::size_t length;
        const declaration* owner;  // type: itself; generated: its service
        std::string description;   // generated: what it is
    };
    std::unordered_map<std::string, entity> scope;
    for (const file_info& file : files_) {
        std::string_view rest = file.name_space;
        std::size_t end = 0;
        while (!rest.empty() && end != std::string_view::npos) {
            end = rest.find("::", end == 0 ? 0 : end + 2);
            const std::string prefix(rest.substr(0, end));
            scope.try_emplace(prefix, entity{entity::kind::name_space, file.namespace_loc,
                                             file.name_space.size(), nullptr, {}});
        }
    }
    const auto kind_of_namespace = [](const entity& e) {
        return e.k == entity::kind::name_space || e.k == entity::kind::generated_namespace;
    };
    for (const auto& d : all_) {
        const std::string q = d->qualified_name();
        if (by_qualified_name_[q] != d.get())
            continue;  // a duplicate, already reported
        const auto [it, inserted] = scope.try_emplace(
            q, entity{entity::kind::type, d->loc, d->name.size(), d.get(), {}});
        if (inserted)
            continue;
        const entity& other = it->second;  // a namespace: types are unique by now
        diag_.error(d->loc,
                    std::string(kind_word(d->k)) + " " + quoted(d->name) +
                        " has the C++ name of namespace " + quoted(q) +
                        ", declared by another schema file; rename one of them",
                    d->name.size());
        diag_.note(other.loc, "namespace " + quoted(q) + " is declared here", other.length);
    }
    for (const auto& d : all_) {
        if (d->k != declaration::kind::service || by_qualified_name_[d->qualified_name()] != d.get())
            continue;
        const std::string q = d->qualified_name();
        std::vector<std::pair<std::string, entity>> generated;
        const auto add = [&](std::string name, entity::kind k, std::string description) {
            generated.emplace_back(std::move(name),
                                   entity{k, d->loc, d->name.size(), d.get(),
                                          std::move(description)});
        };
        add(q + "_client", entity::kind::generated_class,
            "the client class template " + quoted(d->name + "_client") + " lidlc generates for "
            "service " + quoted(d->name));
        add(q + "_wire", entity::kind::generated_namespace,
            "the namespace " + quoted(d->name + "_wire") + " lidlc generates for the messages "
            "of service " + quoted(d->name));
        for (const procedure& p : d->procedures)
            for (const char* suffix : {"_call", "_reply"})
                add(q + "_wire::" + p.name + suffix, entity::kind::generated_struct,
                    "the message struct " + quoted(d->name + "_wire::" + p.name + suffix) +
                        " lidlc generates for procedure " + quoted(p.name) + " of service " +
                        quoted(d->name));
        for (auto& [name, e] : generated) {
            const auto [it, inserted] = scope.try_emplace(name, e);
            if (inserted)
                continue;
            const entity& other = it->second;
            if (kind_of_namespace(other) && kind_of_namespace(e))
                continue;  // namespaces merge
            // Two generated names are equal only for a duplicate procedure (reported already):
            // services differ in name and `_client` and `_wire` suffixes cannot meet.
            if (other.k != entity::kind::type && other.k != entity::kind::name_space)
                continue;
            if (other.k == entity::kind::type) {
                const declaration& user = *other.owner;
                diag_.error(user.loc,
                            std::string(kind_word(user.k)) + " " + quoted(user.name) +
                                " collides in generated C++ with " + e.description +
                                "; rename one of them",
                            user.name.size());
            } else {
                diag_.error(other.loc,
                            "namespace " + quoted(name) + " collides in generated C++ with " +
                                e.description + "; rename one of them",
                            other.length);
            }
            diag_.note(d->loc, "service " + quoted(d->name) + " is declared here",
                       d->name.size());
        }
    }
}

void checker::refuse_collision(const source_location& loc, std::string_view kind,
                               const std::string& name, const std::string& owner,
                               const std::string& why) {
    diag_.error(loc,
                std::string(kind) + " " + quoted(name) + " of " + owner +
                    " collides in generated C++ with " + why + "; rename the " +
                    std::string(kind),
                name.size());
}

void checker::check_union_members(const declaration& d) {
    std::unordered_map<std::string_view, const field*> names;
    for (const field& f : d.fields)
        names.try_emplace(f.name, &f);
    for (const field& f : d.fields) {
        const auto refuse = [&](const std::string& why) {
            refuse_collision(f.loc, "alternative", f.name, "union " + quoted(d.name), why);
        };
        if (f.name == d.name) {
            refuse("the constructor of class " + quoted(d.name) + " (its accessor would be named "
                   "like the union)");
        } else if (f.name == "alternative" || f.name == "alternative_count" ||
                   f.name == "which" || f.name == "has_value") {
            refuse("the member " + quoted(f.name) + " lidlc generates in every union class");
        } else if (f.name.starts_with("set_")) {
            const auto it = names.find(std::string_view(f.name).substr(4));
            if (it != names.end()) {
                refuse("the setter " + quoted(f.name) + " lidlc generates for alternative " +
                       quoted(it->second->name));
                diag_.note(it->second->loc, "alternative " + quoted(it->second->name) +
                                                " is declared here",
                           it->second->name.size());
            }
        }
    }
}

void checker::check_service_members(const declaration& d) {
    const std::string client = d.name + "_client";
    // Names of the types generated per procedure in class `d.name`: P_params and P_result.
    std::unordered_map<std::string, const procedure*> generated_types;
    for (const procedure& p : d.procedures) {
        generated_types.try_emplace(p.name + "_params", &p);
        generated_types.try_emplace(p.name + "_result", &p);
    }
    for (const procedure& p : d.procedures) {
        const auto refuse = [&](const std::string& why) {
            refuse_collision(p.loc, "procedure", p.name, "service " + quoted(d.name), why);
        };
        if (p.name == d.name) {
            refuse("the constructor of class " + quoted(d.name) + " (a procedure cannot be named "
                   "like its service)");
        } else if (p.name == client) {
            refuse("the constructor of the client class " + quoted(client));
        } else if (p.name == "within") {
            refuse("the member 'within' of class " + quoted(d.name) +
                   " (it sets the deadline of the next call)");
        } else if (p.name == "backend" || p.name == "backend_") {
            refuse("the member " + quoted(p.name) + " of the client class " + quoted(client));
        } else if (p.name == "Backend") {
            refuse("the template parameter 'Backend' of the client class " + quoted(client));
        } else if (const auto it = generated_types.find(p.name); it != generated_types.end()) {
            refuse("the type " + quoted(d.name + "::" + p.name) + " lidlc generates for "
                   "procedure " + quoted(it->second->name));
            diag_.note(it->second->loc, "procedure " + quoted(it->second->name) +
                                            " is declared here",
                       it->second->name.size());
        }
        for (const field& param : p.params) {
            const auto refuse_param = [&](const std::string& why) {
                refuse_collision(param.loc, "parameter", param.name,
                                 "procedure " + quoted(p.name), why);
            };
            if (param.name == "response")
                refuse_param("the 'response' builder that procedures with a string, vector or "
                             "reference result take");
            else if (param.name == "params" || param.name == "result")
                refuse_param("a local variable of the generated client's call functions");
            else if (param.name == "backend_")
                refuse_param("the member 'backend_' of the client class " + quoted(client));
            else if (param.name == "Backend")
                refuse_param("the template parameter 'Backend' of the client class " +
                             quoted(client));
            else if (const auto it = generated_types.find(param.name);
                     it != generated_types.end())
                refuse_param("the type " + quoted(d.name + "::" + param.name) +
                             " lidlc generates for procedure " + quoted(it->second->name));
        }
    }
}

void checker::resolve_declaration(declaration& d) {
    const std::size_t file = info_[&d].file;
    switch (d.k) {
    case declaration::kind::enum_: break;
    case declaration::kind::struct_:
        for (field& f : d.fields)
            resolve(f.type, file, "the type of a struct field", false);
        break;
    case declaration::kind::union_:
        for (field& f : d.fields)
            resolve(f.type, file, "the type of a union alternative", false);
        break;
    case declaration::kind::service:
        for (procedure& p : d.procedures) {
            for (field& param : p.params)
                resolve(param.type, file, "", true);
            if (p.result)
                resolve(*p.result, file, "", true);
        }
        break;
    }
}

void checker::resolve(type_expr& type, std::size_t file, std::string_view place,
                      bool view_allowed) {
    const auto view_error = [&](std::string_view instead) {
        const std::string written = spelling(type);
        diag_.error(type.loc,
                    quoted(written) + " cannot be " + std::string(place) +
                        ": view types are only allowed as the type of a procedure parameter or "
                        "result; use " + quoted(instead) + " here",
                    type.k == type_expr::kind::span ? 4 : written.size());
    };
    switch (type.k) {
    case type_expr::kind::builtin:
        if (type.b == builtin::string_view && !view_allowed)
            view_error("string");
        return;
    case type_expr::kind::span:
        if (!view_allowed)
            view_error(type.element ? "vector<" + spelling(*type.element) + ">" : "vector<T>");
        if (type.element)
            resolve(*type.element, file, "a span element", false);
        return;
    case type_expr::kind::vector:
        if (type.element)
            resolve(*type.element, file, "a vector element", false);
        return;
    case type_expr::kind::optional:
        if (type.element)
            resolve(*type.element, file, "an optional value", false);
        return;
    case type_expr::kind::array:
        if (type.element)
            resolve(*type.element, file, "an array element", false);
        if (type.array_size == 0) {
            diag_.error(type.loc, "an array needs at least one element ('" + spelling(type) +
                                      "' has none)", 5);
        } else if (type.array_size > max_array_elements) {
            diag_.error(type.loc,
                        "array of " + std::to_string(type.array_size) +
                            " elements is too large: an array may have at most " +
                            std::to_string(max_array_elements) +
                            " elements (use a vector for more)",
                        5);
        }
        return;
    case type_expr::kind::named: break;
    }

    const declaration* found = lookup(type, file);
    if (found == nullptr)
        return;
    if (found->k == declaration::kind::service) {
        diag_.error(type.loc,
                    quoted(type.name) + " is a service, not a type: services cannot be sent "
                                        "as values",
                    type.name.size());
        diag_.note(found->loc, "service " + quoted(found->qualified_name()) + " is declared here",
                   found->name.size());
        return;
    }
    type.resolved = found;
}

const declaration* checker::lookup(const type_expr& type, std::size_t file) {
    const file_info& from = files_[file];
    const declaration* not_imported = nullptr;
    const auto find = [&](const std::string& qualified) -> const declaration* {
        const auto it = by_qualified_name_.find(qualified);
        if (it == by_qualified_name_.end())
            return nullptr;
        if (from.visible[info_[it->second].file])
            return it->second;
        if (not_imported == nullptr)
            not_imported = it->second;
        return nullptr;
    };

    if (!from.name_space.empty())
        if (const declaration* d = find(from.name_space + "::" + type.name))
            return d;
    if (const declaration* d = find(type.name))
        return d;
    std::vector<const declaration*> matches;
    for (const std::string& other : from.imported_namespaces)
        if (const declaration* d = find(other + "::" + type.name))
            matches.push_back(d);
    if (matches.size() == 1)
        return matches.front();
    if (matches.empty()) {
        report_unknown_type(type, file, not_imported);
        return nullptr;
    }

    std::string candidates;
    for (std::size_t i = 0; i < matches.size(); ++i) {
        if (i > 0)
            candidates += i + 1 == matches.size() ? " and " : ", ";
        candidates += quoted(matches[i]->qualified_name());
    }
    diag_.error(type.loc,
                "ambiguous type " + quoted(type.name) + ": it could be " + candidates +
                    "; write the qualified name",
                type.name.size());
    for (const declaration* match : matches)
        diag_.note(match->loc, quoted(match->qualified_name()) + " is declared here",
                   match->name.size());
    return nullptr;
}

void checker::report_unknown_type(const type_expr& type, std::size_t file,
                                  const declaration* not_imported) {
    const file_info& from = files_[file];
    if (not_imported != nullptr) {
        diag_.error(type.loc,
                    "unknown type " + quoted(type.name) + ": " +
                        quoted(not_imported->qualified_name()) + " is declared in '" +
                        files_[info_[not_imported].file].file +
                        "', which this file does not import",
                    type.name.size());
        return;
    }

    // Finding a suggestion costs a pass over every declaration; past the number of errors that
    // will be shown, a hostile schema with many unknown types would make that quadratic.
    if (diag_.error_count() >= diagnostics::max_errors) {
        diag_.error(type.loc, "unknown type " + quoted(type.name), type.name.size());
        return;
    }

    // Suggestions are spelled as the user would write them: unqualified names for an
    // unqualified type, qualified names for a qualified one.
    const bool qualified = type.name.find("::") != std::string::npos;
    std::vector<std::string> names;
    for (const auto& d : all_) {
        if (d->k == declaration::kind::service || !from.visible[info_[d.get()].file])
            continue;
        names.push_back(qualified ? d->qualified_name() : d->name);
    }
    std::vector<std::string_view> candidates(names.begin(), names.end());
    if (!qualified) {
        for (const builtin b : {builtin::bool_, builtin::i8, builtin::i16, builtin::i32,
                                builtin::i64, builtin::u8, builtin::u16, builtin::u32,
                                builtin::u64, builtin::f32, builtin::f64, builtin::string,
                                builtin::string_view})
            candidates.push_back(spelling(b));
    }
    std::string message = "unknown type " + quoted(type.name);
    const std::string_view match = closest_match(type.name, candidates);
    if (!match.empty())
        message += "; did you mean " + quoted(match) + "?";
    diag_.error(type.loc, message, type.name.size());
}

void checker::collect_edges(const field& via, const type_expr& type, std::vector<edge>& edges) {
    switch (type.k) {
    case type_expr::kind::named:
        if (type.resolved != nullptr)
            edges.push_back(edge{info_[type.resolved].self, &via});
        return;
    case type_expr::kind::array:
    case type_expr::kind::optional:
        if (type.element)
            collect_edges(via, *type.element, edges);
        return;
    default:  // builtins; vectors and views refer to their elements out of line
        return;
    }
}

void checker::order_and_lay_out() {
    // Depth-first, with an explicit stack: a long chain of structs in a generated or hostile
    // schema must not overflow the call stack.
    std::vector<dfs_frame> stack;
    for (const auto& root : all_) {
        if (root->k == declaration::kind::service || info_[root.get()].state != visit::not_started)
            continue;
        const auto push = [&](declaration* d) {
            info_[d].state = visit::in_progress;
            dfs_frame frame{d, {}, 0};
            if (d->k == declaration::kind::struct_)
                for (const field& f : d->fields)
                    collect_edges(f, f.type, frame.edges);
            stack.push_back(std::move(frame));
        };
        push(root.get());
        while (!stack.empty()) {
            dfs_frame& top = stack.back();
            if (top.next == top.edges.size()) {
                declaration* d = top.d;
                stack.pop_back();
                lay_out_declaration(*d);
                info_[d].state = visit::done;
                type_order_.push_back(d);
                continue;
            }
            declaration* target = top.edges[top.next++].target;
            const visit state = info_[target].state;
            if (state == visit::not_started) {
                push(target);
            } else if (state == visit::in_progress) {
                const auto start = std::find_if(stack.begin(), stack.end(),
                                                [&](const dfs_frame& f) { return f.d == target; });
                report_cycle(stack, static_cast<std::size_t>(start - stack.begin()));
            }
        }
    }

    // Every declaration now has its layout, so types can be laid out everywhere, including
    // behind vectors (which may refer back to a struct still being laid out above) and in
    // services. This pass also reports types that are too large.
    for (const auto& d : all_) {
        for (field& f : d->fields)
            lay_out(f.type, true);
        for (procedure& p : d->procedures) {
            for (field& param : p.params)
                lay_out(param.type, true);
            if (p.result)
                lay_out(*p.result, true);
        }
    }
}

void checker::report_cycle(const std::vector<dfs_frame>& stack, std::size_t start) {
    std::string chain;
    for (std::size_t i = start; i < stack.size(); ++i) {
        const dfs_frame& frame = stack[i];
        chain += frame.d->name + "." + frame.edges[frame.next - 1].via->name + " -> ";
        info_[frame.d].in_cycle = true;
    }
    const declaration& first = *stack[start].d;
    chain += first.name;
    const field& via = *stack[start].edges[stack[start].next - 1].via;
    diag_.error(via.loc,
                "struct " + quoted(first.name) + " contains itself by value (" + chain +
                    "), so its size would be infinite; refer to it through a vector instead",
                via.name.size());
}

void checker::lay_out_declaration(declaration& d) {
    declaration_info& info = info_[&d];
    switch (d.k) {
    case declaration::kind::enum_: {
        const layout l = builtin_layout(d.underlying);
        d.size = static_cast<std::uint32_t>(l.size);
        d.align = l.align;
        d.has_references = false;
        info.laid_out = true;
        return;
    }
    case declaration::kind::union_:
        // {u32 tag, i32 offset, u32 size}: the alternative itself lives out of line.
        d.size = 12;
        d.align = 4;
        d.has_references = true;
        info.laid_out = true;
        return;
    case declaration::kind::service: return;
    case declaration::kind::struct_: break;
    }
    if (info.in_cycle)
        return;

    std::uint64_t end = 0;
    std::uint32_t align = 1;
    bool has_references = false;
    for (field& f : d.fields) {
        const layout l = lay_out(f.type, false);
        if (!l.valid)
            return;  // the reason has been or will be reported
        const std::uint64_t offset = round_up(end, l.align);
        f.offset = static_cast<std::uint32_t>(std::min(offset, max_type_size));
        end = offset + l.size;
        align = std::max(align, l.align);
        has_references = has_references || l.has_references;
    }
    const std::uint64_t size = d.fields.empty() ? 1 : round_up(end, align);
    if (size > max_type_size) {
        diag_.error(d.loc,
                    "struct " + quoted(d.name) + " is " + std::to_string(size) +
                        " bytes, more than the " + std::to_string(max_type_size) +
                        " bytes (16 MiB) a wire type may have",
                    d.name.size());
        return;
    }
    d.size = static_cast<std::uint32_t>(size);
    d.align = align;
    d.has_references = has_references;
    info.laid_out = true;
}

layout checker::lay_out(type_expr& type, bool report) {
    layout result;
    switch (type.k) {
    case type_expr::kind::builtin: result = builtin_layout(type.b); break;
    case type_expr::kind::named: {
        const declaration* d = type.resolved;
        if (d == nullptr || d->k == declaration::kind::service)
            return layout{};
        const declaration_info& info = info_[d];
        if (info.state != visit::done || !info.laid_out)
            return layout{};
        result = fixed_layout(d->size, d->align, d->has_references);
        break;
    }
    case type_expr::kind::vector:
        if (report && type.element)
            lay_out(*type.element, true);
        result = fixed_layout(8, 4, true);  // {i32 offset, u32 count}
        break;
    case type_expr::kind::span:
        if (report && type.element)
            lay_out(*type.element, true);
        return layout{};  // a view: no wire layout of its own
    case type_expr::kind::optional: {
        if (!type.element)
            return layout{};
        const layout value = lay_out(*type.element, report);
        if (!value.valid)
            return layout{};
        // A u8 presence flag, then the value at its natural alignment.
        const std::uint64_t value_offset =
            round_up(std::max<std::uint64_t>(1, value.align), value.align);
        result = fixed_layout(round_up(value_offset + value.size, value.align), value.align,
                              value.has_references);
        break;
    }
    case type_expr::kind::array: {
        if (!type.element)
            return layout{};
        const layout element = lay_out(*type.element, report);
        if (!element.valid || type.array_size == 0 || type.array_size > max_array_elements)
            return layout{};
        result = fixed_layout(type.array_size * element.size, element.align,
                              element.has_references);
        break;
    }
    }
    if (!result.valid)
        return result;
    if (result.size > max_type_size) {
        if (report)
            diag_.error(type.loc,
                        quoted(spelling(type)) + " is " + std::to_string(result.size) +
                            " bytes, more than the " + std::to_string(max_type_size) +
                            " bytes (16 MiB) a wire type may have",
                        type.k == type_expr::kind::array ? 5 : 8);
        return layout{};
    }
    type.size = static_cast<std::uint32_t>(result.size);
    type.align = result.align;
    return result;
}

schema checker::assemble(const loaded_schema& loaded) {
    schema s;
    if (!loaded.files.empty()) {
        const parsed_file& main = loaded.files.back().parsed;
        s.main_file = main.file;
        s.name_space = main.name_space;
        for (std::size_t i = 0; i + 1 < loaded.files.size(); ++i)
            s.imported_files.push_back(loaded.files[i].parsed.file);
    }
    std::unordered_map<const declaration*, std::unique_ptr<declaration>*> owners;
    for (auto& d : all_)
        owners.emplace(d.get(), &d);
    for (declaration* d : type_order_)
        s.declarations.push_back(std::move(*owners.at(d)));
    for (auto& d : all_)
        if (d && d->k == declaration::kind::service)
            s.declarations.push_back(std::move(d));
    return s;
}

}  // namespace

schema check(loaded_schema loaded, diagnostics& diag) {
    return checker(diag).run(std::move(loaded));
}

std::optional<schema> compile(const std::string& main_file, const load_options& options,
                              diagnostics& diag) {
    loaded_schema loaded = load(main_file, options, diag);
    if (!loaded.complete) {
        diag.flush();
        return std::nullopt;
    }
    schema result = check(std::move(loaded), diag);
    diag.flush();
    if (diag.has_errors())
        return std::nullopt;
    return result;
}

}  // namespace lidl::compiler
