// Ambience's side of benchmark `ipc` parts 1-3: a node_kernel whose kernel group (this process)
// calls the `calls` service served by one group process over a channel with strategy S.
//
//     auto node = calls_node<strategy::static_types>::start();   // nullptr if it failed
//     ipc_bench::calls::add_params params{40, 2};
//     lidl::slot<std::uint64_t> result;
//     node->call<add_id>(params, result);                       // through the generated client
//     std::span<std::byte> block = node->heap().allocate(1 << 20);  // crosses without a copy
//
// Calls go through the generated client (`calls_client<channel_backend<calls, S>>`), driven by
// the generated dispatcher so that one function calls any procedure from its parameter tuple:
// `lidl_dispatch::execute(client, Id, &params, result)` unpacks the tuple into the client's
// method, which awaits the channel. `run` drives a task on the kernel group's process loop until
// it is done (bounded by a timeout). The node kernel (reaping, restarts) is not on the loop:
// nothing exits while a benchmark runs.
//
// Errors: start gives nullptr when the kernel cannot start or the channel cannot be attached;
// a call that fails leaves its error (a lidl::call_error) in the result slot. After a call that
// timed out, destroy the node (the call is still suspended in the channel).
// Threading: one thread.
#pragma once

#include "calls_service.hpp"

#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include <async/task.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

namespace amb::ipc_anchors {

// Rings of the `calls` channels: 64 elements (64 calls in flight) of 4 KiB (a 4000-byte buffer
// still fits inline; from 4 KiB on, buffers outside the heap are copied once into it).
inline constexpr rings::config calls_ring{64, 4096, 64, 64};

template <hosted::node::strategy S>
class calls_node {
public:
    using client_type = ipc_bench::calls_client<hosted::node::channel_backend<ipc_bench::calls, S>>;

    // `spin`: how long both sides' loops keep polling after their last progress before they
    // sleep in epoll_wait on their eventfds (the hosted default: 50 µs; zero: sleep at once, as
    // the eventfd floor does; longer than the run: never sleep, as the busy-polling floor).
    static std::unique_ptr<calls_node> start(
        std::chrono::microseconds spin = std::chrono::microseconds(50)) {
        std::unique_ptr<calls_node> node(new calls_node);
        using namespace hosted::node;
        calls_node* raw = node.get();
        // Room for a 1 MiB buffer and for the user strategy's 1 MiB message copied next to it.
        node->kernel_.set_kernel_heap_size(std::size_t{8} << 20);
        const group_id server = node->kernel_.add_group(
            {"calls", [raw, spin](group_context& context) {
                 return serve(context, raw->channel_, spin);
             }});
        node->server_ = server;
        auto channel = node->kernel_.connect(kernel_group, server, calls_ring);
        if (!channel)
            return nullptr;
        node->channel_ = *channel;
        if (!node->kernel_.start())
            return nullptr;
        auto link = node->kernel_.kernel().caller_link(node->channel_);
        if (!link)
            return nullptr;
        auto caller = channel_caller::attach(*link);
        if (!caller)
            return nullptr;
        node->caller_.emplace(std::move(*caller));
        node->client_.emplace(*node->caller_);
        // After start: the serving group never holds the loop's descriptors.
        auto loop = hosted::loop::process_loop::create(spin);
        if (!loop)
            return nullptr;
        node->loop_ = std::move(*loop);
        if (!node->caller_->run_on(*node->loop_))
            return nullptr;
        return node;
    }

    ~calls_node() { kernel_.stop(); }

    client_type& client() { return *client_; }
    hosted::loop::process_loop& loop() { return *loop_; }
    // The kernel group's shareable heap: buffers allocated here cross without a copy.
    hosted::node::shared_heap& heap() { return kernel_.kernel().heap(); }
    hosted::node::channel_caller& caller() { return *caller_; }
    // The serving group's process (-1 when it is not running).
    pid_t server_pid() const { return kernel_.pid_of(server_); }

    // Starts `work` and runs the loop until it is done; false on a timeout.
    template <class T>
    bool run(amb::task<T>& work) {
        work.start();
        return loop_->run_until([&] { return work.done(); }, std::chrono::milliseconds(10000));
    }

    // One call of procedure Id through the generated client; false when it timed out or
    // failed (then `result` holds its error).
    template <std::uint32_t Id>
    bool call(const typename calls_procedure<Id>::params& params,
              lidl::slot<typename calls_procedure<Id>::result>& result) {
        amb::task<void> work =
            ipc_bench::calls::lidl_dispatch::execute(*client_, Id, &params, result.address());
        if (!run(work))
            return false;
        return !result.failed();
    }

private:
    calls_node() = default;

    static int serve(hosted::node::group_context& context, hosted::node::channel_id channel,
                     std::chrono::microseconds spin) {
        using namespace hosted::node;
        calls_service implementation;
        auto link = context.server_link(channel);
        if (!link)
            return 10;
        auto server = channel_server<ipc_bench::calls, S>::attach(*link, implementation);
        if (!server)
            return 11;
        auto loop = hosted::loop::process_loop::create(spin);
        if (!loop || !server->run_on(**loop))
            return 12;
        (*loop)->run_until([] { return false; });
        return 0;
    }

    // First: it outlives the channel end attached to it.
    std::unique_ptr<hosted::loop::process_loop> loop_;
    hosted::node::node_kernel kernel_;
    hosted::node::channel_id channel_ = 0;
    hosted::node::group_id server_{};
    std::optional<hosted::node::channel_caller> caller_;
    std::optional<client_type> client_;
};

}  // namespace amb::ipc_anchors
