#include <hosted/remote/tcp_links.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace amb::hosted::remote {

namespace {

std::string address_text(std::uint32_t address) {
    std::string text = net::ipv4_endpoint{address, 0}.to_string();
    return text.substr(0, text.rfind(':'));
}

std::span<const std::uint8_t> bytes_of(const std::string& text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

tcp_links::tcp_links(std::string_view self, network_node& network,
                     std::function<void(std::string_view)> log)
    : self_(self), network_(network), log_(std::move(log)) {
    network_.set_tcp_observer(this);
}

tcp_links::~tcp_links() {
    network_.set_tcp_observer(nullptr);
    if (loop_ != nullptr) {
        loop_->loop().cancel(service_);
        loop_->loop().cancel(timer_);
    }
    watches_.reset();  // before the descriptors close
}

std::string tcp_links::describe(const peer& link) const {
    return "tcp link to '" + link.name + "' on '" + link.network + "'";
}

result<link_id, std::string> tcp_links::add(std::string_view network, std::string_view neighbour,
                                            net::ipv4_endpoint address,
                                            net::ipv4_endpoint listen) {
    auto link = std::make_unique<peer>();
    link->network = std::string(network);
    link->name = std::string(neighbour);
    link->address = address;
    link->connects = connects_to(neighbour);
    if (!link->connects && std::none_of(listeners_.begin(), listeners_.end(),
                                        [&](const listener& each) { return each.network == network; })) {
        auto socket = net::tcp_listener::listen(listen);
        if (!socket)
            return failure{"cannot listen at " + listen.to_string() + " on tcp network '" +
                           std::string(network) + "': " + std::strerror(socket.error())};
        listeners_.push_back({std::string(network), std::move(*socket)});
        log_("tcp network '" + std::string(network) + "': listening at " + listen.to_string());
    }
    link->link = network_.add_tcp_link();
    peers_.push_back(std::move(link));
    return peers_.back()->link;
}

result<void, int> tcp_links::run_on(hosted::loop::process_loop& loop) {
    AMB_REQUIRE(loop_ == nullptr, "tcp_links::run_on twice");
    loop_ = &loop;
    watches_ = std::make_unique<ports::hosted::descriptor_set>(loop.driver(), &on_ready, this);
    wake();  // the first connections are made on the loop's first turn
    return {};
}

void tcp_links::on_ready(void* owner, void*, std::uint32_t) noexcept {
    static_cast<tcp_links*>(owner)->wake();
}

void tcp_links::wake() {
    if (loop_ != nullptr && !service_.pending())
        loop_->loop().post(service_);
}

tcp_links::peer* tcp_links::peer_of(link_id link) {
    for (auto& each : peers_)
        if (each->link == link)
            return each.get();
    return nullptr;
}

void tcp_links::serve() {
    const loop_clock::time_point now = loop_->loop().now();
    accept_all(now);
    identify_pending(now);
    connect_due(now);
    resync();
    arm_timer();
}

void tcp_links::accept_all(loop_clock::time_point now) {
    for (auto& each : listeners_) {
        while (auto accepted = each.socket->accept({})) {
            sockaddr_in from{};
            socklen_t length = sizeof from;
            std::uint32_t address = 0;
            if (::getpeername(accepted->fd(), reinterpret_cast<sockaddr*>(&from), &length) == 0 &&
                from.sin_family == AF_INET)
                address = ntohl(from.sin_addr.s_addr);
            if (pending_.size() >= max_pending)
                drop_pending(0);  // the oldest: a flood does not grow this
            pending_.push_back({each.network, std::move(accepted), address, now + hello_timeout});
        }
    }
}

void tcp_links::drop_pending(std::size_t index) {
    if (watches_)
        watches_->unwatch(pending_[index].link->fd());
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
}

// Accepted connections: the first message must be a valid hello.
void tcp_links::identify_pending(loop_clock::time_point now) {
    for (std::size_t i = 0; i < pending_.size();) {
        pending& each = pending_[i];
        pollfd polled{each.link->fd(), each.link->wanted_events(), 0};
        if (::poll(&polled, 1, 0) > 0)
            each.link->on_events(polled.revents, now);
        auto first = each.link->receive();
        if (!first) {
            if (each.link->current_state() == connection::state::closed || now >= each.deadline)
                drop_pending(i);
            else
                ++i;
            continue;
        }
        std::string_view text(reinterpret_cast<const char*>(first->data()), first->size());
        peer* from = nullptr;
        for (auto& link : peers_)
            if (!link->connects && link->network == each.network &&
                text == net::tcp_hello(link->name, self_))
                from = link.get();
        if (from == nullptr || from->address.address != each.from_address) {
            log_("tcp network '" + each.network + "': refused a connection from " +
                 address_text(each.from_address) +
                 (from == nullptr ? " (no hello of a neighbour waited for here)"
                                  : " (not the neighbour's address)"));
            drop_pending(i);
            continue;
        }
        if (watches_)
            watches_->unwatch(each.link->fd());
        from->connected = true;
        from->open = false;
        network_.replace_tcp(from->link, std::move(each.link));
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
    }
}

// The connecting side: makes the connection when there is none and it is time.
void tcp_links::connect_due(loop_clock::time_point now) {
    for (auto& each : peers_) {
        peer& link = *each;
        if (!link.connects || link.connected || now < link.retry_at)
            continue;
        auto made = connection::connect(link.address, {});
        if (!made) {
            lost(link, now, std::strerror(made.error()));
            continue;
        }
        (void)(*made)->send(bytes_of(net::tcp_hello(self_, link.name)));
        link.connected = true;
        link.open = false;
        network_.replace_tcp(link.link, std::move(*made));
    }
}

void tcp_links::opened(link_id id) {
    peer* link = peer_of(id);
    if (link == nullptr)
        return;
    link->open = true;
    link->opened_at = loop_->loop().now();
    link->waiting_logged = false;
    log_(describe(*link) + (link->connects ? ": connected to " + link->address.to_string()
                                           : ": accepted from " + address_text(link->address.address)));
}

void tcp_links::closed(link_id id, const connection& closed) {
    peer* link = peer_of(id);
    if (link == nullptr)
        return;
    const loop_clock::time_point now = loop_->loop().now();
    std::string why = "closed";
    if (closed.reason() == net::close_reason::socket_error)
        why = std::strerror(closed.socket_error());
    else if (closed.reason() == net::close_reason::protocol_error)
        why = "protocol error";
    if (link->open) {
        log_(describe(*link) + ": lost (" + why + ")");
        // A connection that lasted resets the backoff; one refused at once does not.
        if (now - link->opened_at >= lasting)
            link->backoff = first_retry;
    }
    link->connected = false;
    link->open = false;
    if (link->connects) {
        lost(*link, now, why);
        arm_timer();
    }
}

// The connecting side could not connect, or lost its connection: try again later.
void tcp_links::lost(peer& link, loop_clock::time_point now, const std::string& why) {
    if (!link.waiting_logged) {
        log_(describe(link) + ": waiting for " + link.address.to_string() + " (" + why +
             "); retrying");
        link.waiting_logged = true;
    }
    link.retry_at = now + link.backoff;
    link.backoff = std::min<std::chrono::milliseconds>(link.backoff * 2, last_retry);
}

// The loop's driver watches the listeners and the accepted connections waiting for a hello
// (the links' connections are the network node's watches).
void tcp_links::resync() {
    std::vector<std::pair<int, std::uint32_t>> wanted;
    auto want = [&](int fd, short events) {
        std::uint32_t flags =
            ((events & POLLIN) != 0 ? EPOLLIN : 0u) | ((events & POLLOUT) != 0 ? EPOLLOUT : 0u);
        wanted.emplace_back(fd, flags);
    };
    for (auto& each : listeners_)
        want(each.socket->fd(), POLLIN);
    for (auto& each : pending_)
        want(each.link->fd(), each.link->wanted_events());
    for (auto& [fd, events] : watched_)
        if (std::none_of(wanted.begin(), wanted.end(), [fd = fd](auto& w) { return w.first == fd; }))
            watches_->unwatch(fd);
    for (auto& [fd, events] : wanted) {
        auto known = std::find(watched_.begin(), watched_.end(), std::make_pair(fd, events));
        if (known == watched_.end())
            (void)watches_->watch(fd, events, nullptr);
    }
    watched_ = std::move(wanted);
}

// The earliest retry or hello deadline.
void tcp_links::arm_timer() {
    loop_clock::time_point earliest = loop_clock::time_point::max();
    for (auto& each : peers_)
        if (each->connects && !each->connected)
            earliest = std::min(earliest, each->retry_at);
    for (auto& each : pending_)
        earliest = std::min(earliest, each.deadline);
    event_loop& loop = loop_->loop();
    loop.cancel(timer_);
    if (earliest != loop_clock::time_point::max())
        loop.run_at(timer_, earliest);
}

}  // namespace amb::hosted::remote
