// Benchmark `capvm`: a timeout constraint and a compound policy (time window AND subnet AND
// battery), evaluated side by side in one run:
//   eval/capvm/P            capvm::evaluate on the compiled policy (build's dispatch: threaded)
//   eval/capvm_verified/P   capvm::evaluate on a verified program (decoding checks skipped)
//   eval/capvm_{switch,table,threaded}/P   each TVM dispatch strategy, unverified
//   eval/native/P           the policy as a C++ function reading the same context
//   eval/lua_warm/P         Lua 5.4 as an application embedding a policy runs it: the state
//                           prepared once, the policy chunk compiled once and its function kept
//                           on the stack; an evaluation pushes the function and calls it
//                           (lua_pcall) and reads the boolean it returns
//   eval/lua_cold/P         Lua 5.4: new state, load (parse and compile the source), call,
//                           close at every evaluation (the isolation a CapVM evaluation has by
//                           construction)
// Every evaluation reads time, endpoint and battery through the same host context (a virtual
// call per VM call for CapVM and native; C functions for Lua, registered as globals).
// Single process, single thread (Lua creates no thread either): Google Benchmark's CPU time of
// the benchmark thread is all the CPU an evaluation uses.
// The eval/capvm_{switch,table,threaded} rows instantiate the interpreter in this file, where
// g++ may devirtualize the context's calls (bench_context is final); eval/capvm and
// eval/capvm_verified call the library's evaluate, which cannot, as an application's would.
// Sizes and memory are not times, but the runner only passes medians of times to
// bench/capvm.py, so they are reported as benchmarks measure/NAME whose manual time in
// nanoseconds is the value:
//   measure/capvm_P_bytes, measure/ebpf_P_bytes, measure/wasm_P_bytes   bytecode sizes
//   measure/capvm_memory_bytes   sizeof(capvm::machine): the whole evaluation state
//   measure/lua_P_memory_bytes   peak bytes a fresh minimal Lua state allocates to load and
//                                run the policy (counting allocator)
#include <capvm/capvm.hpp>
#include <capvm/isa.hpp>
#include <capvm/policy.hpp>

#include <anchor_sizes.hpp>

#include <benchmark/benchmark.h>
#include <lua.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using namespace amb::capvm;

constexpr const char* timeout_policy = "now() < 1767225600";
constexpr const char* compound_policy =
    "now() >= 1735689600 && now() < 1767225600 && endpoint() in 10.0.0.0/8 && battery() >= 20";

/// The validation context: fixed values, answered through the capvm::context interface.
class bench_context final : public context {
public:
    std::int64_t time = 1750000000;          // inside both windows: every policy accepts
    std::int64_t address = 0x0a010203;       // 10.1.2.3
    std::int64_t level = 80;

    amb::result<std::int64_t, fault_kind> call(std::uint8_t id, std::span<const std::int64_t>) override {
        switch (id) {
        case vm_call::now:
            return time;
        case vm_call::endpoint:
            return address;
        case vm_call::battery:
            return level;
        default:
            return amb::failure{fault_kind::bad_vm_call};
        }
    }
};

bench_context host;

std::vector<std::uint8_t> compile(const char* policy) {
    auto code = compile_policy(policy);
    if (!code) {
        std::fprintf(stderr, "capvm_bench: %s\n", format_tool_error(code.error()).c_str());
        std::exit(1);
    }
    return *code;
}

const std::vector<std::uint8_t>& bytecode(int policy) {
    static const std::vector<std::uint8_t> timeout = compile(timeout_policy);
    static const std::vector<std::uint8_t> compound = compile(compound_policy);
    return policy == 0 ? timeout : compound;
}

// ---- Native ---------------------------------------------------------------------------------

std::int64_t ask(context& c, std::uint8_t id) {
    auto value = c.call(id, {});
    return value ? *value : -1;
}

// noinline and called through a pointer: the native policy pays for its context calls like
// CapVM does, rather than being folded into the benchmark loop.
__attribute__((noinline)) bool native_timeout(context& c) { return ask(c, vm_call::now) < 1767225600; }
__attribute__((noinline)) bool native_compound(context& c) {
    return ask(c, vm_call::now) >= 1735689600 && ask(c, vm_call::now) < 1767225600 &&
           (static_cast<std::uint64_t>(ask(c, vm_call::endpoint)) >> 24) == 10 &&
           ask(c, vm_call::battery) >= 20;
}
bool (*volatile native_policies[2])(context&) = {native_timeout, native_compound};

