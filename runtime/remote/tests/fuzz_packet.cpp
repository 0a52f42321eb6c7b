// libFuzzer: any bytes as a packet arriving at a serving node that also relays: envelope
// parsing, forwarding decisions, token parsing and verification, argument decoding. Nothing may
// crash, and nothing may reach the service without a valid token (the key is random per run, so
// no input can carry one).
#include "test_services.hpp"

#include <remote/node.hpp>

#include <cstdlib>

namespace {

using namespace amb::remote;

class null_links final : public link_output {
public:
    bool send(link_id, byte_view) override { return true; }
};

class fixed_clock final : public clock_source {
public:
    amb::loop_clock::time_point monotonic() override { return amb::loop_clock::time_point{}; }
    std::uint64_t unix_microseconds() override { return 1'800'000'000'000'000; }
};

struct target {
    null_links links;
    fixed_clock clock;
    caplets::secret_key key = remote_testing::random_key();
    route_entry routes[2] = {{"a", 0}, {"c", 1}};
    remote_testing::calculator_impl calculator;
    lidl_export<remote_test::calculator> exported{calculator};
    std::unique_ptr<node> self;
    target() {
        node_config config;
        config.name = "b";
        config.routes = routes;
        config.verification_key = &key;
        config.max_message_size = 4096;
        auto made = node::create(config, links, clock);
        if (!made)
            std::abort();
        self = std::move(*made);
        self->export_service("calculator", exported);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static target node_b;
    node_b.self->on_packet(0, {data, size});
    node_b.self->poll();
    if (node_b.calculator.calls != 0)
        std::abort();
    return 0;
}
