// The per-node glue support library: settings, group and kernel runtimes, the bridge that
// runs HTTP exporters (amb::event_loop) from the kernel's group_loop, and the TCP links.
#include <deploy/glue.hpp>
#include "node_settings_keys.hpp"

#include <hosted/net/serial_transport.hpp>
#include <hosted/net/tcp_transport.hpp>
#include <hosted/net/udp_transport.hpp>
#include <hosted/remote/key_files.hpp>
#include <hosted/remote/durable_replay.hpp>
#include <runtime/event_loop.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace amb::deploy {

namespace {

std::string trim(std::string_view text) {
    std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    std::size_t last = text.find_last_not_of(" \t\r");
    return std::string(text.substr(first, last - first + 1));
}

bool parse_endpoint(std::string_view text, hosted::net::ipv4_endpoint& out) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return false;
    std::string address(text.substr(0, colon));
    std::string port(text.substr(colon + 1));
    in_addr parsed{};
    if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1)
        return false;
    char* end = nullptr;
    long number = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number < 0 || number > 65535)
        return false;
    out.address = ntohl(parsed.s_addr);
    out.port = static_cast<std::uint16_t>(number);
    return true;
}

constexpr rings::config glue_ring{64, 4096, 64, 64};

}  // namespace

void fail(std::string_view group, std::string_view what) {
    std::fprintf(stderr, "@%.*s error: %.*s\n", static_cast<int>(group.size()), group.data(),
                 static_cast<int>(what.size()), what.data());
    std::fflush(stderr);
    std::exit(1);
}

void log_line(std::string_view group, std::string_view text) {
    std::fprintf(stderr, "@%.*s %.*s\n", static_cast<int>(group.size()), group.data(),
                 static_cast<int>(text.size()), text.data());
    std::fflush(stderr);
}

// --- settings --------------------------------------------------------------------------------

node_settings node_settings::load(int argc, char** argv, std::string_view node) {
    node_settings settings;
    settings.node_ = std::string(node);
    const char* path = argc > 1 ? argv[1] : std::getenv("AMBIENCE_NODE_SETTINGS");
    if (path == nullptr)
        fail("kernel", "usage: NODE_EXECUTABLE SETTINGS_FILE (written by `ambience run`)");
    std::ifstream in(path);
    if (!in)
        fail("kernel", std::string("cannot read the settings file ") + path);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string text = trim(line);
        if (text.empty() || text[0] == '#')
            continue;
        std::size_t equals = text.find('=');
        if (equals == std::string::npos)
            fail("kernel", std::string(path) + ":" + std::to_string(number) +
                           ": expected `key = value`");
        std::string key = trim(std::string_view(text).substr(0, equals));
        if (!declared_setting(key))
            fail("kernel", std::string(path) + ":" + std::to_string(number) + ": unknown setting `" +
                               key + "` (not declared in " +
                               std::string(node_settings_declaration) + ")");
        settings.values_[key] = trim(std::string_view(text).substr(equals + 1));
    }
    if (settings.get("node") != node)
        fail("kernel", std::string(path) + " is the settings file of node '" + settings.get("node") +
                       "'");
    return settings;
}

const std::string* node_settings::find(std::string_view key) const {
    if (!declared_setting(key))
        fail("kernel", "the node reads setting `" + std::string(key) + "`, which is not declared in " +
                           std::string(node_settings_declaration));
    auto found = values_.find(key);
    return found == values_.end() ? nullptr : &found->second;
}

const std::string& node_settings::get(std::string_view key) const {
    const std::string* value = find(key);
    if (value == nullptr)
        fail("kernel", "the settings file has no `" + std::string(key) + "`");
    return *value;
}

hosted::net::ipv4_endpoint node_settings::endpoint(std::string_view key) const {
    hosted::net::ipv4_endpoint out;
    if (!parse_endpoint(get(key), out))
        fail("kernel", "setting `" + std::string(key) + "` is not an IPv4 ADDRESS:PORT");
    return out;
}

long node_settings::number(std::string_view key, long otherwise) const {
    const std::string* value = find(key);
    if (value == nullptr)
        return otherwise;
    char* end = nullptr;
    long parsed = std::strtol(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || parsed < 0)
        fail("kernel", "setting `" + std::string(key) + "` is not a non-negative integer");
    return parsed;
}

channel_id connect(node_kernel& kernel, group_id caller, group_id server) {
    auto channel = kernel.connect(caller, server, glue_ring);
    if (!channel)
        fail("kernel", std::string("cannot declare a channel: ") + std::strerror(channel.error()));
    return *channel;
}

