// Benchmark `caplets`: verifying a CAPLets token against verifying a classic macaroon
// (Debian's libmacaroons) that carries the same content, in one run, for chains of N = 1, 5, 10
// and 20 steps (caplets_anchors/macaroons_anchor.hpp defines "the same content": step i is
// CAPLets frame i and macaroon caveat i), with the HMAC floor and the sizes of both tokens:
//   verify/caplets/N              token_view::parse + caplets::verify from the token's bytes
//                                 (8-byte aligned, as received): tag chain, every derivation
//                                 link, the leaf's constraints at `now`
//   verify/macaroons/N            macaroon_verify of an already deserialized macaroon: its
//                                 signature chain (key derivation, identifier, N caveats) and
//                                 every caveat through a real predicate check
//   deserialize_verify/macaroons/N   macaroon_deserialize of the V1 text + macaroon_verify +
//                                 macaroon_destroy: the macaroon from its bytes
//   floor/hmac/N                  CAPLets' floor: N HMAC-SHA256 (amb::crypto::hmac_sha256::mac,
//                                 the OpenSSL backend caplets::verify uses) over the N frames'
//                                 bytes, each keyed with the previous tag
//   floor/sodium_hmac/N           libmacaroons' floor: N HMAC-SHA256 with libsodium's
//                                 crypto_auth_hmacsha256 (the primitive libmacaroons calls) over
//                                 the N caveats' predicates, each keyed with the previous tag;
//                                 checked once against amb::crypto's HMAC of the same chain
//   parse/caplets/N               token_view::parse alone     } where verify/caplets' time goes:
//   tags/caplets/N                caplets::chain_tags alone   } the rest is derivation links,
//                                                               leaf constraints and the compare
//   size/KIND/N                   a size in bytes, reported as the entry's time (manual time,
//                                 1 ns per byte; Google Benchmark appends "/manual_time"):
//                                 caplets_bytes (the token), caplets_text ("cap1_" + base64url
//                                 without padding), macaroon_v1 (macaroon_serialize's V1 text,
//                                 base64url without padding, with macaroon_location and
//                                 macaroon_identifier) and macaroon_v1_bare (the same with an
//                                 empty location and a one-byte identifier: the least a
//                                 macaroon can carry)
// Every verifier is run once before timing and must accept, so a verifier that rejects (and so
// returns early) fails loudly instead of looking fast.
// One process, one thread (neither library starts a thread): Google Benchmark's CPU time of the
// benchmark thread is all the CPU a verification uses. AMBIENCE_BENCH_SMOKE shrinks nothing:
// every entry is already bounded by --benchmark_min_time.
#include <caplets_anchors/macaroons_anchor.hpp>

#include <crypto/crypto.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace amb::caplets_anchors;

constexpr std::size_t chain_lengths[] = {1, 5, 10, 20};

// One chain of `steps` steps in both forms, built before timing.
struct fixture {
    explicit fixture(std::size_t steps)
        : chain(chain_content(steps)), secret(bench_secret()),
          token(build_caplets_token(secret, chain)),
          macaroon_text(mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain)) {}

    bool ready() const { return token.has_value() && macaroon_text.has_value(); }

    std::vector<chain_step> chain;
    caplets::secret_key secret;
    std::optional<caplets_token> token;
    std::optional<std::string> macaroon_text;
};

std::optional<caplets::token_view> parsed(const fixture& f) {
    if (!f.ready())
        return std::nullopt;
    auto view = caplets::token_view::parse(f.token->bytes());
    if (!view)
        return std::nullopt;
    return *view;
}

caplets::verify_context verify_at_now() {
    caplets::verify_context context;
    context.now = bench_now;
    return context;
}

bool caplets_verify(const fixture& f, const caplets::verify_context& context) {
    auto view = caplets::token_view::parse(f.token->bytes());
    if (!view)
        return false;
    return caplets::verify(f.secret, *view, context).has_value();
}

void verify_caplets(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    const caplets::verify_context context = verify_at_now();
    if (!f.ready() || !caplets_verify(f, context)) {
        state.SkipWithError("the CAPLets token does not verify");
        return;
    }
    for (auto _ : state) {
        bool accepted = caplets_verify(f, context);
        benchmark::DoNotOptimize(accepted);
    }
}

void parse_caplets(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    if (!parsed(f)) {
        state.SkipWithError("the CAPLets token does not parse");
        return;
    }
    for (auto _ : state) {
        auto view = caplets::token_view::parse(f.token->bytes());
        benchmark::DoNotOptimize(view);
    }
}

void tags_caplets(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    const std::optional<caplets::token_view> view = parsed(f);
    if (!view) {
        state.SkipWithError("the CAPLets token does not parse");
        return;
    }
    caplets::tag_bytes tags[caplets::max_frames];
    const std::span<caplets::tag_bytes> chain(tags, view->frame_count());
    for (auto _ : state) {
        caplets::chain_tags(f.secret, *view, chain);
        benchmark::DoNotOptimize(tags);
        benchmark::ClobberMemory();
    }
}

void verify_macaroons(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    const macaroon_checker checker(f.chain.back().prefix, bench_now);
    auto token = f.ready() ? deserialized_macaroon::parse(*f.macaroon_text) : std::nullopt;
    if (!token || !checker.verify(*token, f.secret)) {
        state.SkipWithError("the macaroon does not verify");
        return;
    }
    for (auto _ : state) {
        bool accepted = checker.verify(*token, f.secret);
        benchmark::DoNotOptimize(accepted);
    }
}

