// The fixtures of benchmark `deploy` (issue 8): the small call `add(u64, u64) -> u64`
// (bench/deploy_schemas/) served by a forked child process in three ways, and what the
// benchmark measures on the serving side.
//   ambience_udp  two hosted::remote::network_nodes, "a" (this process, the caller) and "b" (the
//                 child, serving `adder`), on the UDP transport on 127.0.0.1, with a fresh
//                 deployment root, b's node key and a credential a → b; both loops are
//                 group_loops spinning `spin` before they sleep (50 µs: the deployed default)
//   capnp_tcp     Cap'n Proto RPC (adder.capnp) over one TCP connection on 127.0.0.1, kj async io
//                 (capnp_tcp.cpp, library deploy_capnp; built with g++ only, see CMakeLists.txt)
//   rest_export   an HTTP export (services/http_export) of the same adder on 127.0.0.1, and a
//                 capability token for it, for `wrk`
//
// Use: start one, call add() / add_in_flight(), stop() (the destructor does it too). Every
// start checks one answer before returning. The UDP fixture also measures its serving process:
// begin_window() / end_window() give the CPU time the child spent between the two (getrusage in
// the child), and verify_captured() has the child verify again, with CAPLets alone, the request
// packets node "a" sent inside the last window, timing only that (see deploy_bench.cpp).
//
// Benchmark code: exceptions inside are allowed (kj), none escape. Threading: a fixture belongs to
// the thread that started it; start a capnp_tcp fixture only while no other one is alive (a
// forked child must not inherit a KJ event loop). Errors: a failed start returns no fixture and a
// message; a failed call returns false / an empty optional and breaks the fixture (every later
// call fails); stop() still reaps the child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace amb::deploy_bench {

struct add_operands {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
};

// The most calls add_in_flight takes at once (the remote node's default `max_calls`).
inline constexpr std::size_t max_in_flight = 64;

// One caller connected to one serving child process.
class small_call {
public:
    virtual ~small_call() = default;
    // Blocks until the answer is in.
    virtual std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) = 0;
    // Sends all calls (at most max_in_flight, sums.size() == calls.size()) before awaiting any
    // answer, then waits for all of them.
    virtual bool add_in_flight(std::span<const add_operands> calls,
                               std::span<std::uint64_t> sums) = 0;
    // Ends the child and reaps it; true when it exited with status 0. Idempotent.
    virtual bool stop() = 0;
    virtual pid_t child_pid() const = 0;
};

// CPU time of the serving child between begin_window() and end_window().
struct server_window {
    std::uint64_t cpu_ns = 0;             // CLOCK_PROCESS_CPUTIME_ID
    std::uint64_t user_ns = 0;            // getrusage: user
    std::uint64_t system_ns = 0;          // getrusage: system
    std::uint64_t requests = 0;           // requests the node accepted (verified and served)
    std::uint64_t voluntary_switches = 0; // the loop went to sleep about this often
};

// CAPLets alone on the captured requests, in the child: token parse, verify_request (with a
// fresh replay store, in order, as the node's) and the holder tag, one pass, CPU time of the
// whole pass.
struct verification_cost {
    std::uint64_t requests = 0; // verified (all must pass)
    std::uint64_t cpu_ns = 0;
};

struct udp_options {
    // How long both group loops poll before sleeping (0: they sleep at once).
    std::chrono::microseconds spin{50};
    // Bytes for captured request packets (shared with the child); capture stops when full.
    std::size_t capture_bytes = std::size_t{64} << 20;
};

class ambience_udp : public small_call {
public:
    // Starts the window: the child reads its CPU clocks; node "a" starts capturing requests.
    virtual bool begin_window() = 0;
    virtual std::optional<server_window> end_window() = 0;
    // Verifies the requests captured in the last window (in the child).
    virtual std::optional<verification_cost> verify_captured() = 0;
    // Requests captured in the last window (fewer than sent when the buffer filled up).
    virtual std::size_t captured() const = 0;
};

template <class Fixture>
struct started {
    std::unique_ptr<Fixture> running;
    std::string error;
};

started<ambience_udp> start_ambience_udp(const udp_options& options = {});
started<small_call> start_capnp_tcp();

// The HTTP export in a child process. stop() kills the child (SIGTERM) and reaps it.
class rest_export {
public:
    virtual ~rest_export() = default;
    virtual std::uint16_t port() const = 0;
    // A capability token (text form) for every procedure of export `adder`, valid for an hour.
    virtual const std::string& token() const = 0;
    // CPU time the child has used so far (its process CPU clock, read from this process).
    virtual std::optional<std::uint64_t> server_cpu_ns() const = 0;
    virtual bool stop() = 0;
    virtual pid_t child_pid() const = 0;
};

started<rest_export> start_rest_export();

// One HTTP/1.1 POST on a fresh connection to 127.0.0.1:port (Connection: close); returns the
// status code and body, or nothing on a transport error.
struct http_answer {
    int status = 0;
    std::string body;
};
std::optional<http_answer> http_post(std::uint16_t port, std::string_view path,
                                     std::string_view bearer_token, std::string_view json);

} // namespace amb::deploy_bench
