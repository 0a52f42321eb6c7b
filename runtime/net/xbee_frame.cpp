#include <net/xbee_frame.hpp>

namespace amb::net::xbee {

namespace {

// Appends `byte` escaped at `at`; the caller reserved two bytes.
std::size_t put_escaped(std::span<std::uint8_t> out, std::size_t at, std::uint8_t byte) noexcept {
    if (needs_escape(byte)) {
        out[at] = escape_byte;
        out[at + 1] = static_cast<std::uint8_t>(byte ^ escape_xor);
        return at + 2;
    }
    out[at] = byte;
    return at + 1;
}

std::size_t escaped_size(std::uint8_t byte) noexcept {
    return needs_escape(byte) ? 2 : 1;
}

} // namespace

std::uint8_t checksum(std::span<const std::uint8_t> data) noexcept {
    std::uint8_t sum = 0;
    for (std::uint8_t byte : data)
        sum = static_cast<std::uint8_t>(sum + byte);
    return static_cast<std::uint8_t>(0xff - sum);
}

std::size_t encoded_size(std::span<const std::uint8_t> data) noexcept {
    AMB_REQUIRE(data.size() <= max_frame_data_size, "frame data longer than 65535 bytes");
    std::size_t size = 1 + escaped_size(static_cast<std::uint8_t>(data.size() >> 8)) +
                       escaped_size(static_cast<std::uint8_t>(data.size()));
    for (std::uint8_t byte : data)
        size += escaped_size(byte);
    return size + escaped_size(checksum(data));
}

result<std::size_t, encode_error> encode_frame(std::span<const std::uint8_t> data,
                                               std::span<std::uint8_t> out) noexcept {
    if (data.size() > max_frame_data_size)
        return failure{encode_error::frame_too_large};
    if (out.size() < encoded_size(data))
        return failure{encode_error::buffer_too_small};
    std::size_t at = 0;
    out[at++] = start_delimiter;
    at = put_escaped(out, at, static_cast<std::uint8_t>(data.size() >> 8));
    at = put_escaped(out, at, static_cast<std::uint8_t>(data.size()));
    for (std::uint8_t byte : data)
        at = put_escaped(out, at, byte);
    return put_escaped(out, at, checksum(data));
}

const char* to_string(decode_error error) noexcept {
    switch (error) {
    case decode_error::garbage:
        return "garbage between frames";
    case decode_error::bad_checksum:
        return "bad checksum";
    case decode_error::oversize_length:
        return "frame length exceeds capacity";
    case decode_error::bad_escape:
        return "bad escape sequence";
    case decode_error::interrupted:
        return "frame interrupted by a start delimiter";
    }
    return "unknown decode error";
}

frame_decoder::frame_decoder(std::span<std::uint8_t> storage) noexcept : storage_(storage) {
    AMB_REQUIRE(storage.size() <= max_frame_data_size, "frame storage larger than 65535 bytes");
}

void frame_decoder::reset() noexcept {
    state_ = state::hunting;
    escaped_ = false;
    in_garbage_ = false;
}

void frame_decoder::start_frame() noexcept {
    state_ = state::length_high;
    escaped_ = false;
    in_garbage_ = false;
    length_ = 0;
    filled_ = 0;
    sum_ = 0;
}

void frame_decoder::fail(decode_error error) noexcept {
    switch (error) {
    case decode_error::garbage:
        ++counters_.garbage_runs;
        break;
    case decode_error::bad_checksum:
        ++counters_.bad_checksum;
        break;
    case decode_error::oversize_length:
        ++counters_.oversize_length;
        break;
    case decode_error::bad_escape:
        ++counters_.bad_escape;
        break;
    case decode_error::interrupted:
        ++counters_.interrupted;
        break;
    }
    state_ = state::hunting;
    escaped_ = false;
}

bool frame_decoder::unescape(std::uint8_t& byte, std::optional<decode_error>& error) noexcept {
    if (escaped_) {
        escaped_ = false;
        byte = static_cast<std::uint8_t>(byte ^ escape_xor);
        if (!needs_escape(byte)) {
            fail(decode_error::bad_escape);
            error = decode_error::bad_escape;
            return false;
        }
        return true;
    }
    if (byte == escape_byte) {
        escaped_ = true;
        return false;
    }
    return true;
}

decode_step frame_decoder::feed(std::span<const std::uint8_t> input) noexcept {
    decode_step step;
    while (step.consumed < input.size()) {
        std::uint8_t byte = input[step.consumed++];
        if (byte == start_delimiter) {
            // In API mode 2 an unescaped delimiter only ever starts a frame, so whatever was in
            // progress is lost, and decoding restarts here.
            bool inside = state_ != state::hunting;
            start_frame();
            if (inside) {
                ++counters_.interrupted;
                step.error = decode_error::interrupted;
                return step;
            }
            continue;
        }
        if (state_ == state::hunting) {
            ++counters_.garbage_bytes;
            if (!in_garbage_) {
                in_garbage_ = true;
                fail(decode_error::garbage);
                step.error = decode_error::garbage;
                return step;
            }
            continue;
        }
        if (!unescape(byte, step.error)) {
            if (step.error)
                return step;
            continue;
        }
        switch (state_) {
        case state::length_high:
            length_ = static_cast<std::uint16_t>(byte << 8);
            state_ = state::length_low;
            break;
        case state::length_low:
            length_ = static_cast<std::uint16_t>(length_ | byte);
            if (length_ > storage_.size()) {
                fail(decode_error::oversize_length);
                step.error = decode_error::oversize_length;
                return step;
            }
            state_ = length_ == 0 ? state::checksum : state::data;
            break;
        case state::data:
            storage_[filled_++] = byte;
            sum_ = static_cast<std::uint8_t>(sum_ + byte);
            if (filled_ == length_)
                state_ = state::checksum;
            break;
        case state::checksum:
            if (static_cast<std::uint8_t>(sum_ + byte) != 0xff) {
                fail(decode_error::bad_checksum);
                step.error = decode_error::bad_checksum;
                return step;
            }
            state_ = state::hunting;
            ++counters_.frames;
            step.frame = std::span<const std::uint8_t>(storage_.data(), filled_);
            return step;
        case state::hunting:
            break; // handled above
        }
    }
    return step;
}

} // namespace amb::net::xbee
