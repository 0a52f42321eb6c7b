#include <net/length_prefixed.hpp>

#include <net/byte_order.hpp>

#include <base/check.hpp>

#include <cstring>

namespace amb::net {

std::array<std::uint8_t, length_prefix_size> encode_length_prefix(std::size_t size) noexcept {
    AMB_REQUIRE(size <= 0xffffffffu, "message longer than 2^32 - 1 bytes");
    std::array<std::uint8_t, length_prefix_size> header{};
    write_u32(header, 0, static_cast<std::uint32_t>(size));
    return header;
}

stream_step length_prefixed_decoder::feed(std::span<const std::uint8_t> input) noexcept {
    stream_step step;
    if (failed_) {
        step.error = stream_error::message_too_large;
        return step;
    }
    while (step.consumed < input.size() || (in_body_ && filled_ == length_)) {
        if (!in_body_) {
            header_[header_filled_++] = input[step.consumed++];
            if (header_filled_ < length_prefix_size)
                continue;
            header_filled_ = 0;
            length_ = read_u32(std::span<const std::uint8_t>(header_), 0);
            if (length_ > storage_.size()) {
                failed_ = true;
                step.error = stream_error::message_too_large;
                return step;
            }
            in_body_ = true;
            filled_ = 0;
            continue;
        }
        std::size_t wanted = length_ - filled_;
        std::size_t available = input.size() - step.consumed;
        std::size_t taken = wanted < available ? wanted : available;
        if (taken > 0)
            std::memcpy(storage_.data() + filled_, input.data() + step.consumed, taken);
        filled_ += taken;
        step.consumed += taken;
        if (filled_ == length_) {
            in_body_ = false;
            step.message = std::span<const std::uint8_t>(storage_.data(), length_);
            return step;
        }
    }
    return step;
}

} // namespace amb::net
