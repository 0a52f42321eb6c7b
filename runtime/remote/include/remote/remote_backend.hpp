// The lidl backend for calls to a service on another node (DESIGN.md §3 case 3):
//
//     thermostat_client<remote::remote_backend<thermostat>> heating(node, "boiler-room",
//                                                                   "thermostat");
//     lidl::call_result<bool> accepted = co_await heating.within(500ms).set_target(21.5F);
//     if (!accepted) ... accepted.error().what  // refused, unreachable, deadline_passed, ...
//
// Each call is encoded with the generated codec, wrapped in a CAPLets request derived from this
// node's credential for the destination node (with a fresh sequence number) and sent on the
// route to it; the coroutine resumes when the authenticated reply arrives, an error comes back,
// the next hop gives up, or the call's deadline passes. Any number of calls may be in flight
// (up to the node's max_calls). Each call completes with its own value or call_error.
//
// Lifetime: the backend, the node and the names must outlive every call in flight.
// Threading: the node's loop thread.
#pragma once

#include <remote/node.hpp>

#include <lidl/service.hpp>

#include <coroutine>
#include <optional>
#include <string_view>

namespace amb::remote {

template <class S>
class remote_backend {
public:
    /// Calls `service` (the name it is exported under) on node `destination`. Without a
    /// credential for `destination`, every call fails with `refused`. A call that has no
    /// answer within `call_timeout` (zero: the node's) fails with `deadline_passed`.
    remote_backend(node& local, std::string_view destination, std::string_view service,
                   loop_clock::duration call_timeout = {})
        : node_(&local), peer_(local.find_peer(destination)), service_(service),
          call_timeout_(call_timeout) {}

    template <std::uint32_t Id>
    struct awaiter {
        remote_backend* backend;
        const void* params;
        void* result;
        lidl::call_options options;
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> waiting) {
            outgoing_call call;
            call.procedure = Id;
            call.procedure_name = S::lidl_procedure_name(Id);
            call.encode = &S::lidl_codec::encode_call;
            call.decode = &S::lidl_codec::decode_reply;
            call.fail = &fail<Id>;
            call.params = params;
            call.result_slot = result;
            call.timeout = options.timeout > loop_clock::duration::zero() ? options.timeout
                                                                          : backend->call_timeout_;
            if (!backend->peer_) {
                fail<Id>(result, lidl::call_error{lidl::call_fault::refused});
                return false;
            }
            return backend->node_->issue(*backend->peer_, backend->service_, call, waiting);
        }
        void await_resume() const noexcept {}
    };

    /// `options.timeout`, when set, replaces this backend's call timeout for that call.
    template <std::uint32_t Id>
    awaiter<Id> execute(const void* params, void* result, lidl::call_options options = {}) {
        static_assert(Id < S::lidl_procedure_count);
        return awaiter<Id>{this, params, result, options};
    }

private:
    template <std::uint32_t Id>
    static void fail(void* result, lidl::call_error error) {
        using result_type = typename S::template lidl_procedure<Id>::result;
        static_cast<lidl::slot<result_type>*>(result)->fail(error);
    }

    node* node_;
    std::optional<std::size_t> peer_;
    std::string_view service_;
    loop_clock::duration call_timeout_;
};

} // namespace amb::remote
