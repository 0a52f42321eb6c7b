#include <runtime/fiber.hpp>

#include <base/check.hpp>

#include <cstdint>

// The per-architecture context switch (runtime/core/arch/<arch>/fiber_switch.S).
extern "C" {
// Saves the callee-saved registers on the current stack, stores the stack pointer in `*save`,
// and continues on the stack `next` saved by an earlier switch or made by amb_fiber_make_context.
void amb_fiber_switch(void** save, void* next) noexcept;
// Lays out a new stack below `top` so that switching to the returned stack pointer calls
// `entry(argument)`; `entry` must never return.
void* amb_fiber_make_context(void* top, void (*entry)(void*), void* argument) noexcept;
}

namespace amb {

namespace {

fiber*& running_fiber() noexcept {
    thread_local fiber* running = nullptr;
    return running;
}

}  // namespace

fiber::fiber(event_loop& loop, std::span<std::byte> stack, function body, void* context) noexcept
    : loop_(loop), stack_(stack), body_(body), context_(context) {
    AMB_REQUIRE(stack.size() >= 256, "fiber stack too small");
}

fiber::~fiber() {
    AMB_REQUIRE(!started_ || done_, "destroying a fiber that has not finished");
    AMB_REQUIRE(!resume_.pending(), "destroying a fiber that is queued to run");
}

fiber* fiber::current() noexcept { return running_fiber(); }

void fiber::start() noexcept {
    AMB_REQUIRE(!started_, "starting a fiber twice");
    started_ = true;
    fiber_stack_pointer_ =
        amb_fiber_make_context(stack_.data() + stack_.size(), &fiber::enter, this);
    loop_.post(resume_);
}

void fiber::schedule() noexcept { loop_.post(resume_); }

void fiber::schedule_from_any_thread() noexcept { loop_.post_from_any_thread(resume_); }

void fiber::run(loop_work& work) noexcept {
    static_cast<resume_work&>(work).owner.switch_in();
}

void fiber::switch_in() noexcept {
    AMB_REQUIRE(!done_, "resuming a finished fiber");
    resumer_fiber_ = running_fiber();
    running_fiber() = this;
    amb_fiber_switch(&resumer_stack_pointer_, fiber_stack_pointer_);
    // Back from the fiber: it suspended or finished.
    running_fiber() = resumer_fiber_;
}

void fiber::suspend() noexcept {
    fiber* self = running_fiber();
    AMB_REQUIRE(self != nullptr, "fiber::suspend outside a fiber");
    amb_fiber_switch(&self->fiber_stack_pointer_, self->resumer_stack_pointer_);
}

void fiber::enter(void* argument) noexcept {
    fiber& self = *static_cast<fiber*>(argument);
    self.body_(self.context_);
    self.done_ = true;
    // The stack of a finished fiber is abandoned where it stands; nothing on it needs unwinding.
    void* abandoned = nullptr;
    amb_fiber_switch(&abandoned, self.resumer_stack_pointer_);
    AMB_ASSERT(false, "a finished fiber was resumed");
}

}  // namespace amb
