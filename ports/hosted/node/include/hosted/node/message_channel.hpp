// Calls from one process to a group in another process, with the *user* strategy (DESIGN.md §3,
// case 2: serialise, copy bytes, deserialise), over a ring region in a `shared_region`.
//
// The calling process holds a `message_caller` on the kernel endpoint of the region and makes
// lidl clients with `message_backend<S>`. A call encodes its parameter tuple with
// `S::lidl_codec::encode_call` into a private buffer, copies the message into a ring element's
// payload, submits it and rings the request eventfd; then it sleeps in poll() on the reply
// eventfd and on the serving process's exit descriptor (a pidfd). The serving process runs a
// `message_server<S>` on the group endpoint: it copies each request out of the shared element
// (so the caller cannot change it while it is verified), verifies and decodes it with
// `decode_call`, runs `lidl_dispatch::execute`, encodes the reply with `encode_reply` and copies
// it into the same element. No pointer crosses the process boundary, only bytes and indices.
//
// Everything read from the region is untrusted: either side may scribble on it. A malformed
// request is answered with a non-zero `call_status` (the server keeps serving); a malformed or
// mismatched reply fails the call. A server that exits (or crashes) while a call is pending makes
// the call fail with `call_error::peer_exited` instead of hanging; after that, and after any
// error that leaves the region in an unknown state, the caller is *broken* and every later call
// fails at once with the same error.
//
// Limits of this first slice (docs/hosted.md): one call at a time per caller, calls block the
// calling thread, messages must fit in one element's payload (`call_error::too_large` otherwise;
// TODO(perf): the shareable-heap path for large arguments), and server implementations must
// complete without waiting for external events (they run to completion inside `serve`).
// Threading: each object belongs to one thread.
#pragma once

#include <hosted/node/shared_region.hpp>

#include <lidl/service.hpp>
#include <rings/ring.hpp>

#include <async/task.hpp>

#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

namespace amb::hosted::node {

/// What one side needs to use a group's channel. Does not own anything: the descriptors and
/// the mapping belong to the supervisor (parent) or to the group's start-up code (child).
struct message_link {
    /// The ring region (already initialised by the supervisor).
    std::span<std::byte> region;
    /// eventfd rung by the caller after it submitted a request.
    int request_event = -1;
    /// eventfd rung by the server after it submitted a reply.
    int reply_event = -1;
    /// Caller only: becomes readable when the serving process has exited (a pidfd), or -1.
    int peer_exit = -1;
};

/// Status a server writes into a reply element's header (0: success). Values are ABI.
enum class call_status : std::uint16_t {
    ok = 0,
    malformed_request = 1,  ///< wrong kind, length past the payload, or decode_call rejected it
    unknown_procedure = 2,  ///< procedure id not below the service's procedure count
    reply_too_large = 3,    ///< the reply does not fit in one element payload
};

enum class call_error : std::uint8_t {
    too_large = 1,  ///< the encoded call does not fit in an element payload (nothing was sent)
    ring,           ///< the ring region rejected an operation (pool empty, corrupt, ...)
    rejected,       ///< the server answered with a non-zero call_status
    bad_reply,      ///< the reply element or message is malformed or not ours
    peer_exited,    ///< the serving process exited before it replied
    timed_out,      ///< no reply within the caller's timeout
    wait_failed,    ///< poll() or an eventfd failed
};

/// A sentence describing `e`, for error messages.
const char* describe(call_error e);

/// Wakes the peer waiting on `event` (an eventfd). Error: errno.
result<void, int> signal_event(int event) noexcept;

/// The calling side of a group channel.
class message_caller {
public:
    /// Attaches to the (initialised) region of `link` and takes its kernel endpoint. `timeout`
    /// bounds each wait for a reply; negative means none (the peer's exit still ends the wait).
    static result<message_caller, rings::error> attach(
        const message_link& link, std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

    message_caller(message_caller&&) noexcept = default;
    message_caller& operator=(message_caller&&) noexcept = default;

    /// Sends `request` (a message encoded by the caller) as procedure `procedure` and waits for
    /// the reply. The returned bytes live in this caller's reply buffer until the next call.
    result<std::span<const std::uint8_t>, call_error> exchange(std::uint32_t procedure,
                                                                std::span<const std::uint8_t> request);

    /// Procedure `Id` of service `S`: encodes `params` (S::lidl_procedure<Id>::params), exchanges
    /// and decodes the reply into `result` (a lidl::slot of the procedure's result), which is
    /// filled only on success.
    template <class S, std::uint32_t Id>
    result<void, call_error> call(const void* params, void* result) {
        lidl::builder out(request_buffer());
        if (!S::lidl_codec::encode_call(Id, params, out) || out.failed())
            return failure{call_error::too_large};
        auto reply = exchange(Id, out.written());
        if (!reply)
            return failure{reply.error()};
        if (!S::lidl_codec::decode_reply(Id, *reply, params, result))
            return failure{call_error::bad_reply};
        return {};
    }

    /// Largest request or reply message, in bytes (the ring's payload size).
    std::size_t payload_size() const { return payload_size_; }
    /// True once an error left the channel unusable (every call then fails with `broken_by`).
    bool broken() const { return broken_; }

private:
    message_caller(rings::endpoint endpoint, const message_link& link,
                   std::chrono::milliseconds timeout, std::size_t payload_size);
    std::span<std::uint8_t> request_buffer() {
        return {reinterpret_cast<std::uint8_t*>(request_.get()), payload_size_};
    }
    std::span<std::uint8_t> reply_buffer() {
        return {reinterpret_cast<std::uint8_t*>(reply_.get()), payload_size_};
    }
    failure<call_error> break_with(call_error e) {
        broken_ = true;
        broken_by_ = e;
        return failure{e};
    }
    result<std::span<const std::uint8_t>, call_error> wait_reply(rings::element_index sent,
                                                                 std::uint64_t cookie);

    rings::endpoint endpoint_;
    message_link link_;
    std::chrono::milliseconds timeout_;
    std::size_t payload_size_;
    // Private, 8-byte aligned copies: lidl messages are encoded and verified here, never in the
    // shared region.
    std::unique_ptr<std::uint64_t[]> request_;
    std::unique_ptr<std::uint64_t[]> reply_;
    std::uint64_t next_cookie_ = 1;
    bool broken_ = false;
    call_error broken_by_ = call_error::peer_exited;
};

/// The lidl backend for generated clients (`S_client<message_backend<S>>`). Generated client
/// stubs have no error channel yet, so a failed call completes with a value-initialised result
/// and records the error in `last_error()`; callers that must tell the difference check it, or
/// use `message_caller::call` directly. TODO(port): an error path in lidl client stubs.
template <class Service>
class message_backend {
public:
    explicit message_backend(message_caller& caller) : caller_(&caller) {}

