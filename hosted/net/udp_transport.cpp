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
constexpr std::size_t max_datagrams_per_event = 512;

} // namespace

struct udp_transport::peer {
    peer(ipv4_endpoint where, const amb::net::reliable_config& config)
        : address(where), storage(amb::net::reliable_endpoint::storage_size(config)),
          endpoint(config, storage) {}

    ipv4_endpoint address;
    std::vector<std::uint8_t> storage;
    amb::net::reliable_endpoint endpoint;
    std::deque<std::pair<std::uint64_t, std::vector<std::uint8_t>>> queue;
    // Messages handed to the endpoint: (sequence, ticket), at most a window of them.
    std::deque<std::pair<std::uint32_t, std::uint64_t>> in_flight;
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
    : fd_(fd), config_(config), local_(local) {
    if (config_.batch == 0)
        config_.batch = 1;
    const std::size_t batch = config_.batch;
    const std::size_t mtu = config_.protocol.mtu;
    in_buffers_.resize(batch * mtu);
    out_buffers_.resize(batch * mtu);
    in_headers_.resize(batch);
    out_headers_.resize(batch);
    in_vectors_.resize(batch);
    out_vectors_.resize(batch);
    in_addresses_.resize(batch);
    out_addresses_.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) {
        in_vectors_[i] = {in_buffers_.data() + i * mtu, mtu};
        out_vectors_[i] = {out_buffers_.data() + i * mtu, mtu};
        in_headers_[i] = {};
        in_headers_[i].msg_hdr.msg_iov = &in_vectors_[i];
        in_headers_[i].msg_hdr.msg_iovlen = 1;
        in_headers_[i].msg_hdr.msg_name = &in_addresses_[i];
        out_headers_[i] = {};
        out_headers_[i].msg_hdr.msg_iov = &out_vectors_[i];
        out_headers_[i].msg_hdr.msg_iovlen = 1;
        out_headers_[i].msg_hdr.msg_name = &out_addresses_[i];
        out_headers_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
}

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
    if (hold_output_ && config_.held_flush > 0 && ++held_sends_ >= config_.held_flush)
        held_sends_ = 0;
    else if (hold_output_)
        return ticket;
    flush(*target, now);
    transmit();
    return ticket;
}

// Hands queued messages to the endpoint while its window and buffer take them.
void udp_transport::start_next(peer& target, loop_clock::time_point now) {
    while (!target.queue.empty()) {
        auto& [ticket, bytes] = target.queue.front();
        // Sizes were checked in send(): the only refusal left is a full window or buffer.
        auto started = target.endpoint.send(bytes, now);
        if (!started) {
            AMB_ASSERT(started.error() == amb::net::send_error::busy,
                       "reliable_endpoint refused a message of a valid size");
            return;
        }
        target.in_flight.emplace_back(*started, ticket);
        target.queue.pop_front();
    }
}

void udp_transport::complete(peer& target, const amb::net::send_completion& completion,
                             loop_clock::time_point now) {
    std::uint64_t ticket = 0;
    for (auto each = target.in_flight.begin(); each != target.in_flight.end(); ++each) {
        if (each->first == completion.sequence) {
            ticket = each->second;
            target.in_flight.erase(each);
            break;
        }
    }
    if (reports_.size() >= config_.max_reports)
        reports_.pop_front();
    reports_.push_back(send_report{target.address, ticket, completion.failure});
    start_next(target, now);
}

// Takes every message the endpoint has ready, in order.
void udp_transport::deliver(peer& source) {
    while (auto message = source.endpoint.receive())
        received_.push_back(received_message{
            source.address, std::vector<std::uint8_t>(message->begin(), message->end())});
}

