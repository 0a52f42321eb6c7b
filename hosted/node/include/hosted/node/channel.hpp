// Asynchronous calls between groups in different processes (DESIGN.md §3 case 2, §8), with the
// three argument strategies: *static* (the default), *dynamic* and *user*.
//
// A channel joins one calling group to one serving group: a memfd holding a `channel_control`
// block and a ring region (docs/runtime-rings.md), two eventfds (requests, replies), and the
// caller's shareable heap, which the server maps read-only. Any number of calls may be in flight.
//
//     // calling group                                 // serving group
//     auto caller = channel_caller::attach(link);      auto server =
//     counter_client<channel_backend<counter>>             channel_server<counter>::attach(
//         remote(*caller);                                      link, implementation);
//     caller->run_on(loop);  // a process_loop         server->run_on(loop);
//     loop.run_until([&] { return call.done(); });     loop.run_until([] { return false; });
//
// Strategies (template parameter of channel_backend and channel_server):
// - `static_types`: the caller writes the parameter tuple as a frame (groups/marshal.hpp) with
//   code generated from the lidl types; views inside the caller's shareable heap cross as
//   offsets (zero copy, read-only to the callee), small views are copied into the frame, other
//   large ones are copied once into the heap. The callee rebuilds the tuple in place.
// - `dynamic_types`: the same frame, written and read by walking a runtime list of typed
//   pointers with one indirect call per argument.
// - `user`: the tuple is serialised into a lidl message in a private buffer, copied into the
//   element, copied out by the callee and deserialised (verified), as a pipe would.
// Procedures whose types a frame cannot carry use lidl messages with every strategy
// (groups::static_capable). The callee learns nothing about the path: it is called with the
// same tuple either way.
//
// Waking (adaptive): each side is a poller of its process's one event loop
// (hosted/loop/process_loop.hpp): the loop polls the ring on every pass, keeps polling for the
// driver's spin period after the last progress, then each side announces that it sleeps (a flag
// in the control block) and the loop sleeps in epoll_wait, where each side's eventfd is watched. A side that submits rings the peer's
// eventfd only when that flag is set, so busy channels make no system calls and idle groups use
// no CPU. The flag and the ring are ordered with sequentially consistent fences on both sides.
// Doorbells are batched: the server rings once per pass for every reply it retired, the caller
// once per loop pass (at the end of `progress()`, and before it sleeps) for every call issued
// since, so 64 calls started together wake a sleeping server once, not once per call.
//
// Failure: everything read from the channel is untrusted. A malformed request is answered with a
// non-zero status (`call_status`) and the server keeps serving; a malformed reply fails that
// call and *breaks* the caller (every call then fails at once: the peer misbehaves). When the
// supervisor sees the peer's process exit it marks the control block; in-flight calls fail with
// peer_exited. Every call completes with its own value or `lidl::call_error`: the server answers
// an error the procedure returned with call_status::failed and the fault and code, which the
// caller hands back as they were returned. A call may carry a deadline
// (`dependency.within(50ms).proc()`, or the caller's `set_call_timeout`): once it passes the call
// completes with deadline_passed, and the late reply is dropped when it comes.
//
// Threading: each caller, server and loop belongs to one thread.
#pragma once

#include <hosted/node/shared_heap.hpp>

#include <groups/marshal.hpp>
#include <lidl/service.hpp>
#include <rings/ring.hpp>

#include <async/task.hpp>
#include <hosted/loop/process_loop.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace amb::hosted::node {

/// Status a server writes into a reply element's header (0: success). Values are ABI.
enum class call_status : std::uint16_t {
    ok = 0,
    malformed_request = 1,  ///< wrong kind or encoding, length past the payload, a bad frame
                            ///< slot, or a lidl message that does not verify
    unknown_procedure = 2,  ///< procedure id not below the service's procedure count
    reply_too_large = 3,    ///< the reply does not fit in one element payload
    /// the procedure completed with an error: the payload is the error as it returned it
    /// (`lidl::encode_returned`)
    failed = 4,
};

/// Why a call through a channel failed.
enum class call_error : std::uint8_t {
    too_large = 1,  ///< too large for an element and for the caller's heap (nothing was sent)
    ring,           ///< the ring region rejected an operation (pool empty, corrupt, ...)
    bad_reply,      ///< the reply element or message is malformed or not ours
    peer_exited,    ///< the serving process exited before it replied
};

/// A sentence describing `e`, for error messages.
const char* describe(call_error e);

/// `e` as the one error type of calls (lidl/call_error.hpp): too_large is call_too_large, ring
/// busy, bad_reply malformed_reply, peer_exited peer_exited.
lidl::call_error to_call_error(call_error e);

