#include <net/xbee_message.hpp>

#include <net/byte_order.hpp>
#include <net/crc32.hpp>

#include <cstring>

namespace amb::net::xbee {

namespace {

constexpr std::size_t max_fragments = 0xffff;

} // namespace

std::size_t fragment_count(std::size_t message_size, std::size_t max_frame_data) noexcept {
    AMB_REQUIRE(max_frame_data >= min_fragment_frame_size, "frames too small for a fragment");
    std::size_t chunk = max_frame_data - fragment_header_size;
    return message_size == 0 ? 1 : (message_size + chunk - 1) / chunk;
}

message_sender::message_sender(std::size_t max_frame_data) noexcept
    : max_frame_data_(max_frame_data) {
    AMB_REQUIRE(max_frame_data >= min_fragment_frame_size && max_frame_data <= max_frame_data_size,
                "max_frame_data out of range");
}

result<void, send_error> message_sender::begin(std::span<const std::uint8_t> message) noexcept {
    if (!finished())
        return failure{send_error::busy};
    std::size_t count = fragment_count(message.size(), max_frame_data_);
    if (count > max_fragments || message.size() > 0xffffffffu)
        return failure{send_error::message_too_large};
    message_ = message;
    message_crc_ = crc32(message);
    ++message_id_;
    count_ = count;
    next_index_ = 0;
    return {};
}

result<std::size_t, encode_error> message_sender::next_frame(std::span<std::uint8_t> out) noexcept {
    AMB_REQUIRE(!finished(), "next_frame() with no frame left");
    // The fragment is assembled in a small stack buffer, header and payload, then escaped into
    // `out`; to avoid a second copy of the payload the frame is encoded in pieces instead.
    std::size_t chunk = max_frame_data_ - fragment_header_size;
    std::size_t offset = next_index_ * chunk;
    std::size_t payload = message_.size() - offset < chunk ? message_.size() - offset : chunk;
    std::uint8_t header[fragment_header_size];
    std::span<std::uint8_t> header_span(header);
    header[0] = fragment_frame_type;
    write_u16(header_span, 1, message_id_);
    write_u16(header_span, 3, static_cast<std::uint16_t>(next_index_));
    write_u16(header_span, 5, static_cast<std::uint16_t>(count_));
    write_u32(header_span, 7, static_cast<std::uint32_t>(message_.size()));
    write_u32(header_span, 11, message_crc_);
    std::span<const std::uint8_t> body = message_.subspan(offset, payload);

    // Size check first, so that a short buffer leaves the sender where it was.
    std::size_t data_size = fragment_header_size + payload;
    std::uint8_t sum = static_cast<std::uint8_t>(0xff - checksum(header_span));
    sum = static_cast<std::uint8_t>(sum + (0xff - checksum(body)));
    std::uint8_t frame_checksum = static_cast<std::uint8_t>(0xff - sum);
    std::size_t needed = 1 + (needs_escape(static_cast<std::uint8_t>(data_size >> 8)) ? 2 : 1) +
                         (needs_escape(static_cast<std::uint8_t>(data_size)) ? 2 : 1) +
                         (needs_escape(frame_checksum) ? 2 : 1);
    for (std::uint8_t byte : header_span)
        needed += needs_escape(byte) ? 2 : 1;
    for (std::uint8_t byte : body)
        needed += needs_escape(byte) ? 2 : 1;
    if (out.size() < needed)
        return failure{encode_error::buffer_too_small};

    std::size_t at = 0;
    auto put = [&](std::uint8_t byte) {
        if (needs_escape(byte)) {
            out[at++] = escape_byte;
            out[at++] = static_cast<std::uint8_t>(byte ^ escape_xor);
        } else {
            out[at++] = byte;
        }
    };
    out[at++] = start_delimiter;
    put(static_cast<std::uint8_t>(data_size >> 8));
    put(static_cast<std::uint8_t>(data_size));
    for (std::uint8_t byte : header_span)
        put(byte);
    for (std::uint8_t byte : body)
        put(byte);
    put(frame_checksum);
    ++next_index_;
    return at;
}

const char* to_string(fragment_error error) noexcept {
    switch (error) {
    case fragment_error::not_a_fragment:
        return "frame is not a message fragment";
    case fragment_error::bad_header:
        return "bad fragment header";
    case fragment_error::message_too_large:
        return "message larger than the receive storage";
    case fragment_error::out_of_order:
        return "fragment out of order";
    case fragment_error::inconsistent:
        return "fragment inconsistent with its message";
    case fragment_error::abandoned:
        return "incomplete message abandoned";
    case fragment_error::bad_message_crc:
        return "message CRC mismatch";
    }
    return "unknown fragment error";
}

message_receiver::message_receiver(std::span<std::uint8_t> frame_storage,
                                   std::span<std::uint8_t> message_storage) noexcept
    : decoder_(frame_storage), message_storage_(message_storage) {}

receive_step message_receiver::feed(std::span<const std::uint8_t> input) noexcept {
    decode_step decoded = decoder_.feed(input);
    receive_step step;
    if (decoded.frame)
        step = accept_frame(*decoded.frame);
    step.consumed = decoded.consumed;
    step.frame_error = decoded.error;
    return step;
}

receive_step message_receiver::reject(fragment_error error) noexcept {
    switch (error) {
    case fragment_error::not_a_fragment:
        ++counters_.not_a_fragment;
        break;
    case fragment_error::bad_header:
        ++counters_.bad_header;
        break;
    case fragment_error::message_too_large:
        ++counters_.message_too_large;
        break;
    case fragment_error::out_of_order:
        ++counters_.out_of_order;
        break;
    case fragment_error::inconsistent:
        ++counters_.inconsistent;
        break;
    case fragment_error::abandoned:
        ++counters_.abandoned;
        break;
    case fragment_error::bad_message_crc:
        ++counters_.bad_message_crc;
        break;
    }
    receive_step step;
    step.fragment_error = error;
    return step;
}

receive_step message_receiver::accept_frame(std::span<const std::uint8_t> frame) noexcept {
    if (frame.size() < fragment_header_size || frame[0] != fragment_frame_type)
        return reject(fragment_error::not_a_fragment);
    std::uint16_t id = read_u16(frame, 1);
    std::uint16_t index = read_u16(frame, 3);
    std::uint16_t count = read_u16(frame, 5);
    std::uint32_t length = read_u32(frame, 7);
    std::uint32_t crc = read_u32(frame, 11);
    std::span<const std::uint8_t> payload = frame.subspan(fragment_header_size);
    if (count == 0 || index >= count)
        return reject(fragment_error::bad_header);
    // Every fragment but the last carries at least one byte, so `count` can never exceed the
    // length by much; a last fragment must end exactly at the length (checked below).
    if ((index + 1 < count && payload.empty()) || count - 1u > length)
        return reject(fragment_error::bad_header);
    if (length > message_storage_.size())
        return reject(fragment_error::message_too_large);

    bool abandoned = false;
    if (index == 0) {
        abandoned = active_;
        active_ = true;
        message_id_ = id;
        count_ = count;
        length_ = length;
        crc_ = crc;
        filled_ = 0;
        next_index_ = 0;
    } else if (!active_ || id != message_id_ || index != next_index_) {
        active_ = false;
        return reject(fragment_error::out_of_order);
    } else if (count != count_ || length != length_ || crc != crc_) {
        active_ = false;
        return reject(fragment_error::inconsistent);
    }
    bool last = index + 1u == count;
    if (payload.size() > length_ - filled_ || (last && filled_ + payload.size() != length_)) {
        active_ = false;
        return reject(fragment_error::bad_header);
    }
    if (!payload.empty())
        std::memcpy(message_storage_.data() + filled_, payload.data(), payload.size());
    filled_ += payload.size();
    ++next_index_;

    receive_step step;
    if (abandoned)
        step = reject(fragment_error::abandoned);
    if (!last)
        return step;
    active_ = false;
    std::span<const std::uint8_t> message(message_storage_.data(), filled_);
    if (crc32(message) != crc_)
        return reject(fragment_error::bad_message_crc);
    ++counters_.messages;
    step.message = message;
    return step;
}

} // namespace amb::net::xbee
