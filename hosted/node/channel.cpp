#include <hosted/node/channel.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <unistd.h>

namespace amb::hosted::node {

const char* describe(call_error e) {
    switch (e) {
    case call_error::too_large:
        return "the call does not fit: too large for a ring element and for the caller's "
               "shareable heap";
    case call_error::ring: return "the ring region rejected the call";
    case call_error::bad_reply: return "the reply from the serving group is malformed";
    case call_error::peer_exited: return "the serving group exited before it replied";
    }
    return "unknown call error";
}

lidl::call_error answered_error(call_status status, std::span<const std::byte> payload) {
    switch (status) {
    case call_status::ok: break;
    case call_status::malformed_request: return {lidl::call_fault::malformed_call};
    case call_status::unknown_procedure: return {lidl::call_fault::unknown_procedure};
    case call_status::reply_too_large: return {lidl::call_fault::reply_too_large};
    case call_status::failed: {
        // Copied out of the shared element once, then read.
        std::array<std::uint8_t, lidl::returned_error_size> body{};
        if (payload.size() != body.size())
            break;
        std::memcpy(body.data(), payload.data(), body.size());
        if (auto returned = lidl::decode_returned(body))
            return *returned;
        break;
    }
    }
    return {lidl::call_fault::malformed_reply};
}

lidl::call_error to_call_error(call_error e) {
    switch (e) {
    case call_error::too_large: return {lidl::call_fault::call_too_large};
    case call_error::ring: return {lidl::call_fault::busy};
    case call_error::bad_reply: return {lidl::call_fault::malformed_reply};
    case call_error::peer_exited: return {lidl::call_fault::peer_exited};
    }
    return {lidl::call_fault::malformed_reply};
}

result<void, int> signal_event(int event) noexcept {
    const std::uint64_t one = 1;
    for (;;) {
        if (::write(event, &one, sizeof one) == static_cast<ssize_t>(sizeof one))
            return {};
        if (errno == EAGAIN)  // the counter is saturated: the peer is woken anyway
            return {};
        if (errno != EINTR)
            return failure{errno};
    }
}

void drain_event_descriptor(int event) noexcept {
    std::uint64_t count = 0;
    while (::read(event, &count, sizeof count) < 0 && errno == EINTR) {
    }
}

result<std::size_t, rings::error> channel_size(const rings::config& ring) {
    auto size = rings::region_size(ring);
    if (!size)
        return failure{size.error()};
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (channel_ring_offset + *size + page - 1) / page * page;
}

result<void, rings::error> init_channel(std::span<std::byte> memory, const rings::config& ring) {
    auto needed = channel_size(ring);
    if (!needed)
        return failure{needed.error()};
    if (memory.size() < *needed)
        return failure{rings::error::bad_config};
    auto* control = new (memory.data()) channel_control{};
    control->magic = channel_control::magic_value;
    auto region = rings::ring_region::init(memory.subspan(channel_ring_offset), ring);
    if (!region)
        return failure{region.error()};
    return {};
}

result<rings::ring_region, rings::error> attach_ring(const channel_link& link) {
    if (link.memory.size() <= channel_ring_offset || link.status == nullptr)
        return failure{rings::error::bad_config};
    auto* control = reinterpret_cast<const channel_control*>(link.memory.data());
    if (control->magic != channel_control::magic_value)
        return failure{rings::error::bad_magic};
    auto region = rings::ring_region::attach(link.memory.subspan(channel_ring_offset));
    if (!region)
        return failure{region.error()};
    // The region copied its sizes out of the header when it validated it, so comparing the
    // copy is enough: a later rewrite of the header changes nothing this side uses.
    const rings::config& sizes = region->sizes();
    const rings::config& own = link.geometry;
    if (sizes.element_count != own.element_count || sizes.payload_size != own.payload_size ||
        sizes.to_kernel_capacity != own.to_kernel_capacity ||
        sizes.to_group_capacity != own.to_group_capacity)
        return failure{rings::error::bad_layout};
    return *region;
}

// ---------------------------------------------------------------------------------------------
// channel_caller

result<channel_caller, rings::error> channel_caller::attach(const channel_link& link) {
    auto region = attach_ring(link);
    if (!region)
        return failure{region.error()};
    // Records and scratch are sized from the supervisor's geometry, not the shared header.
    return channel_caller(link, region->kernel(), link.geometry.element_count,
                          link.geometry.payload_size);
}

channel_caller::channel_caller(const channel_link& link, rings::endpoint endpoint,
                               std::uint32_t elements, std::size_t payload_size)
    : link_(link), endpoint_(endpoint), epoch_(link.status->epoch.load(std::memory_order_acquire)),
      payload_size_(payload_size), records_(new record[elements]), element_count_(elements),
      queue_(new queued[max_queued]), scratch_(payload_size / 8 + 1) {}

namespace {

struct spill_context {
    shared_heap* heap;
    std::span<std::byte>* spilled;
    std::uint8_t* count;
    std::uint8_t capacity;
};

bool spill_copy(void* context, std::span<const std::byte> bytes, std::uint64_t& offset) {
    auto& spill = *static_cast<spill_context*>(context);
    if (spill.heap == nullptr || *spill.count == spill.capacity)
        return false;
    std::span<std::byte> block = spill.heap->allocate(bytes.size());
    if (block.empty())
        return false;
    std::memcpy(block.data(), bytes.data(), bytes.size());
    spill.spilled[(*spill.count)++] = block;
    offset = static_cast<std::uint64_t>(block.data() - spill.heap->view().base);
    return true;
}

}  // namespace

void channel_caller::follow_epoch() {
    // Only the supervisor moves the epoch: its page is read-only in groups.
    std::uint32_t epoch = link_.status->epoch.load(std::memory_order_acquire);
    if (epoch == epoch_)
        return;
    epoch_ = epoch;
    drained_ = false;
    auto region = attach_ring(link_);
    if (!region) {
        // The server rewrote the fresh ring's header: stay broken until the next epoch.
        fail_everything(call_error::ring);
        return;
    }
    endpoint_ = region->kernel();
    broken_.reset();
}

result<void, int> channel_caller::run_on(hosted::loop::process_loop& loop) {
    auto attached = attach_to(loop, link_.reply_event);
    if (!attached)
        return attached;
    loop_ = &loop;
    if (!timer_)
        timer_ = std::make_unique<deadline_timer>(this);
    timer_->owner = this;
    return {};
}

channel_caller::~channel_caller() {
    // An armed timer means its loop is alive (a loop cannot end with armed work), whether or
    // not this caller is still one of its pollers (detach() leaves the timer armed).
    if (timer_ && timer_->pending())
        loop_->loop().cancel(*timer_);
}

void channel_caller::disarm_if_idle() {
    if (!timer_ || timer_->armed_at == loop_clock::time_point::max() ||
        in_flight_ + queued_count_ > 0)
        return;
    loop_->loop().cancel(*timer_);
    timer_->armed_at = loop_clock::time_point::max();
}

void channel_caller::deadline_timer::fire(loop_work& work) noexcept {
    auto& timer = static_cast<deadline_timer&>(work);
    timer.armed_at = loop_clock::time_point::max();
    timer.owner->expire_calls();
}

void channel_caller::arm_deadline(loop_clock::time_point deadline) {
    if (loop_ == nullptr || deadline == loop_clock::time_point::max() ||
        deadline >= timer_->armed_at)
        return;
    loop_->loop().cancel(*timer_);
    timer_->armed_at = deadline;
    loop_->loop().run_at(*timer_, deadline);
}

void channel_caller::expire_calls() {
    const loop_clock::time_point now = loop_->loop().now();
    constexpr loop_clock::time_point none = loop_clock::time_point::max();
    loop_clock::time_point next = none;
    // Completes `call` (in an element or queued) with deadline_passed if its deadline passed,
    // else keeps its deadline for the next arming.
    auto expire = [&](auto& call) {
        if (call.deadline == none)
            return;
        if (call.deadline > now) {
            next = std::min(next, call.deadline);
            return;
        }
        call.deadline = none;
        void* result = std::exchange(call.result, nullptr);
        std::coroutine_handle<> waiting = std::exchange(call.waiting, {});
        if (result != nullptr)
            call.ops->fail(result, lidl::call_error{lidl::call_fault::deadline_passed});
        if (waiting)
            waiting.resume();
    };
    // An expired call in an element stays active without a result or waiter (a posted call):
    // its element is released when the late reply comes.
    for (std::uint32_t i = 0; i < element_count_; ++i)
        if (records_[i].active)
            expire(records_[i]);
    // A queued call that expired is never sent (pass() drops queued calls nobody waits for).
    const std::size_t queued_now = queued_count_;
    for (std::size_t k = 0; k < queued_now && k < queued_count_; ++k) {
        queued& call = queue_[(queued_first_ + k) % max_queued];
        if (call.waiting)
            expire(call);
    }
    arm_deadline(next);
}

bool channel_caller::issue(std::uint32_t procedure, const call_ops& ops, const void* params,
                           void* result, std::coroutine_handle<> waiting,
                           loop_clock::duration timeout) {
    follow_epoch();
    if (timeout <= loop_clock::duration::zero())
        timeout = call_timeout_;
    const loop_clock::time_point deadline =
        waiting && loop_ != nullptr && timeout > loop_clock::duration::zero()
            ? loop_->loop().now() + timeout
            : loop_clock::time_point::max();
    queued call{procedure, &ops, params, result, waiting, deadline};
    if (broken_) {
        if (result != nullptr)
            ops.fail(result, to_call_error(*broken_));
        return false;
    }
    if (queued_count_ == 0) {
        switch (submit(call)) {
        case submit_result::sent: arm_deadline(deadline); return true;
        case submit_result::failed: return false;
        case submit_result::no_element: break;
        }
    }
    // Posted calls encode their parameters now or never: they do not wait for room.
    if (!waiting || queued_count_ == max_queued) {
        if (result != nullptr)
            ops.fail(result, to_call_error(call_error::ring));
        return false;
    }
    queue_[(queued_first_ + queued_count_++) % max_queued] = call;
    arm_deadline(deadline);
    return true;
}

channel_caller::submit_result channel_caller::submit(const queued& call) {
    // A ring that refuses an allocation or hands out a bad element fails the call (its error and
    // result filled, as every failed submit does) and breaks the caller.
    auto ring_failed = [&] {
        broken_ = call_error::ring;
        if (call.result != nullptr)
            call.ops->fail(call.result, to_call_error(call_error::ring));
        return submit_result::failed;
    };
    auto index = endpoint_.allocate();
    if (!index)
        return index.error() == rings::error::pool_empty ? submit_result::no_element
                                                         : ring_failed();
    auto element = endpoint_.element(*index);
    if (!element || *index >= element_count_) {
        (void)endpoint_.release(*index);
        return ring_failed();
    }
    record& slot = records_[*index];
    slot.spilled_count = 0;
    spill_context spill{link_.spill_heap, slot.spilled, &slot.spilled_count, 4};
    groups::frame_writer out{element->payload, 0, link_.caller_heap, {&spill_copy, &spill}, 0};
    std::size_t length = 0;
    request_encoding encoding = request_encoding::frame;
    bool encoded = false;
    for (;;) {
        bool scratch_too_small = false;
        encoded = call.ops->encode(call.params, out, scratch(), length, encoding,
                                   scratch_too_small);
        if (encoded || !scratch_too_small || scratch_.size() * 8 >= max_scratch)
            break;
        scratch_.resize(scratch_.size() * 2);
    }
    if (!encoded) {
        for (std::uint8_t i = 0; i < slot.spilled_count; ++i)
            link_.spill_heap->free(slot.spilled[i]);
        slot.spilled_count = 0;
        (void)endpoint_.release(*index);
        if (call.result != nullptr)
            call.ops->fail(call.result, to_call_error(call_error::too_large));
        return submit_result::failed;
    }
    views_shared_ += out.views_in_heap;
    std::uint64_t cookie = next_cookie_++;
    element->header->kind = static_cast<std::uint16_t>(rings::element_kind::request);
    element->header->status = static_cast<std::uint16_t>(encoding);
    element->header->procedure = call.procedure;
    element->header->payload_length = static_cast<std::uint32_t>(length);
    element->header->cookie = cookie;
    slot.ops = call.ops;
    slot.params = call.params;
    slot.result = call.result;
    slot.waiting = call.waiting;
    slot.deadline = call.deadline;
    slot.cookie = cookie;
    slot.encoding = encoding;
    slot.active = true;
    if (!endpoint_.submit(*index)) {
        slot.active = false;
        (void)endpoint_.release(*index);
        return ring_failed();
    }
    ++in_flight_;
    submitted_ = true;  // the doorbell rings at the end of this loop pass (notify_server)
    return submit_result::sent;
}

void channel_caller::notify_server() {
    if (!submitted_)
        return;
    submitted_ = false;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (control().server_sleeping.load(std::memory_order_relaxed) != 0)
        (void)signal_event(link_.request_event);
}

void channel_caller::finish(record& call, std::optional<lidl::call_error> error) {
    call.active = false;
    for (std::uint8_t i = 0; i < call.spilled_count; ++i)
        link_.spill_heap->free(call.spilled[i]);
    call.spilled_count = 0;
    --in_flight_;
    if (error && call.result != nullptr)
        call.ops->fail(call.result, *error);
    if (call.waiting)
        call.waiting.resume();
}

void channel_caller::fail_everything(call_error error) {
    if (!broken_)
        broken_ = error;
    for (std::uint32_t i = 0; i < element_count_; ++i)
        if (records_[i].active)
            finish(records_[i], to_call_error(error));
    while (queued_count_ > 0) {
        queued call = queue_[queued_first_];
        queued_first_ = (queued_first_ + 1) % max_queued;
        --queued_count_;
        if (call.result != nullptr)
            call.ops->fail(call.result, to_call_error(error));
        if (call.waiting)
            call.waiting.resume();
    }
}

std::size_t channel_caller::progress() noexcept {
    // Calls issued since the last pass (from outside the loop, or by coroutines this pass
    // resumes) wake the server once, after the pass.
    const std::size_t done = pass();
    notify_server();
    disarm_if_idle();
    return done;
}

std::size_t channel_caller::pass() {
    follow_epoch();
    if (drained_)
        return 0;
    std::size_t done = 0;
    while (queued_count_ > 0 && !broken_) {
        queued call = queue_[queued_first_];
        if (!call.waiting) {
            // Its deadline passed while it waited for an element: never sent.
            queued_first_ = (queued_first_ + 1) % max_queued;
            --queued_count_;
            continue;
        }
        submit_result sent = submit(call);
        if (sent == submit_result::no_element)
            break;
        queued_first_ = (queued_first_ + 1) % max_queued;
        --queued_count_;
        ++done;
        if (sent == submit_result::failed && call.waiting)
            call.waiting.resume();  // submit filled the error and the result
    }
    while (!broken_) {
        auto polled = endpoint_.poll();
        if (!polled) {
            fail_everything(call_error::bad_reply);
            return done + 1;
        }
        if (!polled.value())
            break;
        const rings::element_index index = **polled;
        auto element = endpoint_.element(index);
        if (!element || index >= element_count_ || !records_[index].active) {
            fail_everything(call_error::bad_reply);
            return done + 1;
        }
        record& call = records_[index];
        // Each shared header field is read once: the server may still write them.
        const std::uint16_t kind = element->header->kind;
        const std::uint16_t status = element->header->status;
        const std::uint32_t length = element->header->payload_length;
        const std::uint64_t cookie = element->header->cookie;
        if (kind != static_cast<std::uint16_t>(rings::element_kind::response) ||
            cookie != call.cookie || length > element->payload.size()) {
            (void)endpoint_.release(index);
            finish(call, to_call_error(call_error::bad_reply));
            fail_everything(call_error::bad_reply);
            return done + 1;
        }
        std::optional<lidl::call_error> error;
        if (status != 0)
            error = answered_error(static_cast<call_status>(status),
                                   element->payload.first(length));
        else if (call.result != nullptr &&
                 !call.ops->decode(call.params, call.result, element->payload.first(length),
                                   call.encoding, scratch()))
            error = to_call_error(call_error::bad_reply);
        if (!endpoint_.release(index)) {
            // The reply was read: the call completes with it (its result may already be in
            // the slot, which must not be filled again); the ring is what failed, so every
            // other call fails and the caller is broken.
            finish(call, error);
            fail_everything(call_error::ring);
            return done + 1;
        }
        finish(call, error);
        ++done;
    }
    if (link_.status->server_gone.load(std::memory_order_acquire) != 0 &&
        endpoint_.pending() == 0) {
        // The server's process is gone and nothing more is in the ring: nobody will answer.
        // Fail what is in flight, keep off the ring and let the supervisor reset it.
        if (in_flight_ + queued_count_ > 0)
            ++done;
        fail_everything(call_error::peer_exited);
        drained_ = true;
        control().caller_drained.store(1, std::memory_order_release);
    }
    return done;
}

bool channel_caller::prepare_sleep() noexcept {
    notify_server();  // a call issued by another source's pass must not wait for our sleep
    control().caller_sleeping.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool work =
        link_.status->epoch.load(std::memory_order_acquire) != epoch_ ||
        (!drained_ && ((!broken_ && endpoint_.pending() > 0) ||
                       link_.status->server_gone.load(std::memory_order_acquire) != 0));
    // A broken ring is not polled (progress() stops), so what the peer leaves in it is not work:
    // counting it would keep this loop from ever sleeping.
    if (work) {
        control().caller_sleeping.store(0, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void channel_caller::finish_sleep() noexcept {
    control().caller_sleeping.store(0, std::memory_order_relaxed);
    drain_event_descriptor(link_.reply_event);
}

}  // namespace amb::hosted::node
