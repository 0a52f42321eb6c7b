// The anchors of benchmark `ipc` (issue 7): what a cross-process call costs without Ambience,
// measured in the same run as Ambience's own calls. Four two-process setups, each a forked child
// that serves until told to stop:
//   shm_eventfd  the floor: a shared mapping with request and response areas plus call slots,
//                one eventfd per direction; a call copies in, signals, waits, copies the echo out
//                (both sides block in read() while they wait)
//   shm_busypoll the polling floor: the same mapping and slots, but each side spins (with the
//                CPU's pause instruction, yielding the CPU after every fourth pause as
//                Ambience's polling loop does) on a shared sequence word; nobody ever sleeps.
//                start_shm_busypoll_pause_only() never yields (see shm_busypoll.cpp)
//   pipe         two pipes; a call is serialised as length-prefixed bytes and echoed back
//   capnp_rpc    Cap'n Proto RPC (echo.capnp's Echo) over a Unix socketpair, kj async io
//
// Use: start one with start_shm_eventfd(), start_shm_busypoll(), start_pipe() or
// start_capnp_rpc(); call round_trip() (an echo of bytes), add() (a small call of two scalars)
// or add_in_flight() (several small calls sent before any answer is awaited); stop() ends the
// child and reaps it (the destructor does it too). Everything here is benchmark code: no
// allocation promises, exceptions allowed inside, none escape.
//
// Threading: an anchor belongs to the thread that started it. Start anchors while no other
// capnp_rpc anchor is alive in the same thread (a forked child must not inherit a KJ event
// loop), which the benchmark and the tests do by holding one anchor at a time.
//
// Errors: setup failures come back as a started without an anchor and with a message. A failed
// call (transport error, a child that died, an answer of the wrong size) returns false or an
// empty optional, after which the anchor is broken and every further call fails; stop() still
// reaps the child.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace amb::ipc_anchors {

// The largest payload a round trip carries (the largest buffer, 1 MiB).
inline constexpr std::size_t max_payload_bytes = std::size_t{1} << 20;
// The most small calls add_in_flight sends before awaiting the first answer (the shared-memory
// floor has this many call slots).
inline constexpr std::size_t max_in_flight = 64;

struct add_operands {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
};

// One running two-process setup: this process's end of it, and its child's process id.
class anchor {
public:
    virtual ~anchor() = default;

    // The anchor's name in benchmark names: "eventfd", "busypoll", "busypoll_pause_only",
    // "pipe" or "capnp".
    virtual std::string_view name() const = 0;

    // Sends payload (at most max_payload_bytes) to the child, which echoes it; copies the echo
    // into `echo`, which must be exactly as large. Blocks until the echo is in. False when the
    // call failed or the echo is not the payload's size.
    virtual bool round_trip(std::span<const std::uint8_t> payload,
                            std::span<std::uint8_t> echo) = 0;

    // The small call: the child returns a + b (modulo 2^64). Blocks until the answer is in.
    virtual std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) = 0;

    // Sends every call of `calls` (at most max_in_flight, and sums.size() == calls.size())
    // before awaiting any answer, then waits for all; sums[i] receives calls[i].a + calls[i].b.
    virtual bool add_in_flight(std::span<const add_operands> calls,
                               std::span<std::uint64_t> sums) = 0;

    // Tells the child to stop and waits for it to end (reaping it). True when the child exited
    // with status 0. Calling it again returns the first answer.
    virtual bool stop() = 0;

    // The child's process id, kept after stop() so that a test can check it is gone.
    virtual int child_pid() const = 0;
};

// What starting an anchor gives: the anchor, or no anchor and what failed.
struct started {
    std::unique_ptr<anchor> running;
    std::string error;
};

started start_shm_eventfd();
started start_shm_busypoll();
started start_shm_busypoll_pause_only();
started start_pipe();
started start_capnp_rpc();

} // namespace amb::ipc_anchors
