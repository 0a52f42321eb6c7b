#include <hosted/net/udp_transport.hpp>

#include <base/platform.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace amb::hosted::net {

namespace {

sockaddr_in to_sockaddr(ipv4_endpoint endpoint) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(endpoint.address);
    address.sin_port = htons(endpoint.port);
    return address;
}

ipv4_endpoint from_sockaddr(const sockaddr_in& address) {
    return {ntohl(address.sin_addr.s_addr), ntohs(address.sin_port)};
}

std::uint32_t random_session() {
    std::uint32_t session = 0;
    while (session == 0) {
        std::uint8_t bytes[4];
        AMB_ASSERT(port::fill_entropy(bytes), "no entropy for a session id");
        std::memcpy(&session, bytes, sizeof session);
    }
    return session;
}

// Receives at most this many datagrams per readiness event, so one busy peer cannot starve the
// rest of the loop.
constexpr int max_datagrams_per_event = 512;

} // namespace

struct udp_transport::peer {
    peer(ipv4_endpoint where, const amb::net::reliable_config& config)
        : address(where), storage(amb::net::reliable_endpoint::storage_size(config)),
          endpoint(config, storage) {}

    ipv4_endpoint address;
    std::vector<std::uint8_t> storage;
    amb::net::reliable_endpoint endpoint;
    std::deque<std::pair<std::uint64_t, std::vector<std::uint8_t>>> queue;
    std::uint64_t ticket_in_flight = 0;
};

result<std::unique_ptr<udp_transport>, int> udp_transport::open(const udp_config& config) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failure{errno};
    sockaddr_in address = to_sockaddr(config.bind);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        int error = errno;
        ::close(fd);
        return failure{error};
    }
    return std::unique_ptr<udp_transport>(new udp_transport(fd, config, from_sockaddr(address)));
}

udp_transport::udp_transport(int fd, const udp_config& config, ipv4_endpoint local)
    : fd_(fd), config_(config), local_(local), datagram_buffer_(amb::net::max_datagram_size) {}

udp_transport::~udp_transport() {
    ::close(fd_);
}

udp_transport::peer* udp_transport::find_or_add(ipv4_endpoint address) {
    auto found = peers_.find(address);
    if (found != peers_.end())
        return found->second.get();
    if (peers_.size() >= config_.max_peers)
        return nullptr;
    amb::net::reliable_config protocol = config_.protocol;
    protocol.session = random_session();
    auto added = peers_.emplace(address, std::make_unique<peer>(address, protocol));
    return added.first->second.get();
}

result<std::uint64_t, transport_error> udp_transport::send(ipv4_endpoint to,
                                                           std::span<const std::uint8_t> message,
                                                           loop_clock::time_point now) {
    if (message.size() > config_.protocol.max_message_size)
        return failure{transport_error::message_too_large};
    peer* target = find_or_add(to);
    if (target == nullptr)
        return failure{transport_error::too_many_peers};
    if (target->queue.size() >= config_.max_queued)
        return failure{transport_error::queue_full};
    std::uint64_t ticket = next_ticket_++;
    target->queue.emplace_back(ticket, std::vector<std::uint8_t>(message.begin(), message.end()));
    start_next(*target, now);
    flush(*target, now);
    return ticket;
}

void udp_transport::start_next(peer& target, loop_clock::time_point now) {
    if (target.endpoint.sending() || target.queue.empty())
        return;
    auto& [ticket, bytes] = target.queue.front();
    // Sizes were checked in send(), and the endpoint is idle: this cannot fail.
    auto started = target.endpoint.send(bytes, now);
    AMB_ASSERT(started.has_value(), "reliable_endpoint refused an idle send");
    target.ticket_in_flight = ticket;
    target.queue.pop_front();
}

void udp_transport::complete(peer& target, const amb::net::send_completion& completion,
                             loop_clock::time_point now) {
    if (reports_.size() >= config_.max_reports)
        reports_.pop_front();
    reports_.push_back(send_report{target.address, target.ticket_in_flight, completion.failure});
    start_next(target, now);
}

void udp_transport::flush(peer& target, loop_clock::time_point now) {
    sockaddr_in address = to_sockaddr(target.address);
    while (true) {
        auto polled = target.endpoint.poll(now, datagram_buffer_);
        if (polled.datagram_size > 0) {
            ssize_t sent;
            do {
                sent = ::sendto(fd_, datagram_buffer_.data(), polled.datagram_size, 0,
                                reinterpret_cast<sockaddr*>(&address), sizeof address);
            } while (sent < 0 && errno == EINTR);
            if (sent < 0)
                ++counters_.datagrams_refused_by_kernel;
            else
                ++counters_.datagrams_sent;
        }
        if (polled.completed)
            complete(target, *polled.completed, now);
        if (polled.datagram_size == 0 && !polled.completed)
            return;
    }
}

void udp_transport::on_events(short revents, loop_clock::time_point now) {
    if ((revents & POLLIN) != 0) {
        // A full receive queue stops reading: datagrams wait in the kernel (or are dropped there
        // and retransmitted later), never acknowledged and then lost.
        for (int i = 0; i < max_datagrams_per_event && received_.size() < config_.max_received;
             ++i) {
            sockaddr_in address{};
            socklen_t length = sizeof address;
            ssize_t size = ::recvfrom(fd_, datagram_buffer_.data(), datagram_buffer_.size(), 0,
                                      reinterpret_cast<sockaddr*>(&address), &length);
            if (size < 0 && errno == EINTR)
                continue;
            if (size < 0)
                break; // EAGAIN: drained. Other errors (e.g. ICMP refusals) are transient.
            ++counters_.datagrams_received;
            peer* source = find_or_add(from_sockaddr(address));
            if (source == nullptr) {
                ++counters_.datagrams_from_unknown_peers;
                continue;
            }
            auto outcome = source->endpoint.on_datagram(
                std::span<const std::uint8_t>(datagram_buffer_.data(),
                                              static_cast<std::size_t>(size)),
                now);
            if (outcome.delivered)
                received_.push_back(received_message{
                    source->address, std::vector<std::uint8_t>(outcome.delivered->begin(),
                                                               outcome.delivered->end())});
            if (outcome.completed)
                complete(*source, *outcome.completed, now);
        }
    }
    // Acknowledgements go out after the whole batch, so that the datagrams of one burst share
    // one ack per peer; an endpoint with an ack due reports a deadline of min().
    for (auto& [address, target] : peers_)
        if (target->endpoint.next_deadline() <= now)
            flush(*target, now);
}

loop_clock::time_point udp_transport::next_deadline() const noexcept {
    loop_clock::time_point deadline = loop_clock::time_point::max();
    for (const auto& [address, target] : peers_)
        deadline = std::min(deadline, target->endpoint.next_deadline());
    return deadline;
}

std::optional<received_message> udp_transport::receive() {
    if (received_.empty())
        return std::nullopt;
    received_message message = std::move(received_.front());
    received_.pop_front();
    return message;
}

std::optional<send_report> udp_transport::take_report() {
    if (reports_.empty())
        return std::nullopt;
    send_report report = reports_.front();
    reports_.pop_front();
    return report;
}

const amb::net::reliable_counters* udp_transport::peer_counters(ipv4_endpoint address) const {
    auto found = peers_.find(address);
    return found == peers_.end() ? nullptr : &found->second->endpoint.counters();
}

} // namespace amb::hosted::net
