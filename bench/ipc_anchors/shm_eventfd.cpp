// The floor of benchmark `ipc`: a call is two copies through a shared mapping and one eventfd
// signal each way, with nothing serialised and no framing. Calls go through a ring of
// max_in_flight slots in order; the child serves every slot the request eventfd's counter says is
// ready, then signals that many answers at once.
#include "anchors.hpp"
#include "shm_calls.hpp"

#include "child_process.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>

namespace amb::ipc_anchors {
namespace {

using namespace shm;
using shared_region = call_slots;

// The child's loop. The eventfd read and write are system calls, which order the slot accesses
// around them; the fences say so to the compiler and to a reader.
int serve(shared_region& region, int request_fd, int response_fd) {
    std::size_t next = 0;
    for (;;) {
        const std::uint64_t ready = wait_eventfd(request_fd);
        if (ready == 0)
            return 1;
        std::atomic_thread_fence(std::memory_order_acquire);
        for (std::uint64_t i = 0; i < ready; ++i) {
            slot& call = region.slots[next++ % max_in_flight];
            switch (serve_slot(region, call)) {
            case slot_outcome::served: break;
            case slot_outcome::stop: return 0;
            case slot_outcome::malformed: return 1;
            }
        }
        std::atomic_thread_fence(std::memory_order_release);
        if (!signal_eventfd(response_fd, ready))
            return 1;
    }
}

class shm_eventfd_anchor final : public anchor {
public:
    shm_eventfd_anchor(shared_region* region, int request_fd, int response_fd, pid_t child)
        : region_(region), request_fd_(request_fd), response_fd_(response_fd), child_(child) {}

    ~shm_eventfd_anchor() override {
        stop();
        unmap(region_);
    }

    std::string_view name() const override { return "eventfd"; }

    bool round_trip(std::span<const std::uint8_t> payload, std::span<std::uint8_t> echo) override {
        if (broken_ || payload.size() > max_payload_bytes || echo.size() != payload.size())
            return fail();
        slot& call = next_slot();
        call.op = operation::echo;
        call.length = static_cast<std::uint32_t>(payload.size());
        std::memcpy(region_->request, payload.data(), payload.size());
        if (!exchange(1))
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
        if (!exchange(1))
            return std::nullopt;
        return call.sum;
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        const std::size_t first = next_;
        // Every slot filled, then one signal for all of them: the floor batches its doorbell as
        // the pipe anchor batches its write.
        for (const add_operands& operands : calls) {
            slot& call = next_slot();
            call.op = operation::add;
            call.a = operands.a;
            call.b = operands.b;
        }
        if (!exchange(calls.size()))
            return false;
        for (std::size_t i = 0; i < calls.size(); ++i)
            sums[i] = region_->slots[(first + i) % max_in_flight].sum;
        return true;
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        slot& call = next_slot();
        call.op = operation::stop;
        std::atomic_thread_fence(std::memory_order_release);
        signal_eventfd(request_fd_, 1);
        stopped_cleanly_ = reap(child_);
        close(request_fd_);
        close(response_fd_);
        broken_ = true;
        return stopped_cleanly_;
    }

    int child_pid() const override { return child_; }

private:
    slot& next_slot() { return region_->slots[next_++ % max_in_flight]; }

    bool exchange(std::size_t calls) {
        std::atomic_thread_fence(std::memory_order_release);
        if (!signal_eventfd(request_fd_, calls))
            return fail();
        return await_answers(calls);
    }

    bool await_answers(std::size_t calls) {
        std::size_t answered = 0;
        while (answered < calls) {
            const std::uint64_t count = wait_eventfd(response_fd_);
            if (count == 0)
                return fail();
            answered += count;
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        return answered == calls || fail();
    }

    bool fail() {
        broken_ = true;
        return false;
    }

    shared_region* region_;
    int request_fd_;
    int response_fd_;
    pid_t child_;
    std::size_t next_ = 0;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started start_shm_eventfd() {
    shared_region* region = map_shared<shared_region>();
    if (region == nullptr)
        return {nullptr, "mmap of the shared region failed"};
    const int request_fd = eventfd(0, EFD_CLOEXEC);
    const int response_fd = eventfd(0, EFD_CLOEXEC);
    if (request_fd < 0 || response_fd < 0) {
        if (request_fd >= 0)
            close(request_fd);
        if (response_fd >= 0)
            close(response_fd);
        unmap(region);
        return {nullptr, "eventfd failed"};
    }
    const pid_t child = fork_serving([&] { return serve(*region, request_fd, response_fd); });
    if (child < 0) {
        close(request_fd);
        close(response_fd);
        unmap(region);
        return {nullptr, "fork failed"};
    }
    return {std::make_unique<shm_eventfd_anchor>(region, request_fd, response_fd, child), {}};
}

} // namespace amb::ipc_anchors