// ---- Lua --------------------------------------------------------------------------------------

struct lua_allocator {
    std::size_t in_use = 0;
    std::size_t peak = 0;
};

void* lua_counting_alloc(void* user, void* block, std::size_t old_size, std::size_t new_size) {
    auto* counter = static_cast<lua_allocator*>(user);
    if (block == nullptr)
        old_size = 0; // Lua passes a type tag when allocating
    if (new_size == 0) {
        std::free(block);
        counter->in_use -= old_size;
        return nullptr;
    }
    void* grown = std::realloc(block, new_size);
    if (grown != nullptr) {
        counter->in_use = counter->in_use - old_size + new_size;
        if (counter->in_use > counter->peak)
            counter->peak = counter->in_use;
    }
    return grown;
}

int lua_now(lua_State* L) { lua_pushinteger(L, ask(host, vm_call::now)); return 1; }
int lua_endpoint(lua_State* L) { lua_pushinteger(L, ask(host, vm_call::endpoint)); return 1; }
int lua_battery(lua_State* L) { lua_pushinteger(L, ask(host, vm_call::battery)); return 1; }

const std::string& lua_source(int policy) {
    static const auto read = [](const char* name) {
        std::ifstream in(std::string(AMB_CAPVM_ANCHORS) + "/" + name);
        if (!in) {
            std::fprintf(stderr, "capvm_bench: cannot read %s\n", name);
            std::exit(1);
        }
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    static const std::string timeout = read("timeout.lua");
    static const std::string compound = read("compound.lua");
    return policy == 0 ? timeout : compound;
}

/// A minimal state (no standard libraries: the policies need none) with the host functions
/// registered and the policy chunk compiled and run, which defines the global function
/// `policy`.
lua_State* lua_prepare(int policy, lua_allocator& counter) {
    lua_State* L = lua_newstate(lua_counting_alloc, &counter);
    lua_register(L, "now", lua_now);
    lua_register(L, "endpoint", lua_endpoint);
    lua_register(L, "battery", lua_battery);
    const std::string& source = lua_source(policy);
    if (luaL_loadbuffer(L, source.data(), source.size(), "policy") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
        std::fprintf(stderr, "capvm_bench: lua: %s\n", lua_tostring(L, -1));
        std::exit(1);
    }
    return L;
}

/// Calls the policy function at stack index `function` (pushed again, since lua_pcall pops it)
/// and returns its verdict; an error is a rejection.
bool lua_call_policy(lua_State* L, int function) {
    lua_pushvalue(L, function);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        lua_pop(L, 1); // the error message
        return false;
    }
    const bool accepted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return accepted;
}

/// Leaves the policy function on the top of the stack and returns its index.
int lua_policy_function(lua_State* L) {
    if (lua_getglobal(L, "policy") != LUA_TFUNCTION) {
        std::fprintf(stderr, "capvm_bench: lua: no function `policy`\n");
        std::exit(1);
    }
    return lua_gettop(L);
}

bool lua_evaluate(lua_State* L) {
    const int function = lua_policy_function(L);
    const bool accepted = lua_call_policy(L, function);
    lua_pop(L, 1);
    return accepted;
}

// ---- Benchmarks -----------------------------------------------------------------------------

void check(benchmark::State& state, bool accepted) {
    if (!accepted)
        state.SkipWithError("the policy rejected a context it must accept");
}

template <amb::tvm::dispatch Strategy>
void capvm_strategy(benchmark::State& state, int policy) {
    const auto& code = bytecode(policy);
    bool accepted = true;
    for (auto _ : state) {
        auto outcome = evaluate_using<Strategy, true>(code, host, nullptr, limits{});
        accepted &= outcome.has_value() && outcome->accepted;
        benchmark::DoNotOptimize(outcome);
    }
    check(state, accepted);
}

void capvm_default(benchmark::State& state, int policy) {
    const auto& code = bytecode(policy);
    bool accepted = true;
    for (auto _ : state) {
        auto outcome = evaluate(code, host, nullptr);
        accepted &= outcome.has_value() && outcome->accepted;
        benchmark::DoNotOptimize(outcome);
    }
    check(state, accepted);
}

