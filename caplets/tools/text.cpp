#include "text.hpp"

#include <capvm/policy.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <ctime>

namespace caplets::text {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

std::optional<std::uint8_t> parse_rights(std::string_view text) {
    std::uint8_t bits = 0;
    for (char c : text) {
        std::uint8_t bit = 0;
        switch (c) {
        case 'r': bit = rights::read; break;
        case 'w': bit = rights::write; break;
        case 'x': bit = rights::exec; break;
        case 'c': bit = rights::create; break;
        case 'd': bit = rights::remove; break;
        default: return std::nullopt;
        }
        if (bits & bit)
            return std::nullopt;
        bits |= bit;
    }
    return bits;
}

// Splits "a:b" at the first ':'.
std::pair<std::string_view, std::string_view> split(std::string_view text, char separator = ':') {
    std::size_t at = text.find(separator);
    if (at == std::string_view::npos)
        return {text, {}};
    return {text.substr(0, at), text.substr(at + 1)};
}

}  // namespace

std::string base64url_encode(byte_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16 | bytes[i + 1] << 8 | bytes[i + 2];
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16;
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
    } else if (rest == 2) {
        std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16 | bytes[i + 1] << 8;
        out += alphabet[v >> 18];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=')
        text.remove_suffix(1);
    if (text.size() % 4 == 1)
        return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        int value = base64_value(c);
        if (value < 0)
            return std::nullopt;
        buffer = buffer << 6 | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>(buffer >> bits));
        }
    }
    // Leftover bits must be zero so that every byte string has exactly one text form.
    if ((buffer & ((1u << bits) - 1)) != 0)
        return std::nullopt;
    return out;
}

std::string token_to_text(byte_view token) { return std::string(token_prefix) + base64url_encode(token); }

std::optional<token_bytes> token_from_text(std::string_view text, std::string& error) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.remove_suffix(1);
    if (text.substr(0, token_prefix.size()) != token_prefix) {
        error = "not a CAPLets token (expected the prefix cap1_)";
        return std::nullopt;
    }
    auto bytes = base64url_decode(text.substr(token_prefix.size()));
    if (!bytes) {
        error = "the token text is not valid base64url";
        return std::nullopt;
    }
    token_bytes out;
    out.size = bytes->size();
    out.storage.resize(bytes->size() / 8 + 1);
    if (!bytes->empty())  // an empty vector's data() may be null: no memcpy from it
        std::memcpy(out.storage.data(), bytes->data(), bytes->size());
    return out;
}

std::string printable(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
            out += c;
            continue;
        }
        out += "\\x";
        out += digits[byte >> 4];
        out += digits[byte & 15];
    }
    return out;
}

std::string to_hex(byte_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
    if (text.size() % 2 != 0)
        return std::nullopt;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < text.size(); i += 2) {
        unsigned value = 0;
        auto [end, error] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
        if (error != std::errc() || end != text.data() + i + 2)
            return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(value));
    }
    return out;
}

std::optional<std::uint64_t> parse_time(std::string_view text) {
    if (auto seconds = parse_unsigned(text))
        return seconds;
    // RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SSZ (optionally with fractional seconds, ignored).
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':' || (text.back() != 'Z' && text.back() != 'z'))
        return std::nullopt;
    auto number = [&](std::size_t at, std::size_t length) {
        return parse_unsigned(text.substr(at, length));
    };
    auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
    auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
    if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
        *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60 || *year < 1970)
        return std::nullopt;
    if (text.size() > 20 && text[19] != '.')
        return std::nullopt;
    // Days from the civil date (proleptic Gregorian), without the C library's time zone state.
    std::int64_t y = static_cast<std::int64_t>(*year) - (*month <= 2 ? 1 : 0);
    std::int64_t era = y / 400;
    std::int64_t year_of_era = y - era * 400;
    std::int64_t m = static_cast<std::int64_t>(*month);
    std::int64_t day_of_year = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<std::int64_t>(*day) - 1;
    std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    std::int64_t days = era * 146097 + day_of_era - 719468;
    return static_cast<std::uint64_t>(days * 86400 + static_cast<std::int64_t>(*hour * 3600 + *minute * 60 + *second));
}

std::string format_time(std::uint64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char out[32];
    std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return out;
}

std::optional<network> parse_network(std::string_view text) {
    auto [address_text, prefix_text] = split(text, '/');
    std::string address(address_text);
    network out;
    std::uint8_t raw[16];
    if (inet_pton(AF_INET, address.c_str(), raw) == 1) {
        out.address.assign(raw, raw + 4);
    } else if (inet_pton(AF_INET6, address.c_str(), raw) == 1) {
        out.address.assign(raw, raw + 16);
    } else {
        return std::nullopt;
    }
    std::uint64_t bits = out.address.size() * 8;
    if (!prefix_text.empty() || text.find('/') != std::string_view::npos) {
        auto prefix = parse_unsigned(prefix_text);
        if (!prefix || *prefix > bits)
            return std::nullopt;
        bits = *prefix;
    }
    out.prefix_length = static_cast<std::uint8_t>(bits);
    return out;
}

