// The support library of the per-node glue that `ambience build` generates (docs/deploy.md,
// "Synthesis"). A generated node file only wires components together, like a board file: it
// declares the node's groups and channels, constructs each group's instances in start order with
// their dependencies, and names the node's links, routes, remote imports and exports. Everything
// that is the same for every node lives here:
//
//     node_kernel kernel;  ... add_group / amb::deploy::connect ...
//     amb::deploy::start_groups(kernel);       // before any setting or key is read
//     amb::deploy::node_settings settings = amb::deploy::node_settings::load(argc, argv, "cloud");
//     amb::deploy::kernel_runtime node(kernel, settings);
//     std::size_t lan = node.udp("lan");
//     node.route("field", node.udp_link(lan, "gateway"));
//     node.route("hall", node.tcp_link("wired", "hall"));   // one TCP connection per link
//     node.start_network();
//     auto& sensor = node.import_remote<S, S_client>("field", "sensor");
//     node.serve<S>(channel, sensor);                        // to a group that depends on it
//     return node.run();                                      // until SIGINT/SIGTERM
//
// and in a group's process:
//
//     amb::deploy::group_runtime group(context);
//     auto& store = group.import<log_store, log_store_client>(channel);
//     averager_impl aggregator(sensor, store);
//     group.serve<averager>(channel, aggregator);
//     return group.run();
//
// Settings (addresses, ports, descriptors, key paths) come from a file `ambience run` writes per
// node (`key = value` lines), so the same executable runs on loopback ports or in a network
// namespace. This is a tool-level library: a broken setting or a failing start-up prints one
// line naming the node and what failed, and exits with status 1 (`fail`).
//
// Threading: everything on the loop thread of its process. Lifetime: the runtimes own every
// channel end, client, server, export and transport they create, and outlive the loop run.
#pragma once