void deserialize_verify_macaroons(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    const macaroon_checker checker(f.chain.back().prefix, bench_now);
    if (!f.ready() || !checker.verify_text(*f.macaroon_text, f.secret)) {
        state.SkipWithError("the macaroon does not verify from its text");
        return;
    }
    for (auto _ : state) {
        bool accepted = checker.verify_text(*f.macaroon_text, f.secret);
        benchmark::DoNotOptimize(accepted);
    }
}

void floor_hmac(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    const std::optional<caplets::token_view> view = parsed(f);
    if (!view) {
        state.SkipWithError("the CAPLets token does not parse");
        return;
    }
    std::vector<std::vector<std::uint8_t>> messages;
    for (std::size_t i = 0; i < view->frame_count(); ++i)
        messages.emplace_back(view->frame_bytes(i).begin(), view->frame_bytes(i).end());
    for (auto _ : state) {
        amb::crypto::sha256_digest tag = amb::crypto::hmac_sha256::mac(f.secret.bytes, messages[0]);
        for (std::size_t i = 1; i < messages.size(); ++i)
            tag = amb::crypto::hmac_sha256::mac(tag, messages[i]);
        benchmark::DoNotOptimize(tag);
    }
}

void floor_sodium_hmac(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    std::vector<std::string> caveats;
    for (const chain_step& step : f.chain)
        caveats.push_back(caveat_text(step));
    const sodium_hmac_chain chain(f.secret, caveats);
    // The same chain with amb::crypto: both floors must compute the same function.
    amb::crypto::sha256_digest expected{};
    for (std::size_t i = 0; i < caveats.size(); ++i) {
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(caveats[i].data());
        const std::span<const std::uint8_t> message(bytes, caveats[i].size());
        expected = i == 0 ? amb::crypto::hmac_sha256::mac(f.secret.bytes, message)
                          : amb::crypto::hmac_sha256::mac(expected, message);
    }
    const std::array<std::uint8_t, 32> tag = chain.run();
    if (!std::equal(tag.begin(), tag.end(), expected.begin(), expected.end())) {
        state.SkipWithError("libsodium's HMAC chain differs from amb::crypto's");
        return;
    }
    for (auto _ : state) {
        std::array<std::uint8_t, 32> last = chain.run();
        benchmark::DoNotOptimize(last);
    }
}

// A size as the entry's time: `bytes` nanoseconds per iteration.
void report_size(benchmark::State& state, std::size_t bytes) {
    for (auto _ : state)
        state.SetIterationTime(static_cast<double>(bytes) * 1e-9);
    state.counters["bytes"] = static_cast<double>(bytes);
}

void size_caplets_bytes(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    if (!f.ready()) {
        state.SkipWithError("the CAPLets token was not built");
        return;
    }
    report_size(state, f.token->bytes().size());
}

void size_caplets_text(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    if (!f.ready()) {
        state.SkipWithError("the CAPLets token was not built");
        return;
    }
    report_size(state, caplets_text_size(f.token->bytes().size()));
}

void size_macaroon_v1(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    if (!f.ready()) {
        state.SkipWithError("the macaroon was not built");
        return;
    }
    report_size(state, f.macaroon_text->size());
}

void size_macaroon_v1_bare(benchmark::State& state) {
    const fixture f(static_cast<std::size_t>(state.range(0)));
    auto bare = mint_macaroon_v1(f.secret, "", "k", f.chain);
    if (!bare) {
        state.SkipWithError("the bare macaroon was not built");
        return;
    }
    report_size(state, bare->size());
}

void chain_lengths_of(benchmark::internal::Benchmark* b) {
    for (std::size_t steps : chain_lengths)
        b->Arg(static_cast<std::int64_t>(steps));
}

void register_timings() {
    benchmark::RegisterBenchmark("verify/caplets", verify_caplets)->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("verify/macaroons", verify_macaroons)->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("deserialize_verify/macaroons", deserialize_verify_macaroons)
        ->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("floor/hmac", floor_hmac)->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("floor/sodium_hmac", floor_sodium_hmac)->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("parse/caplets", parse_caplets)->Apply(chain_lengths_of);
    benchmark::RegisterBenchmark("tags/caplets", tags_caplets)->Apply(chain_lengths_of);
}

void register_sizes() {
    struct size_entry {
        const char* name;
        void (*function)(benchmark::State&);
    };
    const size_entry sizes[] = {{"size/caplets_bytes", size_caplets_bytes},
                                {"size/caplets_text", size_caplets_text},
                                {"size/macaroon_v1", size_macaroon_v1},
                                {"size/macaroon_v1_bare", size_macaroon_v1_bare}};
    for (const size_entry& entry : sizes)
        benchmark::RegisterBenchmark(entry.name, entry.function)
            ->Apply(chain_lengths_of)
            ->UseManualTime()
            ->Iterations(1);
}

}  // namespace

// Benchmarks are registered here rather than by BENCHMARK() static constructors (house style: no
// registries filled by static constructors), which also fixes their order in the report.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    register_timings();
    register_sizes();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
