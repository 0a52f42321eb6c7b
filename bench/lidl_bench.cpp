// Benchmark `lidl`: lidl's in-place wire format against its anchors, Cap'n Proto and FlatBuffers,
// on the same logical message ("sample", see lidl_anchors/anchors.hpp), in one run:
//   build/SYSTEM              build the whole sample from C++ values into its final contiguous
//                             bytes, builder reused across iterations; counter size_bytes
//   verify_read/SYSTEM        verify those bytes the system's own way and read every field
//                             (anchors.hpp's sample_checksum)
//   read_string/SYSTEM/N      verify and read a message holding one N-byte string: its length
//                             and first byte
// Every read is checked once against sample_checksum before timing, so a system that reads the
// wrong thing fails loudly instead of looking fast.
//   call/virtual_task         co_await a procedure of an implementation through its interface
//   call/direct_client        the same through the generated client over lidl::direct_backend
//   call/virtual_plain        a plain (non-coroutine) virtual call, for scale; g++ devirtualises
//                             it speculatively (the final class is visible), so it shows the
//                             floor of an inlined call rather than an indirect branch
#include <lidl_anchors/anchors.hpp>

#include "sample.lidl.hpp"

#include <benchmark/benchmark.h>

#include <bit>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace amb::lidl_anchors;

using verify_read_function = std::optional<std::uint64_t> (*)(std::span<const std::uint8_t>);
using build_text_function = std::vector<std::uint8_t> (*)(std::string_view);
using read_text_function = std::optional<text_summary> (*)(std::span<const std::uint8_t>);

template <class Builder>
void build(benchmark::State& state) {
    const sample_values sample = make_sample();
    Builder builder;
    std::size_t size = 0;
    for (auto _ : state) {
        std::span<const std::uint8_t> bytes = builder.build(sample);
        benchmark::DoNotOptimize(bytes.data());
        benchmark::ClobberMemory();
        size = bytes.size();
    }
    state.counters["size_bytes"] = static_cast<double>(size);
}

template <class Builder>
void verify_read(benchmark::State& state, verify_read_function verify_read_bytes) {
    Builder builder;
    const sample_values sample = make_sample();
    // A receiver's own copy of the bytes, as they would arrive (std::vector: word-aligned).
    std::span<const std::uint8_t> built = builder.build(sample);
    const std::vector<std::uint8_t> bytes(built.begin(), built.end());
    if (verify_read_bytes(bytes) != sample_checksum(sample)) {
        state.SkipWithError("verify_read does not return the sample's checksum");
        return;
    }
    for (auto _ : state) {
        std::optional<std::uint64_t> checksum = verify_read_bytes(bytes);
        benchmark::DoNotOptimize(checksum);
    }
}

void read_string(benchmark::State& state, build_text_function build_text,
                 read_text_function read_text) {
    const std::string text = make_text(static_cast<std::size_t>(state.range(0)));
    const std::vector<std::uint8_t> bytes = build_text(text);
    const text_summary expected{text.size(), text.empty() ? std::uint8_t{0} : std::uint8_t{'a'}};
    if (read_text(bytes) != expected) {
        state.SkipWithError("read_text does not return the string's length and first byte");
        return;
    }
    for (auto _ : state) {
        std::optional<text_summary> summary = read_text(bytes);
        benchmark::DoNotOptimize(summary);
    }
    state.counters["size_bytes"] = static_cast<double>(bytes.size());
}

// --- lidl ------------------------------------------------------------------------------------

// Builds the sample into one reused, 8-byte aligned buffer (the caller-provided-buffer model).
class lidl_builder {
public:
    std::span<const std::uint8_t> build(const sample_values& values) {
        lidl::builder out(buffer_);
        bench::sample* root = out.create_root<bench::sample>();
        root->id = values.id;
        root->timestamp = values.timestamp;
        root->temperature = values.temperature;
        root->humidity = values.humidity;
        root->sequence = values.sequence;
        root->flags = values.flags;
        root->kind = values.kind;
        root->active = values.active;
        out.set(root->label, values.label);
        out.set(root->payload, std::span<const std::uint8_t>(values.payload));
        out.set_strings(root->tags, values.tags);
        auto finished = out.finish();
        return finished ? finished.value() : std::span<const std::uint8_t>{};
    }

private:
    alignas(8) std::uint8_t buffer_[8192];
};

