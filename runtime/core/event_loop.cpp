#include <runtime/event_loop.hpp>

#include <base/check.hpp>

namespace amb {

loop_poller::loop_poller(loop_poller&& other) noexcept {
    AMB_REQUIRE(other.loop_ == nullptr, "moving a registered loop poller");
}

loop_poller::~loop_poller() {
    if (loop_ != nullptr)
        loop_->remove_poller(*this);
}

event_loop::~event_loop() {
    AMB_REQUIRE(!busy(), "destroying an event loop with pending work");
    while (poller_head_ != nullptr)
        remove_poller(*poller_head_);
}

void event_loop::add_poller(loop_poller& poller) noexcept {
    AMB_REQUIRE(poller.loop_ == nullptr, "adding a poller that is registered already");
    poller.loop_ = this;
    poller.next_ = nullptr;
    poller.previous_ = poller_tail_;
    if (poller_tail_ != nullptr)
        poller_tail_->next_ = &poller;
    else
        poller_head_ = &poller;
    poller_tail_ = &poller;
}

void event_loop::remove_poller(loop_poller& poller) noexcept {
    if (poller.loop_ != this)
        return;
    if (poll_next_ == &poller)
        poll_next_ = poller.next_;
    if (poller.previous_ != nullptr)
        poller.previous_->next_ = poller.next_;
    else
        poller_head_ = poller.next_;
    if (poller.next_ != nullptr)
        poller.next_->previous_ = poller.previous_;
    else
        poller_tail_ = poller.previous_;
    poller.next_ = poller.previous_ = nullptr;
    poller.loop_ = nullptr;
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
    // A plain load first: the exchange is a locked instruction, and a spinning loop passes often.
    if (remote_head_.load(std::memory_order_relaxed) == nullptr)
        return;
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
    // No timer, no clock reading (a spinning loop passes often).
    if (timer_head_ == nullptr)
        return 0;
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

std::size_t event_loop::poll_pollers() noexcept {
    std::size_t done = 0;
    for (loop_poller* poller = poller_head_; poller != nullptr; poller = poll_next_) {
        poll_next_ = poller->next_;
        done += poller->progress();
    }
    poll_next_ = nullptr;
    return done;
}

bool event_loop::ready_now() const noexcept {
    return ready_head_ != nullptr || remote_head_.load(std::memory_order_acquire) != nullptr;
}

bool event_loop::prepare_sleep() noexcept {
    for (loop_poller* poller = poller_head_; poller != nullptr; poller = poller->next_) {
        if (!poller->prepare_sleep()) {
            finish_sleep(poller);
            return false;
        }
    }
    return true;
}

void event_loop::finish_sleep(loop_poller* until) noexcept {
    for (loop_poller* poller = poller_head_; poller != until; poller = poller->next_)
        poller->finish_sleep();
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
    return ran + poll_pollers();
}

std::size_t event_loop::run_once() noexcept {
    return run_once_until(loop_clock::time_point::max());
}

std::size_t event_loop::run_once_until(loop_clock::time_point limit) noexcept {
    std::size_t ran = poll();
    if (ran != 0)
        return ran;
    // Nothing ready. Pollers only learn of work by looking, and waking a sleeping thread costs
    // more than looking for a while: keep passing for the driver's spin period. Every few passes
    // the driver relaxes (a peer on the same CPU must get to run to answer).
    const loop_clock::duration spin = driver_.spin();
    if (poller_head_ != nullptr && spin > loop_clock::duration::zero()) {
        const loop_clock::time_point until = driver_.now() + spin;
        for (unsigned round = 0;; ++round) {
            ran = poll();
            if (ran != 0)
                return ran;
            if ((round & 3) == 3) {
                if (driver_.now() >= until)
                    break;
                driver_.relax();
            }
        }
    }
    if (!prepare_sleep())
        return poll();
    // Work posted by a poller's announcement (or by another thread) is not slept over.
    if (!ready_now()) {
        ++sleeps_;
        loop_clock::time_point until = timer_head_ != nullptr ? timer_head_->deadline_ : limit;
        driver_.wait(until < limit ? until : limit);
    }
    finish_sleep(nullptr);
    return poll();
}

void event_loop::run_until_idle() noexcept {
    while (busy())
        run_once();
}

}  // namespace amb
