// The fixtures of benchmark `deploy` (issue 8): the small call `add(u64, u64) -> u64`
// (bench/deploy_schemas/) served by a forked child process in three ways, and what the
// benchmark measures on the serving side.
//   ambience_udp  hosted::remote::network_nodes over the UDP transport on 127.0.0.1: the callers
//                 (this process; "a", or "a0".."aN-1" with N callers, each with its own
//                 credential for "b") and "b" (the child, serving `adder`), with a fresh
//                 deployment root and b's node key; every loop is a process loop polling
//                 for `spin` before it sleeps (0: it sleeps at once, blocking like KJ's loop;
//                 50 µs: the deployed default). Calls go round-robin over the callers.
//   capnp_tcp     Cap'n Proto RPC (adder.capnp) over one TCP connection on 127.0.0.1, kj async io
//                 (capnp_tcp.cpp, library deploy_capnp; built with g++ only, see CMakeLists.txt)
//   rest_export   an HTTP export (services/http_export) of the same adder on 127.0.0.1, and a
//                 capability token for it, for `wrk`
//
// Use: start one, call add() / add_in_flight(), stop() (the destructor does it too). Every
// start checks one answer before returning (from every caller). The UDP fixture also measures its
// serving process: begin_window() / end_window() give the CPU time the child spent between the
// two (its own clocks and getrusage) and, with `udp_options::meter`, the time the node spent in
// CAPLets verification on the requests of the window, measured inside the node's real serving
// path by its measurement hook (remote::node_config::meter, read with CLOCK_MONOTONIC around
// each part; the clock reads themselves are part of the serving CPU time).
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

// The longest span of the node's measurement hook taken at face value (see server_window).
inline constexpr std::uint64_t span_cap_ns = 32'000;

// CPU time of the serving child between begin_window() and end_window().
struct server_window {
    std::uint64_t cpu_ns = 0;             // CLOCK_PROCESS_CPUTIME_ID
    std::uint64_t user_ns = 0;            // getrusage: user
    std::uint64_t system_ns = 0;          // getrusage: system
    std::uint64_t requests = 0;           // requests the node accepted (verified and served)
    std::uint64_t voluntary_switches = 0; // the loop went to sleep about this often
    // From the node's measurement hook (zero without udp_options::meter): wall-clock ns inside
    // each part of the CAPLets work on a request (CLOCK_MONOTONIC: a CPU-time clock read is a
    // system call, about 2 µs on the benchmark machine). The serving thread runs alone, so a
    // span is its CPU time, or more when the thread was preempted inside it. A full verification
    // takes a few µs, so a span above span_cap_ns (32 µs) can only be time off the CPU: the
    // `capped` sums count such a span as span_cap_ns (still an overestimate), the plain sums
    // count it whole.
    std::uint64_t verifications = 0;    // `verify` parts (one per request handled)
    std::uint64_t verify_ns = 0;        // token parse .. verify_request .. replay check
    std::uint64_t record_ns = 0;        // recording the sequence numbers
    std::uint64_t verify_capped_ns = 0; // the same, each span capped at span_cap_ns
    std::uint64_t record_capped_ns = 0;
    std::uint64_t long_spans = 0;     // spans above span_cap_ns (both parts)
    std::uint64_t hits = 0;           // verifications from a remembered credential
    std::uint64_t hit_capped_ns = 0;  // their verify_capped_ns
    std::uint64_t misses = 0;         // verifications of the whole credential
    std::uint64_t miss_capped_ns = 0; // their verify_capped_ns
    std::uint64_t refused = 0;        // verifications that refused the request (must be 0)
    // Medians of the spans of the window (4 ns resolution): every verify part, its hits, its
    // misses (0 when none), and the record part.
    double verify_median_ns = 0;
    double hit_median_ns = 0;
    double miss_median_ns = 0;
    double record_median_ns = 0;
    double empty_part_ns = 0; // one empty begin/end pair of the hook, measured in the child
};

struct udp_options {
    // How long every group loop polls before sleeping (0: they sleep at once).
    std::chrono::microseconds spin{50};
    // Calling nodes in this process, each with its own name and credential (1 to 4096).
    std::size_t callers = 1;
    // node_config::verified_callers of the serving node (0: as many as `callers`).
    std::size_t verified_callers = 0;
    // Give the serving node a measurement hook (server_window's CAPLets figures).
    bool meter = false;
};

class ambience_udp : public small_call {
public:
    // Starts the window: the child reads its CPU clocks and its meter.
    virtual bool begin_window() = 0;
    virtual std::optional<server_window> end_window() = 0;
    virtual std::size_t callers() const = 0;
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
