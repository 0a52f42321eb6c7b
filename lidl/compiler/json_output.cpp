#include "json_output.hpp"

#include "parser.hpp"

#include <nlohmann/json.hpp>

#include <vector>

namespace lidl::compiler {
namespace {

std::string_view kind_name(declaration::kind k) {
    switch (k) {
    case declaration::kind::enum_: return "enum";
    case declaration::kind::struct_: return "struct";
    case declaration::kind::union_: return "union";
    case declaration::kind::service: return "service";
    }
    return "?";
}

// A JSON value, built first and printed second so the printer can choose the layout.
struct json_member;
struct json_value {
    enum class kind : std::uint8_t { literal, array, object };
    kind k = kind::literal;
    std::string literal;  // already in JSON syntax: a number, true, false, null or a string
    std::vector<json_value> items;
    std::vector<json_member> members;
};
struct json_member {
    std::string key;
    json_value value;
};

json_value literal(std::string text) {
    json_value value;
    value.literal = std::move(text);
    return value;
}
json_value text(std::string_view value) { return literal(json_string(value)); }
json_value number(std::uint64_t value) { return literal(std::to_string(value)); }
json_value boolean(bool value) { return literal(value ? "true" : "false"); }

json_value array(std::vector<json_value> items) {
    json_value value;
    value.k = json_value::kind::array;
    value.items = std::move(items);
    return value;
}

json_value object(std::vector<json_member> members) {
    json_value value;
    value.k = json_value::kind::object;
    value.members = std::move(members);
    return value;
}

std::string compact(const json_value& value) {
    switch (value.k) {
    case json_value::kind::literal: return value.literal;
    case json_value::kind::array: {
        std::string out = "[";
        for (std::size_t i = 0; i < value.items.size(); ++i)
            out += (i > 0 ? ", " : "") + compact(value.items[i]);
        return out + "]";
    }
    case json_value::kind::object: {
        std::string out = "{";
        for (std::size_t i = 0; i < value.members.size(); ++i)
            out += (i > 0 ? ", " : "") + json_string(value.members[i].key) + ": " +
                   compact(value.members[i].value);
        return out + "}";
    }
    }
    return "null";
}

/// Prints `value` on one line when that fits in `width` columns after `used`, else one member
/// or element per line. Types and small objects stay on one line; declarations spread out.
void print(const json_value& value, std::size_t indent, std::size_t used, std::string& out) {
    constexpr std::size_t width = 100;
    std::string one_line = compact(value);
    const bool empty = value.items.empty() && value.members.empty();
    if (value.k == json_value::kind::literal || empty || used + one_line.size() <= width) {
        out += one_line;
        return;
    }
    const std::string inner(indent + 2, ' ');
    const bool is_array = value.k == json_value::kind::array;
    out += is_array ? "[\n" : "{\n";
    const std::size_t count = is_array ? value.items.size() : value.members.size();
    for (std::size_t i = 0; i < count; ++i) {
        out += inner;
        std::size_t line = inner.size();
        const json_value* child = nullptr;
        if (is_array) {
            child = &value.items[i];
        } else {
            const std::string key = json_string(value.members[i].key) + ": ";
            out += key;
            line += key.size();
            child = &value.members[i].value;
        }
        print(*child, indent + 2, line + 1, out);  // + 1 for the comma
        out += i + 1 < count ? ",\n" : "\n";
    }
    out += std::string(indent, ' ');
    out += is_array ? "]" : "}";
}

json_value type_json(const type_expr& type) {
    const auto element = [&] { return type.element ? type_json(*type.element) : literal("null"); };
    switch (type.k) {
    case type_expr::kind::builtin: return object({{"kind", text(spelling(type.b))}});
    case type_expr::kind::vector: return object({{"kind", text("vector")}, {"element", element()}});
    case type_expr::kind::optional:
        return object({{"kind", text("optional")}, {"element", element()}});
    case type_expr::kind::span: return object({{"kind", text("span")}, {"element", element()}});
    case type_expr::kind::array:
        return object({{"kind", text("array")},
                       {"element", element()},
                       {"size", number(type.array_size)}});
    case type_expr::kind::named:
        if (type.resolved == nullptr)  // only in a schema that failed to check
            return object({{"kind", text("unresolved")}, {"name", text(type.name)}});
        return object({{"kind", text(kind_name(type.resolved->k))},
                       {"name", text(type.resolved->qualified_name())}});
    }
    return literal("null");
}

json_value field_json(const field& f, bool with_offset) {
    std::vector<json_member> members;
    members.push_back({"name", text(f.name)});
    members.push_back({"index", number(f.index)});
    members.push_back({"type", type_json(f.type)});
    if (with_offset)
        members.push_back({"offset", number(f.offset)});
    members.push_back({"doc", text(f.doc)});
    return object(std::move(members));
}

json_value declaration_json(const declaration& d) {
    std::vector<json_member> members;
    members.push_back({"kind", text(kind_name(d.k))});
    members.push_back({"name", text(d.name)});
    members.push_back({"qualified_name", text(d.qualified_name())});
    members.push_back({"namespace", text(d.name_space)});
    members.push_back({"file", text(d.loc.file)});
    members.push_back({"line", number(static_cast<std::uint64_t>(d.loc.line))});
    members.push_back({"imported", boolean(d.imported)});
    members.push_back({"doc", text(d.doc)});
    if (d.k != declaration::kind::service) {
        members.push_back({"size", number(d.size)});
        members.push_back({"align", number(d.align)});
        members.push_back({"has_references", boolean(d.has_references)});
    }

    std::vector<json_value> items;
    switch (d.k) {
    case declaration::kind::enum_:
        members.push_back({"underlying", text(spelling(d.underlying))});
        for (const enum_value& value : d.values) {
            // u64 values above INT64_MAX are stored as their two's complement bit pattern.
            const std::string number_text =
                d.underlying == builtin::u64
                    ? std::to_string(static_cast<std::uint64_t>(value.value))
                    : std::to_string(value.value);
            items.push_back(object({{"name", text(value.name)},
                                    {"value", literal(number_text)},
                                    {"doc", text(value.doc)}}));
        }
        members.push_back({"values", array(std::move(items))});
        break;
    case declaration::kind::struct_:
        for (const field& f : d.fields)
            items.push_back(field_json(f, true));
        members.push_back({"fields", array(std::move(items))});
        break;
    case declaration::kind::union_:
        for (const field& f : d.fields)
            items.push_back(object({{"name", text(f.name)},
                                    {"index", number(f.index)},
                                    // On the wire, tag 0 is an empty union (docs/lidl.md).
                                    {"tag", number(std::uint64_t{f.index} + 1)},
                                    {"type", type_json(f.type)},
                                    {"doc", text(f.doc)}}));
        members.push_back({"alternatives", array(std::move(items))});
        break;
    case declaration::kind::service:
        for (const procedure& p : d.procedures) {
            std::vector<json_value> params;
            for (const field& param : p.params)
                params.push_back(field_json(param, false));
            items.push_back(object({{"name", text(p.name)},
                                    {"id", number(p.id)},
                                    {"params", array(std::move(params))},
                                    {"result", p.result ? type_json(*p.result) : literal("null")},
                                    {"doc", text(p.doc)}}));
        }
        members.push_back({"procedures", array(std::move(items))});
        break;
    }
    return object(std::move(members));
}

}  // namespace

std::string json_string(std::string_view text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_json(const schema& s) {
    std::vector<json_value> imports;
    for (const std::string& file : s.imported_files)
        imports.push_back(text(file));
    std::vector<json_value> declarations;
    for (const auto& d : s.declarations)
        declarations.push_back(declaration_json(*d));
    const json_value root = object({{"file", text(s.main_file)},
                                    {"namespace", text(s.name_space)},
                                    {"imports", array(std::move(imports))},
                                    {"declarations", array(std::move(declarations))}});
    std::string out;
    print(root, 0, 0, out);
    out += '\n';
    return out;
}

}  // namespace lidl::compiler
