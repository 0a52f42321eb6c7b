// Benchmark `ipc` (issue 7, issue 13): Ambience's calls between processes (hosted/node
// channels) beside baselines in real child processes, in one run. bench/ipc.py turns the medians
// into figures, targets, tables and plots. Times are wall-clock (the other process's work is the
// point), so names end in "/real_time"; every fixture is checked for a right answer before it is
// timed, so a broken path fails loudly instead of looking fast. Every latency and throughput row
// sets counter `cpu_ns`: CPU ns per call (per resolution in part 4) summed over every process
// involved (this one, the group processes its node_kernel started and the group image, or the
// anchor's child), so that the price of spinning shows; rows timed per batch also set
// `ops_per_iteration`.
//
// Waiting modes (a ratio only compares rows in the same mode): Ambience's process loops either
// spin 50 µs after their last progress before they sleep (their default; rows named "spin50" in
// part 3, and every channel row of parts 1, 2 and 4 unless named otherwise), sleep at once
// (spin 0; "block"), or never sleep ("poll"). The anchors block (eventfd, pipe, Cap'n Proto) or
// poll (busypoll).
//
// Part 1, scalars: scalars/FAMILY/BYTES/SYSTEM — one call of a procedure taking BYTES bytes of
//   scalars (FAMILY uniform: 1…16 u64; mixed: the thesis' tuples, bench/ipc_schemas/calls.lidl),
//   sequential. SYSTEM static, dynamic, user: a channel with that strategy to a group process of
//   a node_kernel (loops spin 50 µs); pipe: the same lidl serialisation as the user strategy over
//   two pipes (bench/ipc_anchors/lidl_pipe.hpp). scalars64/FAMILY/BYTES/SYSTEM: the same with 64
//   calls in flight (time per batch of 64), where the work per call shows rather than the latency.
// Part 2, buffers: buffer/BYTES/SYSTEM — buffer(span<u8>) of BYTES bytes; the callee reads the
//   first and the last byte only. static_heap: the buffer is allocated in the kernel group's
//   shareable heap and crosses by reference (zero copy); static_heap_block: the same with loops
//   that sleep at once (the pipe baseline's mode); static_copy: an ordinary buffer, copied once
//   (inline in the element up to 4000 B, into the heap from 4 KiB); user; pipe (both pipes
//   enlarged to 1 MiB).
// Part 3, small call: add/SYSTEM (sequential) and inflight/SYSTEM/N (N calls issued before the
//   first answer is awaited; time per batch) for ambience_block, ambience_poll, ambience_spin50
//   (static strategy, loops in that mode) and the anchors eventfd (shared memory + eventfd, the
//   blocking floor), busypoll (shared memory + spinning on sequence words with a pause, yielding
//   the CPU after every fourth pause as Ambience's polling loop does: the polling floor;
//   add/busypoll_pause_only: without the yield, a figure), pipe and capnp (Cap'n Proto RPC over
//   a Unix socketpair), bench/ipc_anchors/anchors.hpp. In-flight rows of Ambience also count
//   the caller loop's sleeps per batch.
// Part 4, resolver: resolver/PLACEMENT/KIND/C — a batch of resolver_batch uniformly drawn names
//   resolved by C concurrent clients (time per batch; counter `batch`); PLACEMENT in_group or
//   own_process, KIND coroutine or fiber (bench/ipc_anchors/resolver.hpp); every loop spins
//   50 µs. memory/KIND/C — what the front's own process holds per request in flight at
//   concurrency C: reported as the manual "time" in ns, the reserved bytes per request (frames
//   plus the busy fibers' whole stacks), with counters for the parts (frames, stacks, resident
//   stack bytes from mincore); memory/fiber_resident/64 — bytes of a fiber stack actually
//   resident.
//
// AMBIENCE_BENCH_SMOKE (set by `./ambience bench --smoke`): smaller resolver batches; every row
// still runs.
#include <ipc_anchors/anchors.hpp>
#include <ipc_anchors/calls_node.hpp>
#include <ipc_anchors/lidl_pipe.hpp>
#include <ipc_anchors/resolver.hpp>

