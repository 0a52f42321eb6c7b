// Text forms of CAPLets for people and shells (host tools only; they allocate):
//   tokens     "cap1_" + base64url without padding of the token bytes
//   secrets    64 hex characters
//   CAP        root | path:/p:RIGHTS | service:NAME:proc,proc | service:NAME:* | identity:ID |
//              encrypt | ext:TYPE:HEX                       (RIGHTS ⊆ "rwxcd")
//   OP         read:/p | write:/p | exec:/p | create:/p | delete:/p |
//              call:SERVICE.PROCEDURE[:HEX arguments]
//   CON        expires:TIME | not-before:TIME | endpoint:ADDR[/N] | signature:HEXTAG |
//              identity:ID | seq:N | capvm:BASE64 | policy:EXPR (compiled to CapVM)
//   TIME       RFC 3339 UTC (2026-01-01T00:00:00Z) or Unix seconds
// Parsers return a message naming what was wrong; formatters give the same forms back.
#pragma once

#include <caplets/caplets.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace caplets::text {

std::string base64url_encode(byte_view bytes);
/// Decodes base64url (padding optional); nullopt on a bad character or length.
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

inline constexpr std::string_view token_prefix = "cap1_";
std::string token_to_text(byte_view token);
/// The token bytes (8-byte aligned storage), or an error message.
struct token_bytes {
    std::vector<std::uint64_t> storage;
    std::size_t size = 0;
    byte_view bytes() const { return {reinterpret_cast<const std::uint8_t*>(storage.data()), size}; }
};
std::optional<token_bytes> token_from_text(std::string_view text, std::string& error);

std::string to_hex(byte_view bytes);
/// `text` safe to print on a terminal: every byte outside printable ASCII, and the backslash,
/// written as \xNN. Token contents are untrusted: raw, they could carry terminal escapes.
std::string printable(std::string_view text);
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

std::optional<std::uint64_t> parse_time(std::string_view text);
std::string format_time(std::uint64_t unix_seconds);

/// An IPv4 or IPv6 address with optional /N; nullopt when malformed.
struct network {
    std::vector<std::uint8_t> address;  // 4 or 16 bytes
    std::uint8_t prefix_length = 0;
};
std::optional<network> parse_network(std::string_view text);

/// Owns the strings and bytes that a frame_spec's views point to while it is being written.
class frame_text {
public:
    /// Adds a capability (CAP) or request (OP) or constraint (CON); false with `error` set when
    /// the text is malformed.
    bool add_capability(std::string_view text, std::string& error);
    bool add_operation(std::string_view text, std::string& error);
    bool add_constraint(std::string_view text, std::string& error);
    frame_spec& spec() { return spec_; }

private:
    std::string_view keep(std::string_view text);
    byte_view keep(std::vector<std::uint8_t> bytes);

    frame_spec spec_;
    std::deque<std::string> strings_;
    std::deque<std::vector<std::uint8_t>> blobs_;
    std::deque<std::vector<std::string_view>> name_lists_;
};

std::string rights_to_text(std::uint8_t bits);
std::string capability_to_text(const capability& c);
std::string constraint_to_text(const constraint& c);

}  // namespace caplets::text
