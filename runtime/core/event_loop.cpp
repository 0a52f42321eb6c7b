#include <runtime/event_loop.hpp>

#include <base/check.hpp>

namespace amb {

event_loop::~event_loop() {
    AMB_REQUIRE(!busy(), "destroying an event loop with pending work");
}

void event_loop::push_ready(loop_work& work) noexcept {
    work.where_ = loop_work::place::ready;
    work.next_ = nullptr;
    work.previous_ = ready_tail_;
    if (ready_tail_ != nullptr)
        ready_tail_->next_ = &work;
    else
        ready_head_ = &work;
    ready_tail_ = &work;
}

void event_loop::unlink(loop_work*& head, loop_work*& tail, loop_work& work) noexcept {
    if (work.previous_ != nullptr)
        work.previous_->next_ = work.next_;
    else
        head = work.next_;
    if (work.next_ != nullptr)
        work.next_->previous_ = work.previous_;
    else
        tail = work.previous_;
    work.next_ = work.previous_ = nullptr;
    work.where_ = loop_work::place::idle;
}

void event_loop::post(loop_work& work) noexcept {
    AMB_REQUIRE(!work.pending(), "posting work that is already pending");
    push_ready(work);
}

void event_loop::post_from_any_thread(loop_work& work) noexcept {
    AMB_REQUIRE(!work.pending(), "posting work that is already pending");
    work.where_ = loop_work::place::remote;
    loop_work* head = remote_head_.load(std::memory_order_relaxed);
    do {
        work.next_ = head;
    } while (!remote_head_.compare_exchange_weak(head, &work, std::memory_order_release,
                                                 std::memory_order_relaxed));
    driver_.wake();
}

void event_loop::run_at(loop_work& work, loop_clock::time_point deadline) noexcept {
    AMB_REQUIRE(!work.pending(), "arming work that is already pending");
    work.where_ = loop_work::place::timer;
    work.deadline_ = deadline;
    // Scan from the back: a new timer usually has the latest deadline.
    loop_work* after = timer_tail_;
    while (after != nullptr && after->deadline_ > deadline)
        after = after->previous_;
    work.previous_ = after;
    work.next_ = after != nullptr ? after->next_ : timer_head_;
    if (work.next_ != nullptr)
        work.next_->previous_ = &work;
    else
        timer_tail_ = &work;
    if (after != nullptr)
        after->next_ = &work;
    else
        timer_head_ = &work;
}

bool event_loop::cancel(loop_work& work) noexcept {
    switch (work.where_) {
    case loop_work::place::ready:
        unlink(ready_head_, ready_tail_, work);
        return true;
    case loop_work::place::timer:
        unlink(timer_head_, timer_tail_, work);
        return true;
    case loop_work::place::remote:
        AMB_REQUIRE(false, "cancelling work posted from another thread");
        return false;
    case loop_work::place::idle:
        return false;
    }
    return false;
}

void event_loop::take_remote() noexcept {
    loop_work* taken = remote_head_.exchange(nullptr, std::memory_order_acquire);
    // The stack holds the newest first; reverse it so remote posts run in posting order.
    loop_work* reversed = nullptr;
    while (taken != nullptr) {
        loop_work* next = taken->next_;
        taken->next_ = reversed;
        reversed = taken;
        taken = next;
    }
    while (reversed != nullptr) {
        loop_work* next = reversed->next_;
        push_ready(*reversed);
        reversed = next;
    }
}

void event_loop::run(loop_work& work) noexcept {
    // The item is idle before it runs, so its function may post or arm it again, or destroy it.
    work.run_(work);
}

std::size_t event_loop::run_expired_timers() noexcept {
    // One reading of the clock, and only the timers expired at that reading: a timer re-armed
    // for "now" by the work it runs waits for the next turn.
    loop_clock::time_point now = driver_.now();
    std::size_t expired = 0;
    for (loop_work* timer = timer_head_; timer != nullptr && timer->deadline_ <= now;
         timer = timer->next_)
        ++expired;
    std::size_t ran = 0;
    // Running work may cancel other timers, so take them from the head one at a time.
    for (; ran < expired && timer_head_ != nullptr && timer_head_->deadline_ <= now; ++ran) {
        loop_work& timer = *timer_head_;
        unlink(timer_head_, timer_tail_, timer);
        run(timer);
    }
    return ran;
}

std::size_t event_loop::poll() noexcept {
    take_remote();
    std::size_t ran = run_expired_timers();
    // Run the ready queue as it stands: work posted while it runs waits for the next turn.
    std::size_t ready = 0;
    for (loop_work* work = ready_head_; work != nullptr; work = work->next_)
        ++ready;
    for (std::size_t i = 0; i < ready && ready_head_ != nullptr; ++i) {
        loop_work& work = *ready_head_;
        unlink(ready_head_, ready_tail_, work);
        run(work);
        ++ran;
    }
    return ran;
}

std::size_t event_loop::run_once() noexcept {
    std::size_t ran = poll();
    if (ran != 0)
        return ran;
    driver_.wait(timer_head_ != nullptr ? timer_head_->deadline_ : loop_clock::time_point::max());
    return poll();
}

void event_loop::run_until_idle() noexcept {
    while (busy())
        run_once();
}

}  // namespace amb