#include <support/process_cpu.hpp>

#include <benchmark/benchmark.h>

#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace amb::ipc_anchors;
using amb::hosted::node::strategy;
using ipc_bench::calls;

constexpr std::size_t buffer_sizes[] = {64, 1024, 4000, 4096, 65536, std::size_t{1} << 20};
constexpr std::size_t in_flight_counts[] = {16, 64};
constexpr std::size_t concurrencies[] = {1, 4, 16, 64, 256};

bool smoke() {
    return std::getenv("AMBIENCE_BENCH_SMOKE") != nullptr;
}

// Resolutions per timed batch of part 4 (fewer in a smoke run, which only checks that every row
// runs and answers right).
std::size_t resolver_batch() {
    return smoke() ? 256 : 2048;
}

// The loops' waiting modes (see the header).
constexpr std::chrono::microseconds spin_block{0};
constexpr std::chrono::microseconds spin_default{50};
// "Never sleep": a spin period longer than any run (a year; the loop adds it to its clock's
// now(), so it must not overflow nanoseconds the way microseconds::max() would).
constexpr std::chrono::microseconds spin_poll = std::chrono::hours(24 * 365);

// Every process this one started and has not reaped: the children of each of its threads
// (/proc/self/task/TID/children). A node_kernel's group processes are its children (they are
// cloned from the group image with CLONE_PARENT), and so is the group image itself.
std::vector<pid_t> child_processes() {
    std::vector<pid_t> pids;
    DIR* tasks = opendir("/proc/self/task");
    if (tasks == nullptr)
        return pids;
    while (dirent* entry = readdir(tasks)) {
        if (entry->d_name[0] == '.')
            continue;
        std::ifstream children(std::string("/proc/self/task/") + entry->d_name + "/children");
        pid_t pid;
        while (children >> pid)
            pids.push_back(pid);
    }
    closedir(tasks);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    return pids;
}

// CPU over this process and `pids`; skips the benchmark (and returns false) when one of their
// CPU clocks cannot be read, so that no partial figure is reported.
bool count_cpu(benchmark::State& state, bench_support::process_cpu& cpu,
               const std::vector<pid_t>& pids) {
    for (pid_t pid : pids)
        cpu.add(pid);
    if (!cpu.complete()) {
        state.SkipWithError("cannot read the CPU clock of a child process");
        return false;
    }
    return true;
}

// CPU over this process and every child (a node's group processes and group image); false (the
// benchmark skipped) when `must_include` (a process the fixture says serves it) is not among them.
bool count_node_cpu(benchmark::State& state, bench_support::process_cpu& cpu, pid_t must_include) {
    const std::vector<pid_t> pids = child_processes();
    if (must_include > 0 && std::find(pids.begin(), pids.end(), must_include) == pids.end()) {
        state.SkipWithError("the serving group process is not among this process's children");
        return false;
    }
    if (pids.empty()) {
        state.SkipWithError("no child process found to count the CPU of");
        return false;
    }
    return count_cpu(state, cpu, pids);
}

std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::uint8_t>(i * 131 % 251);
    return bytes;
}

// --- anchors (part 3) ---

using start_function = started (*)();

struct anchor_kind {
    const char* name;
    start_function start;
};

constexpr anchor_kind anchor_kinds[] = {{"eventfd", start_shm_eventfd},
                                        {"busypoll", start_shm_busypoll},
                                        {"pipe", start_pipe},
                                        {"capnp", start_capnp_rpc}};

void anchor_add(benchmark::State& state, start_function start) {
    started anchor = start();
    if (anchor.running == nullptr) {
        state.SkipWithError(anchor.error.c_str());
        return;
    }
    if (anchor.running->add(40, 2) != 42U) {
        state.SkipWithError("add(40, 2) is not 42");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_cpu(state, cpu, {anchor.running->child_pid()}))
        return;
    std::uint64_t a = 0;
    cpu.start();
    for (auto _ : state) {
        std::optional<std::uint64_t> sum = anchor.running->add(a, 1);
        if (sum != a + 1) {
            state.SkipWithError("call failed or answered wrong");
            break;
        }
        ++a;
        benchmark::DoNotOptimize(sum);
    }
    cpu.report(state);
    if (!anchor.running->stop())
        state.SkipWithError("the child did not stop cleanly");
}