/// The error a reply with non-zero `status` and `payload` (the shared element's, read once)
/// stands for: a returned error naming no known fault, or any other status, is malformed_reply.
lidl::call_error answered_error(call_status status, std::span<const std::byte> payload);

/// Wakes the peer waiting on `event` (an eventfd). Error: errno.
result<void, int> signal_event(int event) noexcept;

/// Resets a non-blocking eventfd after a wake-up.
void drain_event_descriptor(int event) noexcept;

/// How arguments cross (DESIGN.md §3).
enum class strategy : std::uint8_t { static_types, dynamic_types, user };

/// What a request element carries, in its header's `status` field (ABI).
enum class request_encoding : std::uint16_t {
    frame = 0,    ///< a groups::marshal frame
    message = 1,  ///< a lidl call message
    /// a lidl call message too large for the element, copied into the caller's heap: the
    /// payload is a groups::view_ref to it
    message_in_heap = 2,
};

/// The control block at offset 0 of a channel memfd (ABI). The ring region starts at
/// `channel_ring_offset`. Both ends map it read-write, so nothing here is trusted by the
/// supervisor or by the other end: it only carries the sleep and drain announcements.
struct channel_control {
    static constexpr std::uint32_t magic_value = 0x414d4348;  // "AMCH"
    std::uint32_t magic;
    std::uint32_t reserved;
    /// 1 while the server sleeps (the caller must ring the request eventfd).
    alignas(64) std::atomic<std::uint32_t> server_sleeping;
    /// 1 while the caller sleeps (the server must ring the reply eventfd).
    alignas(64) std::atomic<std::uint32_t> caller_sleeping;
    /// Written by the surviving side once it no longer touches the ring (after the peer left).
    alignas(64) std::atomic<std::uint32_t> caller_drained;
    std::atomic<std::uint32_t> server_drained;
};
inline constexpr std::size_t channel_ring_offset = 256;
static_assert(sizeof(channel_control) <= channel_ring_offset);

/// What only the supervisor writes about a channel (ABI): a page of its own, which the groups
/// map from a read-only descriptor. Whatever a group writes into its channel memory, it cannot
/// pretend that the ring was reset or that its peer left (issue 12, hole 1).
struct channel_status {
    /// Non-zero once the serving process has exited.
    std::atomic<std::uint32_t> server_gone;
    /// Non-zero once the calling process has exited.
    std::atomic<std::uint32_t> caller_gone;
    /// Incremented each time the supervisor re-initialises the ring (a restart) with the
    /// channel's own geometry: each side then attaches to the fresh ring.
    std::atomic<std::uint32_t> epoch;
};

/// Bytes a channel whose ring has `ring` sizes needs (a whole number of pages), or bad_config.
result<std::size_t, rings::error> channel_size(const rings::config& ring);
/// Initialises the control block and the ring region of a zeroed channel mapping.
result<void, rings::error> init_channel(std::span<std::byte> memory, const rings::config& ring);

/// What one side needs to use a channel. Owns nothing.
struct channel_link {
    /// The whole channel mapping (control block and ring region).
    std::span<std::byte> memory;
    int request_event = -1;
    int reply_event = -1;
    /// Caller side: its own shareable heap (views inside it cross without a copy). Server side:
    /// the caller's heap mapped read-only. Empty when there is none.
    groups::heap_view caller_heap;
    /// Caller side: where large views are copied once (may be null: they are then refused).
    shared_heap* spill_heap = nullptr;
    /// The supervisor's page about this channel (read-only in groups). Required.
    const channel_status* status = nullptr;
    /// The ring sizes the supervisor chose, from this process's own memory: each end sizes its
    /// private buffers from them and refuses a ring whose header says anything else, so a peer
    /// that rewrites the shared header cannot change what this side copies or indexes.
    rings::config geometry{};
};

/// Attaches to the ring region of `link` and checks it against `link.geometry`: a ring whose
/// header describes any other sizes is refused with `error::bad_layout` (a peer re-initialised
/// it), as is a link without a status page or geometry (`error::bad_config`). Both ends attach
/// through this, at start and after each epoch change.
result<rings::ring_region, rings::error> attach_ring(const channel_link& link);

/// The calling side of a channel.
class channel_caller final : public hosted::loop::descriptor_poller {
public:
    /// Calls waiting for a free element beyond this fail with call_error::ring.
    static constexpr std::size_t max_queued = 256;
    /// Largest serialised message the user strategy builds (bigger calls fail with too_large).
    static constexpr std::size_t max_scratch = std::size_t{64} << 20;

    /// Attaches to an initialised channel.
    static result<channel_caller, rings::error> attach(const channel_link& link);