std::string_view frame_text::keep(std::string_view text) {
    strings_.emplace_back(text);
    return strings_.back();
}

byte_view frame_text::keep(std::vector<std::uint8_t> bytes) {
    blobs_.push_back(std::move(bytes));
    return blobs_.back();
}

bool frame_text::add_capability(std::string_view text, std::string& error) {
    auto [kind, rest] = split(text);
    bool added = false;
    if (kind == "root" && rest.empty()) {
        added = spec_.add_root();
    } else if (kind == "encrypt" && rest.empty()) {
        added = spec_.add_encrypt();
    } else if (kind == "identity" && !rest.empty()) {
        added = spec_.add_identity(keep(rest));
    } else if (kind == "path") {
        std::size_t at = rest.rfind(':');
        if (at == std::string_view::npos) {
            error = "expected path:/prefix:RIGHTS in '" + std::string(text) + "'";
            return false;
        }
        auto bits = parse_rights(rest.substr(at + 1));
        if (!bits || *bits == 0) {
            error = "rights must be a non-empty subset of rwxcd in '" + std::string(text) + "'";
            return false;
        }
        std::string_view prefix = rest.substr(0, at);
        if (!is_normalised_path(prefix)) {
            error = "path '" + std::string(prefix) + "' is not absolute and normalised";
            return false;
        }
        added = spec_.add_path(keep(prefix), *bits);
    } else if (kind == "service") {
        auto [name, procedures] = split(rest);
        if (name.empty() || procedures.empty()) {
            error = "expected service:NAME:proc,proc or service:NAME:* in '" + std::string(text) + "'";
            return false;
        }
        if (procedures == "*") {
            added = spec_.add_service(keep(name), {}, true);
        } else {
            name_lists_.emplace_back();
            std::vector<std::string_view>& names = name_lists_.back();
            std::string_view list = keep(procedures);
            while (!list.empty()) {
                auto [first, others] = split(list, ',');
                if (first.empty()) {
                    error = "empty procedure name in '" + std::string(text) + "'";
                    return false;
                }
                names.push_back(first);
                list = others;
            }
            added = spec_.add_service(keep(name), names, false);
        }
    } else if (kind == "ext") {
        auto [type, body] = split(rest);
        auto type_id = parse_unsigned(type);
        auto bytes = from_hex(body);
        if (!type_id || *type_id > UINT32_MAX || !bytes) {
            error = "expected ext:TYPE:HEX in '" + std::string(text) + "'";
            return false;
        }
        added = spec_.add_extension(static_cast<std::uint32_t>(*type_id), keep(std::move(*bytes)));
    } else {
        error = "unknown capability '" + std::string(text) +
                "' (expected root, path:..., service:..., identity:..., encrypt or ext:...)";
        return false;
    }
    if (!added)
        error = "too many capabilities in one frame (at most 16)";
    return added;
}

bool frame_text::add_operation(std::string_view text, std::string& error) {
    auto [kind, rest] = split(text);
    static constexpr std::pair<std::string_view, std::uint8_t> operations[] = {
        {"read", rights::read},     {"write", rights::write},   {"exec", rights::exec},
        {"create", rights::create}, {"delete", rights::remove},
    };
    for (const auto& [name, bit] : operations) {
        if (kind != name)
            continue;
        if (!is_normalised_path(rest)) {
            error = "path '" + std::string(rest) + "' is not absolute and normalised";
            return false;
        }
        return spec_.add_path_request(bit, keep(rest)) || (error = "frame full", false);
    }
    if (kind == "call") {
        auto [target, arguments] = split(rest);
        std::size_t dot = target.find('.');
        if (dot == std::string_view::npos || dot == 0 || dot + 1 == target.size()) {
            error = "expected call:SERVICE.PROCEDURE in '" + std::string(text) + "'";
            return false;
        }
        auto bytes = from_hex(arguments);
        if (!bytes) {
            error = "call arguments must be hex in '" + std::string(text) + "'";
            return false;
        }
        std::string_view kept = keep(target);
        return spec_.add_call_request(kept.substr(0, dot), kept.substr(dot + 1), keep(std::move(*bytes))) ||
               (error = "frame full", false);
    }
    error = "unknown operation '" + std::string(text) +
            "' (expected read:/p, write:/p, exec:/p, create:/p, delete:/p or call:S.P)";
    return false;
}

