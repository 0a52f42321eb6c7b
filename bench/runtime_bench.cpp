// Benchmark `runtime`: the cost of calling a lidl procedure in the same group, and the memory a
// call in flight takes.
//   call/virtual_task          co_await the procedure through the interface (the anchor)
//   call/same_group            the generated client over the direct backend
//   memory/coroutine_bytes     coroutine frame bytes a group allocates per call in flight
//                              (the caller's coroutine and the callee's, which suspends until
//                              released), counted by replacing operator new(nothrow), which the
//                              frame pool uses for fresh frames; reported as counter
//                              bytes_per_call
// Calls between groups go through hosted channels and are measured by bench `ipc`.
#include "counter.lidl.hpp"

#include <benchmark/benchmark.h>

#include <coroutine>
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

using runtime_bench::counter;

class counter_service final : public counter {
public:
    lidl::completion<std::uint64_t> add(std::uint32_t amount) override {
        total_ += amount;
        co_return total_;
    }
    lidl::completion<std::string_view> label(std::string_view, lidl::builder&) override {
        co_return std::string_view();
    }

private:
    std::uint64_t total_ = 0;
};

amb::task<std::uint64_t> add_many(counter& api, std::int64_t calls) {
    std::uint64_t last = 0;
    for (std::int64_t i = 0; i < calls; ++i)
        last = (co_await api.add(1)).value();
    co_return last;
}

amb::task<std::uint64_t> drive(counter& api, benchmark::State& state) {
    std::uint64_t sum = 0;
    for (auto _ : state)
        sum += (co_await api.add(1)).value();
    co_return sum;
}

void call_virtual_task(benchmark::State& state) {
    counter_service service;
    counter& api = service;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

void call_same_group(benchmark::State& state) {
    counter_service service;
    runtime_bench::counter_client<lidl::direct_backend<counter>> client(service);
    counter& api = client;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

// Holds every call that awaits it until release() resumes them all.
class gate {
public:
    auto wait() {
        struct awaiter {
            gate& owner;
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> caller) { owner.waiting_.push_back(caller); }
            void await_resume() const noexcept {}
        };
        return awaiter{*this};
    }
    void release() {
        auto waiting = std::move(waiting_);
        for (auto caller : waiting)
            caller.resume();
    }
    std::size_t waiting() const { return waiting_.size(); }

private:
    std::vector<std::coroutine_handle<>> waiting_;
};

class held_counter final : public counter {
public:
    explicit held_counter(gate& held) : held_(held) {}
    lidl::completion<std::uint64_t> add(std::uint32_t amount) override {
        co_await held_.wait();
        total_ += amount;
        co_return total_;
    }
    lidl::completion<std::string_view> label(std::string_view, lidl::builder&) override {
        co_return std::string_view();
    }

private:
    gate& held_;
    std::uint64_t total_ = 0;
};

void memory_coroutine_bytes(benchmark::State& state) {
    // 64 calls left in flight on a fresh thread (empty frame pool), then completed.
    std::size_t bytes = 0;
    std::size_t held = 0;
    constexpr int calls = 64;
    std::thread measure([&] {
        gate released;
        held_counter service(released);
        runtime_bench::counter_client<lidl::direct_backend<counter>> client(service);
        std::vector<amb::task<std::uint64_t>> workers;
        workers.reserve(calls);
        counting = true;
        for (int i = 0; i < calls; ++i) {
            workers.push_back(add_many(client, 1));
            workers.back().start();
        }
        counting = false;
        bytes = counted_bytes;
        held = released.waiting();
        released.release();
    });
    measure.join();
    if (bytes == 0 || held != calls)
        state.SkipWithError("the calls were not all in flight, or no frame was counted");
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
    benchmark::RegisterBenchmark("memory/coroutine_bytes", memory_coroutine_bytes)->Iterations(1);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
