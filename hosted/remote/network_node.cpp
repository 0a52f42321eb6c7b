#include <hosted/remote/network_node.hpp>

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace amb::hosted::remote {

namespace ar = amb::remote;

loop_clock::time_point system_clock_source::monotonic() {
    return net::monotonic_now();
}

std::uint64_t system_clock_source::unix_microseconds() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

void incident_log::report(const ar::incident& what) {
    const auto kind = static_cast<std::size_t>(what.kind);
    if (kind < std::size(counts_))
        ++counts_[kind];
    // One JSON object per line, written by the JSON library: names come from packets (the
    // envelope checks them, but this log must stay well-formed whatever a peer sends), and
    // invalid UTF-8 is replaced rather than copied out.
    nlohmann::ordered_json line = {{"node", node_name_}, {"incident", ar::describe(what.kind)}};
    if (what.link != unknown_link)
        line["link"] = what.link;
    auto put = [&](const char* key, std::string_view text) {
        if (!text.empty())
            line[key] = text;
    };
    put("source", what.source);
    put("destination", what.destination);
    put("service", what.service);
    put("procedure", what.procedure);
    if (what.kind == ar::incident_kind::malformed_packet)
        line["envelope"] = ar::describe(what.envelope);
    if (what.kind == ar::incident_kind::request_denied) {
        last_check_ = what.token.what;
        line["check"] = caplets::describe(what.token.what);
        line["frame"] = what.token.frame;
    }
    const std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fprintf(out_, "%s\n", text.c_str());
    std::fflush(out_);
}

std::uint64_t incident_log::count(ar::incident_kind kind) const {
    const auto index = static_cast<std::size_t>(kind);
    return index < std::size(counts_) ? counts_[index] : 0;
}

network_node::network_node() = default;

network_node::~network_node() {
    if (loop_ != nullptr && registered()) {
        loop_->loop().cancel(deadline_);
        loop_->loop().remove_poller(*this);
    }
    watches_.reset();
    node_.reset(); // before the transports it sends through
}

std::size_t network_node::add_udp(std::unique_ptr<net::udp_transport> transport) {
    AMB_REQUIRE(loop_ == nullptr, "network_node: transports are added before run_on");
    udp_.push_back(std::move(transport));
    return udp_.size() - 1;
}

std::size_t network_node::add_serial(std::unique_ptr<net::serial_transport> line) {
    AMB_REQUIRE(loop_ == nullptr, "network_node: transports are added before run_on");
    serial_.push_back(std::move(line));
    return serial_.size() - 1;
}

std::size_t network_node::add_tcp(std::unique_ptr<net::tcp_connection> connection) {
    AMB_REQUIRE(loop_ == nullptr, "network_node: transports are added before run_on");
    tcp_.push_back(std::move(connection));
    return tcp_.size() - 1;
}

link_id network_node::add_udp_link(std::size_t udp, net::ipv4_endpoint neighbour) {
    AMB_REQUIRE(udp < udp_.size() && links_.size() < unknown_link, "bad UDP transport index");
    links_.push_back({link_kind::udp, udp, neighbour});
    return static_cast<link_id>(links_.size() - 1);
}

link_id network_node::add_serial_link(std::size_t serial) {
    AMB_REQUIRE(serial < serial_.size() && links_.size() < unknown_link, "bad serial index");
    links_.push_back({link_kind::serial, serial, {}});
    return static_cast<link_id>(links_.size() - 1);
}

link_id network_node::add_tcp_link() {
    AMB_REQUIRE(loop_ == nullptr && links_.size() < unknown_link, "add_tcp_link after run_on");
    tcp_.push_back(nullptr);
    links_.push_back({link_kind::tcp, tcp_.size() - 1, {}});
    links_.back().replaceable = true;
    return static_cast<link_id>(links_.size() - 1);
}

void network_node::replace_tcp(link_id id, std::unique_ptr<net::tcp_connection> connection) {
    AMB_REQUIRE(id < links_.size() && links_[id].replaceable, "not a replaceable TCP link");
    link& each = links_[id];
    std::unique_ptr<net::tcp_connection>& slot = tcp_[each.transport];
    if (slot && watches_)
        watches_->unwatch(slot->fd());
    slot = std::move(connection);
    each.open = false;
    if (!interest_.empty())
        interest_[udp_.size() + serial_.size() + each.transport] = -1;  // watch the new one
    if (loop_ != nullptr)
        update_interest();
    check_now_ = true;
}

link_id network_node::add_tcp_link(std::size_t tcp) {
    AMB_REQUIRE(tcp < tcp_.size() && links_.size() < unknown_link, "bad TCP connection index");
    links_.push_back({link_kind::tcp, tcp, {}});
    return static_cast<link_id>(links_.size() - 1);
}

result<void, ar::config_error> network_node::start(const ar::node_config& config,
                                                   ar::incident_sink* incidents) {
    AMB_REQUIRE(!node_, "network_node::start called twice");
    if (incidents == nullptr) {
        default_log_ = std::make_unique<incident_log>(config.name);
        incidents = default_log_.get();
    }
    auto made = ar::node::create(config, *this, clock_, incidents);
    if (!made)
        return failure{made.error()};
    node_ = std::move(*made);
    return {};
}

bool network_node::send(link_id id, byte_view packet) {
    if (id >= links_.size())
        return false;
    if (tap)
        tap(id, packet);
    const link& target = links_[id];
    switch (target.kind) {
    case link_kind::udp: {
        // Held until the end of the next progress() pass (prepare_sleep refuses to sleep while
        // a datagram is ready), so that packets sent together leave in one sendmmsg.
        net::udp_transport& transport = *udp_[target.transport];
        transport.hold_output();
        return transport.send(target.neighbour, packet, net::monotonic_now()).has_value();
    }
    case link_kind::serial:
        return serial_[target.transport]->send(packet).has_value();
    case link_kind::tcp: {
        link& each = links_[id];
        if (!each.replaceable)
            return tcp_[target.transport]->send(packet).has_value();
        if (each.open)
            return tcp_[target.transport]->send(packet).has_value();
        each.waiting.push_back({std::vector<std::uint8_t>(packet.begin(), packet.end()),
                                net::monotonic_now()});
        if (each.waiting.size() > max_waiting_)
            each.waiting.pop_front();
        return true;
    }
    }
    return false;
}

link_id network_node::udp_link_of(std::size_t udp, net::ipv4_endpoint from) const {
    for (std::size_t i = 0; i < links_.size(); ++i)
        if (links_[i].kind == link_kind::udp && links_[i].transport == udp &&
            links_[i].neighbour == from)
            return static_cast<link_id>(i);
    return unknown_link;
}

result<void, int> network_node::run_on(hosted::loop::process_loop& loop) {
    AMB_REQUIRE(node_ != nullptr && loop_ == nullptr, "network_node::run_on before start or twice");
    watches_ = std::make_unique<ports::hosted::descriptor_set>(loop.driver(), &on_ready, this);
    loop_ = &loop;
    interest_.assign(udp_.size() + serial_.size() + tcp_.size(), -1);
    update_interest();
    loop.loop().add_poller(*this);
    return {};
}

void network_node::on_ready(void* owner, void*, std::uint32_t) noexcept {
    // From inside the loop's wait: the next pass asks the transports.
    static_cast<network_node*>(owner)->check_now_ = true;
}

void network_node::on_deadline(loop_work& work) noexcept {
    static_cast<deadline_work&>(work).node.check_now_ = true;
}

std::size_t network_node::progress() noexcept {
    AMB_REQUIRE(node_ != nullptr, "network_node used before start");
    const loop_clock::time_point now = net::monotonic_now();
    // Asking the kernel costs a system call: right after a wake-up or after work, at once;
    // while spinning idle, at most every check_interval_. A datagram that arrives meanwhile
    // waits that long at most; when the loop sleeps, epoll sees it (the wake descriptor).
    const bool check = check_now_ || now - last_check_ >= check_interval_;
    std::size_t arrived = 0;
    for (auto& transport : udp_)
        transport->hold_output(); // answers below carry the acks owed for what is read now
    if (check) {
        check_now_ = false;
        last_check_ = now;
        for (auto& transport : udp_)
            arrived += transport->on_events(transport->wanted_events(), now);
        if (!serial_.empty() || !tcp_.empty()) {
            std::vector<pollfd>& fds = poll_set_; // reused: no allocation per step
            fds.clear();
            for (auto& line : serial_)
                fds.push_back({line->fd(), line->wanted_events(), 0});
            for (auto& connection : tcp_)
                fds.push_back({connection ? connection->fd() : -1,
                               connection ? connection->wanted_events() : short{0}, 0});
            int ready;
            do {
                ready = ::poll(fds.data(), fds.size(), 0);
            } while (ready < 0 && errno == EINTR);
            std::size_t index = 0;
            for (auto& line : serial_)
                line->on_events(ready > 0 ? fds[index++].revents : 0, now);
            for (auto& connection : tcp_) {
                short revents = ready > 0 ? fds[index].revents : 0;
                ++index;
                if (connection)
                    connection->on_events(revents, now);
            }
            if (ready > 0)
                ++arrived;
        }
    }
    // UDP timers (retransmissions, delayed acks) run in release_output below, from the clock.

    std::size_t done = 0;
    for (std::size_t u = 0; u < udp_.size(); ++u) {
        while (auto message = udp_[u]->receive()) {
            node_->on_packet(udp_link_of(u, message->from), message->bytes);
            ++done;
        }
        while (auto report = udp_[u]->take_report()) {
            if (report->failure) {
                link_id failed = udp_link_of(u, report->to);
                if (failed != unknown_link)
                    node_->on_link_failure(failed);
                ++done;
            }
        }
    }
    for (std::size_t i = 0; i < links_.size(); ++i) {
        link& each = links_[i];
        if (each.kind == link_kind::serial) {
            while (auto message = serial_[each.transport]->receive()) {
                node_->on_packet(static_cast<link_id>(i), *message);
                ++done;
            }
        } else if (each.kind == link_kind::tcp) {
            done += serve_tcp_link(static_cast<link_id>(i), each, now);
        }
    }
    done += node_->poll();
    // Everything due leaves now, in as few sendmmsg calls as it takes.
    const loop_clock::time_point after = done > 0 ? net::monotonic_now() : now;
    for (auto& transport : udp_)
        transport->release_output(after);
    if (done > 0 && check) {
        // What was just read was everything there was: the next check waits for the interval
        // (or a wake-up), so a loop that sleeps after this pass asks the kernel only through
        // epoll, not once more with a recvmmsg that finds nothing.
        last_check_ = net::monotonic_now();
    }
    // Ask again at once only where more may be waiting: a UDP read that stopped at its limit, or
    // a serial line or TCP connection that was ready. A UDP socket found empty is not asked
    // again before the loop sleeps (a datagram arriving meanwhile makes the epoll descriptor
    // readable, so the sleep returns at once) or, while spinning, before check_interval_: in
    // blocking mode that saves a recvmmsg returning EAGAIN on every wake-up.
    bool more = false;
    for (auto& transport : udp_)
        more = more || !transport->drained();
    if (more || (arrived > 0 && (!serial_.empty() || !tcp_.empty())))
        check_now_ = true;
    return done;
}

std::size_t network_node::serve_tcp_link(link_id id, link& each, loop_clock::time_point now) {
    std::size_t done = 0;
    // Waiting messages older than stale_after_ are dropped (their calls have failed).
    while (!each.waiting.empty() && now - each.waiting.front().since > stale_after_)
        each.waiting.pop_front();
    std::unique_ptr<net::tcp_connection>& slot = tcp_[each.transport];
    if (!slot)
        return done;
    net::tcp_connection& connection = *slot;
    if (each.replaceable && !each.open &&
        connection.current_state() == net::tcp_connection::state::open) {
        each.open = true;
        for (auto& message : each.waiting)
            (void)connection.send(message.bytes);
        each.waiting.clear();
        if (tcp_observer_ != nullptr)
            tcp_observer_->opened(id);
        ++done;
    }
    while (auto message = connection.receive()) {
        node_->on_packet(id, *message);
        ++done;
    }
    if (connection.current_state() != net::tcp_connection::state::closed)
        return done;
    if (each.replaceable) {
        if (tcp_observer_ != nullptr)
            tcp_observer_->closed(id, connection);
        if (watches_)
            watches_->unwatch(connection.fd());
        slot.reset();
        each.open = false;
        return done + 1;
    }
    if (!each.failed) {
        each.failed = true;
        if (watches_)
            watches_->unwatch(connection.fd());
        node_->on_link_failure(id);
        ++done;
    }
    return done;
}

loop_clock::time_point network_node::next_deadline() const {
    loop_clock::time_point earliest = node_->next_deadline();
    for (auto& transport : udp_)
        earliest = std::min(earliest, transport->next_deadline());
    return earliest;
}

void network_node::update_interest() {
    std::size_t index = 0;
    auto update = [&](int fd, short wanted) {
        short& current = interest_[index++];
        if (current == wanted)
            return;
        // A watch with no events stays registered (EPOLLERR and EPOLLHUP still report).
        std::uint32_t events =
            ((wanted & POLLIN) != 0 ? EPOLLIN : 0u) | ((wanted & POLLOUT) != 0 ? EPOLLOUT : 0u);
        if (watches_->watch(fd, events, nullptr))
            current = wanted;
    };
    for (auto& transport : udp_)
        update(transport->fd(), transport->wanted_events());
    for (auto& line : serial_)
        update(line->fd(), line->wanted_events());
    // A closed connection is not watched: a shut-down socket reports EPOLLHUP whatever it is
    // asked, which would wake the loop on every wait.
    for (auto& connection : tcp_) {
        if (connection && connection->current_state() != net::tcp_connection::state::closed)
            update(connection->fd(), connection->wanted_events());
        else
            ++index;
    }
}

bool network_node::prepare_sleep() noexcept {
    update_interest();
    const loop_clock::time_point deadline = next_deadline();
    if (deadline <= net::monotonic_now())
        return false;
    // The loop sleeps until its earliest timer: ours is the node's earliest deadline. A timer
    // armed no later than needed stays (it wakes the loop early at worst, and that pass finds
    // nothing and re-arms it), so a deadline that only moves later costs nothing per sleep.
    if (deadline == loop_clock::time_point::max())
        return true;
    event_loop& loop = loop_->loop();
    if (deadline_.pending()) {
        if (deadline_armed_ <= deadline)
            return true;
        loop.cancel(deadline_);
    }
    loop.run_at(deadline_, deadline);
    deadline_armed_ = deadline;
    return true;
}

void network_node::finish_sleep() noexcept {
    // Whatever woke the loop, ask the transports on the next pass.
    check_now_ = true;
}

} // namespace amb::hosted::remote
