// Benchmark `remote`: the cost of handling one remote request on the serving node, and the share
// of it spent in CAPLets (docs/remote.md). The deploy benchmark needs
// caplets_share_of_request_cpu <= 0.05.
//
// - handle_request: node::on_packet of one request for `calculator.add` (a trivial service):
//   envelope parse, token parse, verification, argument decode, dispatch, reply encode, reply
//   MAC, hand-off to the link (a no-op link). The node as deployed: the caller's credential is
//   remembered after the first request (docs/remote.md, "Verified credentials"), so only the
//   request frame is MACed.
// - handle_request_full: the same on a node with verified credentials off (every request
//   verified from frame 0).
// - caplets_verification: what CAPLets does in handle_request: token parse and verify_request
//   from the caller's verified credential (the holder tag, the key of the reply MAC, comes out
//   of the verification).
// - caplets_verification_full: token parse and verify_request in full (the holder tag from
//   verification_details).
// - caplets_verification_before: what the node did before verified credentials and details:
//   verify_request in full, then the holder tag again (one HMAC over the credential frame).
// All use a sequence store that accepts every number, so one captured request can be replayed
// (the lookup a real store does is a scan of a few tags). After the Google Benchmark runs, main
// prints `caplets_share_of_request_cpu` from process CPU time over the same loops.
#include "remote_test.lidl.hpp"

#include <remote/keys.hpp>
#include <remote/node.hpp>
#include <remote/remote_backend.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <ctime>
#include <vector>

namespace {

using namespace amb::remote;

class calculator_impl final : public remote_test::calculator {
public:
    lidl::completion<std::int32_t> add(std::int32_t a, std::int32_t b) override {
        co_return a + b;
    }
    lidl::completion<const remote_test::greeting*> greet(std::string_view,
                                                         lidl::builder&) override {
        co_return nullptr;
    }
    lidl::completion<void> reset() override { co_return {}; }
};

class capture final : public link_output {
public:
    std::vector<std::uint8_t> last;
    bool keep = true;
    bool send(link_id, byte_view packet) override {
        if (keep)
            last.assign(packet.begin(), packet.end());
        return true;
    }
};

class fixed_clock final : public clock_source {
public:
    amb::loop_clock::time_point monotonic() override { return amb::loop_clock::time_point{}; }
    std::uint64_t unix_microseconds() override { return 1'800'000'000'000'000; }
};

class accept_all final : public caplets::sequence_store {
public:
    std::uint64_t last_accepted(const caplets::sequence_key&) override { return 0; }
    bool accept(const caplets::sequence_key&, std::uint64_t, std::uint64_t,
                std::uint64_t) override {
        return true;
    }
};

struct setup {
    caplets::secret_key root{};
    caplets::secret_key key_b;
    std::vector<std::uint64_t> token_storage = std::vector<std::uint64_t>(512);
    byte_view credential_token;
    route_entry routes_a[1] = {{"b", 0}};
    route_entry routes_b[1] = {{"a", 0}};
    credential_entry credentials[1];
    capture out_a, out_b;
    fixed_clock clock;
    accept_all sequences;
    calculator_impl calculator;
    lidl_export<remote_test::calculator> exported{calculator};
    capture out_b_full;
    std::unique_ptr<node> a, b, b_full;
    std::vector<std::uint8_t> prefix_storage = std::vector<std::uint8_t>(512);
    caplets::verified_prefix prefix{prefix_storage};
    std::vector<std::uint64_t> request_storage = std::vector<std::uint64_t>(512);
    byte_view request;
    byte_view token;

    setup() {
        root.bytes[0] = 7;
        key_b = node_verification_key(root, "b");
        const import_rights rights[] = {{"calculator", {}}};
        lidl::builder out({reinterpret_cast<std::uint8_t*>(token_storage.data()), 4096});
        credential_token = *mint_credential(root, "a", "b", rights, 0, out);
        credentials[0] = {"b", credential_token};
        node_config config_a;
        config_a.name = "a";
        config_a.routes = routes_a;
        config_a.credentials = credentials;
        auto made_a = node::create(config_a, out_a, clock);
        a = std::move(*made_a);
        node_config config_b;
        config_b.name = "b";
        config_b.routes = routes_b;
        config_b.verification_key = &key_b;
        config_b.sequences = &sequences;
        auto made_b = node::create(config_b, out_b, clock);
        b = std::move(*made_b);
        b->export_service("calculator", exported);
        node_config config_b_full = config_b;
        config_b_full.verified_callers = 0;
        auto made_b_full = node::create(config_b_full, out_b_full, clock);
        b_full = std::move(*made_b_full);
        b_full->export_service("calculator", exported);
        remote_test::calculator_client<remote_backend<remote_test::calculator>> client(
            *a, "b", "calculator");
        auto call = client.add(2, 3);
        call.start();
        std::memcpy(request_storage.data(), out_a.last.data(), out_a.last.size());
        request = {reinterpret_cast<const std::uint8_t*>(request_storage.data()),
                   out_a.last.size()};
        token = parse_envelope(request)->body;
        out_b.keep = false;
        out_b_full.keep = false;
    }

