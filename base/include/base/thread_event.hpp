// port::thread_event: the one blocking primitive the runtime needs from a port.
//
// `sync_wait(job)` blocks the calling thread until another thread (or an interrupt) completes the
// job. How a thread blocks is the port's business: the hosted port uses a mutex and a condition
// variable, a microcontroller port can sleep until an interrupt. As in <base/platform.hpp>, this
// header declares the contract portably and exactly one port defines it; the storage is opaque
// and sized here so that a thread_event lives on the waiter's stack without allocation.
#pragma once

#include <cstddef>

namespace amb::port {

/// A one-shot event: `wait` returns once `set` has been called. `set` may be called from any
/// thread (or interrupt) and only once; `set` touches nothing of the event after waking the
/// waiter, so the waiter may destroy the event as soon as `wait` returns.
class thread_event {
public:
    thread_event() noexcept;
    ~thread_event();
    thread_event(const thread_event&) = delete;
    thread_event& operator=(const thread_event&) = delete;

    void set() noexcept;
    void wait() noexcept;

    /// Bytes of port-defined state; a port checks with static_assert that its state fits.
    static constexpr std::size_t storage_size = 128;

private:
    alignas(alignof(std::max_align_t)) unsigned char storage_[storage_size];
};

}  // namespace amb::port
