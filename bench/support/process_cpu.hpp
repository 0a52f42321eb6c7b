// CPU time summed over every process a benchmark involves (bench/README.md, "Rules"): the
// benchmark process itself plus the children that serve it. Read from each process's CPU-time
// clock (clock_getcpuclockid), so it counts every thread, user and system time, to the
// nanosecond, and works for children that have not been waited for.
//
// Use: `process_cpu cpu({server_pid}); ... cpu.start(); for (auto _ : state) {...}
// cpu.report(state);` sets the counter `cpu_ns` (CPU ns per iteration over every process), which
// the runner (deploy/tool/bench.py) reports beside every latency row. A benchmark whose
// iteration is a batch of N operations passes `per_iteration = N`.
//
// Benchmark code (Linux): not part of any core library.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace bench_support {

class process_cpu {
public:
    /// The benchmark process (always) and `others` (server processes; 0 or negative: ignored).
    explicit process_cpu(std::initializer_list<pid_t> others = {}) {
        clocks_.push_back(CLOCK_PROCESS_CPUTIME_ID);
        for (pid_t pid : others)
            add(pid);
    }
    /// Adds a process; false if its CPU clock cannot be read (it is then not counted, and
    /// `complete()` turns false so the benchmark can refuse to report a partial figure).
    bool add(pid_t pid) {
        if (pid <= 0)
            return true;
        clockid_t clock;
        timespec probe;
        if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &probe) != 0) {
            complete_ = false;
            return false;
        }
        clocks_.push_back(clock);
        return true;
    }
    bool complete() const { return complete_; }

    /// CPU ns consumed so far by every process counted (a process that exited stops counting).
    std::uint64_t now_ns() const {
        std::uint64_t total = 0;
        for (clockid_t clock : clocks_) {
            timespec t;
            if (::clock_gettime(clock, &t) == 0)
                total += static_cast<std::uint64_t>(t.tv_sec) * 1000000000u +
                         static_cast<std::uint64_t>(t.tv_nsec);
        }
        return total;
    }
    void start() { started_ = now_ns(); }
    std::uint64_t elapsed_ns() const { return now_ns() - started_; }

    /// Sets counter `cpu_ns`: CPU ns per operation (an iteration is `per_iteration` operations),
    /// and `ops_per_iteration`, with which the runner turns real time per iteration into real
    /// time per operation beside it.
    void report(benchmark::State& state, double per_iteration = 1.0) const {
        const double ops = static_cast<double>(state.iterations()) * per_iteration;
        if (ops > 0 && complete_) {
            state.counters["cpu_ns"] = static_cast<double>(elapsed_ns()) / ops;
            state.counters["ops_per_iteration"] = per_iteration;
        }
    }

private:
    std::vector<clockid_t> clocks_;
    std::uint64_t started_ = 0;
    bool complete_ = true;
};

}  // namespace bench_support
