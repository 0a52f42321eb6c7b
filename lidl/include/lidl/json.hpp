// The JSON mapping of lidl types (hosted tools and services only: it uses nlohmann::json from
// Debian's nlohmann-json3-dev and allocates).
//
// Mapping: integers and floats are JSON numbers (64-bit integers exactly), bool is true/false,
// string is a JSON string, vector and array are JSON arrays, optional is the value or null (an
// absent key in an object also means absent), an enum is the name of its value, a struct is an
// object with one key per field (field order kept on output; on input every non-optional field
// is required and unknown keys are rejected), a union is an object with exactly one key, the
// name of its alternative. Generated `<schema>.lidl.json.hpp` headers specialise
// `lidl::json::mapping<T>` for enums, structs and unions.
//
// Reading JSON never throws: malformed text and values that do not fit the schema are reported
// as a `json_error` with the path of the offending value (e.g. `frame.tags[2]`) and a sentence.
#pragma once

#include <lidl/builder.hpp>
#include <lidl/verifier.hpp>
#include <lidl/wire.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

namespace lidl::json {

using value = nlohmann::ordered_json;

struct json_error {
    std::string path;
    std::string message;
};

/// Specialised by generated code for enums, structs and unions.
template <class T>
struct mapping;

inline bool fail(json_error& error, const std::string& path, std::string message) {
    error.path = path;
    error.message = std::move(message);
    return false;
}

inline const char* kind_name(const value& j) {
    switch (j.type()) {
    case value::value_t::null: return "null";
    case value::value_t::object: return "an object";
    case value::value_t::array: return "an array";
    case value::value_t::string: return "a string";
    case value::value_t::boolean: return "a boolean";
    case value::value_t::number_integer:
    case value::value_t::number_unsigned: return "an integer";
    case value::value_t::number_float: return "a number";
    default: return "an unexpected value";
    }
}

// --- to JSON ---------------------------------------------------------------------------------

template <class T>
value to_json(const T& item);

template <class T>
value to_json(const vector<T>& items) {
    value out = value::array();
    for (const T& item : items.view())
        out.push_back(to_json(item));
    return out;
}

template <class T, std::size_t N>
value to_json(const std::array<T, N>& items) {
    value out = value::array();
    for (const T& item : items)
        out.push_back(to_json(item));
    return out;
}

template <class T>
value to_json(const optional<T>& item) {
    return item.has_value() ? to_json(*item) : value(nullptr);
}

template <class T>
value to_json(const T& item) {
    if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T>)
        return value(item);
    else if constexpr (std::is_same_v<T, string>)
        return value(std::string(item.view()));
    else
        return mapping<T>::to_json(item);
}

// --- from JSON -------------------------------------------------------------------------------

template <class T>
bool from_json(const value& j, builder& out, T& target, json_error& error, const std::string& path);

template <class T>
bool integer_from_json(const value& j, T& target, json_error& error, const std::string& path) {
    if (j.is_number_unsigned()) {
        std::uint64_t v = j.get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            return fail(error, path, std::to_string(v) + " is out of range");
        target = static_cast<T>(v);
        return true;
    }
    if (j.is_number_integer()) {
        std::int64_t v = j.get<std::int64_t>();
        if constexpr (std::is_unsigned_v<T>) {
            return fail(error, path, std::to_string(v) + " is negative; expected an unsigned integer");
        } else {
            if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                v > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
                return fail(error, path, std::to_string(v) + " is out of range");
            target = static_cast<T>(v);
            return true;
        }
    }
    return fail(error, path, std::string("expected an integer, found ") + kind_name(j));
}

template <class T>
bool from_json(const value& j, builder& out, vector<T>& target, json_error& error,
               const std::string& path) {
    if (!j.is_array())
        return fail(error, path, std::string("expected an array, found ") + kind_name(j));
    T* items = out.create_vector(target, j.size());
    if (items == nullptr && !j.empty())
        return fail(error, path, "the message buffer is too small");
    for (std::size_t i = 0; i < j.size(); ++i)
        if (!from_json(j[i], out, items[i], error, path + "[" + std::to_string(i) + "]"))
            return false;
    return true;
}

template <class T, std::size_t N>
bool from_json(const value& j, builder& out, std::array<T, N>& target, json_error& error,
               const std::string& path) {
    if (!j.is_array() || j.size() != N)
        return fail(error, path, "expected an array of " + std::to_string(N) + " elements");
    for (std::size_t i = 0; i < N; ++i)
        if (!from_json(j[i], out, target[i], error, path + "[" + std::to_string(i) + "]"))
            return false;
    return true;
}

template <class T>
bool from_json(const value& j, builder& out, optional<T>& target, json_error& error,
               const std::string& path) {
    if (j.is_null())
        return true;
    return from_json(j, out, *out.emplace(target), error, path);
}

template <class T>
bool from_json(const value& j, builder& out, T& target, json_error& error, const std::string& path) {
    if constexpr (std::is_same_v<T, bool>) {
        if (!j.is_boolean())
            return fail(error, path, std::string("expected true or false, found ") + kind_name(j));
        target = j.get<bool>();
        return true;
    } else if constexpr (std::is_integral_v<T>) {
        return integer_from_json(j, target, error, path);
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!j.is_number())
            return fail(error, path, std::string("expected a number, found ") + kind_name(j));
        target = static_cast<T>(j.get<double>());
        return true;
    } else if constexpr (std::is_same_v<T, string>) {
        if (!j.is_string())
            return fail(error, path, std::string("expected a string, found ") + kind_name(j));
        const std::string& text = j.get_ref<const std::string&>();
        return out.set(target, text) || fail(error, path, "the message buffer is too small");
    } else {
        return mapping<T>::from_json(j, out, target, error, path);
    }
}

/// Reads field `name` of object `j` into `target` (generated struct mappings call this).
template <class T>
bool field(const value& j, const char* name, builder& out, T& target, json_error& error,
           const std::string& path) {
    auto found = j.find(name);
    std::string here = path + "." + name;
    if (found == j.end()) {
        if constexpr (requires { target.has_value(); })
            return true;  // an absent optional
        else
            return fail(error, here, "missing field");
    }
    return from_json(*found, out, target, error, here);
}

/// Rejects keys of `j` that are not in `names` (generated struct mappings call this).
template <std::size_t N>
bool only_fields(const value& j, const char* const (&names)[N], const char* type,
                 json_error& error, const std::string& path) {
    for (auto item = j.begin(); item != j.end(); ++item) {
        bool known = false;
        for (const char* name : names)
            known = known || item.key() == name;
        if (!known)
            return fail(error, path, "unknown field '" + item.key() + "' for " + type);
    }
    return true;
}

/// Builds a whole message with root `T` from JSON text into `out`.
template <class T>
amb::result<std::span<const std::uint8_t>, json_error> build(std::string_view text, builder& out) {
    value j = value::parse(text.begin(), text.end(), nullptr, false);
    json_error error;
    if (j.is_discarded()) {
        error.message = "malformed JSON";
        return amb::failure{error};
    }
    T* root = out.create_root<T>();
    if (root == nullptr) {
        error.message = "the message buffer is too small";
        return amb::failure{error};
    }
    if (!from_json(j, out, *root, error, type_info<T>::name))
        return amb::failure{error};
    auto finished = out.finish();
    if (!finished) {
        error.message = "the message buffer is too small";
        return amb::failure{error};
    }
    return finished.value();
}

}  // namespace lidl::json
