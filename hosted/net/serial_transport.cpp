#include <hosted/net/serial_transport.hpp>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace amb::hosted::net {

result<std::unique_ptr<serial_transport>, int> serial_transport::open(int fd,
                                                                      const serial_config& config) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        int error = errno;
        ::close(fd);
        return failure{error};
    }
    if (::isatty(fd)) {
        termios settings{};
        if (::tcgetattr(fd, &settings) != 0) {
            int error = errno;
            ::close(fd);
            return failure{error};
        }
        ::cfmakeraw(&settings);
        settings.c_cc[VMIN] = 1;
        settings.c_cc[VTIME] = 0;
        if (::tcsetattr(fd, TCSANOW, &settings) != 0) {
            int error = errno;
            ::close(fd);
            return failure{error};
        }
    }
    return std::unique_ptr<serial_transport>(new serial_transport(fd, config));
}

serial_transport::serial_transport(int fd, const serial_config& config)
    : fd_(fd), config_(config), frame_storage_(config.max_frame_data),
      message_storage_(config.max_message_size), receiver_(frame_storage_, message_storage_),
      sender_(config.max_frame_data) {}

serial_transport::~serial_transport() {
    ::close(fd_);
}

result<void, transport_error> serial_transport::send(std::span<const std::uint8_t> message) {
    if (message.size() > config_.max_message_size)
        return failure{transport_error::message_too_large};
    std::size_t frames = amb::net::xbee::fragment_count(message.size(), config_.max_frame_data);
    std::size_t worst = frames * amb::net::xbee::max_encoded_size(config_.max_frame_data);
    if (pending_output() + worst > config_.max_queued_bytes)
        return failure{transport_error::queue_full};
    if (!sender_.begin(message))
        return failure{transport_error::message_too_large};
    if (output_offset_ > 0 && output_offset_ >= output_.size() / 2) {
        output_.erase(output_.begin(),
                      output_.begin() + static_cast<std::ptrdiff_t>(output_offset_));
        output_offset_ = 0;
    }
    std::size_t frame_bound = amb::net::xbee::max_encoded_size(config_.max_frame_data);
    while (!sender_.finished()) {
        std::size_t at = output_.size();
        output_.resize(at + frame_bound);
        auto size = sender_.next_frame(std::span<std::uint8_t>(output_).subspan(at));
        AMB_ASSERT(size.has_value(), "a frame did not fit its worst-case size");
        output_.resize(at + *size);
    }
    write_ready();
    return {};
}

std::optional<std::vector<std::uint8_t>> serial_transport::receive() {
    if (received_.empty())
        return std::nullopt;
    auto message = std::move(received_.front());
    received_.pop_front();
    return message;
}

short serial_transport::wanted_events() const noexcept {
    short events = received_.size() < config_.max_received ? POLLIN : 0;
    if (pending_output() > 0)
        events = static_cast<short>(events | POLLOUT);
    return events;
}

void serial_transport::on_events(short revents, loop_clock::time_point) {
    if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0)
        read_ready();
    if ((revents & POLLOUT) != 0)
        write_ready();
}

void serial_transport::read_ready() {
    std::uint8_t buffer[4096];
    // Stop reading when the receive queue is full; the line bytes wait in the kernel meanwhile.
    // One read may complete a few messages past the bound (at most its bytes' worth).
    while (received_.size() < config_.max_received) {
        ssize_t size = ::read(fd_, buffer, sizeof buffer);
        if (size < 0 && errno == EINTR)
            continue;
        if (size <= 0) {
            // 0 or EIO: the other side of a pty is closed; EAGAIN: drained.
            if (size < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                last_error_ = errno;
            return;
        }
        std::span<const std::uint8_t> input(buffer, static_cast<std::size_t>(size));
        while (!input.empty()) {
            auto step = receiver_.feed(input);
            input = input.subspan(step.consumed);
            if (step.message)
                received_.emplace_back(step.message->begin(), step.message->end());
        }
    }
}

void serial_transport::write_ready() {
    while (pending_output() > 0) {
        ssize_t written = ::write(fd_, output_.data() + output_offset_, pending_output());
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                last_error_ = errno;
            return;
        }
        output_offset_ += static_cast<std::size_t>(written);
    }
    output_.clear();
    output_offset_ = 0;
}

} // namespace amb::hosted::net
