// Benchmark `deploy` (issues 8 and 13): Ambience deployed between processes, in one run
// (bench/deploy.py analyses it; bench/README.md, "deploy", has the results). Every row sets
// counter `cpu_ns`: CPU ns per call summed over both processes (bench/support/process_cpu.hpp).
//
// 1. The small call add(u64, u64) -> u64 between two hosted remote nodes over UDP on 127.0.0.1
//    (node "a" here, node "b" in a forked child; bench/deploy_fixtures/ambience_udp.cpp), against
//    the same call with Cap'n Proto RPC over TCP on 127.0.0.1 (capnp_tcp.cpp: kj async io, one
//    connection, capnp::TwoPartyClient / TwoPartyServer, what EzRpc wraps), sequential
//    (`add/SYSTEM`) and with 64 calls in flight (`inflight/SYSTEM/64`, time per batch; counter
//    ops_per_iteration = 64).
//    Both sides block: `ambience_udp_block` runs group loops that sleep in poll() as soon as a
//    pass finds nothing to do (spin 0), as KJ's event loop sleeps in epoll_wait. The deployed
//    default, loops that poll 50 µs before sleeping, runs as `ambience_udp_spin50` (figures only:
//    it trades CPU for latency, which its cpu_ns shows).
// 2. CAPLets' share of the serving node's CPU time, measured inside the node's real serving path
//    by its measurement hook (remote::node_config::meter): `caplets/callers:N` makes sequential
//    blocking calls round-robin from N calling nodes, each with its own credential, to a serving
//    node sized for N callers (N replay roots, N remembered credentials); counters: the
//    verification time per request (`caplets_ns_per_request`: verify part + record part), the
//    serving process's CPU time per request, their ratio `caplets_share`, and the split between
//    remembered-credential hits and misses. `caplets_miss/callers:16/cache:1` rotates 16
//    callers over a node that remembers one credential, so that every request is a miss.
// 3. After the Google Benchmark runs: REST calls through an HTTP export (rest_export.cpp) under
//    `wrk -t1 -c16 -dNs --latency` with a Lua script that POSTs {"a": 2, "b": 3} with the
//    token; wrk's output, the server's CPU time and wrk's own CPU time go to
//    --deploy_wrk_out=PATH (stdout without it), for deploy.py to parse. --deploy_wrk_seconds=N
//    (default 5; 1 with AMBIENCE_BENCH_SMOKE), --deploy_skip_rest.
#include "fixtures.hpp"

#include <benchmark/benchmark.h>
#include <support/process_cpu.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace amb::deploy_bench;

constexpr std::size_t batch = 64;

bool smoke() {
    return std::getenv("AMBIENCE_BENCH_SMOKE") != nullptr;
}

std::vector<add_operands> batch_operands() {
    std::vector<add_operands> calls(batch);
    for (std::size_t i = 0; i < batch; ++i)
        calls[i] = {i, 3 * i + 1};
    return calls;
}

// One call or one batch per iteration, answers checked, CPU of both processes counted; false
// (and the benchmark skipped with an error) when a call failed or answered wrongly.
bool timed_calls(benchmark::State& state, small_call& fixture, std::size_t in_flight) {
    bench_support::process_cpu cpu({fixture.child_pid()});
    if (!cpu.complete()) {
        state.SkipWithError("cannot read the serving child's CPU clock");
        return false;
    }
    if (in_flight == 1) {
        std::uint64_t i = 0;
        cpu.start();
        for (auto _ : state) {
            ++i;
            if (fixture.add(i, 7) != std::optional<std::uint64_t>(i + 7)) {
                state.SkipWithError("a call failed or answered wrongly");
                return false;
            }
        }
        cpu.report(state);
        state.SetItemsProcessed(state.iterations());
        return true;
    }
    const std::vector<add_operands> calls = batch_operands();
    std::vector<std::uint64_t> sums(calls.size());
    cpu.start();
    for (auto _ : state) {
        if (!fixture.add_in_flight(calls, sums)) {
            state.SkipWithError("a batch of calls failed");
            return false;
        }
        for (std::size_t i = 0; i < calls.size(); ++i) {
            if (sums[i] != calls[i].a + calls[i].b) {
                state.SkipWithError("a call in flight answered wrongly");
                return false;
            }
        }
    }
    cpu.report(state, static_cast<double>(calls.size()));
    state.counters["ops_per_iteration"] = static_cast<double>(calls.size());
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(calls.size()));
    return true;
}

