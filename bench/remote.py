"""Analysis of benchmark `remote` (issue 8, calls between nodes): the CPU cost of handling one
remote request on the serving node, in memory (envelope parse, CAPLets token parse and
verification, holder tag, argument decode, dispatch to a trivial service, reply encode and MAC),
and the share of it spent in CAPLets. This is not the issue's `caplets_share_of_request_cpu`
(that figure belongs to the `deploy` benchmark and counts a whole remote request with transport
and system calls, which lowers the share); it is its upper bound, reported without a target."""

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.05",
        "--benchmark_display_aggregates_only=true"]
TARGETS = []


def find(results, prefix):
    for name, value in results.items():
        if name == prefix or name.startswith(prefix + "/"):
            return value
    raise KeyError(prefix)


def analyse(results, counters):
    # One process, one thread: `cpu_ns` is Google Benchmark's CPU time of that thread (the
    # runner's fallback), which is all the CPU the benchmark uses. The share is taken from CPU
    # time, which a loaded machine does not inflate the way it does wall-clock time.
    handling = find(results, "handle_request")
    caplets = find(results, "caplets_verification")
    handling_cpu = find(counters, "handle_request")["cpu_ns"]
    caplets_cpu = find(counters, "caplets_verification")["cpu_ns"]
    figures = {
        "handle_request_ns": handling,
        "caplets_verification_ns": caplets,
        "handle_request_cpu_ns": handling_cpu,
        "caplets_verification_cpu_ns": caplets_cpu,
        "caplets_share_of_in_memory_handling": caplets_cpu / handling_cpu,
    }
    return figures, [], []
