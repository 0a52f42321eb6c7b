// Benchmark `remote`: the cost of handling one remote request on the serving node, and the share
// of it spent in CAPLets (docs/remote.md). The deploy benchmark needs
// caplets_share_of_request_cpu <= 0.05.
//
// - handle_request: node::on_packet of one request for `calculator.add` (a trivial service):
//   envelope parse, token parse, verification, holder tag, argument decode, dispatch, reply
//   encode, reply MAC, hand-off to the link (a no-op link).
// - caplets_verification: what CAPLets does in that: token parse, verify_request, and the
//   holder tag (one HMAC over the credential frame, the key of the reply MAC).
// Both use a sequence store that accepts every number, so one captured request can be replayed
// (the lookup a real store does is a scan of a few tags). After the Google Benchmark runs, main
// prints `caplets_share_of_request_cpu` from process CPU time over the same two loops.
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
    amb::task<std::int32_t> add(std::int32_t a, std::int32_t b) override { co_return a + b; }
    amb::task<const remote_test::greeting*> greet(std::string_view, lidl::builder&) override {
        co_return nullptr;
    }
    amb::task<void> reset() override { co_return; }
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
    std::uint64_t last(const caplets::tag_bytes&) override { return 0; }
    bool record(const caplets::tag_bytes&, std::uint64_t) override { return true; }
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
    std::unique_ptr<node> a, b;
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
        remote_test::calculator_client<remote_backend<remote_test::calculator>> client(
            *a, "b", "calculator");
        auto call = client.add(2, 3);
        call.start();
        std::memcpy(request_storage.data(), out_a.last.data(), out_a.last.size());
        request = {reinterpret_cast<const std::uint8_t*>(request_storage.data()),
                   out_a.last.size()};
        token = parse_envelope(request)->body;
        out_b.keep = false;
    }

    void handle() { b->on_packet(0, request); }

    bool verify() {
        auto parsed = caplets::token_view::parse(token);
        caplets::verify_context context;
        context.now = 1'800'000'000;
        context.sequences = &sequences;
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

void caplets_verification(benchmark::State& state) {
    setup& s = shared();
    for (auto _ : state)
        benchmark::DoNotOptimize(s.verify());
}
BENCHMARK(caplets_verification);

double cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    setup& s = shared();
    constexpr int rounds = 20000;
    double start = cpu_seconds();
    for (int i = 0; i < rounds; ++i)
        s.handle();
    const double handling = cpu_seconds() - start;
    start = cpu_seconds();
    bool ok = true;
    for (int i = 0; i < rounds; ++i)
        ok &= s.verify();
    const double verification = cpu_seconds() - start;
    std::printf("request_bytes=%zu envelope_bytes=%zu\n", s.request.size(),
                static_cast<std::size_t>(parse_envelope(s.request)->header->body_offset));
    std::printf("handle_request_ns=%.0f caplets_verification_ns=%.0f\n", handling / rounds * 1e9,
                verification / rounds * 1e9);
    std::printf("caplets_share_of_request_cpu=%.3f\n", verification / handling);
    return ok ? 0 : 1;
}
