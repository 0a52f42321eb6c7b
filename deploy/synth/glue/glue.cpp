// The per-node glue support library: the group and kernel runtimes, each on its process's one
// event loop (hosted/loop/process_loop.hpp). The settings file is read in node_settings.cpp.
#include <deploy/glue.hpp>

#include <hosted/net/serial_transport.hpp>
#include <hosted/net/tcp_transport.hpp>
#include <hosted/net/udp_transport.hpp>
#include <hosted/remote/key_files.hpp>
#include <hosted/remote/durable_replay.hpp>
#include <runtime/event_loop.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace amb::deploy {

namespace {

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
    if (!callers_.back()->run_on(*loop_))
        fail(context_.name(), "cannot watch a channel this group calls");
    return *callers_.back();
}

namespace {

// The process's one event loop; fails the group if it cannot be made.
std::unique_ptr<hosted::loop::process_loop> make_loop(std::string_view group,
                                                       loop_clock::duration spin) {
    auto loop = hosted::loop::process_loop::create(spin);
    if (!loop)
        fail(group, std::string("cannot create the event loop: ") + std::strerror(loop.error()));
    return std::move(*loop);
}

}  // namespace

group_runtime::group_runtime(group_context& context, loop_clock::duration spin)
    : context_(context), loop_(make_loop(context.name(), spin)) {}

int group_runtime::run() {
    log_line(context_.name(), context_.restarts() == 0
                                  ? "started"
                                  : "restarted (" + std::to_string(context_.restarts()) + ")");
    loop_->run_until([] { return false; });
    return 0;
}

// --- HTTP exporters on the kernel loop -------------------------------------------------------

// The node's HTTP exporters, one per http network, on the kernel's loop: libmicrohttpd's epoll
// descriptor is a watch of the loop's driver (through io_driver::over) and its timeouts are loop
// timers.
class http_exports {
public:
    explicit http_exports(hosted::loop::process_loop& loop) : loop_(loop) {
        auto watcher = http_export::io_driver::over(loop.driver());
        if (!watcher)
            fail("kernel", "cannot watch the HTTP exporters' descriptors");
        watcher_ = std::move(*watcher);
    }
    ~http_exports() {
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
                                std::make_unique<http_export::exporter>(loop_.loop(), *watcher_,
                                                                        key, options));
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

private:
    hosted::loop::process_loop& loop_;
    std::unique_ptr<http_export::io_driver> watcher_;
    // Before the exporters: they use these until they are destroyed.
    std::vector<std::unique_ptr<hosted::remote::durable_sequence_store>> replay_;
    std::vector<std::pair<std::string, std::unique_ptr<http_export::exporter>>> exporters_;
};

// --- the kernel ------------------------------------------------------------------------------

void start_groups(node_kernel& kernel) {
    kernel.withhold_environment("AMBIENCE_");
    auto started = kernel.start();
    if (!started)
        fail("kernel", std::string("cannot start the groups: ") + std::strerror(started.error()));
}

kernel_runtime::kernel_runtime(node_kernel& kernel, const node_settings& settings,
                               loop_clock::duration spin)
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
    loop_ = make_loop("kernel", spin);  // after start: no group holds its descriptors
    auto watching = kernel_.watch_stop_signals();
    if (!watching)
        fail("kernel", "cannot watch stop signals");
}

kernel_runtime::~kernel_runtime() {
    http_.reset();
    import_client_.reset();  // abandons requests in flight, unwatches its sockets
    tcp_.reset();
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
    if (!tcp_) {
        tcp_ = std::make_unique<hosted::remote::tcp_links>(
            settings_.node(), network_, [](std::string_view line) { log_line("kernel", line); });
        // Half the call timeout: a request is not delivered after its call has failed.
        network_.set_tcp_waiting(
            64, std::chrono::milliseconds(settings_.number("call_timeout_ms", 5000) / 2));
    }
    const std::string prefix = "tcp." + std::string(network);
    hosted::net::ipv4_endpoint address =
        settings_.endpoint(prefix + ".peer." + std::string(neighbour));
    hosted::net::ipv4_endpoint listen{};
    if (!tcp_->connects_to(neighbour))
        listen = settings_.endpoint(prefix + ".bind");
    auto link = tcp_->add(network, neighbour, address, listen);
    if (!link)
        fail("kernel", link.error());
    return *link;
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
        http_ = std::make_unique<http_exports>(*loop_);
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
    if (import_client_)
        return *import_client_;
    auto watcher = http_import::io_driver::over(loop_->driver());
    if (!watcher)
        fail("kernel", "cannot watch the HTTP import client's sockets");
    import_watcher_ = std::move(*watcher);
    auto client = http_import::http_client::create(loop_->loop(), *import_watcher_);
    if (!client)
        fail("kernel", "cannot start the HTTP import client: " + client.error());
    import_client_ = std::move(*client);
    return *import_client_;
}

int kernel_runtime::run() {
    // Everything is on the one loop: the groups' exits and the stop signals, the channels, the
    // network node, the TCP links and the HTTP exporters and imports. It sleeps until one of them
    // has something to do: no periodic tick.
    if (!kernel_.run_on(*loop_))
        fail("kernel", "cannot watch the groups");
    if (network_started_ && !network_.run_on(*loop_))
        fail("kernel", "cannot watch the network links");
    if (tcp_ && !tcp_->run_on(*loop_))
        fail("kernel", "cannot watch the TCP links");
    if (http_)
        http_->start();
    log_line("kernel", "ready");
    loop_->run_until([this] { return kernel_.stop_requested(); });
    log_line("kernel", "stopping");
    http_.reset();
    kernel_.stop();
    return 0;
}

}  // namespace amb::deploy