// Polls the endpoint into the output batch; the batch goes out when full (and by the caller).
void udp_transport::flush(peer& target, loop_clock::time_point now) {
    const std::size_t mtu = config_.protocol.mtu;
    while (true) {
        if (out_count_ == config_.batch)
            transmit();
        std::span<std::uint8_t> buffer(out_buffers_.data() + out_count_ * mtu, mtu);
        auto polled = target.endpoint.poll(now, buffer);
        if (polled.datagram_size > 0) {
            out_vectors_[out_count_].iov_len = polled.datagram_size;
            out_addresses_[out_count_] = to_sockaddr(target.address);
            ++out_count_;
        }
        if (polled.completed)
            complete(target, *polled.completed, now);
        if (polled.datagram_size == 0 && !polled.completed)
            return;
    }
}

void udp_transport::flush_due(loop_clock::time_point now) {
    // An endpoint with a datagram or a completion ready reports a deadline of min().
    for (auto& [address, target] : peers_)
        if (target->endpoint.next_deadline() <= now)
            flush(*target, now);
}

void udp_transport::transmit() {
    std::size_t at = 0;
    while (at < out_count_) {
        int sent;
        do {
            sent = ::sendmmsg(fd_, out_headers_.data() + at, static_cast<unsigned>(out_count_ - at),
                              0);
        } while (sent < 0 && errno == EINTR);
        ++counters_.send_calls;
        if (sent < 0) {
            // This datagram was refused (EAGAIN, ENOBUFS, an ICMP error): retransmission
            // recovers it. Go on with the rest.
            ++counters_.datagrams_refused_by_kernel;
            ++at;
            continue;
        }
        counters_.datagrams_sent += static_cast<std::uint64_t>(sent);
        at += static_cast<std::size_t>(sent);
    }
    out_count_ = 0;
}

void udp_transport::release_output(loop_clock::time_point now) {
    hold_output_ = false;
    held_sends_ = 0;
    flush_due(now);
    transmit();
}

std::size_t udp_transport::read_datagrams(loop_clock::time_point now) {
    // A full receive queue stops reading: datagrams wait in the kernel (or are dropped there
    // and retransmitted later), never acknowledged and then lost.
    std::size_t read = 0;
    drained_ = false;
    while (read < max_datagrams_per_event && received_.size() < config_.max_received) {
        for (std::size_t i = 0; i < config_.batch; ++i) {
            in_headers_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            in_headers_[i].msg_hdr.msg_flags = 0;
        }
        int got;
        do {
            got = ::recvmmsg(fd_, in_headers_.data(), static_cast<unsigned>(config_.batch),
                             MSG_DONTWAIT, nullptr);
        } while (got < 0 && errno == EINTR);
        ++counters_.receive_calls;
        if (got <= 0) {
            // EAGAIN: drained. Other errors (e.g. ICMP refusals) are transient: ask again.
            drained_ = got == 0 || errno == EAGAIN || errno == EWOULDBLOCK;
            break;
        }
        for (int i = 0; i < got; ++i) {
            ++counters_.datagrams_received;
            const mmsghdr& header = in_headers_[static_cast<std::size_t>(i)];
            if ((header.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
                ++counters_.datagrams_truncated;
                continue;
            }
            peer* source = find_or_add(from_sockaddr(in_addresses_[static_cast<std::size_t>(i)]));
            if (source == nullptr) {
                ++counters_.datagrams_from_unknown_peers;
                continue;
            }
            (void)source->endpoint.on_datagram(
                std::span<const std::uint8_t>(
                    static_cast<const std::uint8_t*>(
                        in_vectors_[static_cast<std::size_t>(i)].iov_base),
                    header.msg_len),
                now);
            deliver(*source);
        }
        read += static_cast<std::size_t>(got);
        if (static_cast<std::size_t>(got) < config_.batch) {
            drained_ = true; // fewer than asked for: the socket is drained
            break;
        }
    }
    return read;
}

std::size_t udp_transport::on_events(short revents, loop_clock::time_point now) {
    std::size_t read = (revents & POLLIN) != 0 ? read_datagrams(now) : 0;
    if (hold_output_)
        return read;
    // Acknowledgements go out after the whole batch, so that the datagrams of one burst share
    // one ack per peer.
    flush_due(now);
    transmit();
    return read;
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