void anchor_in_flight(benchmark::State& state, start_function start, std::size_t count) {
    started anchor = start();
    if (anchor.running == nullptr) {
        state.SkipWithError(anchor.error.c_str());
        return;
    }
    std::vector<add_operands> operands(count);
    for (std::size_t i = 0; i < count; ++i)
        operands[i] = {i, 1000 * i};
    std::vector<std::uint64_t> sums(count);
    if (!anchor.running->add_in_flight(operands, sums)) {
        state.SkipWithError("calls in flight failed");
        return;
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (sums[i] != operands[i].a + operands[i].b) {
            state.SkipWithError("a sum in flight is wrong");
            return;
        }
    }
    bench_support::process_cpu cpu;
    if (!count_cpu(state, cpu, {anchor.running->child_pid()}))
        return;
    cpu.start();
    for (auto _ : state) {
        if (!anchor.running->add_in_flight(operands, sums)) {
            state.SkipWithError("calls in flight failed");
            break;
        }
        benchmark::DoNotOptimize(sums.data());
        benchmark::ClobberMemory();
    }
    cpu.report(state, static_cast<double>(count));
    state.counters["ops_per_iteration"] = static_cast<double>(count);
    state.counters["calls_per_second"] = benchmark::Counter(
        static_cast<double>(state.iterations() * count), benchmark::Counter::kIsRate);
    if (!anchor.running->stop())
        state.SkipWithError("the child did not stop cleanly");
}

// --- part 1: scalars ---

// Calls in flight through a channel (part 3, below), also used for scalars.
template <std::uint32_t Id, strategy S>
void in_flight_channel(benchmark::State& state, std::size_t count, std::chrono::microseconds spin);

template <std::uint32_t Id, strategy S>
void scalar_channel(benchmark::State& state) {
    auto node = calls_node<S>::start();
    if (node == nullptr) {
        state.SkipWithError("cannot start the node");
        return;
    }
    typename calls_procedure<Id>::params params{};
    fill_params<Id>(params, 5);
    lidl::slot<std::uint64_t> first;
    if (!node->template call<Id>(params, first) ||
        first.take().value() != expected_answer<Id>(params)) {
        state.SkipWithError("wrong answer");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_node_cpu(state, cpu, node->server_pid()))
        return;
    cpu.start();
    for (auto _ : state) {
        lidl::slot<std::uint64_t> result;
        if (!node->template call<Id>(params, result)) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(result.take().value());
    }
    cpu.report(state);
}

template <std::uint32_t Id>
void scalar_pipe(benchmark::State& state) {
    auto pipe = lidl_pipe::start<calls, calls_service>();
    if (pipe == nullptr) {
        state.SkipWithError("cannot start the pipe child");
        return;
    }
    typename calls_procedure<Id>::params params{};
    fill_params<Id>(params, 5);
    lidl::slot<std::uint64_t> first;
    if (!pipe->call<calls, Id>(params, first) ||
        first.take().value() != expected_answer<Id>(params)) {
        state.SkipWithError("wrong answer");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_cpu(state, cpu, {pipe->child_pid()}))
        return;
    cpu.start();
    for (auto _ : state) {
        lidl::slot<std::uint64_t> result;
        if (!pipe->call<calls, Id>(params, result)) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(result.take().value());
    }
    cpu.report(state);
    if (!pipe->stop())
        state.SkipWithError("the child did not stop cleanly");
}

