// Length-prefixed messages on a byte stream (TCP): each message is a 32-bit big-endian length
// followed by that many bytes. Wire format in docs/net.md ("Stream links").
//
// Encoding is trivial: `encode_length_prefix(size)` gives the four header bytes to write before
// the message. Decoding: a `length_prefixed_decoder` over caller storage (its size is the largest
// message accepted) is fed arbitrary chunks of the stream and returns at most one message per
// call, pointing into its storage and valid until the next `feed`. A length above the storage
// size cannot be skipped safely (the stream has no resynchronisation point), so the decoder
// reports `message_too_large` and stays failed: the connection must be closed. Not thread-safe;
// never allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace amb::net {

inline constexpr std::size_t length_prefix_size = 4;

/// The header to send before a message of `size` bytes (precondition: `size < 2^32`).
std::array<std::uint8_t, length_prefix_size> encode_length_prefix(std::size_t size) noexcept;

enum class stream_error : std::uint8_t {
    message_too_large = 1, ///< the announced length exceeds the storage; the stream is dead
};

struct stream_step {
    std::size_t consumed = 0;
    /// A complete message in the decoder's storage, valid until the next `feed`.
    std::optional<std::span<const std::uint8_t>> message;
    std::optional<stream_error> error;
};

class length_prefixed_decoder {
public:
    /// `storage` holds one message; its size is the largest message accepted. It must outlive
    /// the decoder.
    explicit length_prefixed_decoder(std::span<std::uint8_t> storage) noexcept
        : storage_(storage) {}

    /// Consumes stream bytes until one message is complete or the input ends. Once failed it
    /// consumes nothing and reports the error again.
    stream_step feed(std::span<const std::uint8_t> input) noexcept;

    bool failed() const noexcept { return failed_; }
    /// True when the decoder is between messages (a clean place for the stream to end).
    bool idle() const noexcept { return header_filled_ == 0 && !in_body_; }
    std::size_t capacity() const noexcept { return storage_.size(); }

private:
    std::span<std::uint8_t> storage_;
    std::uint8_t header_[length_prefix_size] = {};
    std::size_t header_filled_ = 0;
    bool in_body_ = false;
    bool failed_ = false;
    std::size_t length_ = 0;
    std::size_t filled_ = 0;
};

} // namespace amb::net
