// The schema whose names sit right at the edge of lidlc's naming rules (schemas/edge_names.lidl)
// generates headers that compile, and its client works over a direct backend and over messages.
#include "edge_names.lidl.hpp"
#include "edge_names.lidl.json.hpp"
#include "loopback_backend.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

namespace lidl_test {
namespace {

namespace edge = lidl_edge::names;

class probe_service final : public edge::probe {
public:
    lidl::completion<std::uint32_t> probe_wire(std::uint32_t x) override { co_return x + 1; }
    lidl::completion<edge::get_result> get(const edge::get_params& request, std::uint32_t tuple,
                                           std::uint32_t id) override {
        co_return edge::get_result{request.value + tuple + id};
    }
    lidl::completion<std::string_view> std(std::uint32_t std, std::string_view implementation,
                                           std::uint32_t out, std::uint32_t spare,
                                           std::uint32_t message,
                                           lidl::builder& response) override {
        co_return response.copy(std::string(implementation) + "/" +
                                std::to_string(std + out + spare + message));
    }
    lidl::completion<const edge::shape*> Id(std::uint32_t call, std::uint32_t, std::uint32_t,
                                            std::uint32_t, std::uint32_t, edge::names names,
                                            lidl::builder& response) override {
        auto* root = response.create_root<edge::shape>();
        if (root != nullptr) {
            if (std::uint32_t* set = root->set_set(response))
                *set = call + static_cast<std::uint32_t>(names);
        }
        co_return root;
    }
    lidl::completion<std::uint64_t> Arguments(std::span<const std::uint32_t> arguments) override {
        co_return std::accumulate(arguments.begin(), arguments.end(), std::uint64_t{0});
    }
    lidl::completion<std::span<const edge::get_result>> response(std::uint32_t backend,
                                                                 lidl::builder&) override {
        items_[0].item = backend;
        items_[1].item = backend * 2;
        co_return std::span<const edge::get_result>(items_);
    }
    lidl::completion<void> implementation(const edge::lidl_thing& thing) override {
        last_thing = thing.a;
        co_return {};
    }
    std::uint8_t last_thing = 0;

private:
    edge::get_result items_[2]{};
};

void exercise(edge::probe& api) {
    aligned_buffer buffer(4096);
    lidl::builder response(buffer.bytes());
    EXPECT_EQ(amb::sync_wait(api.probe_wire(41)).value(), 42u);

    edge::get_params request{};
    request.value = 5;
    EXPECT_EQ(amb::sync_wait(api.get(request, 10, 100)).value().item, 115u);

    EXPECT_EQ(amb::sync_wait(api.std(1, "text", 2, 3, 4, response)).value(), "text/10");
    response.reset();
    const edge::shape* shape =
        amb::sync_wait(api.Id(7, 0, 0, 0, 0, edge::names::Id, response)).value();
    ASSERT_NE(shape, nullptr);
    ASSERT_NE(shape->set(), nullptr);
    EXPECT_EQ(*shape->set(), 9u);
    EXPECT_EQ(shape->which(), edge::shape::alternative::set);

    const std::uint32_t values[] = {1, 2, 3};
    EXPECT_EQ(amb::sync_wait(api.Arguments(values)).value(), 6u);
    response.reset();
    auto items = amb::sync_wait(api.response(4, response)).value();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1].item, 8u);
    EXPECT_TRUE(amb::sync_wait(api.implementation(edge::lidl_thing{3})));
}

TEST(edge_names, generated_code_compiles_and_calls_go_through_directly) {
    probe_service server;
    edge::probe_client<lidl::direct_backend<edge::probe>> client(server);
    exercise(client);
    EXPECT_EQ(server.last_thing, 3);
}

TEST(edge_names, calls_go_through_messages) {
    probe_service server;
    edge::probe_client<loopback_backend<edge::probe>> client(server);
    exercise(client);
    EXPECT_EQ(server.last_thing, 3);
    EXPECT_STREQ(lidl::type_info<edge::names>::to_string(edge::names::names), "names");
    EXPECT_STREQ(edge::probe::lidl_procedure_name(0), "probe_wire");
}

TEST(edge_names, the_json_mapping_uses_the_schema_names) {
    edge::get_params request{};
    request.std = 1;
    request.value = 2;
    const auto json = lidl::json::to_json(request);
    EXPECT_EQ(json["std"], 1);
    EXPECT_EQ(json["value"], 2);
}

}  // namespace
}  // namespace lidl_test
