// Verified credentials (docs/remote.md, "Verified credentials"): a serving node that remembers
// each caller's verified credential frames must accept and refuse exactly the requests a node
// that verifies every request in full accepts and refuses. Two serving nodes named "b", with the
// same key, one remembering credentials and one not, receive the same packets; every packet must
// have the same effect on both (counters, service calls, incidents and the exact bytes they send
// back), and the remembering node's answers go back to the caller, whose reply MAC check proves
// the holder tag it took from verification.
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
using other_client = remote_test::other_client<remote_backend<remote_test::other>>;

class recording_sink final : public incident_sink {
public:
    std::vector<incident_kind> kinds;
    std::vector<caplets::check> checks;
    void report(const incident& what) override {
        kinds.push_back(what.kind);
        checks.push_back(what.kind == incident_kind::request_denied ? what.token.what
                                                                    : caplets::check{});
    }
};

struct server {
    collect out;
    recording_sink incidents;
    calculator_impl calculator;
    other_impl other;
    lidl_export<remote_test::calculator> exported_calculator{calculator};
    lidl_export<remote_test::other> exported_other{other};
    std::unique_ptr<node> self;
};

// A calling node with one credential for "b"; its calls' tasks live as long as it does.
struct caller {
    std::string name;
    bytes token;
    credential_entry credentials[1];
    route_entry routes[1] = {{"b", 0}};
    collect out;
    std::unique_ptr<node> self;
    std::unique_ptr<calculator_client> calculator;
    std::unique_ptr<other_client> other;
    std::deque<lidl::completion<std::int32_t>> adds;
    std::deque<lidl::completion<std::uint32_t>> pings;
};

