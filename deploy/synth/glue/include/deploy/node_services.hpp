// The node services (services/node: log, clock) in a generated node, and its request log
// (docs/deploy.md, "Request log"). Every group of a node gets a log and a clock channel to the
// kernel, which serves them; every request a group serves on a channel is then written by the
// kernel as one JSON line (services/node/node_services.hpp declares it) to the node's request
// log, the file named by the setting `log.requests` (`ambience run` names
// RUN_DIR/NODE.requests.jsonl), or to standard error as `@kernel` lines without it. A service
// whose manifest names the slots "node:clock" and "node:log" gets the group's clients of them
// (`clock()`, `log()`); what it writes to the log appears in the node's output as
// `@GROUP {"group":...,"level":...,"text":...}`:
//
//     wiring.probes_services = node_services_channels(kernel, probes_group);  // before start
//     ...
//     // in group `probes`:
//     group_node_services services(this_group, wiring.probes_services);
//     this_group.serve<S>(wiring.kernel_to_warm, warm, services.logger<S>("warm", "kernel"));
//     // in the kernel, after kernel_runtime:
//     kernel_node_services node_services(settings);
//     node_services.serve(node, "probes", wiring.probes_services);
//
// Logging never delays a reply: the group posts each line without waiting, and drops it (and
// counts it) when the log channel is full (request_logger). The group cannot name another group:
// the kernel writes the group of the channel the line came from.
//
// Threading: the loop thread of each process. Lifetime: the objects here own their loggers and
// services and must outlive the runtime's run().
#pragma once

#include <deploy/glue.hpp>

#include <node_services.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace amb::deploy {

using node_service_channels = node_services::kernel_services::group_channels;

/// Declares the log and clock channels of `group` (before the kernel starts); fails on error.
inline node_service_channels node_services_channels(node_kernel& kernel, group_id group) {
    auto channels = node_services::kernel_services::connect(kernel, group);
    if (!channels)
        fail("kernel", std::string("cannot declare the node service channels of a group: ") +
                           std::strerror(channels.error()));
    return *channels;
}

/// A group's ends of its node service channels: the log (which feeds the request log) and the
/// clock, as clients a service could be given.
class group_node_services {
public:
    group_node_services(group_runtime& group, const node_service_channels& channels)
        : log_channel_(group.attach_caller(channels.log)),
          log_(std::make_unique<amb_node::log_client<hosted::node::channel_backend<amb_node::log>>>(
              log_channel_)),
          clock_(std::make_unique<
                 amb_node::clock_client<hosted::node::channel_backend<amb_node::clock>>>(
              group.attach_caller(channels.clock))) {}

    amb_node::log& log() { return *log_; }
    amb_node::clock& clock() { return *clock_; }

    /// The request hook of a channel that serves `S` as instance `instance` to `caller`; pass it
    /// to group_runtime::serve. The strings must outlive this object (generated code passes
    /// literals).
    template <class S>
    typename hosted::node::channel_server<S>::request_hook logger(std::string_view instance,
                                                                  std::string_view caller) {
        auto logger = std::make_unique<node_services::request_logger<S>>(log_channel_, instance,
                                                                          caller);
        auto hook = logger->hook();
        loggers_.push_back(std::shared_ptr<void>(logger.release(), [](void* p) {
            delete static_cast<node_services::request_logger<S>*>(p);
        }));
        return hook;
    }

private:
    hosted::node::channel_caller& log_channel_;
    std::unique_ptr<amb_node::log_client<hosted::node::channel_backend<amb_node::log>>> log_;
    std::unique_ptr<amb_node::clock_client<hosted::node::channel_backend<amb_node::clock>>> clock_;
    std::vector<std::shared_ptr<void>> loggers_;
};

/// The kernel's side: serves every group's log and clock, and writes the request log.
class kernel_node_services {
public:
    /// Opens the request log `log.requests` (appending; fails if it cannot), if set.
    explicit kernel_node_services(const node_settings& settings) : node_(settings.node()) {
        if (const std::string* path = settings.find("log.requests")) {
            file_ = ::open(path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (file_ < 0)
                fail("kernel", "cannot open the request log " + *path + ": " +
                                   std::strerror(errno));
        }
    }
    kernel_node_services(const kernel_node_services&) = delete;
    kernel_node_services& operator=(const kernel_node_services&) = delete;
    ~kernel_node_services() {
        if (file_ >= 0)
            ::close(file_);
    }

    /// Serves the log and clock channels of group `group` on the kernel's loop.
    void serve(kernel_runtime& node, std::string group, const node_service_channels& channels) {
        auto log = std::make_unique<node_services::log_service>(
            std::move(group), [this](std::string_view line) { write(line); }, node_);
        node.serve<amb_node::log>(channels.log, *log);
        node.serve<amb_node::clock>(channels.clock, clock_);
        logs_.push_back(std::move(log));
    }

private:
    void write(std::string_view line) {
        // Request lines go to the request log; a group's own lines (log.write) to the node's
        // output as `@GROUP {json}` (ambience run shows them as [node/GROUP]). The line is the
        // kernel's own JSON (its text escaped), so it stays one line whatever the group wrote.
        auto parsed = nlohmann::json::parse(line, nullptr, false);
        bool request = parsed.is_object() && parsed.contains("procedure");
        if (!request && parsed.is_object() && parsed.contains("group") &&
            parsed["group"].is_string()) {
            log_line(parsed["group"].get_ref<const std::string&>(), line);
            return;
        }
        if (file_ < 0) {
            log_line("kernel", line);
            return;
        }
        // One write per line (O_APPEND): lines of one file never interleave.
        std::string out(line);
        out += '\n';
        std::size_t written = 0;
        while (written < out.size()) {
            ssize_t n = ::write(file_, out.data() + written, out.size() - written);
            if (n <= 0)
                return;  // a full disk loses log lines, never the node
            written += static_cast<std::size_t>(n);
        }
    }

    std::string node_;
    int file_ = -1;
    node_services::clock_service clock_;
    std::vector<std::unique_ptr<node_services::log_service>> logs_;
};

}  // namespace amb::deploy
