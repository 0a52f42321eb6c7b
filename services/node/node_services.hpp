// Implementations of the node services (node_services.lidl) as the kernel group serves them,
// and the group-side helper that feeds the request log.
//
// `log_service` turns each call into one structured line (a JSON object) naming the group whose
// channel it came from, and hands it to a sink (the node's standard error by default; generated
// nodes append request lines to the run's request log; tests capture them):
//
//     {"group":"resolver","service":"demo::resolver","procedure":"resolve","status":0,"duration_ns":5120,
//      "instance":"names","caller":"web","node":"cloud","time_ns":1765148400123456789}
//     {"group":"resolver","level":"info","text":"cache warmed"}
//
// (one line each). A request line is the request log's format, declared here only and
// documented in docs/deploy.md ("Request log"): `time_ns` is the node's wall clock when the
// kernel wrote the line (just after the reply), `node` the node's name ("" when the service was
// made without one), `status` a call_status (0: ok).
//
// Lines are written with nlohmann-json: text from a group is escaped (quotes, backslashes,
// control bytes; invalid UTF-8 becomes U+FFFD) so a group cannot forge fields or lines. `clock_service` reads the node's clocks.
//
// `request_logger<S>` is a `channel_server::request_hook` for a group that serves `S`: after each
// request it *posts* (sends without waiting) `log.request` through the group's log channel, so
// logging never delays the reply; if the log channel is full the line is dropped and counted.
//
// Threading: one thread each (the kernel's loop, the group's loop).
#pragma once

#include "node_services.lidl.hpp"

#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include <memory>
#include <optional>
#include <vector>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace amb::node_services {

/// Where log lines go (one call per line, without the newline).
using log_sink = std::function<void(std::string_view line)>;

/// Writes `line` and a newline to standard error in one write.
void write_to_stderr(std::string_view line);

class log_service final : public amb_node::log {
public:
    log_service(std::string group, log_sink sink, std::string node = {})
        : group_(std::move(group)), node_(std::move(node)), sink_(std::move(sink)) {}

    lidl::completion<void> write(amb_node::level severity, std::string_view text) override;
    lidl::completion<void> request(std::string_view service, std::string_view procedure,
                                   std::uint16_t status, std::uint64_t duration_ns,
                                   std::string_view instance, std::string_view caller) override;

    std::uint64_t lines() const { return lines_; }

private:
    std::string group_;
    std::string node_;
    log_sink sink_;
    std::string line_;
    std::uint64_t lines_ = 0;
};

class clock_service final : public amb_node::clock {
public:
    lidl::completion<std::uint64_t> now() override;
    lidl::completion<std::uint64_t> monotonic() override;
};

/// The kernel side of the node services: one log and one clock channel per group that asked for
/// them, served on the kernel's loop.
///
///     auto channels = kernel_services::connect(kernel, group);   // before kernel.start()
///     kernel.start();
///     kernel_services services(kernel, write_to_stderr);
///     services.serve(group, *channels);                           // after start
///     services.run_on(loop);                                      // each server is a poller
class kernel_services {
public:
    struct group_channels {
        hosted::node::channel_id log = 0;
        hosted::node::channel_id clock = 0;
    };
    static constexpr rings::config ring{64, 512, 64, 64};

    /// Declares the group's log and clock channels (before the kernel starts). Error: errno.
    static result<group_channels, int> connect(hosted::node::node_kernel& kernel,
                                               hosted::node::group_id group);

    kernel_services(hosted::node::node_kernel& kernel, log_sink sink)
        : kernel_(&kernel), sink_(std::move(sink)) {}

    /// Starts serving a group's channels (after the kernel started) under the group's name.
    result<void, int> serve(const std::string& group_name, const group_channels& channels);

    /// Makes every server a poller of `loop` (a process_loop). Error: errno.
    result<void, int> run_on(hosted::loop::process_loop& loop);

private:
    struct served {
        std::unique_ptr<log_service> log;
        clock_service clock;
        std::optional<hosted::node::channel_server<amb_node::log>> log_server;
        std::optional<hosted::node::channel_server<amb_node::clock>> clock_server;
    };
    hosted::node::node_kernel* kernel_;
    log_sink sink_;
    std::vector<std::unique_ptr<served>> served_;
};

/// Feeds the request log of a group serving `S` (see the header comment): requests served to
/// `caller` by instance `instance` (either may be "" when unknown). The strings must outlive
/// the logger.
template <class S>
class request_logger {
public:
    explicit request_logger(hosted::node::channel_caller& log_channel,
                            std::string_view instance = {}, std::string_view caller = {})
        : log_(log_channel), instance_(instance), caller_(caller) {}

    hosted::node::channel_server<S>::request_hook hook() { return {&record, this}; }
    std::uint64_t dropped() const { return dropped_; }

private:
    static void record(void* context, const hosted::node::request_record& request) {
        auto& self = *static_cast<request_logger*>(context);
        const char* procedure = S::lidl_procedure_name(request.procedure);
        amb_node::log::request_params params{S::lidl_name,       procedure ? procedure : "?",
                                             request.status,     request.duration_ns,
                                             self.instance_,     self.caller_};
        if (!self.log_.template post<1>(params))
            ++self.dropped_;
    }

    hosted::node::channel_backend<amb_node::log> log_;
    std::string_view instance_;
    std::string_view caller_;
    std::uint64_t dropped_ = 0;
};

}  // namespace amb::node_services