template <std::uint32_t Id>
void register_scalar(const char* family, std::size_t bytes) {
    const std::string prefix = "scalars/" + std::string(family) + "/" + std::to_string(bytes);
    benchmark::RegisterBenchmark((prefix + "/static").c_str(),
                                 scalar_channel<Id, strategy::static_types>)
        ->UseRealTime();
    benchmark::RegisterBenchmark((prefix + "/dynamic").c_str(),
                                 scalar_channel<Id, strategy::dynamic_types>)
        ->UseRealTime();
    benchmark::RegisterBenchmark((prefix + "/user").c_str(), scalar_channel<Id, strategy::user>)
        ->UseRealTime();
    benchmark::RegisterBenchmark((prefix + "/pipe").c_str(), scalar_pipe<Id>)->UseRealTime();
    // The same procedure with 64 calls in flight: per-call work rather than latency.
    const std::string batch = "scalars64/" + std::string(family) + "/" + std::to_string(bytes);
    benchmark::RegisterBenchmark((batch + "/static").c_str(),
                                 in_flight_channel<Id, strategy::static_types>, std::size_t{64},
                                 spin_default)
        ->UseRealTime();
    benchmark::RegisterBenchmark((batch + "/dynamic").c_str(),
                                 in_flight_channel<Id, strategy::dynamic_types>, std::size_t{64},
                                 spin_default)
        ->UseRealTime();
    benchmark::RegisterBenchmark((batch + "/user").c_str(), in_flight_channel<Id, strategy::user>,
                                 std::size_t{64}, spin_default)
        ->UseRealTime();
}

template <std::uint32_t... I>
void register_scalars(std::integer_sequence<std::uint32_t, I...>) {
    (register_scalar<uniform_first_id + I>("uniform", scalar_sizes[I]), ...);
    (register_scalar<mixed_first_id + I>("mixed", scalar_sizes[I]), ...);
}

// --- part 2: buffers ---

enum class buffer_place { heap, outside };

template <strategy S>
void buffer_channel(benchmark::State& state, std::size_t size, buffer_place place,
                    std::chrono::microseconds spin) {
    auto node = calls_node<S>::start(spin);
    if (node == nullptr) {
        state.SkipWithError("cannot start the node");
        return;
    }
    std::vector<std::uint8_t> outside;
    std::span<std::uint8_t> data;
    std::span<std::byte> block;
    if (place == buffer_place::heap) {
        block = node->heap().allocate(size);
        if (block.size() != size) {
            state.SkipWithError("the heap has no room for the buffer");
            return;
        }
        data = {reinterpret_cast<std::uint8_t*>(block.data()), size};
        auto bytes = pattern(size);
        std::memcpy(data.data(), bytes.data(), size);
    } else {
        outside = pattern(size);
        data = outside;
    }
    const calls::buffer_params params{data};
    lidl::slot<std::uint64_t> first;
    if (!node->template call<buffer_id>(params, first)) {
        const std::string why =
            first.failed() ? "call failed: " + std::string(lidl::describe(first.error().what))
                           : std::string("call timed out");
        state.SkipWithError(why.c_str());
        return;
    }
    if (first.take().value() != buffer_answer(data)) {
        state.SkipWithError("wrong answer");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_node_cpu(state, cpu, node->server_pid()))
        return;
    const std::uint64_t shared_before = node->caller().views_shared();
    cpu.start();
    for (auto _ : state) {
        lidl::slot<std::uint64_t> result;
        if (!node->template call<buffer_id>(params, result)) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(result.take().value());
    }
    cpu.report(state);
    state.counters["views_shared_per_call"] =
        static_cast<double>(node->caller().views_shared() - shared_before) /
        static_cast<double>(state.iterations() > 0 ? state.iterations() : 1);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
    if (!block.empty())
        node->heap().free(block);
}

void buffer_pipe(benchmark::State& state, std::size_t size) {
    auto pipe = lidl_pipe::start<calls, calls_service>();
    if (pipe == nullptr) {
        state.SkipWithError("cannot start the pipe child");
        return;
    }
    auto data = pattern(size);
    const calls::buffer_params params{data};
    lidl::slot<std::uint64_t> first;
    if (!pipe->call<calls, buffer_id>(params, first) ||
        first.take().value() != buffer_answer(data)) {
        state.SkipWithError("wrong answer");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_cpu(state, cpu, {pipe->child_pid()}))
        return;
    cpu.start();
    for (auto _ : state) {
        lidl::slot<std::uint64_t> result;
        if (!pipe->call<calls, buffer_id>(params, result)) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(result.take().value());
    }
    cpu.report(state);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
    if (!pipe->stop())
        state.SkipWithError("the child did not stop cleanly");
}