// --- groups ----------------------------------------------------------------------------------

hosted::node::channel_caller& group_runtime::attach_caller(channel_id channel) {
    auto link = context_.caller_link(channel);
    if (!link)
        fail(context_.name(), "no caller end for a channel of this group");
    auto caller = hosted::node::channel_caller::attach(*link);
    if (!caller)
        fail(context_.name(), "cannot attach to a channel this group calls");
    callers_.push_back(std::make_unique<hosted::node::channel_caller>(std::move(*caller)));
    loop_.add(*callers_.back());
    return *callers_.back();
}

int group_runtime::run() {
    log_line(context_.name(), context_.restarts() == 0
                                  ? "started"
                                  : "restarted (" + std::to_string(context_.restarts()) + ")");
    loop_.run_until([] { return false; });
    return 0;
}

// --- HTTP exporters on the kernel loop -------------------------------------------------------

// Runs an amb::event_loop (the exporter's) as a source of the kernel's group_loop: it is the
// loop's driver (never asked to sleep: the group_loop sleeps), the exporter's descriptor watcher
// (libmicrohttpd's epoll descriptor is the source's wake descriptor), and posts the watcher's
// work when that descriptor is readable. Timers of the event loop (connection timeouts) run at
// the next pass; the kernel loop wakes at least every 20 ms.
class http_bridge final : public hosted::node::loop_source,
                          public http_export::descriptor_watcher,
                          public loop_driver {
public:
    http_bridge() = default;
    ~http_bridge() {
        for (auto& entry : exporters_)
            entry.second->stop();
        exporters_.clear();
    }

    http_export::exporter& exporter_for(std::string_view network, const node_settings& settings,
                                        const caplets::secret_key& key) {
        for (auto& entry : exporters_)
            if (entry.first == network)
                return *entry.second;
        hosted::net::ipv4_endpoint listen = settings.endpoint("http." + std::string(network) +
                                                              ".listen");
        http_export::options options;
        in_addr address{htonl(listen.address)};
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &address, text, sizeof text);
        options.address = text;
        options.port = listen.port;
        options.audience = std::string(settings.node());
        // Replay state that survives a restart, kill -9 included (docs/http-export.md,
        // "Replay"): a mark in the node's state directory. Without one (a settings file not
        // written by `ambience run`), the exporter's own store, lost on restart.
        if (const std::string* state = settings.find("state.dir")) {
            timespec now{};
            ::clock_gettime(CLOCK_REALTIME, &now);
            auto store = hosted::remote::durable_sequence_store::open(
                *state + "/" + std::string(settings.node()) + ".http." + std::string(network) +
                    ".replay",
                static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
                    static_cast<std::uint64_t>(now.tv_nsec) / 1000u);
            if (!store)
                fail("kernel", "HTTP export on network '" + std::string(network) +
                                   "': " + store.error());
            options.sequences = store->get();
            replay_.push_back(std::move(*store));
        }
        exporters_.emplace_back(std::string(network),
                                std::make_unique<http_export::exporter>(loop_, *this, key,
                                                                        options));
        return *exporters_.back().second;
    }

    void start() {
        for (auto& entry : exporters_) {
            auto started = entry.second->start();
            if (!started)
                fail("kernel", "HTTP export on network '" + entry.first +
                                          "' cannot start: " + started.error());
            log_line("kernel", "HTTP exports on network '" + entry.first + "' at port " +
                                   std::to_string(entry.second->port()));
        }
    }

    // loop_driver: the group_loop does the sleeping.
    loop_clock::time_point now() noexcept override {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return loop_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                      std::chrono::nanoseconds(ts.tv_nsec));
    }
    void wait(loop_clock::time_point) noexcept override {}
    void wake() noexcept override {}

    // descriptor_watcher
    result<void, int> watch(int fd, event_loop&, loop_work& readable) noexcept override {
        for (const auto& entry : watched_)
            if (entry.fd == fd)
                return failure{EEXIST};
        watched_.push_back({fd, &readable});
        return {};
    }
    void unwatch(int fd) noexcept override {
        for (std::size_t i = 0; i < watched_.size(); ++i)
            if (watched_[i].fd == fd) {
                watched_.erase(watched_.begin() + static_cast<std::ptrdiff_t>(i));
                return;
            }
    }

    // loop_source
    std::size_t progress() override {
        std::size_t done = 0;
        for (const auto& entry : watched_) {
            pollfd descriptor{entry.fd, POLLIN, 0};
            if (::poll(&descriptor, 1, 0) > 0 && !entry.work->pending()) {
                loop_.post(*entry.work);
                ++done;
            }
        }
        return done + loop_.poll();
    }
    bool prepare_sleep() override { return true; }
    void finish_sleep() override {}
    int wake_descriptor() const override { return watched_.empty() ? -1 : watched_.front().fd; }