    channel_caller(channel_caller&&) noexcept = default;
    channel_caller(const channel_caller&) = delete;
    /// Takes back its deadline timer from the loop it runs on.
    ~channel_caller();

    /// How a call is encoded into an element and how its reply is decoded (one instance per
    /// procedure and strategy, generated by channel_backend).
    struct call_ops {
        /// Writes the request into `out.frame` (views may go to the heap through `out`); false
        /// if it does not fit. `scratch` is private memory for serialising. Sets `encoding`.
        bool (*encode)(const void* params, groups::frame_writer& out,
                       std::span<std::uint8_t> scratch, std::size_t& length,
                       request_encoding& encoding, bool& scratch_too_small);
        /// Decodes a reply payload (in the shared element) into
        /// the result slot; false if it is malformed. A lidl message is first copied into
        /// `scratch` (private) so that the peer cannot change it between verify and use. Not
        /// called for posted calls.
        bool (*decode)(const void* params, void* result, std::span<const std::byte> reply,
                       request_encoding encoding, std::span<std::uint8_t> scratch);
        /// Stores `error` in the result slot.
        void (*fail)(void* result, lidl::call_error error);
    };

    /// Issues a call; `waiting` resumes from progress() once it completed (the result slot then
    /// holds the value or the call_error). A null `waiting` posts the call (nobody waits: the
    /// reply is dropped). Returns false if the call failed at once (slot filled with the error;
    /// the caller must not suspend). `timeout` (zero: the caller's call timeout) bounds the wait
    /// for the answer; deadlines need the loop of `run_on`.
    bool issue(std::uint32_t procedure, const call_ops& ops, const void* params, void* result,
               std::coroutine_handle<> waiting, loop_clock::duration timeout = {});

    /// Makes this caller a poller of `loop`, woken by its reply eventfd. Error: errno.
    result<void, int> run_on(hosted::loop::process_loop& loop);

    /// How long a call without its own timeout waits for its answer (zero, the default: as
    /// long as the serving group lives).
    void set_call_timeout(loop_clock::duration timeout) { call_timeout_ = timeout; }

    // loop_poller
    std::size_t progress() noexcept override;
    bool prepare_sleep() noexcept override;
    void finish_sleep() noexcept override;

    /// Calls issued and not completed.
    std::size_t in_flight() const { return in_flight_ + queued_count_; }
    bool broken() const { return broken_.has_value(); }
    /// Views that crossed by reference to the heap so far (zero-copy transfers).
    std::uint64_t views_shared() const { return views_shared_; }
    std::size_t payload_size() const { return payload_size_; }
    /// Private scratch for the user strategy (serialisation happens here, then is copied).
    std::span<std::uint8_t> scratch() {
        return {reinterpret_cast<std::uint8_t*>(scratch_.data()), scratch_.size() * 8};
    }

private:
    struct record {
        const call_ops* ops = nullptr;
        const void* params = nullptr;
        void* result = nullptr;
        std::coroutine_handle<> waiting;
        loop_clock::time_point deadline = loop_clock::time_point::max();
        std::uint64_t cookie = 0;
        request_encoding encoding = request_encoding::frame;
        std::span<std::byte> spilled[4];
        std::uint8_t spilled_count = 0;
        bool active = false;
    };
    struct queued {
        std::uint32_t procedure;
        const call_ops* ops;
        const void* params;
        void* result;
        std::coroutine_handle<> waiting;
        loop_clock::time_point deadline;
    };
    // Wakes the caller at the earliest deadline of a call (a loop_work cannot move; the caller
    // can, while it is detached).
    struct deadline_timer : loop_work {
        explicit deadline_timer(channel_caller* caller) noexcept
            : loop_work(&deadline_timer::fire), owner(caller) {}
        static void fire(loop_work& work) noexcept;
        channel_caller* owner;
        loop_clock::time_point armed_at = loop_clock::time_point::max();
    };

    channel_caller(const channel_link& link, rings::endpoint endpoint, std::uint32_t elements,
                   std::size_t payload_size);
    // Puts the call into a free element; false when there is none (call stays queued).
    enum class submit_result { sent, no_element, failed };
    submit_result submit(const queued& call);
    void finish(record& call, std::optional<lidl::call_error> error);
    void fail_everything(call_error error);
    // Completes every call whose deadline passed with deadline_passed; re-arms the timer.
    void expire_calls();
    void arm_deadline(loop_clock::time_point deadline);
    // Takes the timer back once no call is left to time (a loop with armed work cannot end).
    void disarm_if_idle();
    // One pass over the ring (what progress() does before ringing the doorbell).
    std::size_t pass();
    // Rings the server's doorbell if calls were submitted since the last time and it sleeps.
    void notify_server();
    channel_control& control() const {
        return *reinterpret_cast<channel_control*>(link_.memory.data());
    }

