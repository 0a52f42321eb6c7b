// Messages over XBee-style frames: splitting a message (a lidl/CAPLets message, up to the
// configured maximum, e.g. 64 KiB) into fragments that each fit one frame, and reassembling them
// on the other side of the line. Wire format in docs/net.md ("Serial links").
//
// Each fragment is one frame whose data starts with a 15-byte header: the frame type
// `fragment_frame_type`, a 16-bit message id, the fragment index and count, the message length
// and the CRC-32 of the whole message. A serial line delivers frames in order and never
// duplicates them, so reassembly is strictly sequential: one message at a time in one buffer
// (memory bound: the receiver's message storage), fragment i must follow fragment i-1 of the
// same message, and a lost or damaged frame abandons the message (the layer above retries if it
// needs to). The whole-message CRC-32 catches damage the frames' 8-bit checksums let through.
//
// Sending:
//
//     xbee::message_sender sender(max_frame_data);      // the peer's frame capacity
//     sender.begin(message);                             // message stays alive until finished()
//     while (!sender.finished()) {
//         auto size = sender.next_frame(buffer);         // one escaped frame per call
//         write(buffer.first(*size));
//     }
//
// Receiving: `message_receiver::feed` takes raw line bytes like `frame_decoder::feed` and
// returns at most one message or one error per call. Messages point into the receiver's storage
// and are valid until the next `feed`. Neither class allocates or is thread-safe.
#pragma once

#include <net/xbee_frame.hpp>

#include <base/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace amb::net::xbee {

/// The API frame type of an Ambience message fragment (first byte of the frame data).
inline constexpr std::uint8_t fragment_frame_type = 0xa7;
inline constexpr std::size_t fragment_header_size = 15;
/// A frame must carry the header and at least one payload byte.
inline constexpr std::size_t min_fragment_frame_size = fragment_header_size + 1;

/// How many fragments a message of `message_size` bytes needs with frames of at most
/// `max_frame_data` bytes (precondition: `max_frame_data >= min_fragment_frame_size`). An empty
/// message is one fragment.
std::size_t fragment_count(std::size_t message_size, std::size_t max_frame_data) noexcept;

enum class send_error : std::uint8_t {
    message_too_large = 1, ///< the message would need more than 65535 fragments
    busy,                  ///< the previous message has frames left
};

class message_sender {
public:
    /// `max_frame_data`: the largest frame data the receiving side accepts, between
    /// `min_fragment_frame_size` and `max_frame_data_size`.
    explicit message_sender(std::size_t max_frame_data) noexcept;

    /// Starts sending `message`, which must stay alive and unchanged until `finished()`.
    result<void, send_error> begin(std::span<const std::uint8_t> message) noexcept;
    /// True when every frame of the current message has been produced (or none was begun).
    bool finished() const noexcept { return next_index_ == count_; }
    /// Encodes the next fragment as one escaped frame into `out`; returns its size. `out` of
    /// `max_encoded_size(max_frame_data)` bytes always suffices. Precondition: `!finished()`.
    /// On `buffer_too_small` nothing advances.
    result<std::size_t, encode_error> next_frame(std::span<std::uint8_t> out) noexcept;
    /// The id the current (or last) message was sent with.
    std::uint16_t message_id() const noexcept { return message_id_; }
    std::size_t max_frame_data() const noexcept { return max_frame_data_; }

private:
    std::size_t max_frame_data_;
    std::span<const std::uint8_t> message_;
    std::uint32_t message_crc_ = 0;
    std::uint16_t message_id_ = 0;
    std::size_t count_ = 0;
    std::size_t next_index_ = 0;
};

enum class fragment_error : std::uint8_t {
    not_a_fragment = 1, ///< a valid frame, but too short or of another frame type
    bad_header,         ///< count 0, index >= count, or a payload that overflows the length
    message_too_large,  ///< the announced length exceeds the receiver's message storage
    out_of_order,       ///< not the fragment expected next (a frame was lost); dropped, and
                        ///< any partial message is abandoned
    inconsistent,       ///< disagrees with earlier fragments (count, length, CRC); dropped,
                        ///< partial message abandoned
    abandoned,          ///< a new message began before the previous one was complete; the new
                        ///< fragment was accepted
    bad_message_crc,    ///< all fragments arrived but the message CRC-32 did not match
};

const char* to_string(fragment_error error) noexcept;

struct receive_counters {
    std::uint32_t messages = 0;
    std::uint32_t not_a_fragment = 0;
    std::uint32_t bad_header = 0;
    std::uint32_t message_too_large = 0;
    std::uint32_t out_of_order = 0;
    std::uint32_t inconsistent = 0;
    std::uint32_t abandoned = 0;
    std::uint32_t bad_message_crc = 0;
};

/// The outcome of one `message_receiver::feed` call: at most one message or one error.
struct receive_step {
    std::size_t consumed = 0;
    /// A complete message, in the receiver's storage, valid until the next `feed`.
    std::optional<std::span<const std::uint8_t>> message;
    std::optional<xbee::decode_error> frame_error;
    std::optional<xbee::fragment_error> fragment_error;
};

class message_receiver {
public:
    /// `frame_storage` bounds the frame data accepted (match the sender's `max_frame_data`);
    /// `message_storage` bounds the message size. Both outlive the receiver and are its own.
    message_receiver(std::span<std::uint8_t> frame_storage,
                     std::span<std::uint8_t> message_storage) noexcept;

    /// Consumes line bytes until a message completes, an error is found, or the input ends.
    receive_step feed(std::span<const std::uint8_t> input) noexcept;

    /// Handles one frame's data (already unframed). Exposed for tests and fuzzing.
    receive_step accept_frame(std::span<const std::uint8_t> frame) noexcept;

    const decode_counters& frame_counters() const noexcept { return decoder_.counters(); }
    const receive_counters& counters() const noexcept { return counters_; }

private:
    receive_step reject(fragment_error error) noexcept;

    frame_decoder decoder_;
    std::span<std::uint8_t> message_storage_;
    receive_counters counters_;
    bool active_ = false;
    std::uint16_t message_id_ = 0;
    std::uint16_t next_index_ = 0;
    std::uint16_t count_ = 0;
    std::uint32_t length_ = 0;
    std::uint32_t crc_ = 0;
    std::size_t filled_ = 0;
};

} // namespace amb::net::xbee