bool frame_text::add_constraint(std::string_view text, std::string& error) {
    auto [kind, rest] = split(text);
    bool added = false;
    if (kind == "expires" || kind == "not-before") {
        auto time = parse_time(rest);
        if (!time) {
            error = "expected a time (RFC 3339 UTC or Unix seconds) in '" + std::string(text) + "'";
            return false;
        }
        added = kind == "expires" ? spec_.add_expires(*time) : spec_.add_not_before(*time);
    } else if (kind == "endpoint") {
        auto net = parse_network(rest);
        if (!net) {
            error = "expected an IPv4 or IPv6 address with optional /N in '" + std::string(text) + "'";
            return false;
        }
        byte_view address = keep(std::move(net->address));
        added = spec_.add_endpoint(address, net->prefix_length);
    } else if (kind == "signature") {
        auto bytes = from_hex(rest);
        if (!bytes || bytes->size() != 32) {
            error = "expected 64 hex characters in '" + std::string(text) + "'";
            return false;
        }
        tag_bytes tag;
        std::memcpy(tag.data(), bytes->data(), 32);
        added = spec_.add_signature(tag);
    } else if (kind == "identity" && !rest.empty()) {
        added = spec_.add_identity_constraint(keep(rest));
    } else if (kind == "audience" && !rest.empty()) {
        added = spec_.add_audience(keep(rest));
    } else if (kind == "seq") {
        auto number = parse_unsigned(rest);
        if (!number) {
            error = "expected seq:N in '" + std::string(text) + "'";
            return false;
        }
        added = spec_.add_sequence(*number);
    } else if (kind == "capvm") {
        auto bytes = base64url_decode(rest);
        if (!bytes || bytes->empty()) {
            error = "expected capvm:BASE64 (base64url bytecode) in '" + std::string(text) + "'";
            return false;
        }
        added = spec_.add_capvm(keep(std::move(*bytes)));
    } else if (kind == "policy") {
        auto bytecode = amb::capvm::compile_policy(rest);
        if (!bytecode) {
            const auto& e = bytecode.error();
            error = "policy:" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " +
                    e.message;
            return false;
        }
        added = spec_.add_capvm(keep(std::move(bytecode.value())));
    } else {
        error = "unknown constraint '" + std::string(text) +
                "' (expected expires:, not-before:, endpoint:, signature:, identity:, audience:, seq:, "
                "capvm: or policy:)";
        return false;
    }
    if (!added)
        error = "too many constraints in one frame (at most 16)";
    return added;
}

std::string rights_to_text(std::uint8_t bits) {
    std::string out;
    if (bits & rights::read) out += 'r';
    if (bits & rights::write) out += 'w';
    if (bits & rights::exec) out += 'x';
    if (bits & rights::create) out += 'c';
    if (bits & rights::remove) out += 'd';
    return out;
}

std::string capability_to_text(const capability& c) {
    if (c.root())
        return "root";
    if (c.encrypt())
        return "encrypt";
    if (const auto* p = c.path())
        return "path:" + std::string(p->prefix.view()) + ":" + rights_to_text(p->rights);
    if (const auto* s = c.service()) {
        std::string out = "service:" + std::string(s->name.view()) + ":";
        if (s->all)
            return out + "*";
        for (std::size_t i = 0; i < s->procedures.size(); ++i)
            out += (i ? "," : "") + std::string(s->procedures[i].view());
        return out;
    }
    if (const auto* i = c.identity())
        return "identity:" + std::string(i->id.view());
    if (const auto* r = c.path_request()) {
        static constexpr const char* names[] = {"read", "write", "exec", "create", "delete"};
        for (int bit = 0; bit < 5; ++bit)
            if (r->operation == (1 << bit))
                return std::string("request ") + names[bit] + ":" + std::string(r->path.view());
        return "request ?:" + std::string(r->path.view());
    }
    if (const auto* call = c.call_request()) {
        std::string out = "request call:" + std::string(call->service.view()) + "." +
                          std::string(call->procedure.view());
        if (!call->arguments.empty())
            out += ":" + to_hex(call->arguments.view());
        return out;
    }
    if (const auto* e = c.extension())
        return "ext:" + std::to_string(e->type_id) + ":" + to_hex(e->body.view());
    return "(empty)";
}

std::string constraint_to_text(const constraint& c) {
    if (const auto* t = c.expires())
        return "expires:" + format_time(*t);
    if (const auto* t = c.not_before())
        return "not-before:" + format_time(*t);
    if (const auto* e = c.endpoint()) {
        char text[64] = {};
        inet_ntop(e->v6 ? AF_INET6 : AF_INET, e->address.data(), text, sizeof text);
        return "endpoint:" + std::string(text) + "/" + std::to_string(e->prefix_length);
    }
    if (const auto* s = c.signature())
        return "signature:" + to_hex(*s);
    if (const auto* i = c.identity())
        return "identity:" + std::string(i->view());
    if (const auto* n = c.sequence())
        return "seq:" + std::to_string(*n);
    if (const auto* a = c.audience())
        return "audience:" + std::string(a->view());
    if (const auto* code = c.capvm())
        return "capvm:" + base64url_encode(code->view());
    return "(empty)";
}

}  // namespace caplets::text
