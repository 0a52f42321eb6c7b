// Host-side helpers for tools that evaluate constraints (the `capvm` command, `caplets
// verify`): a validation context with fixed values, address parsing, hex and base64.
#pragma once

#include <capvm/capvm.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amb::capvm {

/// A context answering the standard VM calls from fixed values; a call whose value is absent
/// fails with vm_call_failed, an id it does not know with bad_vm_call. Application calls can
/// be given fixed answers in `application`.
class fixed_context final : public context {
public:
    std::optional<std::int64_t> time;                  // now()
    std::optional<std::uint32_t> ipv4;                 // endpoint(); also endpoint6 as ::ffff:v4
    std::optional<std::array<std::uint8_t, 16>> ipv6;  // endpoint6(); endpoint() is then -1
    std::optional<std::int64_t> battery;               // battery()
    std::map<std::int64_t, std::int64_t> sensors;      // sensor(n)
    std::map<std::uint8_t, std::int64_t> application;  // call(id) for id >= 8

    amb::result<std::int64_t, fault_kind> call(std::uint8_t id,
                                               std::span<const std::int64_t> args) override;
};

/// Parses dotted-quad IPv4 ("10.0.0.1" -> 0x0a000001).
std::optional<std::uint32_t> parse_ipv4(std::string_view text);
/// Parses an IPv6 address in any standard notation.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text);

std::string to_hex(std::span<const std::uint8_t> bytes);
/// Accepts hex digits with optional whitespace.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);
std::string to_base64(std::span<const std::uint8_t> bytes);
/// Standard alphabet, padding optional.
std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text);

} // namespace amb::capvm