    // Attaches to a ring the supervisor re-initialised (after the server was restarted).
    void follow_epoch();

    channel_link link_;
    rings::endpoint endpoint_;
    std::uint32_t epoch_ = 0;
    bool drained_ = false;  // the server left; waiting for the supervisor to reset the ring
    std::size_t payload_size_;
    std::unique_ptr<record[]> records_;
    std::uint32_t element_count_;
    std::unique_ptr<queued[]> queue_;
    std::size_t queued_first_ = 0;
    std::size_t queued_count_ = 0;
    std::size_t in_flight_ = 0;
    std::uint64_t next_cookie_ = 1;
    std::uint64_t views_shared_ = 0;
    bool submitted_ = false;  // calls submitted since the doorbell was last considered
    // Grows (up to max_scratch) when a serialised message does not fit.
    std::vector<std::uint64_t> scratch_;
    std::optional<call_error> broken_;
    hosted::loop::process_loop* loop_ = nullptr;
    loop_clock::duration call_timeout_{};
    std::unique_ptr<deadline_timer> timer_;
};

/// Marshalling of one procedure's parameters and result for a strategy (used by both sides).
template <class S, std::uint32_t Id, strategy Strategy>
struct procedure_codec {
    using procedure = typename S::template lidl_procedure<Id>;
    using params_type = typename procedure::params;
    using result_type = typename procedure::result;
    using fields = typename procedure::fields;
    // Stands in for void results in signatures (never used for them).
    using result_value = std::conditional_t<std::is_void_v<result_type>, char, result_type>;
    static constexpr bool frames = Strategy != strategy::user && groups::static_capable<S, Id>;

    static bool write_params(const params_type& params, groups::frame_writer& out,
                             std::size_t& length) {
        if constexpr (Strategy == strategy::dynamic_types) {
            auto arguments = groups::typed_pointers(fields{}, const_cast<params_type&>(params));
            return groups::dynamic_marshal::write(arguments, out, length);
        } else {
            return groups::static_marshal<fields>::write(params, out, length);
        }
    }
    static bool read_params(params_type& params, groups::frame_reader& in) {
        if constexpr (Strategy == strategy::dynamic_types) {
            auto arguments = groups::typed_pointers(fields{}, params);
            return groups::dynamic_marshal::read(arguments, in);
        } else {
            return groups::static_marshal<fields>::read(params, in);
        }
    }
    // A result travels as a frame of one slot at offset 0 (views inline only).
    static bool write_result(const result_value& value, groups::frame_writer& out,
                             std::size_t& length) {
        using ops = groups::value_ops<result_value>;
        constexpr std::size_t fixed = groups::align_up(ops::slot_size, 8);
        if (out.frame.size() < fixed)
            return false;
        out.data = fixed;
        if constexpr (Strategy == strategy::dynamic_types) {
            const groups::argument_ops& dynamic = groups::argument_ops_for<result_value>;
            if (!dynamic.write(&value, out.frame.data(), out))
                return false;
        } else if (!ops::write(value, out.frame.data(), out)) {
            return false;
        }
        length = out.data;
        return true;
    }
    static bool read_result(result_value& value, groups::frame_reader& in) {
        using ops = groups::value_ops<result_value>;
        in.fixed_size = groups::align_up(ops::slot_size, 8);
        if (in.frame.size() < in.fixed_size)
            return false;
        if constexpr (Strategy == strategy::dynamic_types)
            return groups::argument_ops_for<result_value>.read(&value, in.frame.data(), in);
        else
            return ops::read(value, in.frame.data(), in);
    }
};

/// The lidl backend for generated clients over a channel_caller:
/// `S_client<channel_backend<S, strategy::static_types>>`.
template <class S, strategy Strategy = strategy::static_types>
class channel_backend {
public:
    explicit channel_backend(channel_caller& caller) : caller_(&caller) {}

    template <std::uint32_t Id>
    struct awaiter {
        channel_backend* backend;
        const void* params;
        void* result;
        lidl::call_options options;
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> waiting) {
            return backend->caller_->issue(Id, ops<Id>, params, result, waiting,
                                           options.timeout);
        }
        void await_resume() const noexcept {}
    };

    template <std::uint32_t Id>
    awaiter<Id> execute(const void* params, void* result, lidl::call_options options = {}) {
        static_assert(Id < S::lidl_procedure_count);
        return awaiter<Id>{this, params, result, options};
    }

    /// Sends procedure `Id` without waiting for (or reading) the reply; false if it could not
    /// be sent. `params` is encoded before this returns.
    template <std::uint32_t Id>
    bool post(const typename S::template lidl_procedure<Id>::params& params) {
        return caller_->issue(Id, ops<Id>, &params, nullptr, {});
    }

