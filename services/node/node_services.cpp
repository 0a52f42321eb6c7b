#include "node_services.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace amb::node_services {

void write_to_stderr(std::string_view line) {
    std::string out(line);
    out += '\n';
    std::size_t written = 0;
    while (written < out.size()) {
        ssize_t n = ::write(STDERR_FILENO, out.data() + written, out.size() - written);
        if (n <= 0)
            return;
        written += static_cast<std::size_t>(n);
    }
}

namespace {

const char* level_name(amb_node::level severity) {
    switch (severity) {
    case amb_node::level::debug: return "debug";
    case amb_node::level::info: return "info";
    case amb_node::level::warning: return "warning";
    case amb_node::level::error: return "error";
    }
    return "unknown";
}

// One JSON object per line, keys in this order. Text from a group is untrusted: nlohmann-json
// escapes quotes, backslashes and control bytes, and replaces invalid UTF-8 with U+FFFD, so a
// group can neither forge fields or lines nor make the line invalid JSON.
std::string json_line(const nlohmann::ordered_json& fields) {
    return fields.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

lidl::completion<void> log_service::write(amb_node::level severity, std::string_view text) {
    line_ = json_line({{"group", group_}, {"level", level_name(severity)}, {"text", text}});
    ++lines_;
    sink_(line_);
    co_return {};
}

lidl::completion<void> log_service::request(std::string_view service,
                                            std::string_view procedure, std::uint16_t status,
                                            std::uint64_t duration_ns, std::string_view instance,
                                            std::string_view caller) {
    // The request log's line (docs/deploy.md, "Request log"): declared here only.
    auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    line_ = json_line(
        {{"group", group_},
         {"service", service},
         {"procedure", procedure},
         {"status", status},
         {"duration_ns", duration_ns},
         {"instance", instance},
         {"caller", caller},
         {"node", node_},
         {"time_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count()}});
    ++lines_;
    sink_(line_);
    co_return {};
}

result<kernel_services::group_channels, int> kernel_services::connect(
    hosted::node::node_kernel& kernel, hosted::node::group_id group) {
    auto log = kernel.connect(group, hosted::node::kernel_group, ring);
    if (!log)
        return failure{log.error()};
    auto clock = kernel.connect(group, hosted::node::kernel_group, ring);
    if (!clock)
        return failure{clock.error()};
    return group_channels{*log, *clock};
}

result<void, int> kernel_services::serve(const std::string& group_name,
                                         const group_channels& channels) {
    auto entry = std::make_unique<served>();
    entry->log = std::make_unique<log_service>(group_name, sink_);
    auto log_link = kernel_->kernel().server_link(channels.log);
    auto clock_link = kernel_->kernel().server_link(channels.clock);
    if (!log_link || !clock_link)
        return failure{EINVAL};
    auto log_server = hosted::node::channel_server<amb_node::log>::attach(*log_link, *entry->log);
    auto clock_server =
        hosted::node::channel_server<amb_node::clock>::attach(*clock_link, entry->clock);
    if (!log_server || !clock_server)
        return failure{EPROTO};
    entry->log_server.emplace(std::move(*log_server));
    entry->clock_server.emplace(std::move(*clock_server));
    served_.push_back(std::move(entry));
    return {};
}

result<void, int> kernel_services::run_on(hosted::loop::process_loop& loop) {
    for (auto& entry : served_) {
        if (auto attached = entry->log_server->run_on(loop); !attached)
            return attached;
        if (auto attached = entry->clock_server->run_on(loop); !attached)
            return attached;
    }
    return {};
}

lidl::completion<std::uint64_t> clock_service::now() {
    auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    co_return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count());
}

lidl::completion<std::uint64_t> clock_service::monotonic() {
    auto since_start = std::chrono::steady_clock::now().time_since_epoch();
    co_return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_start).count());
}

}  // namespace amb::node_services