private:
    struct watched_descriptor {
        int fd;
        loop_work* work;
    };
    event_loop loop_{*this};
    std::vector<watched_descriptor> watched_;
    // Before the exporters: they use these until they are destroyed.
    std::vector<std::unique_ptr<hosted::remote::durable_sequence_store>> replay_;
    std::vector<std::pair<std::string, std::unique_ptr<http_export::exporter>>> exporters_;
};

// --- HTTP imports on the kernel loop ---------------------------------------------------------

// Runs the HTTP import client (services/http_import) as a source of the kernel's group_loop: an
// epoll set holds the sockets libcurl asks to have watched, with the interest it gives (reading,
// writing); the set's descriptor is the source's wake descriptor, so the kernel loop wakes when
// any of them is ready. The client's timers (libcurl's timeouts) are timers of an event_loop
// this bridge drives (as the loop's driver it never sleeps: the group_loop does), run at the next
// pass; the kernel loop wakes at least every 20 ms.
class http_import_bridge final : public hosted::node::loop_source,
                                 public http_import::socket_watcher,
                                 public loop_driver {
public:
    http_import_bridge() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epoll_ < 0)
            fail("kernel", std::string("cannot create the epoll set of HTTP imports: ") +
                               std::strerror(errno));
        auto client = http_import::http_client::create(loop_, *this);
        if (!client)
            fail("kernel", "cannot start the HTTP import client: " + client.error());
        client_ = std::move(*client);
    }
    ~http_import_bridge() {
        client_.reset(); // abandons requests in flight, unwatches its sockets
        loop_.run_until_idle();
        ::close(epoll_);
    }

    http_import::http_client& client() { return *client_; }

    // loop_driver: the group_loop does the sleeping.
    loop_clock::time_point now() noexcept override {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return loop_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                      std::chrono::nanoseconds(ts.tv_nsec));
    }
    void wait(loop_clock::time_point) noexcept override {}
    void wake() noexcept override {}

    // socket_watcher
    result<void, int> watch(int fd, std::uint32_t interest,
                            http_import::socket_handler& handler) noexcept override {
        epoll_event event{};
        event.events = ((interest & http_import::socket_readable) != 0 ? EPOLLIN : 0u) |
                       ((interest & http_import::socket_writable) != 0 ? EPOLLOUT : 0u);
        event.data.fd = fd;
        auto found = handlers_.find(fd);
        int operation = found == handlers_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (::epoll_ctl(epoll_, operation, fd, &event) != 0)
            return failure{errno};
        handlers_[fd] = &handler;
        return {};
    }
    void unwatch(int fd) noexcept override {
        if (handlers_.erase(fd) != 0)
            ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    }

    // loop_source
    std::size_t progress() override {
        epoll_event events[32];
        int ready = ::epoll_wait(epoll_, events, 32, 0);
        for (int i = 0; i < ready; ++i) {
            auto found = handlers_.find(events[i].data.fd);
            if (found == handlers_.end())
                continue;
            std::uint32_t flags =
                ((events[i].events & EPOLLIN) != 0 ? http_import::socket_readable : 0u) |
                ((events[i].events & EPOLLOUT) != 0 ? http_import::socket_writable : 0u) |
                ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0 ? http_import::socket_error
                                                                  : 0u);
            found->second->ready(flags); // records and posts: no unwatch from here
        }
        return static_cast<std::size_t>(ready > 0 ? ready : 0) + loop_.poll();
    }
    bool prepare_sleep() override { return true; }
    void finish_sleep() override {}
    int wake_descriptor() const override { return epoll_; }

private:
    int epoll_;
    event_loop loop_{*this};
    std::map<int, http_import::socket_handler*> handlers_;
    std::unique_ptr<http_import::http_client> client_;
};

// --- TCP links on the kernel loop ------------------------------------------------------------