private:
    template <std::uint32_t Id>
    using codec = procedure_codec<S, Id, Strategy>;

    template <std::uint32_t Id>
    static bool encode(const void* params, groups::frame_writer& out,
                       std::span<std::uint8_t> scratch, std::size_t& length,
                       request_encoding& encoding, bool& scratch_too_small) {
        using params_type = typename codec<Id>::params_type;
        if constexpr (codec<Id>::frames) {
            encoding = request_encoding::frame;
            return codec<Id>::write_params(*static_cast<const params_type*>(params), out, length);
        } else {
            encoding = request_encoding::message;
            // User strategy (or a type a frame cannot carry): serialise privately, then copy.
            lidl::builder message(scratch);
            if (!S::lidl_codec::encode_call(Id, params, message) || message.failed()) {
                scratch_too_small = true;
                return false;
            }
            auto bytes = message.written();
            if (bytes.size() <= out.frame.size()) {
                std::memcpy(out.frame.data(), bytes.data(), bytes.size());
                length = bytes.size();
                return true;
            }
            // Too large for the element: copied once more, into the heap (spill).
            groups::view_ref ref{};
            out.data = sizeof ref;
            if (out.frame.size() < sizeof ref || !out.put_view(bytes.data(), bytes.size(), 8, ref))
                return false;
            std::memcpy(out.frame.data(), &ref, sizeof ref);
            encoding = request_encoding::message_in_heap;
            length = sizeof ref;
            return true;
        }
    }

    template <std::uint32_t Id>
    static bool decode(const void* params, void* result, std::span<const std::byte> reply,
                       request_encoding encoding, std::span<std::uint8_t> scratch) {
        using result_type = typename codec<Id>::result_type;
        using params_type = typename codec<Id>::params_type;
        if (encoding != request_encoding::frame) {
            if (reply.size() > scratch.size())
                return false;
            std::memcpy(scratch.data(), reply.data(), reply.size());
            return static_cast<bool>(
                S::lidl_codec::decode_reply(Id, scratch.first(reply.size()), params, result));
        }
        if constexpr (codec<Id>::frames) {
            if constexpr (std::is_void_v<result_type>) {
                (void)result;
                return true;
            } else {
                groups::frame_reader in{reply, 0, {}};
                result_type value{};
                if (!codec<Id>::read_result(value, in))
                    return false;
                // Views point into the shared element: copy them into the caller's response
                // builder, where generated clients expect results to live.
                if constexpr (std::is_same_v<result_type, std::string_view>) {
                    auto& response = *static_cast<const params_type*>(params)->response;
                    std::string_view copy = response.copy(value);
                    if (copy.size() != value.size())
                        return false;
                    value = copy;
                } else if constexpr (groups::is_span<result_type>::value) {
                    using element = typename groups::is_span<result_type>::element;
                    auto& response = *static_cast<const params_type*>(params)->response;
                    element* copy = response.template allocate<element>(value.size());
                    if (copy == nullptr && !value.empty())
                        return false;
                    if (!value.empty())
                        std::memcpy(copy, value.data(), value.size_bytes());
                    value = {copy, value.size()};
                }
                static_cast<lidl::slot<result_type>*>(result)->emplace(value);
                return true;
            }
        } else {
            return false;  // a frame reply to a message request
        }
    }

    template <std::uint32_t Id>
    static void fail(void* result, lidl::call_error error) {
        using result_type = typename codec<Id>::result_type;
        static_cast<lidl::slot<result_type>*>(result)->fail(error);
    }

    template <std::uint32_t Id>
    static constexpr channel_caller::call_ops ops{&encode<Id>, &decode<Id>, &fail<Id>};

    channel_caller* caller_;
};

/// Per-request information for the node's request log (see node services).
struct request_record {
    std::uint32_t procedure;
    std::uint16_t status;  ///< a call_status
    std::uint64_t duration_ns;
};

/// The serving side of a channel: runs calls on an implementation of `S`, up to `max_running`
/// at once (a call that suspends does not block the others).
template <class S, strategy Strategy = strategy::static_types>
class channel_server final : public hosted::loop::descriptor_poller {
public:
    static constexpr std::size_t max_running = 64;
    /// Called after each answered request (may be null), for example to log it.
    struct request_hook {
        void (*record)(void* context, const request_record& request) = nullptr;
        void* context = nullptr;
    };