    /// The error of the most recent failed call (cleared by a successful one).
    std::optional<call_error> last_error() const { return last_error_; }

    template <std::uint32_t Id>
    std::suspend_never execute(const void* params, void* result) {
        static_assert(Id < Service::lidl_procedure_count);
        using result_type = typename Service::template lidl_procedure<Id>::result;
        auto done = caller_->template call<Service, Id>(params, result);
        last_error_.reset();
        if (done)
            return {};
        last_error_ = done.error();
        if constexpr (!std::is_void_v<result_type>) {
            static_assert(std::is_default_constructible_v<result_type>);
            static_cast<lidl::slot<result_type>*>(result)->emplace(result_type{});
        }
        return {};
    }

private:
    message_caller* caller_;
    std::optional<call_error> last_error_;
};

/// The serving side of a group channel: runs calls on an implementation of `Service`.
template <class Service>
class message_server {
public:
    /// Attaches to the region of `link` and takes its group endpoint.
    static result<message_server, rings::error> attach(const message_link& link,
                                                       Service& implementation) {
        auto region = rings::ring_region::attach(link.region);
        if (!region)
            return failure{region.error()};
        return message_server(region->group(), link, implementation,
                              region->sizes().payload_size);
    }

    message_server(message_server&&) noexcept = default;

    /// Answers every request waiting in the ring, then returns how many it answered; a ring
    /// error (a corrupt ring: the caller misbehaved) stops it.
    result<std::size_t, rings::error> serve() {
        std::size_t answered = 0;
        for (;;) {
            auto polled = endpoint_.poll();
            if (!polled) {
                if (polled.error() == rings::error::bad_index)
                    continue;  // the bad entry was consumed and dropped
                return failure{polled.error()};
            }
            if (!polled.value())
                return answered;
            answer(**polled);
            auto submitted = endpoint_.submit(**polled);
            if (!submitted)
                return failure{submitted.error()};
            (void)signal_event(link_.reply_event);
            ++answered;
        }
    }

    /// Serves until an error: sleeps on the request eventfd between batches. Returns the errno
    /// of a failed poll() (never returns otherwise unless the ring is corrupt, reported as
    /// EPROTO). The process normally ends by a signal from its supervisor.
    int run();

