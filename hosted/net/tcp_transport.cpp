#include <hosted/net/tcp_transport.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace amb::hosted::net {

std::string tcp_hello(std::string_view from, std::string_view to) {
    std::string hello = "ambience-tcp 1 ";
    hello += from;
    hello += ' ';
    hello += to;
    return hello;
}

namespace {

sockaddr_in to_sockaddr(ipv4_endpoint endpoint) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(endpoint.address);
    address.sin_port = htons(endpoint.port);
    return address;
}

// Messages are request/response sized: send each as soon as it is written.
void set_no_delay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

} // namespace

result<std::unique_ptr<tcp_connection>, int> tcp_connection::connect(ipv4_endpoint to,
                                                                     const tcp_config& config) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failure{errno};
    set_no_delay(fd);
    sockaddr_in address = to_sockaddr(to);
    int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (connected != 0 && errno != EINPROGRESS) {
        int error = errno;
        ::close(fd);
        return failure{error};
    }
    return std::unique_ptr<tcp_connection>(
        new tcp_connection(fd, connected == 0 ? state::open : state::connecting, config));
}

std::unique_ptr<tcp_connection> tcp_connection::adopt(int fd, const tcp_config& config) {
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    set_no_delay(fd);
    return std::unique_ptr<tcp_connection>(new tcp_connection(fd, state::open, config));
}

tcp_connection::tcp_connection(int fd, state initial, const tcp_config& config)
    : fd_(fd), state_(initial), config_(config), decoder_storage_(config.max_message_size),
      decoder_(decoder_storage_) {}

tcp_connection::~tcp_connection() {
    if (fd_ >= 0)
        ::close(fd_);
}

void tcp_connection::close() noexcept {
    fail(close_reason::closed_locally);
}

void tcp_connection::fail(close_reason why, int error) noexcept {
    if (state_ == state::closed)
        return;
    state_ = state::closed;
    reason_ = why;
    socket_error_ = error;
    output_.clear();
    output_offset_ = 0;
    // The descriptor stays open (and owned) until destruction so that fd() stays stable for a
    // loop that registered it; it is shut down so that the peer sees the close.
    ::shutdown(fd_, SHUT_RDWR);
}

result<void, transport_error> tcp_connection::send(std::span<const std::uint8_t> message) {
    if (state_ == state::closed)
        return failure{transport_error::closed};
    if (message.size() > config_.max_message_size)
        return failure{transport_error::message_too_large};
    if (pending_output() + amb::net::length_prefix_size + message.size() > config_.max_queued_bytes)
        return failure{transport_error::queue_full};
    if (output_offset_ > 0 && output_offset_ >= output_.size() / 2) {
        output_.erase(output_.begin(),
                      output_.begin() + static_cast<std::ptrdiff_t>(output_offset_));
        output_offset_ = 0;
    }
    auto header = amb::net::encode_length_prefix(message.size());
    output_.insert(output_.end(), header.begin(), header.end());
    output_.insert(output_.end(), message.begin(), message.end());
    if (state_ == state::open)
        write_ready(); // try at once; most small messages go out without waiting for POLLOUT
    return {};
}

std::optional<std::vector<std::uint8_t>> tcp_connection::receive() {
    if (received_.empty())
        return std::nullopt;
    auto message = std::move(received_.front());
    received_.pop_front();
    return message;
}

short tcp_connection::wanted_events() const noexcept {
    if (state_ == state::closed)
        return 0;
    if (state_ == state::connecting)
        return POLLOUT;
    short events = received_.size() < config_.max_received ? POLLIN : 0;
    if (pending_output() > 0)
        events = static_cast<short>(events | POLLOUT);
    return events;
}

void tcp_connection::on_events(short revents, loop_clock::time_point) {
    if (state_ == state::connecting && (revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            fail(close_reason::socket_error, error);
            return;
        }
        state_ = state::open;
    }
    if (state_ != state::open)
        return;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0)
        read_ready();
    if (state_ == state::open && (revents & POLLOUT) != 0)
        write_ready();
}

void tcp_connection::read_ready() {
    std::uint8_t buffer[16 * 1024];
    while (received_.size() < config_.max_received) {
        ssize_t size = ::read(fd_, buffer, sizeof buffer);
        if (size < 0 && errno == EINTR)
            continue;
        if (size < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fail(close_reason::socket_error, errno);
            return;
        }
        if (size == 0) {
            fail(close_reason::peer_closed);
            return;
        }
        std::span<const std::uint8_t> input(buffer, static_cast<std::size_t>(size));
        while (!input.empty()) {
            auto step = decoder_.feed(input);
            if (step.error) {
                fail(close_reason::protocol_error);
                return;
            }
            input = input.subspan(step.consumed);
            if (step.message)
                received_.emplace_back(step.message->begin(), step.message->end());
        }
    }
}

void tcp_connection::write_ready() {
    while (pending_output() > 0) {
        ssize_t written =
            ::send(fd_, output_.data() + output_offset_, pending_output(), MSG_NOSIGNAL);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fail(close_reason::socket_error, errno);
            return;
        }
        output_offset_ += static_cast<std::size_t>(written);
    }
    output_.clear();
    output_offset_ = 0;
}

result<std::unique_ptr<tcp_listener>, int> tcp_listener::listen(ipv4_endpoint bind) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failure{errno};
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = to_sockaddr(bind);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        int error = errno;
        ::close(fd);
        return failure{error};
    }
    ipv4_endpoint local{ntohl(address.sin_addr.s_addr), ntohs(address.sin_port)};
    return std::unique_ptr<tcp_listener>(new tcp_listener(fd, local));
}

tcp_listener::~tcp_listener() {
    ::close(fd_);
}

std::unique_ptr<tcp_connection> tcp_listener::accept(const tcp_config& config) {
    int fd;
    do {
        fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return nullptr;
    return tcp_connection::adopt(fd, config);
}

} // namespace amb::hosted::net