std::optional<std::uint64_t> lidl_verify_read(std::span<const std::uint8_t> bytes) {
    auto message = lidl::verify<bench::sample>(bytes);
    if (!message)
        return std::nullopt;
    const bench::sample& s = *message.value();
    sample_values read;
    read.id = s.id;
    read.timestamp = s.timestamp;
    read.temperature = s.temperature;
    read.humidity = s.humidity;
    read.sequence = s.sequence;
    read.flags = s.flags;
    read.kind = s.kind;
    read.active = s.active;
    // The same arithmetic as sample_checksum, on the fields as read in place.
    std::uint64_t sum = read.id + read.timestamp + std::bit_cast<std::uint32_t>(read.temperature) +
                        std::bit_cast<std::uint32_t>(read.humidity) + read.sequence + read.flags +
                        read.kind + (read.active ? 1U : 0U);
    std::string_view label = s.label;
    sum += label.size() + (label.empty() ? 0U : static_cast<std::uint8_t>(label[0]));
    for (std::uint8_t byte : s.payload.view())
        sum += byte;
    for (const lidl::string& tag : s.tags.view())
        sum += tag.size();
    return sum;
}

std::vector<std::uint8_t> lidl_build_text(std::string_view value) {
    std::vector<std::uint8_t> storage(value.size() + 64);
    lidl::builder out(storage);
    bench::text* root = out.create_root<bench::text>();
    out.set(root->value, value);
    storage.resize(out.size());
    return storage;
}

std::optional<text_summary> lidl_read_text(std::span<const std::uint8_t> bytes) {
    auto message = lidl::verify<bench::text>(bytes);
    if (!message)
        return std::nullopt;
    std::string_view value = message.value()->value;
    return text_summary{value.size(),
                        value.empty() ? std::uint8_t{0} : static_cast<std::uint8_t>(value[0])};
}

class counter_service final : public bench::counter {
public:
    lidl::completion<std::uint32_t> bump(std::uint32_t amount) override {
        total_ += amount;
        co_return total_;
    }

private:
    std::uint32_t total_ = 0;
};

// The anchor of the plain virtual call.
class plain_counter {
public:
    virtual ~plain_counter() = default;
    virtual std::uint32_t bump(std::uint32_t amount) = 0;
};

class plain_counter_service final : public plain_counter {
public:
    std::uint32_t bump(std::uint32_t amount) override { return total_ += amount; }

private:
    std::uint32_t total_ = 0;
};

amb::task<std::uint64_t> drive(bench::counter& api, benchmark::State& state) {
    std::uint64_t sum = 0;
    for (auto _ : state)
        sum += (co_await api.bump(1)).value();
    co_return sum;
}

void call_virtual_task(benchmark::State& state) {
    counter_service server;
    bench::counter& api = server;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

void call_direct_client(benchmark::State& state) {
    counter_service server;
    bench::counter_client<lidl::direct_backend<bench::counter>> client(server);
    bench::counter& api = client;
    benchmark::DoNotOptimize(amb::sync_wait(drive(api, state)));
}

void call_virtual_plain(benchmark::State& state) {
    plain_counter_service server;
    plain_counter* api = &server;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(api);  // keeps the call virtual (no devirtualisation)
        sum += api->bump(1);
    }
    benchmark::DoNotOptimize(sum);
}

void register_lidl() {
    benchmark::RegisterBenchmark("build/lidl", build<lidl_builder>);
    benchmark::RegisterBenchmark("verify_read/lidl", verify_read<lidl_builder>, lidl_verify_read);
    benchmark::RegisterBenchmark("read_string/lidl", read_string, lidl_build_text, lidl_read_text)
        ->Arg(16)
        ->Arg(1 << 20);
    benchmark::RegisterBenchmark("call/virtual_task", call_virtual_task);
    benchmark::RegisterBenchmark("call/direct_client", call_direct_client);
    benchmark::RegisterBenchmark("call/virtual_plain", call_virtual_plain);
}

void register_anchors() {
    benchmark::RegisterBenchmark("build/capnp", build<capnp_builder>);
    benchmark::RegisterBenchmark("build/flatbuffers", build<flatbuffers_builder>);
    benchmark::RegisterBenchmark("verify_read/capnp", verify_read<capnp_builder>,
                                 capnp_verify_read);
    benchmark::RegisterBenchmark("verify_read/flatbuffers", verify_read<flatbuffers_builder>,
                                 flatbuffers_verify_read);
    benchmark::RegisterBenchmark("read_string/capnp", read_string, capnp_build_text,
                                 capnp_read_text)
        ->Arg(16)
        ->Arg(1 << 20);
    benchmark::RegisterBenchmark("read_string/flatbuffers", read_string, flatbuffers_build_text,
                                 flatbuffers_read_text)
        ->Arg(16)
        ->Arg(1 << 20);
}

}  // namespace

// Benchmarks are registered here rather than by BENCHMARK() static constructors (house style: no
// registries filled by static constructors), which also fixes their order in the report.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    register_anchors();
    register_lidl();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
