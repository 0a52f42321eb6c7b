// The anchors of the future benchmark `ipc` (issue 7), timed on their own until Ambience's
// cross-process calls exist to be timed beside them. Each anchor is a forked child serving over
// shared memory + eventfd ("eventfd", the floor), two pipes ("pipe") or Cap'n Proto RPC on a
// Unix socketpair ("capnp"); see anchors.hpp.
//   rtt/ANCHOR/BYTES       one echo of BYTES bytes, sequential: the payload copied in, sent,
//                          echoed by the child and copied out (8, 64, 128 bytes of scalars; 1 KiB,
//                          4000 B, 4 KiB, 64 KiB, 1 MiB buffers)
//   add/ANCHOR             one small call (two 64-bit scalars in, their sum out), sequential
//   inflight/ANCHOR/N      N small calls sent before the first answer is awaited; the time is
//                          per batch of N (counter calls_per_second), the table divides it by N.
//                          The eventfd floor fills N slots and rings its doorbell once; the pipe
//                          writes the N requests in one write; capnp sends N pipelined messages
// Times are wall-clock (the child's work is the point), so Google Benchmark names end in
// "/real_time". Each run starts its own child and stops it after timing; every echo is checked
// once before timing, so an anchor that skips the copy fails loudly instead of looking fast.
// After the runs the program prints the anchor table: median ns per call for each anchor.
//
// The Ambience side (the first slice of issue 7: the *user* strategy, one call at a time): a
// group process forked by hosted::node::node_supervisor serves a lidl `counter` through a ring
// region in a memfd, woken by eventfds; calls are encoded with the generated codec:
//   add/ambience           counter.add(u32) -> u64, sequential
//   rtt/ambience/BYTES     counter.echo(string_view) -> string of BYTES bytes (up to 4000:
//                          larger calls need the shareable heap, not built yet)
#include <ipc_anchors/anchors.hpp>

#include <hosted/node/message_channel.hpp>
#include <hosted/node/node_supervisor.hpp>

#include "counter.lidl.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace amb::ipc_anchors;

using start_function = started (*)();

struct anchor_kind {
    const char* name;
    start_function start;
};

constexpr anchor_kind anchor_kinds[] = {
    {"eventfd", start_shm_eventfd}, {"pipe", start_pipe}, {"capnp", start_capnp_rpc}};

constexpr std::size_t payload_sizes[] = {8, 64, 128, 1024, 4000, 4096, 65536, max_payload_bytes};
constexpr std::size_t in_flight_counts[] = {16, max_in_flight};

