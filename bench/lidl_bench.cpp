// Benchmark `lidl`: lidl's in-place wire format against its anchors, Cap'n Proto and FlatBuffers,
// on the same logical message ("sample", see lidl_anchors/anchors.hpp), in one run:
//   build/SYSTEM              build the whole sample from C++ values into its final contiguous
//                             bytes, builder reused across iterations; counter size_bytes
//   verify_read/SYSTEM        verify those bytes the system's own way and read every field
//                             (anchors.hpp's sample_checksum)
//   read_string/SYSTEM/N      verify and read a message holding one N-byte string: its length
//                             and first byte
// Every read is checked once against sample_checksum before timing, so a system that reads the
// wrong thing fails loudly instead of looking fast. The lidl side is not written yet.
#include <lidl_anchors/anchors.hpp>

#include <benchmark/benchmark.h>

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
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