// The serving node's window: CPU time per request and, with the meter, CAPLets' part of it.
void report_window(benchmark::State& state, const server_window& window, bool metered) {
    const double requests = static_cast<double>(window.requests);
    const double server = static_cast<double>(window.cpu_ns) / requests;
    state.counters["requests"] = requests;
    state.counters["server_cpu_ns_per_request"] = server;
    state.counters["server_user_ns_per_request"] = static_cast<double>(window.user_ns) / requests;
    state.counters["server_system_ns_per_request"] =
        static_cast<double>(window.system_ns) / requests;
    state.counters["server_sleeps_per_request"] =
        static_cast<double>(window.voluntary_switches) / requests;
    if (!metered)
        return;
    // CAPLets per request: the capped spans (a span past span_cap_ns was time off the CPU), the
    // plain spans, and the medians (free of preemptions, blind to a genuine tail).
    const double caplets =
        static_cast<double>(window.verify_capped_ns + window.record_capped_ns) / requests;
    const double uncapped = static_cast<double>(window.verify_ns + window.record_ns) / requests;
    const double median = window.verify_median_ns + window.record_median_ns;
    state.counters["caplets_ns_per_request"] = caplets;
    state.counters["caplets_share"] = caplets / server;
    state.counters["caplets_uncapped_ns_per_request"] = uncapped;
    state.counters["caplets_uncapped_share"] = uncapped / server;
    state.counters["caplets_median_ns_per_request"] = median;
    state.counters["caplets_median_share"] = median / server;
    state.counters["caplets_verify_ns_per_request"] =
        static_cast<double>(window.verify_capped_ns) / requests;
    state.counters["caplets_record_ns_per_request"] =
        static_cast<double>(window.record_capped_ns) / requests;
    state.counters["long_spans"] = static_cast<double>(window.long_spans);
    state.counters["credential_hits"] = static_cast<double>(window.hits);
    state.counters["credential_misses"] = static_cast<double>(window.misses);
    if (window.hits > 0) {
        state.counters["hit_verify_ns"] =
            static_cast<double>(window.hit_capped_ns) / static_cast<double>(window.hits);
        state.counters["hit_median_ns"] = window.hit_median_ns;
    }
    if (window.misses > 0) {
        state.counters["miss_verify_ns"] =
            static_cast<double>(window.miss_capped_ns) / static_cast<double>(window.misses);
        state.counters["miss_median_ns"] = window.miss_median_ns;
    }
    state.counters["verify_median_ns"] = window.verify_median_ns;
    state.counters["record_median_ns"] = window.record_median_ns;
    state.counters["meter_empty_part_ns"] = window.empty_part_ns;
}

void ambience_udp_calls(benchmark::State& state, const udp_options& options,
                        std::size_t in_flight) {
    auto started = start_ambience_udp(options);
    if (!started.running) {
        state.SkipWithError(started.error.c_str());
        return;
    }
    ambience_udp& fixture = *started.running;
    if (!fixture.begin_window()) {
        state.SkipWithError("the serving child did not start a window");
        return;
    }
    if (!timed_calls(state, fixture, in_flight))
        return;
    auto window = fixture.end_window();
    const std::uint64_t calls = static_cast<std::uint64_t>(state.iterations()) * in_flight;
    if (!window || window->requests != calls) {
        state.SkipWithError("the serving node did not accept exactly the calls made");
        return;
    }
    if (options.meter && (window->verifications != calls || window->refused != 0)) {
        state.SkipWithError("the meter did not count one accepted verification per call");
        return;
    }
    report_window(state, *window, options.meter);
    if (!fixture.stop())
        state.SkipWithError("the serving child did not exit cleanly");
}

void capnp_tcp_calls(benchmark::State& state, std::size_t in_flight) {
    auto started = start_capnp_tcp();
    if (!started.running) {
        state.SkipWithError(started.error.c_str());
        return;
    }
    if (timed_calls(state, *started.running, in_flight) && !started.running->stop())
        state.SkipWithError("the serving child did not exit cleanly");
}

