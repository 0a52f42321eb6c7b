// Calls between two groups of the same process through a ring region (DESIGN.md §3, case 2).
//
// The calling group holds a `ring_caller` on its endpoint of a region and makes clients with
// `ring_backend<S>`: a call allocates an element, puts the procedure id and pointers to the
// caller's parameter tuple, result slot and suspended coroutine in it, submits it and suspends.
// The serving group runs a `ring_server<S>` on the other endpoint: `serve()` polls requests,
// runs each through the generated dispatcher on the implementation (which writes the result slot
// directly: both groups share the address space), and submits the element back. The caller's
// `complete()` polls responses and resumes the waiting coroutines. The service code is the same
// lidl async server as with a direct call; only the backend differs.
//
// Nothing spins: when the pool is empty or a ring is full, the request or response waits in a
// bounded local queue and `complete()` / `serve()` retry it on their next call (back-pressure).
// Both drivers are meant to be called from their group's event loop; each object belongs to one
// thread. Pointers cross the ring, so this backend is only for groups that share an address
// space (the hosted multi-process port copies arguments instead).
#pragma once

#include <lidl/service.hpp>
#include <rings/ring.hpp>

#include <async/task.hpp>

#include <array>
#include <coroutine>
#include <cstring>

namespace amb::groups {

/// Called after a side submits to its peer, to wake the peer's loop (see doorbell.hpp); a null
/// function means the peer polls on its own.
struct peer_notification {
    void (*notify)(void* context) noexcept = nullptr;
    void* context = nullptr;
    void operator()() const noexcept {
        if (notify != nullptr)
            notify(context);
    }
};

/// What a call element's payload holds (same address space only).
struct call_payload {
    const void* params;
    void* result;
    void* continuation;  // the suspended caller's coroutine handle
};

/// The calling side of a region: submits calls and completes them.
class ring_caller {
public:
    static constexpr std::size_t max_waiting = 64;

    explicit ring_caller(rings::endpoint endpoint, peer_notification notify_server = {})
        : endpoint_(endpoint), notify_server_(notify_server) {}
    ring_caller(const ring_caller&) = delete;
    ring_caller& operator=(const ring_caller&) = delete;

    /// Issues a call; the caller's coroutine `waiting` resumes from complete(). When the pool or
    /// the ring is full the call waits in a local queue; returns false only when that queue is
    /// full too (the caller must not suspend then).
    bool issue(std::uint32_t procedure, const void* params, void* result,
               std::coroutine_handle<> waiting) {
        pending_call call{procedure, call_payload{params, result, waiting.address()}};
        if (waiting_count_ == 0 && try_submit(call))
            return true;
        if (waiting_count_ == max_waiting)
            return false;
        waiting_[(waiting_first_ + waiting_count_++) % max_waiting] = call;
        return true;
    }

    /// Retries waiting calls, then resumes every caller whose response has arrived. Returns
    /// the number resumed, or the ring error that stopped it.
    amb::result<std::size_t, rings::error> complete() {
        while (waiting_count_ > 0 && try_submit(waiting_[waiting_first_])) {
            waiting_first_ = (waiting_first_ + 1) % max_waiting;
            --waiting_count_;
        }
        std::size_t resumed = 0;
        for (;;) {
            auto polled = endpoint_.poll();
            if (!polled)
                return amb::failure{polled.error()};
            if (!polled.value())
                return resumed;
            auto element = endpoint_.element(**polled);
            if (!element)
                return amb::failure{element.error()};
            call_payload payload;
            std::memcpy(&payload, element->payload.data(), sizeof payload);
            std::uint16_t status = element->header->status;
            auto released = endpoint_.release(**polled);
            if (status != 0)  // the server refused a call: this caller never makes bad ones
                return amb::failure{rings::error::corrupt};
            if (!released)
                return amb::failure{released.error()};
            --in_flight_;
            ++resumed;
            std::coroutine_handle<>::from_address(payload.continuation).resume();
        }
    }

    /// Calls issued and not completed yet (waiting or in the rings).
    std::size_t in_flight() const { return in_flight_ + waiting_count_; }

private:
    struct pending_call {
        std::uint32_t procedure;
        call_payload payload;
    };

    bool try_submit(const pending_call& call) {
        auto index = endpoint_.allocate();
        if (!index)
            return false;
        auto element = endpoint_.element(*index);
        if (!element || element->payload.size() < sizeof(call_payload)) {
            (void)endpoint_.release(*index);
            return false;
        }
        element->header->kind = 1;
        element->header->status = 0;
        element->header->procedure = call.procedure;
        element->header->payload_length = sizeof(call_payload);
        element->header->cookie = 0;
        std::memcpy(element->payload.data(), &call.payload, sizeof call.payload);
        if (!endpoint_.submit(*index)) {
            (void)endpoint_.release(*index);
            return false;
        }
        ++in_flight_;
        notify_server_();
        return true;
    }