void capvm_verified(benchmark::State& state, int policy) {
    auto program = verify(bytecode(policy));
    if (!program) {
        state.SkipWithError("verify failed");
        return;
    }
    bool accepted = true;
    for (auto _ : state) {
        auto outcome = evaluate(*program, host, nullptr);
        accepted &= outcome.has_value() && outcome->accepted;
        benchmark::DoNotOptimize(outcome);
    }
    check(state, accepted);
}

void native(benchmark::State& state, int policy) {
    bool accepted = true;
    for (auto _ : state) {
        const bool verdict = native_policies[policy](host);
        accepted &= verdict;
        benchmark::DoNotOptimize(verdict);
    }
    check(state, accepted);
}

void lua_warm(benchmark::State& state, int policy) {
    lua_allocator counter;
    lua_State* L = lua_prepare(policy, counter);
    const int function = lua_policy_function(L);
    bool accepted = true;
    for (auto _ : state) {
        const bool verdict = lua_call_policy(L, function);
        accepted &= verdict;
        benchmark::DoNotOptimize(verdict);
    }
    lua_close(L);
    check(state, accepted);
}

void lua_cold(benchmark::State& state, int policy) {
    bool accepted = true;
    for (auto _ : state) {
        lua_allocator counter;
        lua_State* L = lua_prepare(policy, counter);
        const bool verdict = lua_evaluate(L);
        lua_close(L);
        accepted &= verdict;
        benchmark::DoNotOptimize(verdict);
    }
    check(state, accepted);
}

std::size_t lua_peak_memory(int policy) {
    lua_allocator counter;
    lua_State* L = lua_prepare(policy, counter);
    lua_evaluate(L);
    const std::size_t peak = counter.peak;
    lua_close(L);
    return peak;
}

void measure(benchmark::State& state, double value) {
    for (auto _ : state)
        state.SetIterationTime(value * 1e-9);
}

void add_measure(const char* name, double value) {
    benchmark::RegisterBenchmark((std::string("measure/") + name).c_str(), measure, value)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kNanosecond);
}

} // namespace

int main(int argc, char** argv) {
    const char* policies[] = {"timeout", "compound"};
    for (int p = 0; p < 2; ++p) {
        const std::string suffix = std::string("/") + policies[p];
        benchmark::RegisterBenchmark(("eval/capvm" + suffix).c_str(), capvm_default, p);
        benchmark::RegisterBenchmark(("eval/capvm_verified" + suffix).c_str(), capvm_verified, p);
        benchmark::RegisterBenchmark(("eval/capvm_switch" + suffix).c_str(),
                                     capvm_strategy<amb::tvm::dispatch::switch_loop>, p);
        benchmark::RegisterBenchmark(("eval/capvm_table" + suffix).c_str(),
                                     capvm_strategy<amb::tvm::dispatch::function_table>, p);
        benchmark::RegisterBenchmark(("eval/capvm_threaded" + suffix).c_str(),
                                     capvm_strategy<amb::tvm::dispatch::threaded>, p);
        benchmark::RegisterBenchmark(("eval/native" + suffix).c_str(), native, p);
        benchmark::RegisterBenchmark(("eval/lua_warm" + suffix).c_str(), lua_warm, p);
        benchmark::RegisterBenchmark(("eval/lua_cold" + suffix).c_str(), lua_cold, p);
        add_measure(("capvm_" + std::string(policies[p]) + "_bytes").c_str(),
                    static_cast<double>(bytecode(p).size()));
        add_measure(("lua_" + std::string(policies[p]) + "_memory_bytes").c_str(),
                    static_cast<double>(lua_peak_memory(p)));
    }
    add_measure("ebpf_timeout_bytes", static_cast<double>(bpf_timeout_bytes));
    add_measure("ebpf_compound_bytes", static_cast<double>(bpf_compound_bytes));
    add_measure("wasm_timeout_bytes", static_cast<double>(wasm_timeout_bytes));
    add_measure("wasm_compound_bytes", static_cast<double>(wasm_compound_bytes));
    add_measure("capvm_memory_bytes", static_cast<double>(machine_bytes()));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