void round_trip(benchmark::State& state, start_function start, std::size_t size) {
    started anchor = start();
    if (anchor.running == nullptr) {
        state.SkipWithError(anchor.error.c_str());
        return;
    }
    std::vector<std::uint8_t> payload(size);
    for (std::size_t i = 0; i < size; ++i)
        payload[i] = static_cast<std::uint8_t>(i * 131 % 251);
    std::vector<std::uint8_t> echo(size);
    if (!anchor.running->round_trip(payload, echo) || echo != payload) {
        state.SkipWithError("the echo is not the payload");
        return;
    }
    for (auto _ : state) {
        if (!anchor.running->round_trip(payload, echo)) {
            state.SkipWithError("round trip failed");
            break;
        }
        benchmark::DoNotOptimize(echo.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
    if (!anchor.running->stop())
        state.SkipWithError("the child did not stop cleanly");
}

void add(benchmark::State& state, start_function start) {
    started anchor = start();
    if (anchor.running == nullptr) {
        state.SkipWithError(anchor.error.c_str());
        return;
    }
    if (anchor.running->add(40, 2) != 42U) {
        state.SkipWithError("add(40, 2) is not 42");
        return;
    }
    std::uint64_t a = 0;
    for (auto _ : state) {
        std::optional<std::uint64_t> sum = anchor.running->add(a++, 1);
        if (!sum) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(sum);
    }
    if (!anchor.running->stop())
        state.SkipWithError("the child did not stop cleanly");
}

void in_flight(benchmark::State& state, start_function start, std::size_t count) {
    started anchor = start();
    if (anchor.running == nullptr) {
        state.SkipWithError(anchor.error.c_str());
        return;
    }
    std::vector<add_operands> calls(count);
    for (std::size_t i = 0; i < count; ++i)
        calls[i] = {i, 1000 * i};
    std::vector<std::uint64_t> sums(count);
    if (!anchor.running->add_in_flight(calls, sums)) {
        state.SkipWithError("calls in flight failed");
        return;
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (sums[i] != calls[i].a + calls[i].b) {
            state.SkipWithError("a sum in flight is wrong");
            return;
        }
    }
    for (auto _ : state) {
        if (!anchor.running->add_in_flight(calls, sums)) {
            state.SkipWithError("calls in flight failed");
            break;
        }
        benchmark::DoNotOptimize(sums.data());
        benchmark::ClobberMemory();
    }
    state.counters["calls_per_second"] = benchmark::Counter(
        static_cast<double>(state.iterations() * count), benchmark::Counter::kIsRate);
    if (!anchor.running->stop())
        state.SkipWithError("the child did not stop cleanly");
}

// --- the Ambience side ---

class counter_service final : public node_test::counter {
public:
    amb::task<std::uint64_t> add(std::uint32_t amount) override {
        total_ += amount;
        co_return total_;
    }
    amb::task<std::string_view> echo(std::string_view text, lidl::builder&) override {
        co_return text;
    }

private:
    std::uint64_t total_ = 0;
};

int serve_counter(const amb::hosted::node::message_link& link) {
    counter_service service;
    auto server = amb::hosted::node::message_server<node_test::counter>::attach(link, service);
    return server ? server->run() : 2;
}

constexpr amb::rings::config ambience_ring{.element_count = 8, .payload_size = 8192,
                                           .to_kernel_capacity = 8, .to_group_capacity = 8};

// A group process serving the counter and a caller attached to it, or nullopt (with the
// benchmark marked as skipped).
struct ambience_group {
    amb::hosted::node::node_supervisor supervisor;
    std::optional<amb::hosted::node::message_caller> caller;
};

bool start_ambience_group(benchmark::State& state, ambience_group& out) {
    using namespace std::chrono_literals;
    auto group = out.supervisor.start_group(ambience_ring, serve_counter);
    if (!group) {
        state.SkipWithError("cannot start the group");
        return false;
    }
    auto caller = amb::hosted::node::message_caller::attach((*group)->caller_link(), 10s);
    if (!caller) {
        state.SkipWithError("cannot attach to the group");
        return false;
    }
    out.caller.emplace(std::move(*caller));
    return true;
}

void ambience_add(benchmark::State& state) {
    ambience_group node;
    if (!start_ambience_group(state, node))
        return;
    auto& caller = node.caller;
    for (auto _ : state) {
        node_test::counter::add_params params{1};
        lidl::slot<std::uint64_t> result;
        if (!caller->call<node_test::counter, 0>(&params, result.address())) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(result.take());
    }
}

void ambience_echo(benchmark::State& state, std::size_t size) {
    ambience_group node;
    if (!start_ambience_group(state, node))
        return;
    auto& caller = node.caller;
    std::string text(size, 'a');
    for (std::size_t i = 0; i < size; ++i)
        text[i] = static_cast<char>('a' + i % 26);
    std::vector<std::uint64_t> words(size / 8 + 64);
    lidl::builder response(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(words.data()),
                                                   words.size() * 8));
    auto echo_once = [&]() -> std::optional<std::string_view> {
        response.reset();
        node_test::counter::echo_params params{text, &response};
        lidl::slot<std::string_view> result;
        if (!caller->template call<node_test::counter, 1>(&params, result.address()))
            return std::nullopt;
        return result.take();
    };
    auto first = echo_once();
    if (!first || *first != text) {
        state.SkipWithError("the echo is not the text");
        return;
    }
    for (auto _ : state) {
        auto answer = echo_once();
        if (!answer) {
            state.SkipWithError("call failed");
            break;
        }
        benchmark::DoNotOptimize(answer->data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void register_ambience() {
    benchmark::RegisterBenchmark("add/ambience", ambience_add)->UseRealTime();
    for (std::size_t size : {std::size_t{8}, std::size_t{64}, std::size_t{128}, std::size_t{1024},
                             std::size_t{4000}})
        benchmark::RegisterBenchmark(("rtt/ambience/" + std::to_string(size)).c_str(),
                                     ambience_echo, size)
            ->UseRealTime();
}

void register_anchors() {
    for (const anchor_kind& kind : anchor_kinds) {
        for (std::size_t size : payload_sizes) {
            benchmark::RegisterBenchmark(
                ("rtt/" + std::string(kind.name) + "/" + std::to_string(size)).c_str(), round_trip,
                kind.start, size)
                ->UseRealTime();
        }
    }
    for (const anchor_kind& kind : anchor_kinds)
        benchmark::RegisterBenchmark(("add/" + std::string(kind.name)).c_str(), add, kind.start)
            ->UseRealTime();
    for (const anchor_kind& kind : anchor_kinds) {
        for (std::size_t count : in_flight_counts) {
            benchmark::RegisterBenchmark(
                ("inflight/" + std::string(kind.name) + "/" + std::to_string(count)).c_str(),
                in_flight, kind.start, count)
                ->UseRealTime();
        }
    }
}

// The console output as usual, plus each benchmark's median wall-clock ns (the median of the
// repetitions when there are several) for the table printed at the end.
class table_reporter final : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred)
                continue;
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median")
                medians_[run.run_name.str()] = ns(run);
            else if (run.run_type == Run::RT_Iteration)
                samples_[run.run_name.str()].push_back(ns(run));
        }
    }

    // Median ns of the benchmark called `name` (as registered, without "/real_time"), or a
    // negative number when it did not run.
    double median(const std::string& name) const {
        const std::string full = name + "/real_time";
        if (auto found = medians_.find(full); found != medians_.end())
            return found->second;
        auto found = samples_.find(full);
        if (found == samples_.end() || found->second.empty())
            return -1;
        std::vector<double> values = found->second;
        std::sort(values.begin(), values.end());
        const std::size_t middle = values.size() / 2;
        return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }

private:
    static double ns(const Run& run) {
        return run.GetAdjustedRealTime() *
               benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
               benchmark::GetTimeUnitMultiplier(run.time_unit);
    }

    std::map<std::string, double> medians_;
    std::map<std::string, std::vector<double>> samples_;
};