    rings::endpoint endpoint_;
    peer_notification notify_server_;
    std::array<pending_call, max_waiting> waiting_{};
    std::size_t waiting_first_ = 0;
    std::size_t waiting_count_ = 0;
    std::size_t in_flight_ = 0;
};

/// The lidl backend for calls through a ring_caller.
template <class Service>
class ring_backend {
public:
    explicit ring_backend(ring_caller& caller) : caller_(&caller) {}

    struct awaiter {
        ring_caller* caller;
        std::uint32_t procedure;
        const void* params;
        void* result;
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> waiting) {
            bool issued = caller->issue(procedure, params, result, waiting);
            AMB_REQUIRE(issued, "more calls waiting for a full ring than ring_caller can queue");
            return issued;
        }
        void await_resume() const noexcept {}
    };

    template <std::uint32_t Id>
    awaiter execute(const void* params, void* result) {
        static_assert(Id < Service::lidl_procedure_count);
        return awaiter{caller_, Id, params, result};
    }

private:
    ring_caller* caller_;
};

/// The serving side of a region: runs calls on an implementation of `Service`.
template <class Service>
class ring_server {
public:
    static constexpr std::size_t max_running = 64;

    ring_server(rings::endpoint endpoint, Service& implementation,
                peer_notification notify_caller = {})
        : endpoint_(endpoint), implementation_(implementation), notify_caller_(notify_caller) {}
    ring_server(const ring_server&) = delete;
    ring_server& operator=(const ring_server&) = delete;

    /// Sends finished responses that were waiting for room, then takes every request the
    /// caller submitted and runs it. Returns the number of requests taken, or a ring error. A
    /// request with an unknown procedure or a malformed payload is answered with status 1.
    amb::result<std::size_t, rings::error> serve() {
        flush();
        std::size_t taken = 0;
        while (running_count_ < max_running && replies_count_ < max_running) {
            auto polled = endpoint_.poll();
            if (!polled)
                return amb::failure{polled.error()};
            if (!polled.value())
                break;
            ++taken;
            start(**polled);
        }
        flush();
        return taken;
    }

private:
    // One call in progress: the coroutine that runs the procedure and then queues the reply.
    struct running {
        amb::task<void> work;
        rings::element_index element = 0;
        bool finished = false;
    };

    amb::task<void> run(std::uint32_t procedure, call_payload payload, running* slot) {
        co_await Service::lidl_dispatch::execute(implementation_, procedure, payload.params,
                                                 payload.result);
        slot->finished = true;
    }

    void start(rings::element_index index) {
        auto element = endpoint_.element(index);
        if (!element)
            return;
        call_payload payload{};
        std::uint32_t procedure = element->header->procedure;
        if (element->header->payload_length != sizeof(call_payload) ||
            element->payload.size() < sizeof(call_payload) ||
            procedure >= Service::lidl_procedure_count) {
            element->header->status = 1;
            queue_reply(index);
            return;
        }
        std::memcpy(&payload, element->payload.data(), sizeof payload);
        running* slot = nullptr;
        for (running& r : running_)
            if (!r.work.valid())
                slot = &r;
        AMB_ASSERT(slot != nullptr, "running_count_ out of step with the slots");
        slot->element = index;
        slot->finished = false;
        slot->work = run(procedure, payload, slot);
        ++running_count_;
        slot->work.start();
    }

    // serve() stops taking requests while max_running replies wait, so this never overflows.
    void queue_reply(rings::element_index index) {
        if (endpoint_.submit(index))
            notify_caller_();
        else
            replies_[replies_count_++] = index;
    }

    // Retires finished calls (queueing their replies) and submits queued replies.
    void flush() {
        for (running& r : running_) {
            if (r.work.valid() && r.finished) {
                r.work = amb::task<void>();
                --running_count_;
                replies_[replies_count_++] = r.element;
            }
        }
        std::size_t kept = 0;
        for (std::size_t i = 0; i < replies_count_; ++i)
            if (!endpoint_.submit(replies_[i]))
                replies_[kept++] = replies_[i];
        bool sent = kept < replies_count_;
        replies_count_ = kept;
        if (sent)
            notify_caller_();
    }

    rings::endpoint endpoint_;
    Service& implementation_;
    peer_notification notify_caller_;
    std::array<running, max_running> running_{};
    std::size_t running_count_ = 0;
    std::array<rings::element_index, max_running * 2> replies_{};
    std::size_t replies_count_ = 0;
};

}  // namespace amb::groups
