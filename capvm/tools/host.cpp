// Host-side helpers: the fixed-value context, address parsing, hex and base64.
#include <capvm/host.hpp>

#include <arpa/inet.h>

#include <cctype>

namespace amb::capvm {

amb::result<std::int64_t, fault_kind> fixed_context::call(std::uint8_t id,
                                                          std::span<const std::int64_t> args) {
    auto answer = [](const auto& value) -> amb::result<std::int64_t, fault_kind> {
        if (!value)
            return amb::failure{fault_kind::vm_call_failed};
        return static_cast<std::int64_t>(*value);
    };
    switch (id) {
    case vm_call::now:
        return args.empty() ? answer(time) : amb::failure{fault_kind::bad_vm_call};
    case vm_call::battery:
        return args.empty() ? answer(battery) : amb::failure{fault_kind::bad_vm_call};
    case vm_call::endpoint:
        if (!args.empty())
            return amb::failure{fault_kind::bad_vm_call};
        if (ipv4)
            return static_cast<std::int64_t>(*ipv4);
        if (ipv6)
            return std::int64_t{-1};
        return amb::failure{fault_kind::vm_call_failed};
    case vm_call::endpoint6: {
        if (args.size() != 1 || (args[0] != 0 && args[0] != 1))
            return amb::failure{fault_kind::bad_vm_call};
        std::array<std::uint8_t, 16> address{};
        if (ipv6) {
            address = *ipv6;
        } else if (ipv4) {
            address[10] = address[11] = 0xff;
            for (int i = 0; i < 4; ++i)
                address[12 + i] = static_cast<std::uint8_t>(*ipv4 >> (24 - 8 * i));
        } else {
            return amb::failure{fault_kind::vm_call_failed};
        }
        std::uint64_t half = 0;
        for (int i = 0; i < 8; ++i)
            half = (half << 8) | address[static_cast<std::size_t>(args[0] * 8 + i)];
        return static_cast<std::int64_t>(half);
    }
    case vm_call::sensor: {
        if (args.size() != 1)
            return amb::failure{fault_kind::bad_vm_call};
        const auto found = sensors.find(args[0]);
        if (found == sensors.end())
            return amb::failure{fault_kind::vm_call_failed};
        return found->second;
    }
    default: {
        const auto found = application.find(id);
        if (found == application.end())
            return amb::failure{fault_kind::bad_vm_call};
        return found->second;
    }
    }
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::uint32_t address = 0;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (text.empty() || text[0] != '.')
                return std::nullopt;
            text.remove_prefix(1);
        }
        std::size_t digits = 0;
        unsigned value = 0;
        while (digits < text.size() && digits < 4 && std::isdigit(static_cast<unsigned char>(text[digits])))
            value = value * 10 + static_cast<unsigned>(text[digits++] - '0');
        if (digits == 0 || digits > 3 || value > 255)
            return std::nullopt;
        text.remove_prefix(digits);
        address = (address << 8) | value;
    }
    if (!text.empty())
        return std::nullopt;
    return address;
}

std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text) {
    if (text.size() > 64)
        return std::nullopt;
    const std::string copy(text);
    std::array<std::uint8_t, 16> address{};
    if (inet_pton(AF_INET6, copy.c_str(), address.data()) != 1)
        return std::nullopt;
    return address;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
    std::vector<std::uint8_t> out;
    int high = -1;
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c)))
            continue;
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            return std::nullopt;
        const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
        if (high < 0) {
            high = digit;
        } else {
            out.push_back(static_cast<std::uint8_t>(high * 16 + digit));
            high = -1;
        }
    }
    if (high >= 0)
        return std::nullopt;
    return out;
}

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        for (int k = 3; k >= 0; --k)
            out += alphabet[(v >> (6 * k)) & 63];
    }
    if (bytes.size() - i == 1) {
        const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (bytes.size() - i == 2) {
        const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text) {
    while (!text.empty() && text.back() == '=')
        text.remove_suffix(1);
    std::vector<std::uint8_t> out;
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : text) {
        const char* found = nullptr;
        for (const char* p = alphabet; *p; ++p)
            if (*p == c)
                found = p;
        if (found == nullptr)
            return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(found - alphabet);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<std::uint8_t>(bits >> count));
        }
    }
    if (count >= 6) // a lone trailing character carries no whole byte
        return std::nullopt;
    return out;
}

} // namespace amb::capvm