    /// Requests answered with a non-zero status so far.
    std::uint64_t rejected() const { return rejected_; }

private:
    message_server(rings::endpoint endpoint, const message_link& link, Service& implementation,
                   std::size_t payload_size)
        : endpoint_(endpoint),
          link_(link),
          implementation_(&implementation),
          payload_size_(payload_size),
          request_(new std::uint64_t[payload_size / 8 + 1]()),
          response_(new std::uint64_t[payload_size / 8 + 1]()),
          spare_(new std::uint64_t[payload_size / 8 + 1]()) {}

    static std::span<std::uint8_t> bytes_of(const std::unique_ptr<std::uint64_t[]>& buffer,
                                            std::size_t size) {
        return {reinterpret_cast<std::uint8_t*>(buffer.get()), size};
    }

    // Turns the request in `index` into a reply (or an error status) in place.
    void answer(rings::element_index index) {
        auto element = endpoint_.element(index);
        if (!element)
            return;  // poll() only hands out valid indices
        rings::element_header& header = *element->header;
        // Read each shared field once: the caller could change it between two reads.
        const std::uint16_t kind = header.kind;
        const std::uint32_t procedure = header.procedure;
        const std::uint32_t length = header.payload_length;
        call_status status = call_status::ok;
        std::size_t reply_length = 0;
        if (kind != static_cast<std::uint16_t>(rings::element_kind::request) ||
            length > element->payload.size() || length > payload_size_)
            status = call_status::malformed_request;
        else if (procedure >= Service::lidl_procedure_count)
            status = call_status::unknown_procedure;
        else {
            std::memcpy(request_.get(), element->payload.data(), length);
            status = dispatch(procedure, bytes_of(request_, length), element->payload,
                              reply_length, std::make_integer_sequence<std::uint32_t,
                                                                       Service::lidl_procedure_count>{});
        }
        if (status != call_status::ok)
            ++rejected_;
        header.kind = static_cast<std::uint16_t>(rings::element_kind::response);
        header.status = static_cast<std::uint16_t>(status);
        header.payload_length = static_cast<std::uint32_t>(reply_length);
    }

    template <std::uint32_t... Ids>
    call_status dispatch(std::uint32_t procedure, std::span<const std::uint8_t> request,
                         std::span<std::byte> reply, std::size_t& reply_length,
                         std::integer_sequence<std::uint32_t, Ids...>) {
        call_status status = call_status::unknown_procedure;
        // Runs the one procedure whose id matches (the fold stops at the first match).
        (void)((procedure == Ids &&
                (status = run_procedure<Ids>(request, reply, reply_length), true)) ||
               ...);
        return status;
    }

    template <std::uint32_t Id>
    call_status run_procedure(std::span<const std::uint8_t> request, std::span<std::byte> reply,
                              std::size_t& reply_length) {
        using procedure = typename Service::template lidl_procedure<Id>;
        typename procedure::params params{};
        lidl::builder response(bytes_of(response_, payload_size_));
        if (!Service::lidl_codec::decode_call(Id, request, &params, &response))
            return call_status::malformed_request;
        lidl::slot<typename procedure::result> result;
        sync_wait(Service::lidl_dispatch::execute(*implementation_, Id, &params,
                                                  result.address()));
        lidl::builder spare(bytes_of(spare_, payload_size_));
        std::span<const std::uint8_t> encoded =
            Service::lidl_codec::encode_reply(Id, result.address(), response, spare);
        if (encoded.empty() || encoded.size() > reply.size())
            return call_status::reply_too_large;
        std::memcpy(reply.data(), encoded.data(), encoded.size());
        reply_length = encoded.size();
        return call_status::ok;
    }

    rings::endpoint endpoint_;
    message_link link_;
    Service* implementation_;
    std::size_t payload_size_;
    std::unique_ptr<std::uint64_t[]> request_;
    std::unique_ptr<std::uint64_t[]> response_;
    std::unique_ptr<std::uint64_t[]> spare_;
    std::uint64_t rejected_ = 0;
};

/// Sleeps until `event` (an eventfd) is signalled, then resets it. Error: errno (EINTR is
/// retried).
result<void, int> wait_event(int event) noexcept;

template <class Service>
int message_server<Service>::run() {
    for (;;) {
        auto served = serve();
        if (!served)
            return EPROTO;
        auto waited = wait_event(link_.request_event);
        if (!waited)
            return waited.error();
    }
}

}  // namespace amb::hosted::node
