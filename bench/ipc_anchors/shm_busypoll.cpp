// The polling floor of benchmark `ipc`: the same topology and ring as the shared-memory +
// eventfd floor (shm_eventfd.cpp), but neither side ever sleeps. The caller publishes calls by
// advancing a shared sequence word; the child spins on it (with the CPU's pause instruction, as
// busy-polling code does), serves every call up to it and advances a second sequence word, on
// which the caller spins. What is left is the cache-line transfers between the two cores, the
// floor against which a polling Ambience loop is compared (both sides burn a CPU each while they
// wait; the benchmark reports that CPU).
//
// Two ways to wait, both without sleeping:
//   pause_and_yield  four pauses, then sched_yield, over and over: Ambience's polling loop does
//                    the same (it yields after every fourth empty poll), and on a machine with
//                    fewer free cores than spinning processes it is what keeps a call from
//                    costing a whole scheduler time slice (the benchmark's floor)
//   pause_only       pauses only, as a spinner that owns its cores would (a figure: on a shared
//                    machine a call can wait milliseconds for the peer to be scheduled again)
//
// A child that died would never advance its word: the caller checks every few million spins
// whether the child still runs (waitpid with WNOHANG) and fails the call then instead of
// spinning forever. The child is killed when this process dies (fork_serving).
#include "anchors.hpp"
#include "shm_calls.hpp"

#include "child_process.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

namespace amb::ipc_anchors {
namespace {

using namespace shm;

struct shared_region : call_slots {
    // Each word on its own cache line, so that the caller's stores to `requested` do not disturb
    // the line the caller spins on.
    alignas(64) std::atomic<std::uint64_t> requested{0}; // calls published by the caller
    alignas(64) std::atomic<std::uint64_t> answered{0};  // calls answered by the child
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the sequence words live in memory shared between processes");

inline void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

// One spin of a waiting side: a pause, and with `yield` every fourth spin a sched_yield (the
// rhythm of Ambience's process loop while it spins).
class spinner {
public:
    explicit spinner(bool yield) : yield_(yield) {}
    void spin() {
        cpu_pause();
        if (yield_ && (++spins_ & 3) == 0)
            sched_yield();
    }

private:
    bool yield_;
    std::uint32_t spins_ = 0;
};

// The child's loop: spin until the caller published more calls than were answered, serve them in
// ring order, publish the new count.
int serve(shared_region& region, bool yield) {
    std::uint64_t served = 0;
    spinner waiting(yield);
    for (;;) {
        std::uint64_t requested;
        while ((requested = region.requested.load(std::memory_order_acquire)) == served)
            waiting.spin();
        for (; served < requested; ++served) {
            slot& call = region.slots[served % max_in_flight];
            switch (serve_slot(region, call)) {
            case slot_outcome::served: break;
            case slot_outcome::stop: return 0;
            case slot_outcome::malformed: return 1;
            }
        }
        region.answered.store(served, std::memory_order_release);
    }
}

class shm_busypoll_anchor final : public anchor {
public:
    shm_busypoll_anchor(shared_region* region, pid_t child, bool yield)
        : region_(region), child_(child), yield_(yield) {}

    ~shm_busypoll_anchor() override {
        stop();
        unmap(region_);
    }

    std::string_view name() const override { return yield_ ? "busypoll" : "busypoll_pause_only"; }

    bool round_trip(std::span<const std::uint8_t> payload, std::span<std::uint8_t> echo) override {
        if (broken_ || payload.size() > max_payload_bytes || echo.size() != payload.size())
            return fail();
        slot& call = next_slot();
        call.op = operation::echo;
        call.length = static_cast<std::uint32_t>(payload.size());
        std::memcpy(region_->request, payload.data(), payload.size());
        if (!exchange())
            return false;
        std::memcpy(echo.data(), region_->response, echo.size());
        return true;
    }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        if (broken_)
            return std::nullopt;
        slot& call = next_slot();
        call.op = operation::add;
        call.a = a;
        call.b = b;
        if (!exchange())
            return std::nullopt;
        return call.sum;
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        const std::uint64_t first = published_;
        // Every slot filled, then one store publishes them all (as the eventfd floor rings its
        // doorbell once per batch).
        for (const add_operands& operands : calls) {
            slot& call = next_slot();
            call.op = operation::add;
            call.a = operands.a;
            call.b = operands.b;
        }
        if (!exchange())
            return false;
        for (std::size_t i = 0; i < calls.size(); ++i)
            sums[i] = region_->slots[(first + i) % max_in_flight].sum;
        return true;
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        if (!exited_) {
            slot& call = next_slot();
            call.op = operation::stop;
            region_->requested.store(published_, std::memory_order_release);
            stopped_cleanly_ = reap(child_);
        } else {
            stopped_cleanly_ = exited_cleanly_;
        }
        broken_ = true;
        return stopped_cleanly_;
    }

    int child_pid() const override { return child_; }

private:
    // Slots are taken in the order the child serves them; published_ counts the slots taken.
    slot& next_slot() { return region_->slots[published_++ % max_in_flight]; }

    // Publishes every slot taken so far and spins until the child answered them all.
    bool exchange() {
        region_->requested.store(published_, std::memory_order_release);
        // How many spins pass between two checks that the child still runs: rare enough to cost
        // nothing (a check is a system call), often enough that a dead child fails the call
        // within milliseconds.
        constexpr std::uint32_t spins_per_check = 1u << 22;
        std::uint32_t spins = 0;
        spinner waiting(yield_);
        while (region_->answered.load(std::memory_order_acquire) != published_) {
            waiting.spin();
            if (++spins == spins_per_check) {
                spins = 0;
                if (child_exited())
                    return fail();
            }
        }
        return true;
    }

    // Whether the child has ended (reaping it if so).
    bool child_exited() {
        int status = 0;
        pid_t ended;
        do {
            ended = waitpid(child_, &status, WNOHANG);
        } while (ended < 0 && errno == EINTR);
        if (ended != child_)
            return ended < 0;
        exited_ = true;
        exited_cleanly_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        return true;
    }

    bool fail() {
        broken_ = true;
        return false;
    }

    shared_region* region_;
    pid_t child_;
    bool yield_;
    std::uint64_t published_ = 0;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
    bool exited_ = false;
    bool exited_cleanly_ = false;
};

} // namespace

namespace {

started start_busypoll(bool yield) {
    shared_region* region = map_shared<shared_region>();
    if (region == nullptr)
        return {nullptr, "mmap of the shared region failed"};
    const pid_t child = fork_serving([&] { return serve(*region, yield); });
    if (child < 0) {
        unmap(region);
        return {nullptr, "fork failed"};
    }
    return {std::make_unique<shm_busypoll_anchor>(region, child, yield), {}};
}

} // namespace

started start_shm_busypoll() {
    return start_busypoll(true);
}

started start_shm_busypoll_pause_only() {
    return start_busypoll(false);
}

} // namespace amb::ipc_anchors