// The node's TCP links (docs/deploy.md, "TCP networks"). network_node takes its TCP connections
// before it starts and cannot replace one, so a link could not outlive its first connection.
// TODO(port): once network_node can take a new connection for a link (and report one gone),
// hand it the real connections and drop the relay. Until then each link's node side is one end
// of a local socket pair, adopted as a tcp_connection that stays open for the node's life, and
// this bridge owns the other end and relays whole messages between it and the link's real TCP
// connection, which it makes, loses and makes again:
//
// - of the two neighbours, the one whose name sorts first (bytewise) connects, to
//   tcp.NET.peer.NODE, with `hello` as its first message; it retries 50 ms, 100 ms, ... up to
//   500 ms apart while the other is not up, and again after the connection closes;
// - the other listens at tcp.NET.bind (one listener per network) and accepts: the first
//   message of an accepted connection must be a hello naming a neighbour this node waits for
//   on that network and this node, within `hello_timeout`, from that neighbour's address (IP
//   only). It then replaces that neighbour's connection (a restarted neighbour's new
//   connection may arrive before the old one is seen closed). Addresses and hellos are no
//   authentication (CAPLets is); TODO(security): anyone who reaches the port can take a link's
//   place until the neighbour connects again, which denies service.
// - messages the node sends while its link has no open connection wait, at most
//   `max_waiting` of them and none older than `stale_after` (half the call timeout: a request
//   is not delivered after its call has failed), then are dropped, oldest first. Messages in
//   flight when a connection is lost are lost; their calls fail by the call timeout (the node
//   never sees the link fail).
class tcp_bridge final : public hosted::node::loop_source {
public:
    using connection = hosted::net::tcp_connection;
    static constexpr std::size_t max_waiting = 64;
    static constexpr std::size_t max_pending = 16;
    static constexpr auto hello_timeout = std::chrono::seconds(5);
    static constexpr auto first_retry = std::chrono::milliseconds(50);
    static constexpr auto last_retry = std::chrono::milliseconds(500);
    /// A connection that lasted this long resets the retry interval when it closes.
    static constexpr auto lasting = std::chrono::seconds(1);

    tcp_bridge(std::string_view self, std::chrono::milliseconds stale_after)
        : self_(self), stale_after_(stale_after), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epoll_ < 0)
            fail("kernel",
                 std::string("cannot create the epoll set of TCP links: ") + std::strerror(errno));
    }
    ~tcp_bridge() { ::close(epoll_); }
    tcp_bridge(const tcp_bridge&) = delete;
    tcp_bridge& operator=(const tcp_bridge&) = delete;

    static std::string hello(std::string_view from, std::string_view to) {
        return hosted::net::tcp_hello(from, to);
    }
    /// True when this node connects to `neighbour` (else it accepts `neighbour`'s connection).
    bool connects_to(std::string_view neighbour) const { return self_ < neighbour; }

    /// Adds the link to `neighbour` on `network`; `listen` is where this node listens on
    /// `network` (used when it accepts). Returns the node side, for network_node::add_tcp.
    std::unique_ptr<connection> add(std::string_view network, std::string_view neighbour,
                                    hosted::net::ipv4_endpoint neighbour_address,
                                    hosted::net::ipv4_endpoint listen) {
        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) != 0)
            fail("kernel",
                 std::string("cannot create the local end of a TCP link: ") + std::strerror(errno));
        auto link = std::make_unique<peer>();
        link->network = std::string(network);
        link->name = std::string(neighbour);
        link->address = neighbour_address;
        link->connects = connects_to(neighbour);
        link->inner = connection::adopt(ends[0], {});
        peers_.push_back(std::move(link));
        if (!connects_to(neighbour) && find_listener(network) == nullptr) {
            auto socket = hosted::net::tcp_listener::listen(listen);
            if (!socket)
                fail("kernel", "cannot listen at " + listen.to_string() + " on tcp network '" +
                                   std::string(network) + "': " + std::strerror(socket.error()));
            listeners_.push_back({std::string(network), std::move(*socket)});
            log_line("kernel", "tcp network '" + std::string(network) + "': listening at " +
                                   listen.to_string());
        }
        resync();
        return connection::adopt(ends[1], {});
    }

    // loop_source
    std::size_t progress() override {
        const loop_clock::time_point now = monotonic_now();
        std::size_t done = poll_all(now);
        done += accept_all(now);
        done += identify_pending(now);
        for (auto& link : peers_)
            done += relay(*link, now);
        resync();
        return done;
    }
    bool prepare_sleep() override { return true; }
    void finish_sleep() override {}
    int wake_descriptor() const override { return epoll_; }