void register_buffers() {
    for (std::size_t size : buffer_sizes) {
        const std::string prefix = "buffer/" + std::to_string(size);
        benchmark::RegisterBenchmark((prefix + "/static_heap").c_str(),
                                     buffer_channel<strategy::static_types>, size,
                                     buffer_place::heap, spin_default)
            ->UseRealTime();
        // The pipe baseline's waiting mode: both sides sleep as soon as they wait.
        benchmark::RegisterBenchmark((prefix + "/static_heap_block").c_str(),
                                     buffer_channel<strategy::static_types>, size,
                                     buffer_place::heap, spin_block)
            ->UseRealTime();
        benchmark::RegisterBenchmark((prefix + "/static_copy").c_str(),
                                     buffer_channel<strategy::static_types>, size,
                                     buffer_place::outside, spin_default)
            ->UseRealTime();
        benchmark::RegisterBenchmark((prefix + "/user").c_str(), buffer_channel<strategy::user>,
                                     size, buffer_place::outside, spin_default)
            ->UseRealTime();
        benchmark::RegisterBenchmark((prefix + "/pipe").c_str(), buffer_pipe, size)->UseRealTime();
    }
}

// --- part 3: the small call, sequential and in flight ---

void ambience_add(benchmark::State& state, std::chrono::microseconds spin) {
    auto node = calls_node<strategy::static_types>::start(spin);
    if (node == nullptr) {
        state.SkipWithError("cannot start the node");
        return;
    }
    lidl::slot<std::uint64_t> first;
    if (!node->call<add_id>({40, 2}, first) || first.take().value() != 42) {
        state.SkipWithError("add(40, 2) is not 42");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_node_cpu(state, cpu, node->server_pid()))
        return;
    std::uint64_t a = 0;
    cpu.start();
    for (auto _ : state) {
        lidl::slot<std::uint64_t> result;
        if (!node->call<add_id>({a, 1}, result)) {
            state.SkipWithError("call failed");
            break;
        }
        if (result.take().value() != a + 1) {
            state.SkipWithError("add answered wrong");
            break;
        }
        ++a;
    }
    cpu.report(state);
}

// Issues one call of procedure Id per element of `params` (each runs until it awaits the
// channel), then runs the loop until every call has its answer. With `check`, every answer must
// be expected_answer(params[i]). False when a call failed, timed out or answered wrong.
template <std::uint32_t Id, strategy S>
bool run_in_flight(calls_node<S>& node,
                   const std::vector<typename calls_procedure<Id>::params>& params,
                   std::vector<amb::task<void>>& tasks, bool check) {
    const std::size_t count = params.size();
    tasks.resize(count);
    // Result slots are filled once: fresh ones for every batch.
    std::unique_ptr<lidl::slot<std::uint64_t>[]> results(new lidl::slot<std::uint64_t>[count]);
    for (std::size_t i = 0; i < count; ++i) {
        tasks[i] =
            calls::lidl_dispatch::execute(node.client(), Id, &params[i], results[i].address());
        tasks[i].start();
    }
    std::size_t next = 0;
    const bool finished = node.loop().run_until(
        [&] {
            while (next < count && tasks[next].done())
                ++next;
            return next == count;
        },
        std::chrono::milliseconds(10000));
    // A call that failed holds its error in its slot; slots are read only once all are filled.
    bool right = finished;
    for (std::size_t i = 0; right && i < count; ++i) {
        const lidl::call_result<std::uint64_t> answer = results[i].take();
        if constexpr (Id == add_id)
            right = answer && (!check || answer.value() == params[i].a + params[i].b);
        else
            right = answer && (!check || answer.value() == expected_answer<Id>(params[i]));
    }
    return right;
}

