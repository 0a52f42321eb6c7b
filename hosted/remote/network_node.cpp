#include <hosted/remote/network_node.hpp>

#include <sys/epoll.h>
#include <sys/timerfd.h>
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

network_node::network_node()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    AMB_REQUIRE(epoll_ >= 0 && timer_ >= 0, "network_node: epoll or timerfd unavailable");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = timer_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &event);
}

network_node::~network_node() {
    node_.reset(); // before the transports it sends through
    ::close(timer_);
    ::close(epoll_);
}

void network_node::watch(int fd) {
    epoll_event event{};
    event.events = 0;
    event.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    watched_.push_back(fd);
    interest_.push_back(0);
}

std::size_t network_node::add_udp(std::unique_ptr<net::udp_transport> transport) {
    watch(transport->fd());
    udp_.push_back(std::move(transport));
    return udp_.size() - 1;
}

std::size_t network_node::add_serial(std::unique_ptr<net::serial_transport> line) {
    watch(line->fd());
    serial_.push_back(std::move(line));
    return serial_.size() - 1;
}

std::size_t network_node::add_tcp(std::unique_ptr<net::tcp_connection> connection) {
    watch(connection->fd());
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
    case link_kind::tcp:
        return tcp_[target.transport]->send(packet).has_value();
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

std::size_t network_node::progress() {
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
                fds.push_back({connection->fd(), connection->wanted_events(), 0});
            int ready;
            do {
                ready = ::poll(fds.data(), fds.size(), 0);
            } while (ready < 0 && errno == EINTR);
            std::size_t index = 0;
            for (auto& line : serial_)
                line->on_events(ready > 0 ? fds[index++].revents : 0, now);
            for (auto& connection : tcp_)
                connection->on_events(ready > 0 ? fds[index++].revents : 0, now);
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
            net::tcp_connection& connection = *tcp_[each.transport];
            while (auto message = connection.receive()) {
                node_->on_packet(static_cast<link_id>(i), *message);
                ++done;
            }
            if (connection.current_state() == net::tcp_connection::state::closed && !each.failed) {
                each.failed = true;
                node_->on_link_failure(static_cast<link_id>(i));
                ++done;
            }
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
        epoll_event event{};
        event.events =
            ((wanted & POLLIN) != 0 ? EPOLLIN : 0u) | ((wanted & POLLOUT) != 0 ? EPOLLOUT : 0u);
        event.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &event);
        current = wanted;
    };
    for (auto& transport : udp_)
        update(transport->fd(), transport->wanted_events());
    for (auto& line : serial_)
        update(line->fd(), line->wanted_events());
    for (auto& connection : tcp_)
        update(connection->fd(), connection->wanted_events());
}

bool network_node::prepare_sleep() {
    update_interest();
    const loop_clock::time_point deadline = next_deadline();
    const loop_clock::time_point now = net::monotonic_now();
    if (deadline <= now)
        return false;
    // An armed timer that fires no later than needed stays: it wakes the loop early at worst
    // (finish_sleep drains it and the next sleep arms the real deadline). Re-arming for every
    // retransmission deadline that moves later would cost a timerfd_settime per sleep.
    if (timer_armed_ != loop_clock::time_point::max() && timer_armed_ <= deadline)
        return true;
    if (deadline == loop_clock::time_point::max()) {
        // Nothing to wake up for: an earlier arming may still fire; that wake-up finds nothing
        // to do and sleeps again.
        return true;
    }
    itimerspec timer{};
    {
        auto since_epoch = deadline.time_since_epoch();
        timer.it_value.tv_sec = static_cast<time_t>(
            std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count());
        timer.it_value.tv_nsec = static_cast<long>((since_epoch % std::chrono::seconds(1)).count());
        if (timer.it_value.tv_sec == 0 && timer.it_value.tv_nsec == 0)
            timer.it_value.tv_nsec = 1;
    }
    ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &timer, nullptr);
    timer_armed_ = deadline;
    return true;
}

void network_node::finish_sleep() {
    // The timer stays armed (re-armed only when the deadline changes: no system call per sleep
    // in the common case); once its time has passed it has fired and is drained.
    check_now_ = true;
    if (timer_armed_ != loop_clock::time_point::max() && net::monotonic_now() >= timer_armed_) {
        std::uint64_t expirations;
        [[maybe_unused]] ssize_t got = ::read(timer_, &expirations, sizeof expirations);
        timer_armed_ = loop_clock::time_point::max();
    }
}

std::size_t network_node::step(std::chrono::milliseconds max_wait) {
    std::size_t done = progress();
    if (done > 0)
        return done;
    if (prepare_sleep()) {
        pollfd watched{epoll_, POLLIN, 0};
        int ready;
        do {
            ready = ::poll(&watched, 1, static_cast<int>(max_wait.count()));
        } while (ready < 0 && errno == EINTR);
    }
    finish_sleep();
    return progress();
}

} // namespace amb::hosted::remote