udp_options blocking() {
    udp_options options;
    options.spin = std::chrono::microseconds(0);
    return options;
}
udp_options spinning() {
    udp_options options;
    options.spin = std::chrono::microseconds(50);
    return options;
}

void add_ambience_udp_block(benchmark::State& state) {
    ambience_udp_calls(state, blocking(), 1);
}
void add_ambience_udp_spin50(benchmark::State& state) {
    ambience_udp_calls(state, spinning(), 1);
}
void add_capnp_tcp(benchmark::State& state) {
    capnp_tcp_calls(state, 1);
}
void inflight_ambience_udp_block(benchmark::State& state) {
    ambience_udp_calls(state, blocking(), batch);
}
void inflight_ambience_udp_spin50(benchmark::State& state) {
    ambience_udp_calls(state, spinning(), batch);
}
void inflight_capnp_tcp(benchmark::State& state) {
    capnp_tcp_calls(state, batch);
}

// Sequential blocking calls from `Callers` callers to a node remembering `Cache` credentials (0:
// one per caller), with the meter.
template <std::size_t Callers, std::size_t Cache>
void caplets_callers(benchmark::State& state) {
    udp_options options = blocking();
    options.callers = Callers;
    options.verified_callers = Cache;
    options.meter = true;
    ambience_udp_calls(state, options, 1);
}

BENCHMARK(add_ambience_udp_block)->Name("add/ambience_udp_block")->UseRealTime();
BENCHMARK(add_capnp_tcp)->Name("add/capnp_tcp")->UseRealTime();
BENCHMARK(add_ambience_udp_spin50)->Name("add/ambience_udp_spin50")->UseRealTime();
BENCHMARK(inflight_ambience_udp_block)->Name("inflight/ambience_udp_block/64")->UseRealTime();
BENCHMARK(inflight_capnp_tcp)->Name("inflight/capnp_tcp/64")->UseRealTime();
BENCHMARK(inflight_ambience_udp_spin50)->Name("inflight/ambience_udp_spin50/64")->UseRealTime();
BENCHMARK_TEMPLATE2(caplets_callers, 1, 0)->Name("caplets/callers:1")->UseRealTime();
BENCHMARK_TEMPLATE2(caplets_callers, 16, 0)->Name("caplets/callers:16")->UseRealTime();
BENCHMARK_TEMPLATE2(caplets_callers, 256, 0)->Name("caplets/callers:256")->UseRealTime();
BENCHMARK_TEMPLATE2(caplets_callers, 16, 1)->Name("caplets_miss/callers:16/cache:1")->UseRealTime();

// --- REST under wrk --------------------------------------------------------------------------

struct rest_settings {
    const char* output = nullptr; // file for wrk's output and the server's CPU time
    int seconds = 5;
    bool skip = false;
};