template <std::uint32_t Id, strategy S>
void in_flight_channel(benchmark::State& state, std::size_t count, std::chrono::microseconds spin) {
    auto node = calls_node<S>::start(spin);
    if (node == nullptr) {
        state.SkipWithError("cannot start the node");
        return;
    }
    std::vector<typename calls_procedure<Id>::params> params(count);
    for (std::size_t i = 0; i < count; ++i) {
        if constexpr (Id == add_id)
            params[i] = {i, 1000 * i};
        else
            fill_params<Id>(params[i], i);
    }
    std::vector<amb::task<void>> tasks;
    if (!run_in_flight<Id>(*node, params, tasks, true)) {
        state.SkipWithError("an answer in flight is wrong");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_node_cpu(state, cpu, node->server_pid()))
        return;
    const std::uint64_t sleeps_before = node->loop().loop().sleeps();
    cpu.start();
    for (auto _ : state) {
        if (!run_in_flight<Id>(*node, params, tasks, false)) {
            state.SkipWithError("calls in flight failed");
            break;
        }
    }
    cpu.report(state, static_cast<double>(count));
    state.counters["ops_per_iteration"] = static_cast<double>(count);
    // How often the caller's loop went to sleep per batch (each sleep is an epoll_wait and a
    // wake-up).
    state.counters["caller_sleeps_per_batch"] =
        static_cast<double>(node->loop().loop().sleeps() - sleeps_before) /
        static_cast<double>(state.iterations() > 0 ? state.iterations() : 1);
    state.counters["calls_per_second"] = benchmark::Counter(
        static_cast<double>(state.iterations() * count), benchmark::Counter::kIsRate);
}

// Ambience's three waiting modes (see the header).
struct ambience_mode {
    const char* name;
    std::chrono::microseconds spin;
};

constexpr ambience_mode ambience_modes[] = {{"ambience_block", spin_block},
                                            {"ambience_poll", spin_poll},
                                            {"ambience_spin50", spin_default}};

void register_small_calls() {
    for (const ambience_mode& mode : ambience_modes)
        benchmark::RegisterBenchmark(("add/" + std::string(mode.name)).c_str(), ambience_add,
                                     mode.spin)
            ->UseRealTime();
    for (const anchor_kind& kind : anchor_kinds)
        benchmark::RegisterBenchmark(("add/" + std::string(kind.name)).c_str(), anchor_add,
                                     kind.start)
            ->UseRealTime();
    // The polling floor without its sched_yield (a figure: how a spinner that never gives its
    // core up fares on a machine it shares).
    benchmark::RegisterBenchmark("add/busypoll_pause_only", anchor_add,
                                 start_shm_busypoll_pause_only)
        ->UseRealTime();
    for (std::size_t count : in_flight_counts) {
        for (const ambience_mode& mode : ambience_modes)
            benchmark::RegisterBenchmark(
                ("inflight/" + std::string(mode.name) + "/" + std::to_string(count)).c_str(),
                in_flight_channel<add_id, strategy::static_types>, count, mode.spin)
                ->UseRealTime();
        for (const anchor_kind& kind : anchor_kinds)
            benchmark::RegisterBenchmark(
                ("inflight/" + std::string(kind.name) + "/" + std::to_string(count)).c_str(),
                anchor_in_flight, kind.start, count)
                ->UseRealTime();
    }
}

// --- part 4: the resolver ---

