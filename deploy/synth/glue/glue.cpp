// The per-node glue support library: settings, group and kernel runtimes, and the bridge that
// runs HTTP exporters (amb::event_loop) from the kernel's group_loop.
#include <deploy/glue.hpp>

#include <hosted/net/serial_transport.hpp>
#include <hosted/net/udp_transport.hpp>
#include <hosted/remote/key_files.hpp>
#include <runtime/event_loop.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
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
        settings.values_[trim(std::string_view(text).substr(0, equals))] =
            trim(std::string_view(text).substr(equals + 1));
    }
    if (settings.get("node") != node)
        fail("kernel", std::string(path) + " is the settings file of node '" + settings.get("node") +
                       "'");
    return settings;
}

const std::string* node_settings::find(std::string_view key) const {
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

// --- the kernel ------------------------------------------------------------------------------

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
    auto started = kernel_.start();
    if (!started)
        fail("kernel", std::string("cannot start the groups: ") +
                                   std::strerror(started.error()));
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
    // Refuse requests numbered before this start (docs/remote.md, Replay): a restarted node
    // cannot be fed requests captured before it restarted.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    config.sequence_floor = static_cast<std::uint64_t>(now.tv_sec - 60) * 1000000u;
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
