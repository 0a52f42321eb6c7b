// XBee-API-style frames for serial lines (DESIGN.md §8; wire format in docs/net.md).
//
// A frame on the line is: start delimiter 0x7E, 16-bit big-endian length of the frame data, the
// frame data, and a checksum (0xFF minus the 8-bit sum of the frame data). Everything after the
// start delimiter is escaped as in XBee API mode 2: each 0x7E, 0x7D, 0x11 or 0x13 is sent as
// 0x7D followed by the byte XOR 0x20, so a 0x7E on the line always starts a frame and the
// decoder can find the next frame after any damage.
//
// Encoding: `encode_frame(data, out)` writes one escaped frame into a caller buffer of at least
// `max_encoded_size(data.size())` bytes (or `encoded_size(data)` exactly).
//
// Decoding: a `frame_decoder` over caller storage (its size is the largest frame data accepted)
// is fed whatever chunks of bytes the line produced:
//
//     while (!bytes.empty()) {
//         auto step = decoder.feed(bytes);
//         bytes = bytes.subspan(step.consumed);
//         if (step.frame) use(*step.frame);        // valid until the next feed() or reset()
//         if (step.error) count_or_log(*step.error);
//     }
//
// Each call stops after one frame or one error, so no frame is ever overwritten before the
// caller saw it. Damage is reported as a `decode_error` value and counted; the decoder then
// resynchronises on the next start delimiter. It never reads past the input, never writes past
// its storage, allocates nothing and takes a bounded number of steps per byte. One decoder per
// line; not thread-safe.
#pragma once

#include <base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace amb::net::xbee {

inline constexpr std::uint8_t start_delimiter = 0x7e;
inline constexpr std::uint8_t escape_byte = 0x7d;
inline constexpr std::uint8_t xon_byte = 0x11;
inline constexpr std::uint8_t xoff_byte = 0x13;
inline constexpr std::uint8_t escape_xor = 0x20;
/// The length field is 16 bits.
inline constexpr std::size_t max_frame_data_size = 0xffff;

/// True for the bytes that API mode 2 escapes.
constexpr bool needs_escape(std::uint8_t byte) noexcept {
    return byte == start_delimiter || byte == escape_byte || byte == xon_byte || byte == xoff_byte;
}

/// An upper bound of the encoded size of a frame with `data_size` bytes of frame data
/// (delimiter, then length, data and checksum all escaped).
constexpr std::size_t max_encoded_size(std::size_t data_size) noexcept {
    return 1 + 2 * (2 + data_size + 1);
}

/// The checksum of frame data: 0xFF minus the low 8 bits of the sum of its bytes.
std::uint8_t checksum(std::span<const std::uint8_t> data) noexcept;

/// The exact encoded size of a frame carrying `data` (precondition: at most
/// `max_frame_data_size` bytes).
std::size_t encoded_size(std::span<const std::uint8_t> data) noexcept;

enum class encode_error : std::uint8_t {
    frame_too_large = 1, ///< more than `max_frame_data_size` bytes of frame data
    buffer_too_small,    ///< `out` cannot hold the encoded frame; nothing useful was written
};

/// Writes one escaped frame carrying `data` into `out`; returns the number of bytes written.
result<std::size_t, encode_error> encode_frame(std::span<const std::uint8_t> data,
                                               std::span<std::uint8_t> out) noexcept;

enum class decode_error : std::uint8_t {
    garbage = 1,     ///< bytes outside any frame were skipped (reported once per run)
    bad_checksum,    ///< a complete frame whose checksum did not match; dropped
    oversize_length, ///< the length field exceeds the decoder's capacity; frame skipped
    bad_escape,      ///< 0x7D followed by a byte that does not unescape to an escaped byte
    interrupted,     ///< a start delimiter inside a frame: the partial frame is dropped and
                     ///< decoding restarts at the new delimiter
};

/// A short English name of the error, for logs and test output.
const char* to_string(decode_error error) noexcept;

/// Everything the decoder saw, for diagnostics. Counters wrap around at 2^32.
struct decode_counters {
    std::uint32_t frames = 0;        ///< valid frames returned
    std::uint32_t garbage_runs = 0;  ///< `garbage` errors
    std::uint32_t garbage_bytes = 0; ///< bytes skipped outside frames
    std::uint32_t bad_checksum = 0;
    std::uint32_t oversize_length = 0;
    std::uint32_t bad_escape = 0;
    std::uint32_t interrupted = 0;
};

/// The outcome of one `frame_decoder::feed` call: how much input was used and at most one of a
/// frame or an error.
struct decode_step {
    std::size_t consumed = 0;
    /// The frame data of a valid frame; points into the decoder's storage and is valid until the
    /// next `feed` or `reset`.
    std::optional<std::span<const std::uint8_t>> frame;
    std::optional<decode_error> error;
};

class frame_decoder {
public:
    /// `storage` holds one frame's data; its size (at most `max_frame_data_size`) is the largest
    /// frame accepted. It must outlive the decoder and is not used by anybody else meanwhile.
    explicit frame_decoder(std::span<std::uint8_t> storage) noexcept;

    /// Consumes input until one frame is complete, one error is found, or the input ends.
    decode_step feed(std::span<const std::uint8_t> input) noexcept;

    /// Forgets any partial frame (for example after reopening the line). Counters are kept.
    void reset() noexcept;

    std::size_t capacity() const noexcept { return storage_.size(); }
    const decode_counters& counters() const noexcept { return counters_; }

private:
    enum class state : std::uint8_t { hunting, length_high, length_low, data, checksum };

    /// Unescapes `byte`; returns false when the byte only completed an escape prefix (nothing to
    /// deliver yet). On a bad escape it sets `error`.
    bool unescape(std::uint8_t& byte, std::optional<decode_error>& error) noexcept;
    void start_frame() noexcept;
    void fail(decode_error error) noexcept;

    std::span<std::uint8_t> storage_;
    decode_counters counters_;
    state state_ = state::hunting;
    bool escaped_ = false;
    bool in_garbage_ = false;
    std::uint16_t length_ = 0;
    std::size_t filled_ = 0;
    std::uint8_t sum_ = 0;
};

} // namespace amb::net::xbee