// Runs `command` with its standard output into `out`; returns its exit status (127: not run).
int run_captured(const std::vector<std::string>& command, std::string& out) {
    int pipe_ends[2];
    if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
        return 127;
    const pid_t child = ::fork();
    if (child == 0) {
        ::dup2(pipe_ends[1], STDOUT_FILENO);
        std::vector<char*> argv;
        for (const std::string& part : command)
            argv.push_back(const_cast<char*>(part.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        _exit(127);
    }
    ::close(pipe_ends[1]);
    if (child < 0) {
        ::close(pipe_ends[0]);
        return 127;
    }
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(pipe_ends[0], buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        out.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(pipe_ends[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// wrk against the HTTP export. Returns false when the export or wrk could not run.
bool run_rest(const rest_settings& settings) {
    auto started = start_rest_export();
    if (!started.running) {
        std::fprintf(stderr, "deploy_bench: REST: %s\n", started.error.c_str());
        return false;
    }
    rest_export& server = *started.running;
    char script_path[] = "/tmp/deploy_bench_wrk_XXXXXX.lua";
    const int script = ::mkstemps(script_path, 4);
    if (script < 0)
        return false;
    const std::string lua = "-- POSTs the small call with the export's capability token.\n"
                            "wrk.method = \"POST\"\n"
                            "wrk.body = '{\"a\": 2, \"b\": 3}'\n"
                            "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                            "wrk.headers[\"Authorization\"] = \"Bearer " +
                            server.token() + "\"\n";
    const bool written =
        ::write(script, lua.data(), lua.size()) == static_cast<ssize_t>(lua.size());
    ::close(script);
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/adder/add";
    const std::vector<std::string> command = {
        "wrk",       "-t1", "-c16",      "-d" + std::to_string(settings.seconds) + "s",
        "--latency", "-s",  script_path, url};
    std::printf("deploy_bench: REST: %s (token in the script)\n",
                ("wrk -t1 -c16 -d" + std::to_string(settings.seconds) + "s --latency -s " +
                 script_path + " " + url)
                    .c_str());
    std::fflush(stdout);
    std::string output;
    const auto cpu_before = server.server_cpu_ns();
    rusage children_before{};
    getrusage(RUSAGE_CHILDREN, &children_before); // wrk is the only child reaped in between
    const int status = written ? run_captured(command, output) : 127;
    const auto cpu_after = server.server_cpu_ns();
    rusage children_after{};
    getrusage(RUSAGE_CHILDREN, &children_after);
    const auto micros = [](const timeval& t) {
        return static_cast<long long>(t.tv_sec) * 1000000 + t.tv_usec;
    };
    const long long wrk_cpu_us = micros(children_after.ru_utime) + micros(children_after.ru_stime) -
                                 micros(children_before.ru_utime) -
                                 micros(children_before.ru_stime);
    ::unlink(script_path);
    // The export still answers correctly after the load.
    auto answer = http_post(server.port(), "/adder/add", server.token(), R"({"a": 2, "b": 3})");
    const bool still_right = answer && answer->status == 200 && answer->body == R"({"result":5})";
    const bool stopped = server.stop();
    std::fputs(output.c_str(), stdout);
    if (status != 0) {
        std::fprintf(stderr, "deploy_bench: REST: wrk exited with status %d%s\n", status,
                     status == 127 ? " (is the Debian package wrk installed?)" : "");
        return false;
    }
    std::string report = output;
    if (cpu_before && cpu_after)
        report += "deploy_bench: server_cpu_ns=" + std::to_string(*cpu_after - *cpu_before) + "\n";
    report += "deploy_bench: wrk_cpu_ns=" + std::to_string(wrk_cpu_us * 1000) + "\n";
    report += std::string("deploy_bench: answer_after_load=") + (still_right ? "ok" : "wrong") +
              "\ndeploy_bench: server_exit=" + (stopped ? "clean" : "failed") + "\n";
    std::printf("deploy_bench: REST: answer after the load %s, server exit %s\n",
                still_right ? "ok" : "WRONG", stopped ? "clean" : "FAILED");
    if (settings.output != nullptr) {
        std::FILE* file = std::fopen(settings.output, "w");
        if (file == nullptr || std::fputs(report.c_str(), file) < 0 || std::fclose(file) != 0) {
            std::fprintf(stderr, "deploy_bench: cannot write %s\n", settings.output);
            return false;
        }
    }
    return still_right && stopped;
}

// Takes this program's own flags out of argv (Google Benchmark refuses flags it does not know).
rest_settings take_own_flags(int& argc, char** argv) {
    rest_settings settings;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument.starts_with("--deploy_wrk_out="))
            settings.output = argv[i] + std::strlen("--deploy_wrk_out=");
        else if (argument.starts_with("--deploy_wrk_seconds="))
            settings.seconds = std::atoi(argv[i] + std::strlen("--deploy_wrk_seconds="));
        else if (argument == "--deploy_skip_rest")
            settings.skip = true;
        else {
            // Listing the benchmarks runs none of them: no REST load either.
            if (argument == "--benchmark_list_tests" || argument == "--benchmark_list_tests=true")
                settings.skip = true;
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    if (smoke())
        settings.seconds = 1; // the smoke run only checks that it works
    if (settings.seconds < 1)
        settings.seconds = 1;
    return settings;
}

} // namespace

int main(int argc, char** argv) {
    const rest_settings rest = take_own_flags(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (rest.skip)
        return 0;
    if (rest.output != nullptr)
        std::remove(rest.output); // no stale results from an earlier run
    return run_rest(rest) ? 0 : 1;
}
