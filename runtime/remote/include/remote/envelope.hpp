// The envelope of a message between nodes: parsing (every packet from a link is untrusted),
// writing, and the MAC that authenticates replies (docs/remote.md, "Envelope" and "Replies").
//
//     packet = envelope message (remote.lidl), zero padding up to body_offset (multiple of 8),
//              body (request: CAPLets request token; reply: lidl reply message; error: empty)
//
// `parse_envelope` checks everything a relay or a receiver relies on, before any of it is used;
// it does not look inside the body (the token is verified by `remote::node`, which needs the
// key). `envelope_writer` writes the header into the front of a caller buffer and tells where
// the body goes, so a token is derived straight into the packet without another copy.
//
// No allocation, no exceptions; all functions are reentrant. Views point into the caller's
// buffer, which must outlive them.
#pragma once

#include "remote.lidl.hpp"

#include <base/result.hpp>
#include <caplets/caplets.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace amb::remote {

using byte_view = std::span<const std::uint8_t>;
using byte_span = std::span<std::uint8_t>;
using mac_bytes = std::array<std::uint8_t, 32>;

inline constexpr std::uint8_t envelope_version = 1;
inline constexpr std::size_t max_node_name = 64;
/// Hop limit a node puts on the messages it originates (config may change it).
inline constexpr std::uint8_t default_hop_limit = 8;

/// Why a packet was refused before anything else looked at it.
enum class envelope_error : std::uint8_t {
    too_short = 1,   ///< shorter than a lidl header
    malformed,       ///< the lidl verifier refused the header (see the lidl error)
    bad_version,     ///< version is not 1
    bad_body_offset, ///< not a multiple of 8, inside the header, or past the end
    bad_hop_limit,   ///< zero
    bad_name,        ///< source or destination empty, too long or not printable ASCII
    inconsistent,    ///< kind, status, authentication and body do not go together
};
const char* describe(envelope_error error);

/// A parsed packet. `header` points into the packet.
struct envelope_view {
    const envelope* header = nullptr;
    std::string_view source;
    std::string_view destination;
    /// The body, 8-byte aligned when the packet is.
    byte_view body;
    /// The lidl error when `malformed`.
    lidl::verify_error parse{};
};

/// Parses `packet` (8-byte aligned: a precondition, since buffers are the receiver's own).
/// Checks, in order: size, the lidl header (verified twice: once to read body_offset, once
/// bounded by it so no reference points into the body), version, body_offset, hop limit, names,
/// and that kind, status, `authenticated` and body agree (request: status ok, not authenticated,
/// non-empty body; reply: ok, authenticated; error: not ok, empty body).
result<envelope_view, envelope_error> parse_envelope(byte_view packet,
                                                     lidl::verify_error* detail = nullptr);

/// True for 1 to max_node_name printable ASCII characters (0x21..0x7e).
bool valid_node_name(std::string_view name);

/// The fields of a header to write.
struct envelope_fields {
    message_kind kind = message_kind::request;
    status_code status = status_code::ok;
    std::uint8_t hop_limit = default_hop_limit;
    std::uint64_t correlation = 0;
    std::string_view source;
    std::string_view destination;
    bool authenticated = false;
    mac_bytes mac{};
};

/// Writes an envelope header at the front of `packet` (8-byte aligned) and leaves room for the
/// body at `body()`; `finish(body_size)` returns the whole packet.
class envelope_writer {
public:
    /// False (and body() empty) if the header does not fit or a name is invalid.
    bool start(byte_span packet, const envelope_fields& fields);
    /// Where the body goes: 8-byte aligned, up to the end of the packet buffer.
    byte_span body() const { return body_; }
    /// Sets the MAC field after the body is known.
    void set_mac(const mac_bytes& mac, bool authenticated);
    /// The packet: header, padding, `body_size` bytes of body.
    byte_view finish(std::size_t body_size) const;
    envelope* header() const { return header_; }

private:
    byte_span packet_;
    byte_span body_;
    envelope* header_ = nullptr;
};

/// The MAC of a reply or error from the serving node (docs/remote.md, "Replies"):
/// HMAC-SHA256(holder tag, D || request tag || kind || status || correlation (8, big-endian) ||
/// len(source) || source || len(destination) || destination || body), where the holder tag is
/// the tag of the caller's credential (the frame before the request: known to the caller and to
/// the verifier, never sent) and D = 0xff "AMB-REMOTE-REPLY-v1" 0x00, which no frame starts with.
mac_bytes reply_mac(const caplets::tag_bytes& holder_tag, const caplets::tag_bytes& request_tag,
                    message_kind kind, status_code status, std::uint64_t correlation,
                    std::string_view source, std::string_view destination, byte_view body);

/// A sentence for a status code (logs).
const char* describe(status_code status);

} // namespace amb::remote