    void handle() { b->on_packet(0, request); }
    void handle_full() { b_full->on_packet(0, request); }

    // As the node: from the verified credential when `cached` (remembered after the first call).
    bool verify(bool cached) {
        auto parsed = caplets::token_view::parse(token);
        caplets::verify_context context;
        context.now = 1'800'000'000;
        context.sequences = &sequences;
        context.audience = "b";  // as node b: requests name the node they are for
        context.prefix = cached ? &prefix : nullptr;
        caplets::verification_details details;
        auto granted = caplets::verify_request(key_b, *parsed, context, &details);
        return granted.has_value() && details.holder[0] != 1 &&
               (details.reused_frames > 0) == (cached && !prefix.empty());
    }

    bool verify_before() {
        auto parsed = caplets::token_view::parse(token);
        caplets::verify_context context;
        context.now = 1'800'000'000;
        context.sequences = &sequences;
        context.audience = "b";  // as node b: requests name the node they are for
        auto granted = caplets::verify_request(key_b, *parsed, context);
        // The holder tag (the reply key): the chain up to the frame before the request.
        caplets::tag_bytes holder =
            amb::crypto::hmac_sha256::mac(key_b.bytes, parsed->frame_bytes(0));
        return granted.has_value() && holder[0] != 1;
    }
};

setup& shared() {
    static setup instance;
    return instance;
}

void handle_request(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        s.handle();
    state.counters["request_bytes"] = static_cast<double>(s.request.size());
    state.counters["accepted"] = static_cast<double>(s.b->counters().requests_accepted);
}
BENCHMARK(handle_request);

void handle_request_full(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        s.handle_full();
    state.counters["accepted"] = static_cast<double>(s.b_full->counters().requests_accepted);
}
BENCHMARK(handle_request_full);

void caplets_verification(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        benchmark::DoNotOptimize(s.verify(true));
}
BENCHMARK(caplets_verification);

void caplets_verification_full(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        benchmark::DoNotOptimize(s.verify(false));
}
BENCHMARK(caplets_verification_full);

void caplets_verification_before(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        benchmark::DoNotOptimize(s.verify_before());
}
BENCHMARK(caplets_verification_before);

double cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

template <class Work>
double cpu_ns_per_round(Work work) {
    constexpr int rounds = 20000;
    const double start = cpu_seconds();
    for (int i = 0; i < rounds; ++i)
        work();
    return (cpu_seconds() - start) / rounds * 1e9;
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    setup& s = shared();
    bool ok = true;
    const double handling = cpu_ns_per_round([&] { s.handle(); });
    const double handling_full = cpu_ns_per_round([&] { s.handle_full(); });
    const double verification = cpu_ns_per_round([&] { ok &= s.verify(true); });
    const double verification_full = cpu_ns_per_round([&] { ok &= s.verify(false); });
    const double verification_before = cpu_ns_per_round([&] { ok &= s.verify_before(); });
    ok &=
        s.b->counters().requests_from_verified_credential + 1 == s.b->counters().requests_accepted;
    ok &= s.b_full->counters().requests_from_verified_credential == 0;
    std::printf("request_bytes=%zu envelope_bytes=%zu\n", s.request.size(),
                static_cast<std::size_t>(parse_envelope(s.request)->header->body_offset));
    std::printf("handle_request_ns=%.0f caplets_verification_ns=%.0f\n", handling, verification);
    std::printf("handle_request_full_ns=%.0f caplets_verification_full_ns=%.0f "
                "caplets_verification_before_ns=%.0f\n",
                handling_full, verification_full, verification_before);
    std::printf("caplets_share_of_request_cpu=%.3f\n", verification / handling);
    std::printf("caplets_share_of_request_cpu_full=%.3f\n", verification_full / handling_full);
    return ok ? 0 : 1;
}
