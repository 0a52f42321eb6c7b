#include "description.hpp"

#include <http_export/export_names.hpp>

#include <map>
#include <set>
#include <vector>

namespace amb::http_export {

namespace {

using json = lidl::json::value;

const json* member(const json& object, const char* key) {
    if (!object.is_object())
        return nullptr;
    auto found = object.find(key);
    return found == object.end() ? nullptr : &*found;
}

std::string text_member(const json& object, const char* key) {
    const json* found = member(object, key);
    return found != nullptr && found->is_string() ? found->get<std::string>() : std::string();
}

// Adds the named types a type expression refers to (through vectors, arrays, optionals, spans).
void named_types(const json& type, std::vector<std::string>& names) {
    std::string kind = text_member(type, "kind");
    if (kind == "enum" || kind == "struct" || kind == "union")
        names.push_back(text_member(type, "name"));
    if (const json* element = member(type, "element"))
        named_types(*element, names);
}

json procedure_entry(std::string_view export_name, std::size_t id, std::string_view name) {
    json entry = json::object();
    entry["name"] = name;
    entry["id"] = id;
    entry["method"] = "POST";
    std::string path(procedure_path);
    for (auto [placeholder, value] : {std::pair{std::string_view("{export}"), export_name},
                                      std::pair{std::string_view("{procedure}"), name}})
        path.replace(path.find(placeholder), placeholder.size(), value);
    entry["path"] = path;
    return entry;
}

} // namespace

result<std::string, bool> describe_export(std::string_view name, const interface_codec& codec,
                                          std::string_view schema) {
    json out = json::object();
    out["export"] = name;
    out["interface"] = codec.name;
    if (schema.empty()) {
        json procedures = json::array();
        for (std::size_t id = 0; id < codec.procedures.size(); ++id)
            procedures.push_back(procedure_entry(name, id, codec.procedures[id].name));
        out["doc"] = "";
        out["procedures"] = std::move(procedures);
        out["types"] = json::array();
        return out.dump(-1, ' ', false, json::error_handler_t::replace);
    }

    json parsed = json::parse(schema.begin(), schema.end(), nullptr, false);
    const json* declarations = parsed.is_discarded() ? nullptr : member(parsed, "declarations");
    if (declarations == nullptr || !declarations->is_array())
        return failure{false};
    const json* service = nullptr;
    std::map<std::string, const json*> by_name;
    for (const json& declaration : *declarations) {
        std::string qualified = text_member(declaration, "qualified_name");
        if (text_member(declaration, "kind") == "service") {
            if (qualified == codec.name)
                service = &declaration;
        } else {
            by_name[qualified] = &declaration;
        }
    }
    const json* procedures = service != nullptr ? member(*service, "procedures") : nullptr;
    if (procedures == nullptr || !procedures->is_array() ||
        procedures->size() != codec.procedures.size())
        return failure{false};

    json described = json::array();
    std::vector<std::string> pending;
    for (std::size_t id = 0; id < codec.procedures.size(); ++id) {
        const json& procedure = (*procedures)[id];
        if (text_member(procedure, "name") != codec.procedures[id].name)
            return failure{false};
        json entry = procedure_entry(name, id, codec.procedures[id].name);
        entry["doc"] = text_member(procedure, "doc");
        json params = json::array();
        if (const json* declared = member(procedure, "params"); declared && declared->is_array()) {
            for (const json& param : *declared) {
                json item = json::object();
                item["name"] = text_member(param, "name");
                const json* type = member(param, "type");
                item["type"] = type != nullptr ? *type : json(nullptr);
                item["doc"] = text_member(param, "doc");
                if (type != nullptr)
                    named_types(*type, pending);
                params.push_back(std::move(item));
            }
        }
        entry["params"] = std::move(params);
        const json* result_type = member(procedure, "result");
        entry["result"] = result_type != nullptr ? *result_type : json(nullptr);
        if (result_type != nullptr)
            named_types(*result_type, pending);
        described.push_back(std::move(entry));
    }

    // Every type the procedures reach, through fields and alternatives, in schema order.
    std::set<std::string> reached;
    while (!pending.empty()) {
        std::string next = std::move(pending.back());
        pending.pop_back();
        if (!reached.insert(next).second)
            continue;
        auto found = by_name.find(next);
        if (found == by_name.end())
            continue;
        for (const char* members : {"fields", "alternatives"})
            if (const json* list = member(*found->second, members); list && list->is_array())
                for (const json& item : *list)
                    if (const json* type = member(item, "type"))
                        named_types(*type, pending);
    }
    json types = json::array();
    for (const json& declaration : *declarations)
        if (text_member(declaration, "kind") != "service" &&
            reached.count(text_member(declaration, "qualified_name")) != 0)
            types.push_back(declaration);

    out["doc"] = text_member(*service, "doc");
    out["procedures"] = std::move(described);
    out["types"] = std::move(types);
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace amb::http_export