private:
    struct waiting_message {
        std::vector<std::uint8_t> bytes;
        loop_clock::time_point since;
    };
    struct peer {
        std::string network;
        std::string name;
        hosted::net::ipv4_endpoint address;
        bool connects = false;
        std::unique_ptr<connection> inner; // the bridge's end of the node side
        std::unique_ptr<connection> outer; // the TCP connection, when there is one
        bool outer_open = false;           // `outer` was seen open (and the waiting sent)
        loop_clock::time_point opened_at{};
        loop_clock::time_point retry_at{};
        std::chrono::milliseconds backoff = first_retry;
        bool waiting_logged = false;
        std::deque<waiting_message> waiting;
    };
    struct listener {
        std::string network;
        std::unique_ptr<hosted::net::tcp_listener> socket;
    };
    struct pending {
        std::string network;
        std::unique_ptr<connection> link;
        std::uint32_t from_address;
        loop_clock::time_point deadline;
    };

    static loop_clock::time_point monotonic_now() {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return loop_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                      std::chrono::nanoseconds(ts.tv_nsec));
    }

    static std::string address_text(std::uint32_t address) {
        std::string text = hosted::net::ipv4_endpoint{address, 0}.to_string();
        return text.substr(0, text.rfind(':'));
    }

    listener* find_listener(std::string_view network) {
        for (auto& each : listeners_)
            if (each.network == network)
                return &each;
        return nullptr;
    }

    std::string describe(const peer& link) const {
        return "tcp link to '" + link.name + "' on '" + link.network + "'";
    }

    // One poll(2) over every descriptor; hands each its events.
    std::size_t poll_all(loop_clock::time_point now) {
        poll_set_.clear();
        for (auto& each : listeners_)
            poll_set_.push_back({each.socket->fd(), POLLIN, 0});
        for (auto& each : pending_)
            poll_set_.push_back({each.link->fd(), each.link->wanted_events(), 0});
        for (auto& link : peers_) {
            poll_set_.push_back({link->inner->fd(), link->inner->wanted_events(), 0});
            if (link->outer)
                poll_set_.push_back({link->outer->fd(), link->outer->wanted_events(), 0});
        }
        int ready = ::poll(poll_set_.data(), poll_set_.size(), 0);
        if (ready <= 0)
            return 0;
        std::size_t index = listeners_.size();
        for (auto& each : pending_)
            each.link->on_events(poll_set_[index++].revents, now);
        for (auto& link : peers_) {
            link->inner->on_events(poll_set_[index++].revents, now);
            if (link->outer)
                link->outer->on_events(poll_set_[index++].revents, now);
        }
        return 0; // the work is counted where the events are used
    }

    std::size_t accept_all(loop_clock::time_point now) {
        std::size_t done = 0;
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            if ((poll_set_.size() > i ? poll_set_[i].revents : 0) == 0)
                continue;
            while (auto accepted = listeners_[i].socket->accept({})) {
                sockaddr_in from{};
                socklen_t length = sizeof from;
                std::uint32_t address = 0;
                if (::getpeername(accepted->fd(), reinterpret_cast<sockaddr*>(&from), &length) ==
                        0 &&
                    from.sin_family == AF_INET)
                    address = ntohl(from.sin_addr.s_addr);
                if (pending_.size() >= max_pending)
                    drop_pending(0); // the oldest: a flood does not grow this
                pending_.push_back(
                    {listeners_[i].network, std::move(accepted), address, now + hello_timeout});
                ++done;
            }
        }
        return done;
    }

    void drop_pending(std::size_t index) {
        unwatch(pending_[index].link->fd());
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
    }

    // Accepted connections: the first message must be a valid hello.
    std::size_t identify_pending(loop_clock::time_point now) {
        std::size_t done = 0;
        for (std::size_t i = 0; i < pending_.size();) {
            pending& each = pending_[i];
            auto first = each.link->receive();
            if (!first) {
                if (each.link->current_state() == connection::state::closed ||
                    now >= each.deadline) {
                    drop_pending(i);
                    ++done;
                } else {
                    ++i;
                }
                continue;
            }
            ++done;
            std::string_view text(reinterpret_cast<const char*>(first->data()), first->size());
            peer* from = nullptr;
            for (auto& link : peers_)
                if (!link->connects && link->network == each.network &&
                    text == hello(link->name, self_))
                    from = link.get();
            if (from == nullptr || from->address.address != each.from_address) {
                log_line("kernel",
                         "tcp network '" + each.network + "': refused a connection from " +
                             address_text(each.from_address) +
                             (from == nullptr ? " (no hello of a neighbour waited for here)"
                                              : " (not the neighbour's address)"));
                drop_pending(i);
                continue;
            }
            if (from->outer) {
                unwatch(from->outer->fd());
                from->outer.reset();
            }
            from->outer = std::move(each.link);
            from->outer_open = false;
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        }
        return done;
    }

    std::size_t relay(peer& link, loop_clock::time_point now) {
        std::size_t done = 0;
        // Make the connection (the connecting side), when there is none and it is time.
        if (link.connects && !link.outer && now >= link.retry_at) {
            auto made = connection::connect(link.address, {});
            if (made) {
                link.outer = std::move(*made);
                auto greeting = hello(self_, link.name);
                (void)link.outer->send(std::span<const std::uint8_t>(
                    reinterpret_cast<const std::uint8_t*>(greeting.data()), greeting.size()));
                link.outer_open = false;
                ++done;
            } else {
                lost(link, now, std::strerror(made.error()));
            }
        }
        if (link.outer && !link.outer_open &&
            link.outer->current_state() == connection::state::open) {
            link.outer_open = true;
            link.opened_at = now;
            link.waiting_logged = false;
            log_line("kernel",
                     describe(link) +
                         (link.connects ? ": connected to " + link.address.to_string()
                                        : ": accepted from " + address_text(link.address.address)));
            while (!link.waiting.empty()) {
                (void)link.outer->send(link.waiting.front().bytes);
                link.waiting.pop_front();
            }
            ++done;
        }
        // From the neighbour to the node.
        if (link.outer) {
            while (auto message = link.outer->receive()) {
                (void)link.inner->send(*message); // a full queue drops it, like a lost packet
                ++done;
            }
            if (link.outer->current_state() == connection::state::closed) {
                std::string why = "closed";
                if (link.outer->reason() == hosted::net::close_reason::socket_error)
                    why = std::strerror(link.outer->socket_error());
                else if (link.outer->reason() == hosted::net::close_reason::protocol_error)
                    why = "protocol error";
                bool was_open = link.outer_open;
                unwatch(link.outer->fd());
                link.outer.reset();
                link.outer_open = false;
                if (was_open) {
                    log_line("kernel", describe(link) + ": lost (" + why + ")");
                    // A connection that lasted resets the backoff; one refused at once does not.
                    if (now - link.opened_at >= lasting)
                        link.backoff = first_retry;
                }
                if (link.connects)
                    lost(link, now, why);
                ++done;
            }
        }
        // From the node to the neighbour, or waiting for a connection.
        while (auto message = link.inner->receive()) {
            ++done;
            if (link.outer_open) {
                (void)link.outer->send(*message);
                continue;
            }
            link.waiting.push_back({std::move(*message), now});
            if (link.waiting.size() > max_waiting)
                link.waiting.pop_front();
        }
        while (!link.waiting.empty() && now - link.waiting.front().since > stale_after_)
            link.waiting.pop_front();
        return done;
    }

    // The connecting side could not connect, or lost its connection: try again later.
    void lost(peer& link, loop_clock::time_point now, const std::string& why) {
        if (!link.waiting_logged) {
            log_line("kernel", describe(link) + ": waiting for " + link.address.to_string() + " (" +
                                   why + "); retrying");
            link.waiting_logged = true;
        }
        link.retry_at = now + link.backoff;
        link.backoff = std::min<std::chrono::milliseconds>(link.backoff * 2, last_retry);
    }

    // The epoll set (the wake descriptor) holds every descriptor that wants events, with them.
    void watch(int fd, short events, std::map<int, std::uint32_t>& wanted) {
        if (events == 0)
            return;
        wanted[fd] =
            ((events & POLLIN) != 0 ? EPOLLIN : 0u) | ((events & POLLOUT) != 0 ? EPOLLOUT : 0u);
    }
    void resync() {
        std::map<int, std::uint32_t> wanted;
        for (auto& each : listeners_)
            watch(each.socket->fd(), POLLIN, wanted);
        for (auto& each : pending_)
            watch(each.link->fd(), each.link->wanted_events(), wanted);
        for (auto& link : peers_) {
            watch(link->inner->fd(), link->inner->wanted_events(), wanted);
            if (link->outer)
                watch(link->outer->fd(), link->outer->wanted_events(), wanted);
        }
        for (auto it = registered_.begin(); it != registered_.end();) {
            if (wanted.count(it->first) == 0) {
                ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
                it = registered_.erase(it);
            } else {
                ++it;
            }
        }
        for (const auto& [fd, events] : wanted) {
            auto found = registered_.find(fd);
            if (found != registered_.end() && found->second == events)
                continue;
            epoll_event event{};
            event.events = events;
            event.data.fd = fd;
            int operation = found == registered_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
            if (::epoll_ctl(epoll_, operation, fd, &event) == 0)
                registered_[fd] = events;
        }
    }
    // Before a descriptor is closed (its number may come back for another socket).
    void unwatch(int fd) {
        if (registered_.erase(fd) != 0)
            ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    }

    std::string self_;
    std::chrono::milliseconds stale_after_;
    int epoll_;
    std::vector<std::unique_ptr<peer>> peers_;
    std::vector<listener> listeners_;
    std::vector<pending> pending_;
    std::vector<pollfd> poll_set_;
    std::map<int, std::uint32_t> registered_;
};