void resolver_throughput(benchmark::State& state, front_placement placement, front_kind kind,
                         std::size_t concurrency) {
    auto node = resolver_node::start(placement, kind);
    if (node == nullptr) {
        state.SkipWithError("cannot start the resolver node");
        return;
    }
    const std::size_t batch_size = resolver_batch();
    const auto indices = uniform_indices(batch_size, 11);
    // Warm up (fills the frame pools and, for fibers, the stack pool) and check the answers.
    batch_result warm = node->run(indices, concurrency);
    if (!warm.completed || warm.wrong != 0) {
        state.SkipWithError("the resolver answered wrong");
        return;
    }
    bench_support::process_cpu cpu;
    if (!count_node_cpu(state, cpu, 0))
        return;
    cpu.start();
    for (auto _ : state) {
        batch_result batch = node->run(indices, concurrency);
        if (!batch.completed || batch.wrong != 0) {
            state.SkipWithError("a batch failed");
            break;
        }
    }
    cpu.report(state, static_cast<double>(batch_size));
    state.counters["batch"] = static_cast<double>(batch_size);
    state.counters["ops_per_iteration"] = static_cast<double>(batch_size);
    state.counters["requests_per_second"] = benchmark::Counter(
        static_cast<double>(state.iterations() * batch_size), benchmark::Counter::kIsRate);
}

enum class memory_figure { bytes_per_request, resident_stack_bytes };

void resolver_memory(benchmark::State& state, front_kind kind, std::size_t concurrency,
                     memory_figure figure) {
    auto node = resolver_node::start(front_placement::own_process, kind);
    if (node == nullptr) {
        state.SkipWithError("cannot start the resolver node");
        return;
    }
    const auto indices = uniform_indices(resolver_batch(), 13);
    for (int round = 0; round < 2; ++round) {
        batch_result batch = node->run(indices, concurrency);
        if (!batch.completed || batch.wrong != 0) {
            state.SkipWithError("the resolver answered wrong");
            return;
        }
    }
    front_memory memory = node->memory();
    if (memory.in_flight == 0) {
        state.SkipWithError("no request was seen in flight");
        return;
    }
    double value = memory.bytes_per_request();
    if (figure == memory_figure::resident_stack_bytes)
        value = memory.stacks == 0 ? 0.0
                                   : static_cast<double>(memory.resident_stack_bytes) /
                                         static_cast<double>(memory.stacks);
    for (auto _ : state)
        state.SetIterationTime(value * 1e-9);
    state.counters["in_flight"] = static_cast<double>(memory.in_flight);
    state.counters["frame_bytes"] = static_cast<double>(memory.frame_bytes);
    state.counters["stack_bytes"] = static_cast<double>(memory.stack_bytes);
    state.counters["stacks"] = static_cast<double>(memory.stacks);
    state.counters["resident_stack_bytes"] = static_cast<double>(memory.resident_stack_bytes);
}

void register_resolver() {
    const std::pair<front_placement, const char*> placements[] = {
        {front_placement::in_group, "in_group"}, {front_placement::own_process, "own_process"}};
    const std::pair<front_kind, const char*> kinds[] = {{front_kind::coroutine, "coroutine"},
                                                        {front_kind::fiber, "fiber"}};
    for (auto [placement, placement_name] : placements)
        for (auto [kind, kind_name] : kinds)
            for (std::size_t concurrency : concurrencies)
                benchmark::RegisterBenchmark(("resolver/" + std::string(placement_name) + "/" +
                                              kind_name + "/" + std::to_string(concurrency))
                                                 .c_str(),
                                             resolver_throughput, placement, kind, concurrency)
                    ->UseRealTime();
    for (auto [kind, kind_name] : kinds)
        for (std::size_t concurrency : concurrencies)
            benchmark::RegisterBenchmark(
                ("memory/" + std::string(kind_name) + "/" + std::to_string(concurrency)).c_str(),
                resolver_memory, kind, concurrency, memory_figure::bytes_per_request)
                ->UseManualTime()
                ->Iterations(1);
    benchmark::RegisterBenchmark("memory/fiber_resident/64", resolver_memory, front_kind::fiber,
                                 std::size_t{64}, memory_figure::resident_stack_bytes)
        ->UseManualTime()
        ->Iterations(1);
}

} // namespace

// Benchmarks are registered here rather than by BENCHMARK() static constructors (house style: no
// registries filled by static constructors), which also fixes their order in the report.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    register_scalars(std::make_integer_sequence<std::uint32_t, 5>{});
    register_buffers();
    register_small_calls();
    register_resolver();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
