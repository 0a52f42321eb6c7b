// Writes seed packets for the remote fuzzer: a real request (from a node with a credential), a
// request to relay, a reply and an error, each as a file in the corpus directory.
#include "test_services.hpp"

#include <remote/node.hpp>
#include <remote/remote_backend.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace amb::remote;

class capture final : public link_output {
public:
    std::vector<std::vector<std::uint8_t>> packets;
    bool send(link_id, byte_view packet) override {
        packets.emplace_back(packet.begin(), packet.end());
        return true;
    }
};

class fixed_clock final : public clock_source {
public:
    amb::loop_clock::time_point monotonic() override { return amb::loop_clock::time_point{}; }
    std::uint64_t unix_microseconds() override { return 1'800'000'000'000'000; }
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2)
        return 2;
    std::string directory = argv[1];
    std::system(("mkdir -p '" + directory + "'").c_str());
    caplets::secret_key root = remote_testing::random_key();
    capture out;
    fixed_clock clock;
    auto rights = remote_testing::all_of_calculator();
    auto token_b = remote_testing::credential(root, "a", "b", rights);
    auto token_c = remote_testing::credential(root, "a", "c", rights);
    route_entry routes[] = {{"b", 0}, {"c", 0}};
    credential_entry credentials[] = {{"b", token_b}, {"c", token_c}};
    node_config config;
    config.name = "a";
    config.routes = routes;
    config.credentials = credentials;
    auto made = node::create(config, out, clock);
    if (!made)
        return 1;
    auto a = std::move(*made);
    remote_test::calculator_client<remote_backend<remote_test::calculator>> to_b(*a, "b",
                                                                                 "calculator");
    remote_test::calculator_client<remote_backend<remote_test::calculator>> to_c(*a, "c",
                                                                                 "calculator");
    auto first = to_b.add(1, 2);
    first.start();
    auto second = to_c.add(3, 4);
    second.start();
    envelope_fields fields;
    fields.kind = message_kind::error;
    fields.status = status_code::denied;
    fields.source = "c";
    fields.destination = "a";
    std::vector<std::uint64_t> storage(128);
    envelope_writer writer;
    if (writer.start({reinterpret_cast<std::uint8_t*>(storage.data()), 1024}, fields)) {
        auto packet = writer.finish(0);
        out.packets.emplace_back(packet.begin(), packet.end());
    }
    for (std::size_t i = 0; i < out.packets.size(); ++i) {
        std::string name = directory + "/seed" + std::to_string(i);
        std::FILE* file = std::fopen(name.c_str(), "wb");
        if (file == nullptr)
            return 1;
        std::fwrite(out.packets[i].data(), 1, out.packets[i].size(), file);
        std::fclose(file);
    }
    return 0;
}