// --- the kernel ------------------------------------------------------------------------------

void start_groups(node_kernel& kernel) {
    kernel.withhold_environment("AMBIENCE_");
    auto started = kernel.start();
    if (!started)
        fail("kernel", std::string("cannot start the groups: ") + std::strerror(started.error()));
}

kernel_runtime::kernel_runtime(node_kernel& kernel, const node_settings& settings)
    : kernel_(kernel), settings_(settings) {
    kernel_.on_exit = [](const hosted::node::group_exit& exit) {
        std::string what = "group '" + exit.name + "' exited (";
        if (WIFEXITED(exit.wait_status))
            what += "status " + std::to_string(WEXITSTATUS(exit.wait_status));
        else if (WIFSIGNALED(exit.wait_status))
            what += "signal " + std::to_string(WTERMSIG(exit.wait_status));
        what += exit.restarting ? "); restarting it" : ")";
        log_line("kernel", what);
    };
    if (!kernel_.started())
        start_groups(kernel_);
    auto watching = kernel_.watch_stop_signals();
    if (!watching)
        fail("kernel", "cannot watch stop signals");
}

kernel_runtime::~kernel_runtime() {
    http_.reset();
    kept_.clear();
    callers_.clear();
    kernel_.stop();
}

std::size_t kernel_runtime::udp(std::string_view network) {
    hosted::net::udp_config config;
    config.bind = settings_.endpoint("udp." + std::string(network) + ".bind");
    auto transport = hosted::net::udp_transport::open(config);
    if (!transport)
        fail("kernel", "cannot open the UDP socket of network '" + std::string(network) +
                                   "': " + std::strerror(transport.error()));
    return network_.add_udp(std::move(*transport));
}

