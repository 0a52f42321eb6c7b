// serial_transport: messages over a serial line (a tty, a pty, or QEMU's UART socket) in
// XBee-style API-mode-2 frames (<net/xbee_message.hpp>, docs/net.md "Serial links").
//
//     int fd = ::open("/dev/ttyUSB0", O_RDWR | O_NOCTTY);
//     auto line = serial_transport::open(fd, {});   // takes ownership; raw mode if a tty
//     line->send(message);                          // encoded into frames, queued
//     ... drive it: poll_transports(timeout, *line), or epoll on fd().
//     while (auto message = line->receive()) use(*message);
//
// Each message is split into fragments of at most `max_frame_data` bytes of frame data; the
// receiver reassembles one message at a time. A damaged or lost frame loses its message (the
// layer above retries if it must); garbage on the line is skipped; all of it is counted in
// `frame_counters()` and `counters()`. A serial line has no acknowledgements, so there are no
// timers (`next_deadline` is `max()`). The line speed is whatever the descriptor was set to;
// `open` only switches a tty to raw mode. When the other side of a pty closes, poll reports
// POLLHUP on every call and reads fail with EIO (`last_error()`): the owner should stop watching
// the descriptor until the line comes back. Single-threaded.
#pragma once

#include <hosted/net/transport.hpp>
#include <net/xbee_message.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace amb::hosted::net {

struct serial_config {
    /// Frame data per frame, header included (both ends use the same value).
    std::size_t max_frame_data = 255;
    std::size_t max_message_size = 64 * 1024;
    std::size_t max_queued_bytes = 1024 * 1024;
    std::size_t max_received = 64;
};

class serial_transport {
public:
    /// Takes ownership of `fd` (closed on failure too), makes it non-blocking and, if it is a
    /// terminal, raw (cfmakeraw: no echo, no line editing, no flow control, 8-bit clean). The
    /// error is the errno of the call that failed.
    static result<std::unique_ptr<serial_transport>, int> open(int fd, const serial_config& config);
    ~serial_transport();
    serial_transport(const serial_transport&) = delete;
    serial_transport& operator=(const serial_transport&) = delete;

    /// Encodes `message` into frames and queues them.
    result<void, transport_error> send(std::span<const std::uint8_t> message);
    std::optional<std::vector<std::uint8_t>> receive();

    int fd() const noexcept { return fd_; }
    short wanted_events() const noexcept;
    void on_events(short revents, loop_clock::time_point now);
    loop_clock::time_point next_deadline() const noexcept { return loop_clock::time_point::max(); }

    /// Bytes queued and not yet written (0: the line is between messages).
    std::size_t pending_output() const noexcept { return output_.size() - output_offset_; }
    /// The errno of the last failed read or write other than EAGAIN (0: none). A failed line
    /// stays open: a serial device may come back (for example a pty whose other side reopens).
    int last_error() const noexcept { return last_error_; }
    const amb::net::xbee::decode_counters& frame_counters() const noexcept {
        return receiver_.frame_counters();
    }
    const amb::net::xbee::receive_counters& counters() const noexcept {
        return receiver_.counters();
    }

private:
    serial_transport(int fd, const serial_config& config);
    void read_ready();
    void write_ready();

    int fd_;
    serial_config config_;
    std::vector<std::uint8_t> frame_storage_;
    std::vector<std::uint8_t> message_storage_;
    amb::net::xbee::message_receiver receiver_;
    amb::net::xbee::message_sender sender_;
    std::deque<std::vector<std::uint8_t>> received_;
    std::vector<std::uint8_t> output_;
    std::size_t output_offset_ = 0;
    int last_error_ = 0;
};

} // namespace amb::hosted::net