constexpr const char* caller_names[] = {"a", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

class verified_credentials : public ::testing::Test {
protected:
    void build(std::size_t verified_callers = 16, std::size_t credential_bytes = 512) {
        root_ = random_key();
        key_b_ = node_verification_key(root_, "b");
        for (const char* name : caller_names)
            server_routes_.push_back({name, 0});
        for (server* s : {&cached_, &full_}) {
            node_config config;
            config.name = "b";
            config.routes = server_routes_;
            config.verification_key = &key_b_;
            config.revoked = &revoked_;
            config.max_message_size = 4096;
            config.verified_callers = s == &cached_ ? verified_callers : 0;
            config.verified_credential_bytes = credential_bytes;
            auto made = node::create(config, s->out, clock_, &s->incidents);
            ASSERT_TRUE(made.has_value());
            s->self = std::move(*made);
            ASSERT_TRUE(s->self->export_service("calculator", s->exported_calculator));
            ASSERT_TRUE(s->self->export_service("other", s->exported_other));
        }
    }

    // A caller named `name` whose credential for b is minted from `minting_root` (the
    // deployment's by default) for `callee`, with `rights` (all of calculator by default).
    caller& add_caller(std::string_view name, std::span<const import_rights> rights = {},
                       std::uint64_t expires = 0, const caplets::secret_key* minting_root = nullptr,
                       std::string_view callee = "b") {
        auto everything = all_of_calculator();
        caller& c = callers_.emplace_back();
        c.name = name;
        c.token = credential(minting_root != nullptr ? *minting_root : root_, c.name, callee,
                             rights.empty() ? std::span<const import_rights>(everything) : rights,
                             expires);
        c.credentials[0] = {"b", c.token};
        node_config config;
        config.name = c.name;
        config.routes = c.routes;
        config.credentials = c.credentials;
        config.max_message_size = 4096;
        auto made = node::create(config, c.out, clock_);
        EXPECT_TRUE(made.has_value());
        c.self = std::move(*made);
        c.calculator = std::make_unique<calculator_client>(*c.self, "b", "calculator");
        c.other = std::make_unique<other_client>(*c.self, "b", "other");
        return c;
    }

    // Starts `from.calculator.add(x, 1)` and returns its request packet.
    bytes add_request(caller& from, std::int32_t x) {
        from.adds.push_back(from.calculator->add(x, 1));
        from.adds.back().start();
        return take_request(from);
    }
    bytes ping_request(caller& from) {
        from.pings.push_back(from.other->ping());
        from.pings.back().start();
        return take_request(from);
    }
    static bytes take_request(caller& from) {
        EXPECT_EQ(from.out.packets.size(), 1u);
        bytes packet = from.out.packets.empty() ? bytes{} : from.out.packets.back();
        from.out.packets.clear();
        return packet;
    }

    struct outcome {
        bool accepted = false;
        caplets::check why{};    // of a refused token
        bool remembered = false; // the cached node verified it from a remembered credential
    };

    // Hands `packet` to both serving nodes and checks that it had the same effect on both; the
    // cached node's answers then go to `back_to` (null: dropped).
    outcome feed(const bytes& packet, caller* back_to = nullptr) {
        const node_counters cached_before = cached_.self->counters();
        const node_counters full_before = full_.self->counters();
        const int cached_calls = cached_.calculator.calls + cached_.other.calls;
        const int full_calls = full_.calculator.calls + full_.other.calls;
        const std::size_t cached_incidents = cached_.incidents.kinds.size();
        const std::size_t full_incidents = full_.incidents.kinds.size();
        cached_.self->on_packet(0, packet);
        full_.self->on_packet(0, packet);
        const node_counters& cached_after = cached_.self->counters();
        const node_counters& full_after = full_.self->counters();
        outcome result;
        result.accepted = cached_after.requests_accepted > cached_before.requests_accepted;
        EXPECT_EQ(cached_after.requests_accepted - cached_before.requests_accepted,
                  full_after.requests_accepted - full_before.requests_accepted);
        EXPECT_EQ(cached_after.requests_refused - cached_before.requests_refused,
                  full_after.requests_refused - full_before.requests_refused);
        EXPECT_EQ(cached_.calculator.calls + cached_.other.calls - cached_calls,
                  full_.calculator.calls + full_.other.calls - full_calls);
        EXPECT_EQ(full_after.requests_from_verified_credential, 0u);
        result.remembered = cached_after.requests_from_verified_credential >
                            cached_before.requests_from_verified_credential;
        // The same incidents, for the same check.
        const std::vector<incident_kind> cached_kinds(
            cached_.incidents.kinds.begin() + static_cast<std::ptrdiff_t>(cached_incidents),
            cached_.incidents.kinds.end());
        const std::vector<incident_kind> full_kinds(full_.incidents.kinds.begin() +
                                                        static_cast<std::ptrdiff_t>(full_incidents),
                                                    full_.incidents.kinds.end());
        EXPECT_EQ(cached_kinds, full_kinds);
        const std::vector<caplets::check> cached_checks(
            cached_.incidents.checks.begin() + static_cast<std::ptrdiff_t>(cached_incidents),
            cached_.incidents.checks.end());
        const std::vector<caplets::check> full_checks(
            full_.incidents.checks.begin() + static_cast<std::ptrdiff_t>(full_incidents),
            full_.incidents.checks.end());
        EXPECT_EQ(cached_checks, full_checks);
        if (!cached_checks.empty())
            result.why = cached_checks.back();
        // Byte for byte the same answers (status, MAC with the holder tag, reply).
        EXPECT_EQ(cached_.out.packets, full_.out.packets);
        if (back_to != nullptr)
            for (const bytes& answer : cached_.out.packets)
                back_to->self->on_packet(0, answer);
        cached_.out.packets.clear();
        full_.out.packets.clear();
        EXPECT_LE(cached_.self->verified_credentials(), verified_bound_);
        return result;
    }

    // A call from `from` that must be accepted and answered correctly (through the reply MAC).
    outcome call_add(caller& from, std::int32_t x) {
        outcome result = feed(add_request(from, x), &from);
        EXPECT_TRUE(result.accepted);
        EXPECT_TRUE(from.adds.back().done());
        if (from.adds.back().done()) {
            // The reply passed the caller's MAC check (keyed by the holder tag) and decoded.
            auto sum = from.adds.back().take_result();
            EXPECT_TRUE(sum);
            if (sum) {
                EXPECT_EQ(sum.value(), x + 1);
            }
        }
        return result;
    }

    std::uint64_t now_seconds() const { return clock_.unix_now / 1'000'000; }

    std::size_t verified_bound_ = 16;
    fake_clock clock_;
    caplets::secret_key root_;
    caplets::secret_key key_b_;
    caplets::revocation_list revoked_;
    std::vector<route_entry> server_routes_;
    server cached_;
    server full_;
    std::deque<caller> callers_; // after the servers: callers go first
};

TEST_F(verified_credentials, later_requests_of_a_caller_verify_only_the_request_frame) {
    build();
    caller& a = add_caller("a");
    EXPECT_FALSE(call_add(a, 1).remembered); // the first one in full
    EXPECT_EQ(cached_.self->verified_credentials(), 1u);
    EXPECT_TRUE(call_add(a, 2).remembered);
    EXPECT_TRUE(call_add(a, 3).remembered);
    EXPECT_EQ(cached_.self->counters().requests_from_verified_credential, 2u);
    EXPECT_EQ(full_.self->verified_credentials(), 0u);
    EXPECT_EQ(cached_.calculator.calls, 3);
}

TEST_F(verified_credentials,
       every_changed_byte_is_refused_alike_while_the_credential_is_remembered) {
    build();
    caller& a = add_caller("a");
    call_add(a, 1);
    const bytes original = add_request(a, 20);
    const std::size_t body = parse_envelope(original)->header->body_offset;
    std::size_t refused = 0;
    for (std::size_t i = body; i < original.size(); ++i) {
        for (std::uint8_t flip : {0x01, 0x80}) {
            bytes changed = original;
            changed[i] ^= flip;
            outcome result = feed(changed);
            EXPECT_FALSE(result.accepted) << "byte " << i;
            refused += result.accepted ? 0 : 1;
        }
    }
    EXPECT_EQ(refused, 2 * (original.size() - body));
    EXPECT_EQ(cached_.self->verified_credentials(), 1u);
    EXPECT_EQ(cached_.calculator.calls, 1);
    // Nothing was consumed or forgotten: the untouched request is accepted from the credential.
    outcome result = feed(original, &a);
    EXPECT_TRUE(result.accepted);
    EXPECT_TRUE(result.remembered);
    ASSERT_TRUE(a.adds.back().done());
    auto sum = a.adds.back().take_result();
    ASSERT_TRUE(sum);
    EXPECT_EQ(sum.value(), 21);
}

TEST_F(verified_credentials, a_forged_credential_with_the_same_bytes_is_refused) {
    build();
    caller& a = add_caller("a");
    call_add(a, 1);
    // Same caller, callee and rights from another root: the same frame bytes, another tag. The
    // remembered tag chain is the real one, so the forger's request tag cannot match it.
    caplets::secret_key other_root = random_key();
    caller& forger = add_caller("a", {}, 0, &other_root);
    auto real = caplets::token_view::parse(a.token);
    auto forged = caplets::token_view::parse(forger.token);
    ASSERT_TRUE(real && forged);
    ASSERT_TRUE(std::equal(real->frame_bytes(0).begin(), real->frame_bytes(0).end(),
                           forged->frame_bytes(0).begin(), forged->frame_bytes(0).end()));
    ASSERT_NE(real->tag(), forged->tag());
    for (int i = 0; i < 3; ++i) {
        outcome result = feed(add_request(forger, i), &forger);
        EXPECT_FALSE(result.accepted);
        EXPECT_EQ(result.why, caplets::check::bad_tag);
    }
    EXPECT_EQ(cached_.calculator.calls, 1);
    EXPECT_TRUE(call_add(a, 2).remembered);
}

TEST_F(verified_credentials, a_credential_for_another_node_is_refused_alike) {
    build();
    caller& a = add_caller("a");
    call_add(a, 1);
    caller& elsewhere = add_caller("a", {}, 0, nullptr, "c"); // minted with c's key
    outcome result = feed(add_request(elsewhere, 1), &elsewhere);
    EXPECT_FALSE(result.accepted);
    EXPECT_EQ(result.why, caplets::check::bad_tag);
    EXPECT_TRUE(call_add(a, 2).remembered);
}

TEST_F(verified_credentials, a_credential_that_expires_while_remembered_is_refused) {
    build();
    caller& a = add_caller("a", {}, now_seconds() + 60);
    call_add(a, 1);
    EXPECT_TRUE(call_add(a, 2).remembered);
    clock_.unix_now += 59'000'000;
    EXPECT_TRUE(call_add(a, 3).remembered); // still valid, a second before it expires
    clock_.unix_now += 2'000'000;
    for (int i = 0; i < 2; ++i) {
        outcome result = feed(add_request(a, 4), &a);
        EXPECT_FALSE(result.accepted);
        EXPECT_EQ(result.why, caplets::check::expired);
    }
    EXPECT_EQ(cached_.calculator.calls, 3);
}

TEST_F(verified_credentials, a_procedure_or_service_outside_the_credential_is_refused_alike) {
    build();
    const std::string_view only_add[] = {"add"};
    const import_rights rights[] = {{"calculator", only_add}};
    caller& a = add_caller("a", rights);
    call_add(a, 1);
    auto reset = a.calculator->reset();
    reset.start();
    outcome result = feed(take_request(a), &a);
    EXPECT_FALSE(result.accepted);
    EXPECT_EQ(result.why, caplets::check::not_a_subset);
    result = feed(ping_request(a), &a);
    EXPECT_FALSE(result.accepted);
    EXPECT_EQ(result.why, caplets::check::not_a_subset);
    EXPECT_EQ(cached_.calculator.calls, 1);
    EXPECT_EQ(cached_.other.calls, 0);
    EXPECT_TRUE(call_add(a, 2).remembered);
}

TEST_F(verified_credentials, a_replayed_request_is_refused_alike) {
    build();
    caller& a = add_caller("a");
    call_add(a, 1);
    const bytes request = add_request(a, 5);
    EXPECT_TRUE(feed(request, &a).accepted);
    for (int i = 0; i < 2; ++i) {
        outcome result = feed(request);
        EXPECT_FALSE(result.accepted);
        EXPECT_EQ(result.why, caplets::check::sequence_replayed);
    }
    EXPECT_EQ(cached_.calculator.calls, 2);
}

TEST_F(verified_credentials, a_credential_revoked_after_it_was_remembered_is_refused) {
    build();
    caller& a = add_caller("a");
    caller& c0 = add_caller("c0");
    call_add(a, 1);
    call_add(c0, 1);
    EXPECT_TRUE(call_add(a, 2).remembered);
    auto credential_view = caplets::token_view::parse(a.token);
    ASSERT_TRUE(credential_view.has_value());
    ASSERT_TRUE(revoked_.add(credential_view->tag(), 0, now_seconds()));
    for (int i = 0; i < 2; ++i) {
        outcome result = feed(add_request(a, 3), &a);
        EXPECT_FALSE(result.accepted);
        EXPECT_EQ(result.why, caplets::check::revoked);
    }
    EXPECT_TRUE(call_add(c0, 2).remembered); // other callers are not affected
    EXPECT_EQ(cached_.calculator.calls, 4);
}

TEST_F(verified_credentials, a_key_changed_in_place_forgets_every_credential) {
    build();
    caller& a = add_caller("a");
    caller& c0 = add_caller("c0");
    call_add(a, 1);
    call_add(c0, 1);
    EXPECT_EQ(cached_.self->verified_credentials(), 2u);
    key_b_.bytes[0] ^= 0x01; // the owner replaced the key (both nodes use this object)
    outcome result = feed(add_request(a, 2), &a);
    EXPECT_FALSE(result.accepted);
    EXPECT_EQ(result.why, caplets::check::bad_tag);
    EXPECT_EQ(cached_.self->verified_credentials(), 0u);
    key_b_.bytes[0] ^= 0x01; // and back
    EXPECT_FALSE(call_add(a, 3).remembered);
    EXPECT_TRUE(call_add(a, 4).remembered);
    EXPECT_FALSE(call_add(c0, 2).remembered);
}

TEST_F(verified_credentials, a_new_credential_of_the_same_caller_replaces_the_remembered_one) {
    build();
    caller& a = add_caller("a");
    call_add(a, 1);
    const std::string_view only_add[] = {"add"};
    const import_rights rights[] = {{"calculator", only_add}};
    caller& narrower = add_caller("a", rights);
    auto reset = narrower.calculator->reset();
    reset.start();
    outcome result = feed(take_request(narrower), &narrower);
    EXPECT_FALSE(result.accepted);
    EXPECT_EQ(result.why, caplets::check::not_a_subset);
    EXPECT_TRUE(call_add(a, 2).remembered); // the refusal changed nothing
    EXPECT_FALSE(call_add(narrower, 1).remembered);
    EXPECT_TRUE(call_add(narrower, 2).remembered);
    EXPECT_FALSE(call_add(a, 3).remembered); // one slot per caller: replaced
    EXPECT_EQ(cached_.self->verified_credentials(), 1u);
}

TEST_F(verified_credentials, the_cache_never_grows_past_its_bound) {
    verified_bound_ = 3;
    build(3);
    std::vector<caller*> many;
    for (const char* name : caller_names)
        many.push_back(&add_caller(name));
    std::size_t remembered = 0;
    for (int round = 0; round < 3; ++round) {
        for (caller* c : many) {
            remembered += call_add(*c, round).remembered ? 1 : 0;
            remembered += call_add(*c, round + 10).remembered ? 1 : 0; // right after: remembered
            EXPECT_LE(cached_.self->verified_credentials(), 3u);
        }
    }
    // Nine callers in turn through three slots: each first call of a turn is verified in full
    // (its slot was taken by others meanwhile), each second one from the credential.
    EXPECT_EQ(remembered, 3 * many.size());
    EXPECT_EQ(cached_.self->verified_credentials(), 3u);
}

TEST_F(verified_credentials, a_credential_larger_than_the_slot_is_verified_in_full) {
    build(16, 64);
    caller& a = add_caller("a");
    EXPECT_FALSE(call_add(a, 1).remembered);
    EXPECT_FALSE(call_add(a, 2).remembered);
    EXPECT_EQ(cached_.self->verified_credentials(), 0u);
}

TEST_F(verified_credentials, sizes_are_checked_at_create) {
    collect out;
    caplets::secret_key key = random_key();
    node_config config;
    config.name = "b";
    config.verification_key = &key;
    config.verified_callers = 4097;
    EXPECT_EQ(node::create(config, out, clock_).error(), config_error::bad_sizes);
    config.verified_callers = 4;
    config.verified_credential_bytes = config.max_message_size + 1;
    EXPECT_EQ(node::create(config, out, clock_).error(), config_error::bad_sizes);
    config.verified_credential_bytes = 512;
    EXPECT_TRUE(node::create(config, out, clock_).has_value());
}

} // namespace
} // namespace amb::remote
