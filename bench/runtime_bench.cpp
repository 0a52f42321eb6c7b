// Benchmark `runtime`: the cost of calling a lidl procedure in the same group and in another
// group, and the memory a call in flight takes.
//   call/virtual_task          co_await the procedure through the interface (the anchor)
//   call/same_group            the generated client over the direct backend
//   ring/in_flight/N           calls to a group on another thread through a ring region, with N
//                              calls in flight (1 = sequential); ns per call
//   memory/coroutine_bytes     coroutine frame bytes the calling group allocates per call in
//                              flight (caller's coroutine + the client's call coroutine),
//                              counted by replacing operator new(nothrow), which the frame pool
//                              uses for fresh frames; reported as counter bytes_per_call
// Every row reports counter cpu_ns (bench/support/process_cpu.hpp): the ring rows run two
// threads, so Google Benchmark's CPU time of the main thread alone would hide the server's.
#include "counter.lidl.hpp"

#include <groups/ring_backend.hpp>

#include <benchmark/benchmark.h>
#include <support/process_cpu.hpp>

#include <atomic>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace {

thread_local std::size_t counted_bytes = 0;
thread_local bool counting = false;

}  // namespace

// Fresh coroutine frames come from here (async/task.hpp's pool); count them while asked to.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    if (counting)
        counted_bytes += size;
    return std::malloc(size);
}
void* operator new(std::size_t size) {
    void* p = std::malloc(size);
    if (p == nullptr)
        throw std::bad_alloc();
    return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using groups_test::counter;

class counter_service final : public counter {
public:
    amb::task<std::uint64_t> add(std::uint32_t amount) override {
        total_ += amount;
        co_return total_;
    }
    amb::task<std::string_view> label(std::string_view, lidl::builder&) override {
        co_return std::string_view();
    }

private:
    std::uint64_t total_ = 0;
};

class region_memory {
public:
    explicit region_memory(const amb::rings::config& c) {
        std::size_t size = *amb::rings::region_size(c);
        storage_ = std::unique_ptr<std::uint64_t[]>(new std::uint64_t[size / 8 + 8]);
        auto* base = reinterpret_cast<std::byte*>(storage_.get());
        std::size_t shift = (64 - reinterpret_cast<std::uintptr_t>(base) % 64) % 64;
        region_ = *amb::rings::ring_region::init(std::span<std::byte>(base + shift, size), c);
    }
    amb::rings::endpoint group() { return region_->group(); }
    amb::rings::endpoint kernel() { return region_->kernel(); }

private:
    std::unique_ptr<std::uint64_t[]> storage_;
    std::optional<amb::rings::ring_region> region_;
};

amb::task<std::uint64_t> add_many(counter& api, std::int64_t calls) {
    std::uint64_t last = 0;
    for (std::int64_t i = 0; i < calls; ++i)
        last = co_await api.add(1);
    co_return last;
}

amb::task<std::uint64_t> drive(counter& api, benchmark::State& state) {
    std::uint64_t sum = 0;
    for (auto _ : state)
        sum += co_await api.add(1);
    co_return sum;
}

void call_virtual_task(benchmark::State& state) {
    counter_service service;
    counter& api = service;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

void call_same_group(benchmark::State& state) {
    counter_service service;
    groups_test::counter_client<lidl::direct_backend<counter>> client(service);
    counter& api = client;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

// A server group on its own thread for the duration of a benchmark.
class server_group {
public:
    explicit server_group(amb::rings::endpoint endpoint)
        : thread_([this, endpoint] {
              amb::groups::ring_server<counter> server(endpoint, service_);
              while (!stop_.load(std::memory_order_acquire))
                  if (!server.serve())
                      return;
          }) {}
    ~server_group() {
        stop_.store(true, std::memory_order_release);
        thread_.join();
    }

private:
    counter_service service_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void ring_in_flight(benchmark::State& state) {
    const auto in_flight = state.range(0);
    amb::rings::config sizes;
    sizes.element_count = 128;
    sizes.to_kernel_capacity = 128;
    sizes.to_group_capacity = 128;
    region_memory region(sizes);
    server_group server(region.kernel());
    amb::groups::ring_caller caller(region.group());
    groups_test::counter_client<amb::groups::ring_backend<counter>> remote(caller);
    constexpr std::int64_t calls_per_round = 4096;
    bench_support::process_cpu cpu;  // this process: both groups' threads
    cpu.start();
    for (auto _ : state) {
        std::vector<amb::task<std::uint64_t>> workers;
        for (std::int64_t i = 0; i < in_flight; ++i) {
            workers.push_back(add_many(remote, calls_per_round / in_flight));
            workers.back().start();
        }
        bool failed = false;
        while (caller.in_flight() > 0 && !failed)
            failed = !caller.complete();
        if (failed) {
            state.SkipWithError("ring error");
            break;
        }
    }
    cpu.report(state, calls_per_round);
    state.SetItemsProcessed(state.iterations() * calls_per_round);
    state.counters["ns_per_call"] = benchmark::Counter(
        static_cast<double>(state.iterations() * calls_per_round),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void memory_coroutine_bytes(benchmark::State& state) {
    // 64 calls left in flight on a fresh thread (empty frame pool), then completed.
    std::size_t bytes = 0;
    constexpr int calls = 64;
    std::thread measure([&] {
        region_memory region(amb::rings::config{});
        counter_service service;
        amb::groups::ring_caller caller(region.group());
        amb::groups::ring_server<counter> server(region.kernel(), service);
        groups_test::counter_client<amb::groups::ring_backend<counter>> remote(caller);
        std::vector<amb::task<std::uint64_t>> workers;
        workers.reserve(calls);
        counting = true;
        for (int i = 0; i < calls; ++i) {
            workers.push_back(add_many(remote, 1));
            workers.back().start();
        }
        counting = false;
        bytes = counted_bytes;
        while (caller.in_flight() > 0) {
            (void)server.serve();
            (void)caller.complete();
        }
    });
    measure.join();
    if (bytes == 0)
        state.SkipWithError("no coroutine frame was allocated: the count is broken");
    for (auto _ : state)
        benchmark::DoNotOptimize(bytes);
    state.counters["bytes_per_call"] = static_cast<double>(bytes) / calls;
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RegisterBenchmark("call/virtual_task", call_virtual_task);
    benchmark::RegisterBenchmark("call/same_group", call_same_group);
    benchmark::RegisterBenchmark("ring/in_flight", ring_in_flight)
        ->Arg(1)
        ->Arg(16)
        ->Arg(64)
        ->UseRealTime();
    benchmark::RegisterBenchmark("memory/coroutine_bytes", memory_coroutine_bytes)->Iterations(1);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