std::size_t kernel_runtime::serial(std::string_view network) {
    const std::string prefix = "serial." + std::string(network);
    int fd = -1;
    if (settings_.find(prefix + ".fd") != nullptr) {
        fd = ::dup(static_cast<int>(settings_.number(prefix + ".fd", -1)));
    } else {
        fd = ::open(settings_.get(prefix + ".path").c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (fd < 0)
        fail("kernel", "cannot open the serial line of network '" + std::string(network) +
                                   "': " + std::strerror(errno));
    auto line = hosted::net::serial_transport::open(fd, {});
    if (!line)
        fail("kernel", "cannot use the serial line of network '" + std::string(network) +
                                   "': " + std::strerror(line.error()));
    return network_.add_serial(std::move(*line));
}

remote::link_id kernel_runtime::udp_link(std::size_t udp, std::string_view network,
                                         std::string_view neighbour) {
    return network_.add_udp_link(
        udp, settings_.endpoint("udp." + std::string(network) + ".peer." + std::string(neighbour)));
}

remote::link_id kernel_runtime::serial_link(std::size_t serial) {
    return network_.add_serial_link(serial);
}

remote::link_id kernel_runtime::tcp_link(std::string_view network, std::string_view neighbour) {
    if (!tcp_)
        tcp_ = std::make_unique<tcp_bridge>(
            settings_.node(),
            std::chrono::milliseconds(settings_.number("call_timeout_ms", 5000) / 2));
    const std::string prefix = "tcp." + std::string(network);
    hosted::net::ipv4_endpoint address =
        settings_.endpoint(prefix + ".peer." + std::string(neighbour));
    hosted::net::ipv4_endpoint listen{};
    if (!tcp_->connects_to(neighbour))
        listen = settings_.endpoint(prefix + ".bind");
    auto node_side = tcp_->add(network, neighbour, address, listen);
    return network_.add_tcp_link(network_.add_tcp(std::move(node_side)));
}

void kernel_runtime::route(std::string_view destination, remote::link_id next_hop) {
    names_.emplace_back(destination);
    routes_.push_back({names_.back(), next_hop});
}

void kernel_runtime::start_network(bool exports, std::vector<std::string_view> callees,
                                   std::vector<std::string_view> encrypt_to,
                                   std::vector<std::string_view> encrypted_callers) {
    if (exports) {
        auto read = hosted::remote::read_secret_key(settings_.get("key.node"), node_key_);
        if (!read)
            fail("kernel", "cannot read the node key: " +
                                       std::string(hosted::remote::describe(read.error())));
    }
    for (std::string_view callee : callees) {
        auto token = hosted::remote::read_private_file(
            settings_.get("key.credential." + std::string(callee)), 4096);
        if (!token)
            fail("kernel", "cannot read the credential for node '" + std::string(callee) +
                                       "': " + hosted::remote::describe(token.error()));
        tokens_.push_back(std::move(*token));
        names_.emplace_back(callee);
        const bool encrypt =
            std::find(encrypt_to.begin(), encrypt_to.end(), callee) != encrypt_to.end();
        credentials_.push_back({names_.back(), tokens_.back(), encrypt});
    }
    remote::node_config config;
    config.name = settings_.node();
    config.routes = routes_;
    config.credentials = credentials_;
    config.verification_key = exports ? &node_key_ : nullptr;
    for (std::string_view caller : encrypted_callers) {
        names_.emplace_back(caller);
        encrypted_callers_.push_back(names_.back());
    }
    config.encrypted_callers = encrypted_callers_;
    config.call_timeout = std::chrono::milliseconds(settings_.number("call_timeout_ms", 5000));
    // Replay state that survives a restart, kill -9 included (docs/remote.md, "Replay"): a
    // high-water mark reserved ahead in the node's state directory. Without one (a settings
    // file not written by `ambience run`), refuse at least what is numbered before this start
    // minus a minute of clock skew.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    config.sequence_floor = static_cast<std::uint64_t>(now.tv_sec - 60) * 1000000u;
    if (const std::string* state = exports ? settings_.find("state.dir") : nullptr) {
        hosted::remote::durable_replay_settings replay;
        replay.max_roots = config.max_callers;
        auto store = hosted::remote::durable_sequence_store::open(
            *state + "/" + std::string(settings_.node()) + ".remote.replay",
            static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
                static_cast<std::uint64_t>(now.tv_nsec) / 1000u,
            replay);
        if (!store)
            fail("kernel", "cannot open the replay state: " + store.error());
        config.sequences = store->get();
        keep(std::move(*store));
    }
    auto started = network_.start(config);
    if (!started)
        fail("kernel", std::string("cannot start the network side: ") +
                                   remote::describe(started.error()));
    network_started_ = true;
}

void kernel_runtime::add_http(std::string_view network, std::string_view name,
                              const http_export::interface_codec& codec,
                              http_export::call_target& target) {
    if (!http_) {
        http_ = std::make_unique<http_bridge>();
        auto read = hosted::remote::read_secret_key(settings_.get("key.http"), http_key_);
        if (!read)
            fail("kernel", "cannot read the HTTP export key: " +
                                       std::string(hosted::remote::describe(read.error())));
    }
    auto added = http_->exporter_for(network, settings_, http_key_).add(name, codec, target);
    if (!added)
        fail("kernel", "cannot export '" + std::string(name) + "' over HTTP: " +
                                   http_export::describe(added.error()));
}

kernel_runtime::http_import_config kernel_runtime::http_import_settings(std::string_view name,
                                                                         std::string_view url) const {
    http_import_config config;
    const std::string prefix = "http_import." + std::string(name);
    auto from_environment = [&name](const char* what) -> const char* {
        std::string variable = std::string("AMBIENCE_HTTP_IMPORT_") + what + "_" + std::string(name);
        const char* value = std::getenv(variable.c_str());
        return value != nullptr && *value != '\0' ? value : nullptr;
    };
    if (const char* value = from_environment("URL"))
        config.url = value;
    else if (const std::string* setting = settings_.find(prefix + ".url"))
        config.url = *setting;
    else
        config.url = std::string(url);
    if (const char* value = from_environment("AUTHORIZATION"))
        config.options.authorization = value;
    else if (const std::string* setting = settings_.find(prefix + ".authorization"))
        config.options.authorization = *setting;
    config.options.timeout = std::chrono::milliseconds(
        settings_.number(prefix + ".timeout_ms", settings_.number("call_timeout_ms", 10000)));
    log_line("kernel", "HTTP import '" + std::string(name) + "' calls " + config.url);
    return config;
}

http_import::http_client& kernel_runtime::import_client() {
    if (!imports_)
        imports_ = std::make_unique<http_import_bridge>();
    return imports_->client();
}

int kernel_runtime::run() {
    loop_.add(kernel_);
    if (imports_)
        loop_.add(*imports_);
    if (network_started_)
        loop_.add(network_);
    if (tcp_)
        loop_.add(*tcp_);
    if (http_) {
        http_->start();
        loop_.add(*http_);
    }
    log_line("kernel", "ready");
    while (!kernel_.stop_requested())
        loop_.run_until([this] { return kernel_.stop_requested(); }, std::chrono::milliseconds(20));
    log_line("kernel", "stopping");
    http_.reset();
    kernel_.stop();
    return 0;
}

}  // namespace amb::deploy