#include <hosted/net/transport.hpp>
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>
#include <hosted/remote/network_node.hpp>
#include <hosted/remote/tcp_links.hpp>
#include <http_export/call_target.hpp>
#include <http_export/exporter.hpp>
#include <http_export/interface.hpp>
#include <http_import/backend.hpp>
#include <http_import/io_driver.hpp>
#include <hosted/loop/process_loop.hpp>
#include <remote/exports.hpp>
#include <remote/remote_backend.hpp>

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amb::deploy {

using hosted::node::channel_id;
using hosted::node::group_context;
using hosted::node::group_id;
using hosted::node::node_kernel;

/// Prints `@GROUP error: <what>` on stderr (see log_line) and exits with status 1.
[[noreturn]] void fail(std::string_view group, std::string_view what);

/// The settings file of one node: `key = value` lines, `#` comments. Keys used by the glue:
///   node                         the node's name (checked against the generated one)
///   udp.NET.bind                 ADDRESS:PORT this node's socket on udp network NET
///   udp.NET.peer.NODE            ADDRESS:PORT of neighbour NODE on NET
///   tcp.NET.bind                 ADDRESS:PORT this node listens at on tcp network NET (when a
///                                neighbour there connects to it: see kernel_runtime::tcp_link)
///   tcp.NET.peer.NODE            ADDRESS:PORT of neighbour NODE on NET (connected to, or the
///                                address its connections must come from)
///   serial.NET.fd / serial.NET.path   the line of serial network NET (an inherited descriptor
///                                or a device path)
///   http.NET.listen              ADDRESS:PORT of the HTTP exporter on http network NET
///   key.node                     this node's verification key file (if it exports)
///   key.credential.NODE          the credential file for calls to NODE
///   key.http                     the origin key of HTTP export tokens
///   call_timeout_ms              remote call timeout (default 5000), and HTTP import timeout
///   http_import.NAME.url         replaces the manifest's URL of HTTP import NAME
///   http_import.NAME.authorization   the Authorization header of its requests
///   http_import.NAME.timeout_ms  its request timeout (default: call_timeout_ms)
/// and from the environment, before the file: AMBIENCE_HTTP_IMPORT_URL_NAME and
/// AMBIENCE_HTTP_IMPORT_AUTHORIZATION_NAME (so that `ambience run` can point an import elsewhere).
class node_settings {
public:
    /// Reads the file named by argv[1] (or $AMBIENCE_NODE_SETTINGS); fails on a missing file,
    /// a malformed line or a node name other than `node`.
    static node_settings load(int argc, char** argv, std::string_view node);

    std::string_view node() const { return node_; }
    const std::string* find(std::string_view key) const;
    /// The value of `key`; fails if it is absent.
    const std::string& get(std::string_view key) const;
    /// `key` as ADDRESS:PORT (IPv4); fails if absent or malformed.
    hosted::net::ipv4_endpoint endpoint(std::string_view key) const;
    /// `key` as a non-negative integer, or `otherwise` when absent.
    long number(std::string_view key, long otherwise) const;

private:
    std::string node_;
    std::map<std::string, std::string, std::less<>> values_;
};

/// Declares a channel from `caller` to `server` with the glue's ring sizes; fails on error.
channel_id connect(node_kernel& kernel, group_id caller, group_id server);

/// Starts every group of `kernel` (fails if it cannot). Call it before the node reads its
/// settings or keys: every group process, first start and restart, is cloned from the image of
/// this moment (docs/hosted.md, "Secrets"), so no group ever holds a key, a credential or a
/// setting. The `AMBIENCE_` environment variables (`ambience run` passes authorizations there)
/// are withheld from the groups.
void start_groups(node_kernel& kernel);

/// Prints one log line of this process as `@GROUP text` (the run tool shows it as
/// `[node/GROUP] text`).
void log_line(std::string_view group, std::string_view text);

/// A group's process: the ends of its channels and the loop that drives them.
class group_runtime {
public:
    /// Makes the group's process loop (fails if it cannot), which polls the group's channels
    /// for `spin` after its last work before it sleeps (ports/hosted/event_driver.hpp).
    explicit group_runtime(group_context& context,
                           loop_clock::duration spin = ports::hosted::default_spin);
    group_runtime(const group_runtime&) = delete;

    /// A client of `S` over `channel` (this group calls): an `S&` for a constructor.
    template <class S, template <class> class Client>
    S& import(channel_id channel) {
        auto& caller = attach_caller(channel);
        auto client = std::make_unique<Client<hosted::node::channel_backend<S>>>(caller);
        S& reference = *client;
        keep(std::move(client));
        return reference;
    }

    /// Serves `implementation` on `channel` (this group serves); `hook` sees every request
    /// served (the request log: deploy/node_services.hpp).
    template <class S>
    void serve(channel_id channel, S& implementation,
               typename hosted::node::channel_server<S>::request_hook hook = {}) {
        auto link = context_.server_link(channel);
        if (!link)
            fail(context_.name(), "no server end for a channel of this group");
        auto server = hosted::node::channel_server<S>::attach(*link, implementation, hook);
        if (!server)
            fail(context_.name(), "cannot attach to a channel this group serves");
        auto owned = std::make_unique<hosted::node::channel_server<S>>(std::move(*server));
        if (!owned->run_on(*loop_))
            fail(context_.name(), "cannot watch a channel this group serves");
        keep(std::move(owned));
    }

    /// Runs the loop until the kernel stops the group (SIGTERM); returns the exit status.
    int run();

    /// This group's end of `channel` (it calls), on the group's loop; fails on error.
    hosted::node::channel_caller& attach_caller(channel_id channel);

private:
    template <class T>
    void keep(std::unique_ptr<T> owned) {
        kept_.push_back(std::shared_ptr<void>(owned.release(), [](void* p) {
            delete static_cast<T*>(p);
        }));
    }

    group_context& context_;
    // Before everything that attaches to it (destroyed after them).
    std::unique_ptr<hosted::loop::process_loop> loop_;
    std::vector<std::unique_ptr<hosted::node::channel_caller>> callers_;
    std::vector<std::shared_ptr<void>> kept_;
};

/// Serves calls from the HTTP exporter through a client: a `call_target` over a generated
/// client `Client` (over a channel or a remote backend) that serves the call with the generated
/// `lidl_dispatch::serve`. A call the client's backend could not complete ends with that call's
/// own `lidl::call_error` (the exporter answers 504 for deadline_passed, 503 for unreachable,
/// ...): `serve` completes with the error the procedure's result carries. An empty task (no
/// frame) is the exporter's to answer, as for `local_target`.
template <class S, class Client>
class client_target final : public http_export::call_target {
public:
    explicit client_target(Client& client) : client_(client) {}

    task<lidl::serve_result> call(std::uint32_t id, std::span<const std::uint8_t> message,
                                  lidl::builder& response, lidl::builder& reply) override {
        return S::lidl_dispatch::serve(static_cast<S&>(client_), id, message, response, reply);
    }

private:
    Client& client_;
};

class http_exports;

/// The kernel group of a node: starts the groups, owns the network side (links, routes, keys,
/// remote imports and exports), the HTTP exporters and the kernel's ends of channels, and runs
/// the kernel loop until SIGINT/SIGTERM.
class kernel_runtime {
public:
    /// Takes over the kernel side of `kernel`, starting its groups first if start_groups has not
    /// (then the groups' image holds the settings: prefer start_groups before loading them).
    /// `spin`: how long the kernel's loop polls its channels after its last work before it
    /// sleeps (ports/hosted/event_driver.hpp).
    kernel_runtime(node_kernel& kernel, const node_settings& settings,
                   loop_clock::duration spin = ports::hosted::default_spin);
    kernel_runtime(const kernel_runtime&) = delete;
    ~kernel_runtime();

    // --- network side (before start_network) ---
    /// Opens this node's UDP socket on network `network` (udp.NET.bind); returns its index.
    std::size_t udp(std::string_view network);
    /// Opens the serial line of `network` (serial.NET.fd or serial.NET.path).
    std::size_t serial(std::string_view network);
    /// A link to neighbour `neighbour` on UDP socket `udp` (udp.NET.peer.NODE).
    remote::link_id udp_link(std::size_t udp, std::string_view network, std::string_view neighbour);
    remote::link_id serial_link(std::size_t serial);
    /// A link to neighbour `neighbour` on tcp network `network`: one TCP connection, made by
    /// the node whose name sorts first (bytewise) to tcp.NET.peer.NODE and accepted by the other
    /// at tcp.NET.bind, which the connecting node names itself to with a hello message. It is
    /// made whenever the neighbour is up, in whatever order the nodes start, and made again
    /// after either end restarts (docs/deploy.md, "TCP networks").
    remote::link_id tcp_link(std::string_view network, std::string_view neighbour);
    /// Requests for `destination` leave through `next_hop`.
    void route(std::string_view destination, remote::link_id next_hop);
    /// Reads the keys (key.node if `exports`, key.credential.NODE for each of `callees`) and
    /// creates the network node. Calls to the nodes in `encrypt_to` are sealed, and plaintext
    /// requests from `encrypted_callers` refused (docs/remote.md, "Encryption").
    void start_network(bool exports, std::vector<std::string_view> callees,
                       std::vector<std::string_view> encrypt_to = {},
                       std::vector<std::string_view> encrypted_callers = {});

    // --- bindings (after start_network) ---
    /// A client of `S` over `channel` (the kernel calls a group).
    template <class S, template <class> class Client>
    Client<hosted::node::channel_backend<S>>& import(channel_id channel) {
        auto link = kernel_.kernel().caller_link(channel);
        if (!link)
            fail("kernel", "no kernel end for a channel");
        auto caller = hosted::node::channel_caller::attach(*link);
        if (!caller)
            fail("kernel", "cannot attach to a channel of the kernel");
        auto owned = std::make_unique<hosted::node::channel_caller>(std::move(*caller));
        if (!owned->run_on(*loop_))
            fail("kernel", "cannot watch a channel of the kernel");
        auto client = std::make_unique<Client<hosted::node::channel_backend<S>>>(*owned);
        auto& reference = *client;
        callers_.push_back(std::move(owned));
        keep(std::move(client));
        return reference;
    }
    /// A client of instance `instance` of `S` on node `destination`, through the network.
    template <class S, template <class> class Client>
    Client<remote::remote_backend<S>>& import_remote(std::string_view destination,
                                                     std::string_view instance) {
        auto client = std::make_unique<Client<remote::remote_backend<S>>>(network_.node(),
                                                                          destination, instance);
        auto& reference = *client;
        keep(std::move(client));
        return reference;
    }
    /// A client of the external HTTP service `name` (the manifest's import_http), as `S`: each
    /// call becomes `POST <url>/<procedure>` from this kernel (services/http_import). `url` is
    /// the manifest's, unless the environment or the settings replace it (see node_settings).
    template <class S, template <class> class Client>
    Client<http_import::http_backend<S>>& import_http(std::string_view name, std::string_view url) {
        http_import_config config = http_import_settings(name, url);
        auto client = std::make_unique<Client<http_import::http_backend<S>>>(
            import_client(), std::move(config.url), std::move(config.options));
        auto& reference = *client;
        keep(std::move(client));
        return reference;
    }
    /// Serves `implementation` (a client) to a group on `channel`.
    template <class S>
    void serve(channel_id channel, S& implementation) {
        auto link = kernel_.kernel().server_link(channel);
        if (!link)
            fail("kernel", "no kernel end for a channel");
        auto server = hosted::node::channel_server<S>::attach(*link, implementation);
        if (!server)
            fail("kernel", "cannot attach to a channel the kernel serves");
        auto owned = std::make_unique<hosted::node::channel_server<S>>(std::move(*server));
        if (!owned->run_on(*loop_))
            fail("kernel", "cannot watch a channel the kernel serves");
        keep(std::move(owned));
    }
    /// Makes `implementation` callable from other nodes as `instance`.
    template <class S>
    void export_remote(std::string_view instance, S& implementation) {
        auto exported = std::make_unique<remote::lidl_export<S>>(implementation);
        if (!network_.node().export_service(instance, *exported))
            fail("kernel", "cannot export a service to the network");
        keep(std::move(exported));
    }
    /// Serves `client` over HTTP on network `network` as `/name` (http.NET.listen, key.http).
    template <class S, class Client>
    void export_http(std::string_view network, std::string_view name, Client& client) {
        auto target = std::make_unique<client_target<S, Client>>(client);
        add_http(network, name, http_export::interface_of<S>(), *target);
        keep(std::move(target));
    }

    /// Runs the kernel loop until a stop signal; stops every group; returns the exit status.
    int run();

private:
    struct http_import_config {
        std::string url;
        http_import::request_options options;
    };
    http_import_config http_import_settings(std::string_view name, std::string_view url) const;
    http_import::http_client& import_client();
    void add_http(std::string_view network, std::string_view name,
                  const http_export::interface_codec& codec, http_export::call_target& target);
    template <class T>
    void keep(std::unique_ptr<T> owned) {
        kept_.push_back(std::shared_ptr<void>(owned.release(), [](void* p) {
            delete static_cast<T*>(p);
        }));
    }

    node_kernel& kernel_;
    const node_settings& settings_;
    // Before everything that attaches to it (destroyed after them). Made after the groups
    // started: they never hold its descriptors.
    std::unique_ptr<hosted::loop::process_loop> loop_;
    hosted::remote::network_node network_;
    bool network_started_ = false;
    std::vector<remote::route_entry> routes_;
    std::deque<std::string> names_;  // storage for route and credential names (stable)
    std::vector<std::vector<std::uint8_t>> tokens_;
    std::vector<remote::credential_entry> credentials_;
    std::vector<std::string_view> encrypted_callers_;
    caplets::secret_key node_key_{};
    caplets::secret_key http_key_{};
    std::unique_ptr<http_exports> http_;
    std::unique_ptr<http_import::io_driver> import_watcher_;
    std::unique_ptr<http_import::http_client> import_client_;
    std::unique_ptr<hosted::remote::tcp_links> tcp_;
    std::vector<std::unique_ptr<hosted::node::channel_caller>> callers_;
    std::vector<std::shared_ptr<void>> kept_;
};

}  // namespace amb::deploy