void print_cell(double ns) {
    if (ns < 0)
        std::printf(" %12s", "-");
    else
        std::printf(" %12.0f", ns);
}

void print_table(const table_reporter& reporter) {
    std::printf(
        "\nipc anchors: median wall-clock ns per call (in flight: per call of the batch)\n");
    std::printf("%-22s", "call");
    for (const anchor_kind& kind : anchor_kinds)
        std::printf(" %12s", kind.name);
    std::printf("\n");
    for (std::size_t size : payload_sizes) {
        std::printf("%-22s", ("echo " + std::to_string(size) + " B").c_str());
        for (const anchor_kind& kind : anchor_kinds)
            print_cell(
                reporter.median("rtt/" + std::string(kind.name) + "/" + std::to_string(size)));
        std::printf("\n");
    }
    std::printf("%-22s", "add, sequential");
    for (const anchor_kind& kind : anchor_kinds)
        print_cell(reporter.median("add/" + std::string(kind.name)));
    std::printf("\n");
    for (std::size_t count : in_flight_counts) {
        std::printf("%-22s", ("add, " + std::to_string(count) + " in flight").c_str());
        for (const anchor_kind& kind : anchor_kinds) {
            const double batch =
                reporter.median("inflight/" + std::string(kind.name) + "/" + std::to_string(count));
            print_cell(batch < 0 ? batch : batch / static_cast<double>(count));
        }
        std::printf("\n");
    }
}

} // namespace

// Benchmarks are registered here rather than by BENCHMARK() static constructors (house style: no
// registries filled by static constructors), which also fixes their order in the report.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    register_anchors();
    register_ambience();
    table_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    print_table(reporter);
    benchmark::Shutdown();
    return 0;
}