    static result<channel_server, rings::error> attach(const channel_link& link, S& implementation,
                                                       request_hook hook = {}) {
        auto region = attach_ring(link);
        if (!region)
            return failure{region.error()};
        // Private buffers are sized from the geometry the supervisor chose, never from the
        // shared header (attach_ring checked that the two agree).
        return channel_server(link, region->group(), implementation, hook,
                              link.geometry.payload_size);
    }

    channel_server(channel_server&&) noexcept = default;
    channel_server(const channel_server&) = delete;

    /// Makes this server a poller of `loop`, woken by its request eventfd. Error: errno.
    result<void, int> run_on(hosted::loop::process_loop& loop) {
        return attach_to(loop, link_.request_event);
    }

    std::size_t progress() noexcept override {
        if (!follow_epoch())
            return 0;
        std::size_t done = retire();
        while (running_count_ < max_running) {
            auto polled = endpoint_.poll();
            if (!polled) {
                if (polled.error() == rings::error::bad_index) {
                    ++rejected_;  // a bad entry was consumed and dropped
                    continue;
                }
                ring_error_ = polled.error();
                break;
            }
            if (!polled.value())
                break;
            start(**polled);
            ++done;
        }
        return done + retire();
    }

    bool prepare_sleep() noexcept override {
        channel_control& shared = control();
        shared.server_sleeping.store(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        bool work = false;
        if (link_.status->epoch.load(std::memory_order_acquire) != epoch_)
            work = true;  // attach to the fresh ring
        else if (drained_)
            work = false;  // nothing to do until the supervisor resets the ring
        else if (link_.status->caller_gone.load(std::memory_order_acquire) != 0)
            work = running_count_ == finished_;  // ready to drain
        else if (!usable_)
            work = finished_ > 0;  // a ring of foreign geometry is not polled: its entries are no work
        else
            work = endpoint_.pending() > 0 || finished_ > 0;
        if (work)
            shared.server_sleeping.store(0, std::memory_order_relaxed);
        return !work;
    }
    void finish_sleep() noexcept override {
        control().server_sleeping.store(0, std::memory_order_relaxed);
        drain(link_.request_event);
    }

    /// Requests answered with a non-zero status, or dropped, so far.
    std::uint64_t rejected() const { return rejected_; }
    /// Requests answered so far.
    std::uint64_t answered() const { return answered_; }
    /// The ring error that stopped serving (the caller corrupted the ring), if any.
    std::optional<rings::error> ring_error() const { return ring_error_; }
    /// Calls running now.
    std::size_t running() const { return running_count_; }

private:
    struct running_call {
        amb::task<void> work;
        rings::element_index element = 0;
        std::uint32_t procedure = 0;
        std::chrono::steady_clock::time_point started;
        bool finished = false;
    };

    channel_server(const channel_link& link, rings::endpoint endpoint, S& implementation,
                   request_hook hook, std::size_t payload_size)
        : link_(link), endpoint_(endpoint),
          epoch_(link.status->epoch.load(std::memory_order_acquire)),
          implementation_(&implementation), hook_(hook), payload_size_(payload_size),
          running_(new running_call[max_running]),
          buffers_(new std::uint64_t[(payload_size / 8 + 1) * 2 * max_running]()) {}

    channel_control& control() const {
        return *reinterpret_cast<channel_control*>(link_.memory.data());
    }
    static void drain(int event) noexcept;
    // Private buffers of running slot `i`: [0] request copy / response builder, [1] spare.
    std::span<std::uint8_t> buffer(std::size_t slot, std::size_t which) {
        std::size_t words = payload_size_ / 8 + 1;
        return {reinterpret_cast<std::uint8_t*>(buffers_.get() + (slot * 2 + which) * words),
                payload_size_};
    }

    void start(rings::element_index index) {
        auto element = endpoint_.element(index);
        if (!element)
            return;
        running_call* slot = nullptr;
        std::size_t which = 0;
        for (std::size_t i = 0; i < max_running; ++i) {
            if (!running_[i].work.valid()) {
                slot = &running_[i];
                which = i;
                break;
            }
        }
        AMB_ASSERT(slot != nullptr, "running_count_ out of step with the slots");
        const std::uint32_t procedure = element->header->procedure;
        slot->element = index;
        slot->procedure = procedure;
        slot->finished = false;
        if (hook_.record != nullptr)
            slot->started = std::chrono::steady_clock::now();
        slot->work = dispatch(*element, which, slot,
                              std::make_integer_sequence<std::uint32_t, S::lidl_procedure_count>{});
        ++running_count_;
        slot->work.start();
    }

    // False while the caller is gone and this side must keep off the ring until it is reset.
    bool follow_epoch() {
        channel_control& shared = control();
        const channel_status& status = *link_.status;
        std::uint32_t epoch = status.epoch.load(std::memory_order_acquire);
        if (epoch != epoch_) {
            // Only the supervisor moves the epoch (its page is read-only here), and the fresh
            // ring must have the geometry this side's buffers were sized for; if it has not
            // (the peer rewrote the header), this side keeps off the ring until the next epoch.
            epoch_ = epoch;
            drained_ = false;
            ring_error_.reset();
            auto region = attach_ring(link_);
            usable_ = static_cast<bool>(region);
            if (region)
                endpoint_ = region->group();
            else
                ring_error_ = region.error();
        }
        if (drained_)
            return false;
        if (status.caller_gone.load(std::memory_order_acquire) == 0)
            return usable_;
        // The caller's process is gone: finish what runs, answer nobody, then tell the
        // supervisor that the ring is free to reset.
        if (running_count_ > finished_)
            return false;
        for (std::size_t i = 0; i < max_running; ++i)
            if (running_[i].work.valid() && running_[i].finished)
                running_[i].work = amb::task<void>();
        running_count_ = 0;
        finished_ = 0;
        drained_ = true;
        shared.server_drained.store(1, std::memory_order_release);
        return false;
    }

    void mark_finished(running_call* slot) {
        slot->finished = true;
        ++finished_;
    }

    template <std::uint32_t... Ids>
    amb::task<void> dispatch(rings::element_view element,
                             std::size_t which, running_call* slot,
                             std::integer_sequence<std::uint32_t, Ids...>) {
        const std::uint32_t procedure = slot->procedure;
        amb::task<void> work;
        (void)((procedure == Ids && (work = run<Ids>(element, which, slot), true)) || ...);
        if (!work.valid())
            return reject(element, slot, call_status::unknown_procedure);
        return work;
    }

    amb::task<void> reject(rings::element_view element, running_call* slot, call_status status) {
        answer(element, status, 0);
        mark_finished(slot);
        co_return;
    }

    void answer(rings::element_view element, call_status status, std::size_t length) {
        element.header->kind = static_cast<std::uint16_t>(rings::element_kind::response);
        element.header->status = static_cast<std::uint16_t>(status);
        element.header->payload_length = static_cast<std::uint32_t>(length);
    }

    // Answers with the error the procedure returned (payload sizes are at least 8 bytes).
    void answer_error(rings::element_view element, const lidl::call_error& error) {
        const auto body = lidl::encode_returned(error);
        if (element.payload.size() < body.size())
            return answer(element, call_status::reply_too_large, 0);
        std::memcpy(element.payload.data(), body.data(), body.size());
        answer(element, call_status::failed, body.size());
    }

    template <std::uint32_t Id>
    amb::task<void> run(rings::element_view element, std::size_t which, running_call* slot) {
        using codec = procedure_codec<S, Id, Strategy>;
        typename codec::params_type params{};
        lidl::slot<typename codec::result_type> result;
        lidl::builder response(buffer(which, 0));
        std::unique_ptr<std::uint64_t[]> large_copy;  // only for message_in_heap
        // Read each shared header field once: the caller may change it at any time.
        const std::uint16_t kind = element.header->kind;
        const std::uint16_t encoding = element.header->status;
        const std::uint32_t length = element.header->payload_length;
        // The length is checked against this side's own buffers as well as the element: the
        // two agree by construction (attach_ring), and a copy must never depend on that alone.
        if (kind != static_cast<std::uint16_t>(rings::element_kind::request) ||
            length > element.payload.size() || length > payload_size_) {
            answer(element, call_status::malformed_request, 0);
            mark_finished(slot);
            co_return;
        }
        if (encoding == static_cast<std::uint16_t>(request_encoding::frame)) {
            bool decoded = false;
            if constexpr (codec::frames) {
                groups::frame_reader in{element.payload.first(length), 0, link_.caller_heap};
                decoded = codec::read_params(params, in);
                if constexpr (requires { params.response; })
                    params.response = &response;
            }
            if (!decoded) {
                answer(element, call_status::malformed_request, 0);
                mark_finished(slot);
                co_return;
            }
            co_await S::lidl_dispatch::template invoke<Id>(*implementation_, &params,
                                                           result.address());
            if (result.failed()) {
                answer_error(element, result.error());
                mark_finished(slot);
                co_return;
            }
            std::size_t written = 0;
            bool fits = false;
            if constexpr (codec::frames) {
                if constexpr (std::is_void_v<typename codec::result_type>) {
                    fits = true;
                } else {
                    groups::frame_writer out{element.payload, 0, {}, {}, 0};
                    fits = codec::write_result(result.take().value(), out, written);
                }
            }
            answer(element, fits ? call_status::ok : call_status::reply_too_large,
                   fits ? written : 0);
            mark_finished(slot);
            co_return;
        }
        // A call message: copied out of shared memory first (the caller could change shared
        // bytes after the check), then served by the generated lidl_dispatch::serve.
        std::span<std::uint8_t> copy;
        if (encoding == static_cast<std::uint16_t>(request_encoding::message)) {
            copy = buffer(which, 1).first(length);
            std::memcpy(copy.data(), element.payload.data(), length);
        } else if (encoding == static_cast<std::uint16_t>(request_encoding::message_in_heap)) {
            // A large message in the caller's heap: copied out (user strategy: no sharing).
            groups::view_ref ref{};
            groups::frame_reader in{element.payload.first(length), sizeof ref, link_.caller_heap};
            const std::byte* bytes = nullptr;
            if (length == sizeof ref) {
                std::memcpy(&ref, element.payload.data(), sizeof ref);
                bytes = in.get_view(ref, 8);
            }
            if (bytes != nullptr) {
                large_copy.reset(new (std::nothrow) std::uint64_t[ref.length / 8 + 1]);
                if (large_copy) {
                    copy = {reinterpret_cast<std::uint8_t*>(large_copy.get()), ref.length};
                    std::memcpy(copy.data(), bytes, ref.length);
                }
            }
        }
        if (copy.data() == nullptr) {
            answer(element, call_status::malformed_request, 0);
            mark_finished(slot);
            co_return;
        }
        // The reply is encoded straight into the element's payload (8-byte aligned: the header
        // is 24 bytes and payload sizes are multiples of 8). A builder only writes its buffer,
        // never reads it back, so whatever the caller writes there meanwhile garbles nothing
        // but its own reply. A struct or union result built in `response` is copied there.
        lidl::builder spare({reinterpret_cast<std::uint8_t*>(element.payload.data()),
                             element.payload.size()});
        lidl::serve_result served = co_await S::lidl_dispatch::template serve<Id>(
            *implementation_, copy, response, spare);
        if (!served) {
            if (served.error().what == lidl::call_fault::malformed_call)
                answer(element, call_status::malformed_request, 0);
            else
                answer_error(element, served.error());
            mark_finished(slot);
            co_return;
        }
        std::span<const std::uint8_t> reply = served.value();
        const bool fits = reply.size() <= element.payload.size();
        if (fits && reply.data() != spare.written().data())
            std::memcpy(element.payload.data(), reply.data(), reply.size());
        answer(element, fits ? call_status::ok : call_status::reply_too_large,
               fits ? reply.size() : 0);
        mark_finished(slot);
    }

    // Submits the replies of finished calls and frees their slots.
    std::size_t retire() {
        if (finished_ == 0)
            return 0;
        std::size_t retired = 0;
        for (std::size_t i = 0; i < max_running; ++i) {
            running_call& call = running_[i];
            if (!call.work.valid() || !call.finished)
                continue;
            auto element = endpoint_.element(call.element);
            std::uint16_t status = element ? element->header->status : 0;
            if (!endpoint_.submit(call.element))
                continue;  // the ring is full: retry on the next pass
            if (status != 0)
                ++rejected_;
            ++answered_;
            if (hook_.record != nullptr) {
                auto elapsed = std::chrono::steady_clock::now() - call.started;
                hook_.record(hook_.context,
                             {call.procedure, status,
                              static_cast<std::uint64_t>(
                                  std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
                                      .count())});
            }
            call.work = amb::task<void>();
            --running_count_;
            --finished_;
            ++retired;
        }
        if (retired > 0) {
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (control().caller_sleeping.load(std::memory_order_relaxed) != 0)
                (void)signal_event(link_.reply_event);
        }
        return retired;
    }

    channel_link link_;
    rings::endpoint endpoint_;
    std::uint32_t epoch_ = 0;
    bool drained_ = false;
    bool usable_ = true; // false while the ring of this epoch has a foreign geometry
    S* implementation_;
    request_hook hook_;
    std::size_t payload_size_;
    std::unique_ptr<running_call[]> running_;
    std::unique_ptr<std::uint64_t[]> buffers_;
    std::size_t running_count_ = 0;
    std::size_t finished_ = 0;
    std::uint64_t rejected_ = 0;
    std::uint64_t answered_ = 0;
    std::optional<rings::error> ring_error_;
};

template <class S, strategy Strategy>
void channel_server<S, Strategy>::drain(int event) noexcept {
    drain_event_descriptor(event);
}

}  // namespace amb::hosted::node
