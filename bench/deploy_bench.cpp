// Benchmark `deploy` (issue 8): Ambience deployed between processes, in one run
// (bench/deploy.py analyses it; bench/README.md, "deploy", has the results).
//
// 1. The small call add(u64, u64) -> u64 between two hosted remote nodes over UDP on 127.0.0.1
//    (node "a" here, node "b" in a forked child; bench/deploy_fixtures/ambience_udp.cpp), against
//    the same call with Cap'n Proto RPC over TCP on 127.0.0.1 (capnp_tcp.cpp), sequential
//    (`add/SYSTEM`) and with 64 calls in flight (`inflight/SYSTEM/64`, time per batch).
//    `ambience_udp`: both group loops spin 50 µs before sleeping (the deployed default);
//    `ambience_udp_nospin`: both sleep at once, as KJ's loop does.
// 2. On every Ambience run, the serving child's CPU time over the timed loop (counters
//    `server_cpu_ns_per_request`, user/system split) and the CPU time CAPLets alone takes on
//    exactly the requests of that loop (`caplets_ns_per_request`, measured in the child after
//    the loop: token parse, verify_request, holder tag), and their ratio (`caplets_share`).
// 3. After the Google Benchmark runs: REST calls through an HTTP export (rest_export.cpp) under
//    `wrk -t1 -c16 -dNs --latency` with a Lua script that POSTs {"a": 2, "b": 3} with the
//    token; wrk's output and the server's CPU time go to --deploy_wrk_out=PATH (stdout
//    without it), for deploy.py to parse. --deploy_wrk_seconds=N (default 5),
//    --deploy_skip_rest.
#include "fixtures.hpp"

#include <benchmark/benchmark.h>

#include <fcntl.h>
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

std::vector<add_operands> batch_operands() {
    std::vector<add_operands> calls(batch);
    for (std::size_t i = 0; i < batch; ++i)
        calls[i] = {i, 3 * i + 1};
    return calls;
}

// One call or one batch per iteration, answers checked; false (and the benchmark skipped with
// an error) when a call failed or answered wrongly.
bool timed_calls(benchmark::State& state, small_call& fixture, std::size_t in_flight) {
    if (in_flight == 1) {
        std::uint64_t i = 0;
        for (auto _ : state) {
            ++i;
            if (fixture.add(i, 7) != std::optional<std::uint64_t>(i + 7)) {
                state.SkipWithError("a call failed or answered wrongly");
                return false;
            }
        }
        state.SetItemsProcessed(state.iterations());
        return true;
    }
    const std::vector<add_operands> calls = batch_operands();
    std::vector<std::uint64_t> sums(calls.size());
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
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(calls.size()));
    return true;
}

void ambience_udp_calls(benchmark::State& state, std::chrono::microseconds spin,
                        std::size_t in_flight) {
    udp_options options;
    options.spin = spin;
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
    auto cost = fixture.verify_captured();
    if (!window || !cost || window->requests == 0 || cost->requests == 0) {
        state.SkipWithError("no measurement from the serving child");
        return;
    }
    const double requests = static_cast<double>(window->requests);
    const double server = static_cast<double>(window->cpu_ns) / requests;
    const double caplets = static_cast<double>(cost->cpu_ns) / static_cast<double>(cost->requests);
    state.counters["requests"] = requests;
    state.counters["requests_verified_again"] = static_cast<double>(cost->requests);
    state.counters["server_cpu_ns_per_request"] = server;
    state.counters["server_user_ns_per_request"] = static_cast<double>(window->user_ns) / requests;
    state.counters["server_system_ns_per_request"] =
        static_cast<double>(window->system_ns) / requests;
    state.counters["server_sleeps_per_request"] =
        static_cast<double>(window->voluntary_switches) / requests;
    state.counters["caplets_ns_per_request"] = caplets;
    state.counters["caplets_share"] = caplets / server;
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

constexpr auto spinning = std::chrono::microseconds(50);
constexpr auto sleeping = std::chrono::microseconds(0);

void add_ambience_udp(benchmark::State& state) {
    ambience_udp_calls(state, spinning, 1);
}
void add_ambience_udp_nospin(benchmark::State& state) {
    ambience_udp_calls(state, sleeping, 1);
}
void add_capnp_tcp(benchmark::State& state) {
    capnp_tcp_calls(state, 1);
}
void inflight_ambience_udp(benchmark::State& state) {
    ambience_udp_calls(state, spinning, batch);
}
void inflight_ambience_udp_nospin(benchmark::State& state) {
    ambience_udp_calls(state, sleeping, batch);
}
void inflight_capnp_tcp(benchmark::State& state) {
    capnp_tcp_calls(state, batch);
}

BENCHMARK(add_ambience_udp)->Name("add/ambience_udp")->UseRealTime();
BENCHMARK(add_ambience_udp_nospin)->Name("add/ambience_udp_nospin")->UseRealTime();
BENCHMARK(add_capnp_tcp)->Name("add/capnp_tcp")->UseRealTime();
BENCHMARK(inflight_ambience_udp)->Name("inflight/ambience_udp/64")->UseRealTime();
BENCHMARK(inflight_ambience_udp_nospin)->Name("inflight/ambience_udp_nospin/64")->UseRealTime();
BENCHMARK(inflight_capnp_tcp)->Name("inflight/capnp_tcp/64")->UseRealTime();

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
    const int status = written ? run_captured(command, output) : 127;
    const auto cpu_after = server.server_cpu_ns();
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
        else
            argv[kept++] = argv[i];
    }
    argc = kept;
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
