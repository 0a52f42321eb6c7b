// The measurement hook `node_config::meter` (remote/node.hpp): a serving node tells it of exactly
// one `verify` part per request it handles, ended as passed or refused and as a verified
// credential hit or miss, and of one `record` part per request that passed every check; parts
// never nest and always end. Two callers, a node that remembers their credentials, accepted and
// refused requests.
#include "test_services.hpp"

#include <remote/node.hpp>
#include <remote/remote_backend.hpp>

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace amb::remote {
namespace {

using namespace remote_testing;
using bytes = std::vector<std::uint8_t>;
using calculator_client = remote_test::calculator_client<remote_backend<remote_test::calculator>>;
using part = verification_meter::part;

class quiet_sink final : public incident_sink {
public:
    void report(const incident&) override {}
};

// Counts what the node tells it and checks that parts neither nest nor stay open.
class counting_meter final : public verification_meter {
public:
    int verify_begun = 0;
    int verify_passed = 0;
    int verify_refused = 0;
    int verify_hits = 0;
    int record_begun = 0;
    int record_passed = 0;
    bool open = false;
    bool misordered = false;

    void begin(part what) override {
        misordered |= open;
        open = true;
        (what == part::verify ? verify_begun : record_begun) += 1;
    }
    void end(part what, bool passed, bool from_verified_credential) override {
        misordered |= !open;
        open = false;
        if (what == part::record) {
            record_passed += passed ? 1 : 0;
            misordered |= from_verified_credential;
            return;
        }
        (passed ? verify_passed : verify_refused) += 1;
        verify_hits += from_verified_credential ? 1 : 0;
    }
};

struct caller {
    bytes token;
    credential_entry credentials[1];
    route_entry routes[1] = {{"b", 0}};
    collect out;
    std::unique_ptr<node> self;
    std::unique_ptr<calculator_client> calculator;
    std::deque<lidl::completion<std::int32_t>> adds;
};

class verification_meter_test : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = random_key();
        key_ = node_verification_key(root_, "b");
        node_config config;
        config.name = "b";
        config.routes = server_routes_;
        config.verification_key = &key_;
        config.max_message_size = 4096;
        config.verified_callers = 2;
        config.meter = &meter_;
        auto made = node::create(config, server_out_, clock_, &incidents_);
        ASSERT_TRUE(made.has_value());
        server_ = std::move(*made);
        ASSERT_TRUE(server_->export_service("calculator", exported_));
    }

    caller& add_caller(std::string_view name) {
        caller& c = callers_.emplace_back();
        c.token = credential(root_, name, "b", all_of_calculator());
        c.credentials[0] = {"b", c.token};
        node_config config;
        config.name = name;
        config.routes = c.routes;
        config.credentials = c.credentials;
        config.max_message_size = 4096;
        auto made = node::create(config, c.out, clock_);
        EXPECT_TRUE(made.has_value());
        c.self = std::move(*made);
        c.calculator = std::make_unique<calculator_client>(*c.self, "b", "calculator");
        return c;
    }

    bytes request(caller& from, std::int32_t x) {
        from.adds.push_back(from.calculator->add(x, 1));
        from.adds.back().start();
        EXPECT_EQ(from.out.packets.size(), 1u);
        bytes packet = from.out.packets.empty() ? bytes{} : from.out.packets.back();
        from.out.packets.clear();
        return packet;
    }

    void deliver(const bytes& packet) {
        server_->on_packet(0, packet);
        server_out_.packets.clear();
    }

    caplets::secret_key root_;
    caplets::secret_key key_;
    route_entry server_routes_[2] = {{"a", 0}, {"c", 0}};
    fake_clock clock_;
    collect server_out_;
    quiet_sink incidents_;
    calculator_impl calculator_;
    lidl_export<remote_test::calculator> exported_{calculator_};
    counting_meter meter_;
    std::unique_ptr<node> server_;
    std::deque<caller> callers_;
};

TEST_F(verification_meter_test, counts_one_verification_per_request) {
    caller& a = add_caller("a");
    caller& c = add_caller("c");
    for (std::int32_t i = 0; i < 3; ++i) {
        deliver(request(a, i));
        deliver(request(c, i));
    }
    EXPECT_EQ(server_->counters().requests_accepted, 6u);
    EXPECT_EQ(meter_.verify_begun, 6);
    EXPECT_EQ(meter_.verify_passed, 6);
    EXPECT_EQ(meter_.verify_refused, 0);
    // The first request of each caller is verified in full, the later ones from its remembered
    // credential: the meter sees the node's own counter.
    EXPECT_EQ(meter_.verify_hits, 4);
    EXPECT_EQ(static_cast<std::uint64_t>(meter_.verify_hits),
              server_->counters().requests_from_verified_credential);
    EXPECT_EQ(meter_.record_begun, 6);
    EXPECT_EQ(meter_.record_passed, 6);
    EXPECT_FALSE(meter_.open);
    EXPECT_FALSE(meter_.misordered);
    EXPECT_EQ(calculator_.calls, 6);
}

TEST_F(verification_meter_test, a_refused_request_ends_its_verification_and_records_nothing) {
    caller& a = add_caller("a");
    deliver(request(a, 1));
    const bytes original = request(a, 2);
    bytes forged = original;
    forged.back() ^= 0x01; // the request frame's tag
    deliver(forged);
    const bytes replayed = request(a, 3);
    deliver(replayed);
    deliver(replayed); // the same sequence number again
    EXPECT_EQ(server_->counters().requests_accepted, 2u);
    EXPECT_EQ(server_->counters().requests_refused, 2u);
    EXPECT_EQ(meter_.verify_begun, 4);
    EXPECT_EQ(meter_.verify_passed, 2);
    EXPECT_EQ(meter_.verify_refused, 2);
    EXPECT_EQ(meter_.record_begun, 2);
    EXPECT_EQ(meter_.record_passed, 2);
    EXPECT_FALSE(meter_.open);
    EXPECT_FALSE(meter_.misordered);
}

} // namespace
} // namespace amb::remote
