// The adversarial suite of the CAPLets library: valid tokens and requests, and every attack the
// design names, each rejected by the right check at the right frame.
#include <caplets/caplets.hpp>

#include "test_workshop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace caplets {
namespace {

using test_support::root_spec;
using test_support::workshop;

frame_spec path_spec(std::string_view prefix, std::uint8_t bits) {
    frame_spec spec;
    spec.add_path(prefix, bits);
    return spec;
}

frame_spec read_request(std::string_view path) {
    frame_spec spec;
    spec.add_path_request(rights::read, path);
    return spec;
}

verify_context at(std::uint64_t now) {
    verify_context context;
    context.now = now;
    return context;
}

reason rejected(const workshop& w, const token_view& token, const verify_context& context) {
    auto result = verify(w.key(), token, context);
    EXPECT_FALSE(result);
    return result ? reason{} : result.error();
}

// What a refused caller is told: the class of the check, never the check itself.
TEST(caplets, each_check_has_a_reason_class_for_the_caller) {
    EXPECT_EQ(refusal_of(check::revoked), lidl::refusal::revoked);
    EXPECT_EQ(refusal_of(check::expired), lidl::refusal::not_valid_now);
    EXPECT_EQ(refusal_of(check::not_yet_valid), lidl::refusal::not_valid_now);
    EXPECT_EQ(refusal_of(check::sequence_replayed), lidl::refusal::replayed);
    EXPECT_EQ(refusal_of(check::dynamic_rejected), lidl::refusal::not_permitted);
    EXPECT_EQ(refusal_of(check::endpoint_mismatch), lidl::refusal::not_permitted);
    EXPECT_EQ(refusal_of(check::bad_tag), lidl::refusal::invalid_token);
    EXPECT_EQ(refusal_of(check::audience_mismatch), lidl::refusal::invalid_token);
    for (int c = static_cast<int>(check::malformed); c <= static_cast<int>(check::dynamic_budget);
         ++c)
        EXPECT_NE(refusal_of(static_cast<check>(c)), lidl::refusal::unspecified) << c;
}

TEST(caplets, a_derived_request_is_granted) {
    workshop w;
    token_view root = w.mint(root_spec());
    token_view alice = w.derive(root, path_spec("/home/alice", rights::read | rights::write));
    token_view request = w.derive(alice, read_request("/home/alice/notes.txt"));
    auto granted = verify_request(w.key(), request, at(1000));
    ASSERT_TRUE(granted) << describe(granted.error().what);
    const path_request* op = (*granted)->path_request();
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->path.view(), "/home/alice/notes.txt");
    EXPECT_EQ(request.frame_count(), 3u);
}

TEST(caplets, tag_chain_is_hmac_over_frame_bytes) {
    workshop w;
    token_view root = w.mint(root_spec());
    token_view child = w.derive(root, path_spec("/a", rights::read));
    tag_bytes expected0 = amb::crypto::hmac_sha256::mac(w.key().bytes, root.frame_bytes(0));
    EXPECT_EQ(root.tag(), expected0);
    EXPECT_EQ(child.tag(), amb::crypto::hmac_sha256::mac(expected0, child.frame_bytes(1)));
    // Frames are copied into derived tokens byte for byte.
    EXPECT_TRUE(std::equal(root.frame_bytes(0).begin(), root.frame_bytes(0).end(),
                           child.frame_bytes(0).begin(), child.frame_bytes(0).end()));
}

TEST(caplets, every_tampered_byte_is_rejected) {
    workshop w;
    token_view root = w.mint(root_spec());
    frame_spec limits = path_spec("/home/alice", rights::read);
    limits.add_expires(5000);
    token_view alice = w.derive(root, limits);
    token_view request = w.derive(alice, read_request("/home/alice/x"));
    std::vector<std::uint8_t> original(request.bytes().begin(), request.bytes().end());
    std::vector<std::uint64_t> storage(original.size() / 8 + 1);
    auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
    int accepted = 0;
    for (std::size_t at_byte = 0; at_byte < original.size(); ++at_byte) {
        for (std::uint8_t flip : {0x01, 0x80, 0xff}) {
            std::memcpy(bytes, original.data(), original.size());
            bytes[at_byte] ^= flip;
            auto parsed = token_view::parse({bytes, original.size()});
            if (!parsed)
                continue;
            auto result = verify(w.key(), *parsed, at(1000));
            if (result)
                ++accepted;
        }
    }
    // Bytes covered by the MACs: all frame bytes and the tag. None of them may change.
    for (std::size_t f = 0; f < request.frame_count(); ++f) {
        byte_view frame_range = request.frame_bytes(f);
        std::size_t start = static_cast<std::size_t>(frame_range.data() - request.bytes().data());
        for (std::size_t i = start; i < start + frame_range.size(); ++i) {
            std::memcpy(bytes, original.data(), original.size());
            bytes[i] ^= 0x01;
            auto parsed = token_view::parse({bytes, original.size()});
            if (parsed) {
                EXPECT_FALSE(verify(w.key(), *parsed, at(1000))) << "frame " << f << " byte " << i;
            }
        }
    }
    EXPECT_EQ(accepted, 0);
}

TEST(caplets, every_truncation_is_rejected) {
    workshop w;
    token_view token = w.derive(w.mint(root_spec()), path_spec("/x", rights::read));
    std::vector<std::uint64_t> storage(token.bytes().size() / 8 + 1);
    auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
    std::memcpy(bytes, token.bytes().data(), token.bytes().size());
    for (std::size_t size = 0; size < token.bytes().size(); ++size)
        EXPECT_FALSE(token_view::parse({bytes, size})) << size;
}

TEST(caplets, wrong_key_and_other_origin_fail_the_tag) {
    workshop alice_origin(0x01);
    workshop bob_origin(0x02);
    token_view token = alice_origin.mint(root_spec());
    reason why = rejected(bob_origin, token, at(0));
    EXPECT_EQ(why.what, check::bad_tag);
    EXPECT_EQ(why.token, 0);
}

TEST(caplets, widened_rights_and_paths_are_not_subsets) {
    workshop w;
    token_view alice = w.derive(w.mint(root_spec()), path_spec("/home/alice", rights::read));
    struct attempt {
        const char* prefix;
        std::uint8_t bits;
        check expected;
    } attempts[] = {
        {"/home/alice", rights::read | rights::write, check::not_a_subset},
        {"/home", rights::read, check::not_a_subset},
        {"/home/alicia", rights::read, check::not_a_subset},
        {"/home/alice2", rights::read, check::not_a_subset},
        {"/home/alice/../bob", rights::read, check::bad_path},
        {"/home/alice/./x", rights::read, check::bad_path},
        {"/home/alice//x", rights::read, check::bad_path},
        {"home/alice", rights::read, check::bad_path},
        {"/home/alice/", rights::read, check::bad_path},
    };
    for (const attempt& a : attempts) {
        token_view widened = w.derive(alice, path_spec(a.prefix, a.bits));
        reason why = rejected(w, widened, at(0));
        EXPECT_EQ(why.what, a.expected) << a.prefix;
        EXPECT_EQ(why.frame, 2) << a.prefix;
        EXPECT_EQ(why.capability, 0) << a.prefix;
    }
    token_view narrower = w.derive(alice, path_spec("/home/alice/photos", rights::read));
    EXPECT_TRUE(verify(w.key(), narrower, at(0)));
}

// The path rule, stated plainly: split after the leading '/', every component non-empty, not "."
// or "..", without NUL. is_normalised_path must agree on every string of up to 7 bytes over the
// bytes that matter ('/', '.', a letter, NUL).
bool normalised_by_definition(std::string_view path) {
    if (path.empty() || path[0] != '/')
        return false;
    if (path == "/")
        return true;
    std::string_view rest = path.substr(1);
    while (true) {
        std::size_t slash = rest.find('/');
        std::string_view component = rest.substr(0, slash);
        if (component.empty() || component == "." || component == ".." ||
            component.find('\0') != std::string_view::npos)
            return false;
        if (slash == std::string_view::npos)
            return true;
        rest = rest.substr(slash + 1);
    }
}

TEST(caplets, normalised_paths_follow_the_definition) {
    const char alphabet[] = {'/', '.', 'a', '\0'};
    std::string path;
    std::size_t checked = 0;
    for (std::size_t length = 0; length <= 7; ++length) {
        std::size_t combinations = 1;
        for (std::size_t i = 0; i < length; ++i)
            combinations *= std::size(alphabet);
        for (std::size_t n = 0; n < combinations; ++n) {
            path.clear();
            for (std::size_t i = 0, rest = n; i < length; ++i, rest /= std::size(alphabet))
                path.push_back(alphabet[rest % std::size(alphabet)]);
            ASSERT_EQ(is_normalised_path(path), normalised_by_definition(path))
                << '"' << path << '"';
            ++checked;
        }
    }
    EXPECT_GT(checked, 20000u);
    EXPECT_TRUE(is_normalised_path("/home/alice/photos/2025"));
    EXPECT_TRUE(is_normalised_path("/.hidden/..x/x.."));
    EXPECT_FALSE(is_normalised_path("/home/alice/photos/.."));
}

// Verification checks only the part of a child path after the parent prefix that contains it
// (the parent's paths passed already); check_derivation, which cannot assume that of its
// parent, checks whole paths. Every path below a prefix, as a capability and as a request, must
// get the same answer and reason from both: those of up to 4 bytes over '/', '.', 'a', NUL after
// "/" (checked whole), after "/a" and after "/a/b.".
TEST(caplets, paths_below_a_prefix_are_checked_as_whole_paths) {
    const char alphabet[] = {'/', '.', 'a', '\0'};
    std::size_t refused = 0;
    std::size_t accepted = 0;
    for (const char* prefix : {"/", "/a", "/a/b."}) {
        workshop w;
        const token_view parent = w.derive(w.mint(root_spec()), path_spec(prefix, rights::all));
        ASSERT_TRUE(verify(w.key(), parent, at(0)));
        std::string path;
        for (std::size_t length = 0; length <= 4; ++length) {
            std::size_t combinations = 1;
            for (std::size_t i = 0; i < length; ++i)
                combinations *= std::size(alphabet);
            for (std::size_t n = 0; n < combinations; ++n) {
                path = prefix;
                for (std::size_t i = 0, rest = n; i < length; ++i, rest /= std::size(alphabet))
                    path.push_back(alphabet[rest % std::size(alphabet)]);
                for (const frame_spec& spec : {path_spec(path, rights::read), read_request(path)}) {
                    const token_view child = w.derive(parent, spec);
                    auto expected = check_derivation(parent.leaf(), child.leaf());
                    auto verified = verify(w.key(), child, at(0));
                    ASSERT_EQ(verified.has_value(), expected.has_value()) << '"' << path << '"';
                    if (expected) {
                        ++accepted;
                        continue;
                    }
                    ++refused;
                    EXPECT_EQ(verified.error().what, expected.error().what) << '"' << path << '"';
                    EXPECT_EQ(verified.error().frame, 2) << '"' << path << '"';
                    EXPECT_EQ(verified.error().capability, 0) << '"' << path << '"';
                }
            }
        }
    }
    EXPECT_GT(refused, 1000u);
    EXPECT_GT(accepted, 50u);
}

TEST(caplets, requests_must_match_a_right_and_a_path) {
    workshop w;
    token_view alice = w.derive(w.mint(root_spec()), path_spec("/home/alice", rights::read));
    frame_spec write;
    write.add_path_request(rights::write, "/home/alice/x");
    EXPECT_EQ(rejected(w, w.derive(alice, write), at(0)).what, check::not_a_subset);
    EXPECT_EQ(rejected(w, w.derive(alice, read_request("/home/alicia/x")), at(0)).what,
              check::not_a_subset);
    EXPECT_EQ(rejected(w, w.derive(alice, read_request("/home/alice/../bob")), at(0)).what,
              check::bad_path);
    frame_spec two_rights;
    two_rights.add_path_request(rights::read | rights::write, "/home/alice/x");
    EXPECT_EQ(rejected(w, w.derive(alice, two_rights), at(0)).what, check::not_a_subset);
}

TEST(caplets, dropped_constraints_are_caught) {
    workshop w;
    frame_spec limited = path_spec("/data", rights::read);
    limited.add_expires(5000);
    limited.add_not_before(10);
    token_view parent = w.derive(w.mint(root_spec()), limited);
    token_view dropped = w.derive(parent, path_spec("/data/x", rights::read), false);
    reason why = rejected(w, dropped, at(100));
    EXPECT_EQ(why.what, check::dropped_constraint);
    EXPECT_EQ(why.frame, 2);
    EXPECT_EQ(why.constraint, 0);
    // Keeping them but changing one value is dropping it too.
    frame_spec changed = path_spec("/data/x", rights::read);
    changed.add_expires(9000);
    changed.add_not_before(10);
    EXPECT_EQ(rejected(w, w.derive(parent, changed, false), at(100)).what,
              check::dropped_constraint);
}

TEST(caplets, nothing_derives_from_requests_or_encrypt_frames) {
    workshop w;
    token_view alice = w.derive(w.mint(root_spec()), path_spec("/home/alice", rights::read));
    token_view request = w.derive(alice, read_request("/home/alice/x"));
    token_view after_request = w.derive(request, read_request("/home/alice/x"));
    reason why = rejected(w, after_request, at(0));
    EXPECT_EQ(why.what, check::derived_from_leaf_only);
    EXPECT_EQ(why.frame, 3);

    frame_spec encrypt;
    encrypt.add_encrypt();
    token_view encryption = w.derive(alice, encrypt);
    EXPECT_TRUE(verify(w.key(), encryption, at(0)));
    EXPECT_EQ(rejected(w, w.derive(encryption, path_spec("/home/alice", rights::read)), at(0)).what,
              check::derived_from_leaf_only);
}

TEST(caplets, time_constraints) {
    workshop w;
    frame_spec window = path_spec("/x", rights::read);
    window.add_not_before(100);
    window.add_expires(200);
    token_view token = w.derive(w.mint(root_spec()), window);
    EXPECT_EQ(rejected(w, token, at(99)).what, check::not_yet_valid);
    EXPECT_TRUE(verify(w.key(), token, at(100)));
    EXPECT_TRUE(verify(w.key(), token, at(199)));
    reason why = rejected(w, token, at(200));
    EXPECT_EQ(why.what, check::expired);
    EXPECT_EQ(why.constraint, 1);
}

TEST(caplets, endpoint_constraints) {
    workshop w;
    const std::uint8_t net[4] = {10, 1, 0, 0};
    frame_spec spec = path_spec("/x", rights::read);
    spec.add_endpoint(net, 16);
    token_view token = w.derive(w.mint(root_spec()), spec);
    verify_context context = at(0);
    const std::uint8_t inside[4] = {10, 1, 200, 3};
    const std::uint8_t outside[4] = {10, 2, 0, 1};
    context.endpoint = inside;
    EXPECT_TRUE(verify(w.key(), token, context));
    context.endpoint = outside;
    EXPECT_EQ(rejected(w, token, context).what, check::endpoint_mismatch);
    context.endpoint = {};
    EXPECT_EQ(rejected(w, token, context).what, check::endpoint_mismatch);

    std::uint8_t v6_net[16] = {0x20, 0x01, 0x0d, 0xb8};
    frame_spec v6 = path_spec("/x", rights::read);
    v6.add_endpoint(v6_net, 33);
    token_view v6_token = w.derive(w.mint(root_spec()), v6);
    std::uint8_t v6_peer[16] = {0x20, 0x01, 0x0d, 0xb8, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    context.endpoint = v6_peer;
    EXPECT_TRUE(verify(w.key(), v6_token, context));
    v6_peer[4] = 0x80;  // the 33rd bit differs
    EXPECT_EQ(rejected(w, v6_token, context).what, check::endpoint_mismatch);
    EXPECT_FALSE(v6.add_endpoint(v6_net, 129));
}

TEST(caplets, revoking_a_token_revokes_its_derivations) {
    workshop w;
    token_view root = w.mint(root_spec());
    token_view alice = w.derive(root, path_spec("/home/alice", rights::read));
    token_view photos = w.derive(alice, path_spec("/home/alice/photos", rights::read));
    token_view bob = w.derive(root, path_spec("/home/bob", rights::read));
    revocation_list revoked;
    ASSERT_TRUE(revoked.add(alice.tag(), 0, 0));
    verify_context context = at(0);
    context.revoked = &revoked;
    reason why = rejected(w, alice, context);
    EXPECT_EQ(why.what, check::revoked);
    EXPECT_EQ(why.frame, 1);
    why = rejected(w, photos, context);
    EXPECT_EQ(why.what, check::revoked);
    EXPECT_EQ(why.frame, 1);  // the revoked ancestor
    EXPECT_TRUE(verify(w.key(), bob, context));
}

TEST(caplets, revocation_entries_expire) {
    revocation_list revoked;
    tag_bytes a{};
    a[0] = 1;
    tag_bytes b{};
    b[0] = 2;
    ASSERT_TRUE(revoked.add(a, 100, 0));
    ASSERT_TRUE(revoked.add(b, 0, 0));
    revoked.prune(100);
    EXPECT_FALSE(revoked.contains(a));
    EXPECT_TRUE(revoked.contains(b));
    for (std::size_t i = 0; i < revocation_list::capacity - 1; ++i) {
        tag_bytes t{};
        t[0] = 3;
        std::memcpy(t.data() + 1, &i, sizeof i);
        ASSERT_TRUE(revoked.add(t, 50, 0));
    }
    tag_bytes extra{};
    extra[0] = 4;
    EXPECT_FALSE(revoked.add(extra, 0, 10));  // full, and nothing has expired yet
    EXPECT_TRUE(revoked.add(extra, 0, 60));   // pruning makes room
}

TEST(caplets, replayed_and_out_of_order_sequences_are_rejected) {
    workshop w;
    token_view root = w.mint(root_spec());
    token_view alice = w.derive(root, path_spec("/home/alice", rights::read));
    memory_sequence_store store;
    verify_context context = at(0);
    context.sequences = &store;
    auto request = [&](std::uint64_t number) {
        frame_spec spec = read_request("/home/alice/x");
        spec.add_sequence(number);
        return w.derive(alice, spec);
    };
    EXPECT_TRUE(verify(w.key(), request(1000), context));
    reason why = rejected(w, request(1000), context);
    EXPECT_EQ(why.what, check::sequence_replayed);
    EXPECT_EQ(why.current_sequence, 1000u);
    EXPECT_EQ(rejected(w, request(999), context).what, check::sequence_replayed);
    EXPECT_TRUE(verify(w.key(), request(1001), context));
    // A rejected request (here: wrong key) consumes nothing.
    workshop other(0x07);
    EXPECT_FALSE(verify(other.key(), request(5000), context));
    EXPECT_EQ(store.last_accepted({root.tag(), alice.tag()}), 1001u);
    // Without a store, a sequence constraint cannot be honoured.
    EXPECT_EQ(rejected(w, request(2000), at(0)).what, check::sequence_unavailable);
}

// An identity token for `id`, bound to `request` by a signature constraint.
token_view identity_for(workshop& w, std::string_view id, const tag_bytes* bound_to) {
    frame_spec spec;
    spec.add_identity(id);
    token_view identity_root = w.mint(spec);
    frame_spec bind;
    bind.add_identity(id);
    if (bound_to != nullptr)
        bind.add_signature(*bound_to);
    return w.derive(identity_root, bind);
}

TEST(caplets, identity_constraints_need_a_bound_identity_token) {
    workshop w;
    frame_spec bob_only = path_spec("/shared", rights::read);
    bob_only.add_identity_constraint("bob");
    token_view shared = w.derive(w.mint(root_spec()), bob_only);
    token_view request = w.derive(shared, read_request("/shared/report"));
    token_view other_request = w.derive(shared, read_request("/shared/other"));

    // No auxiliary token.
    EXPECT_EQ(rejected(w, request, at(0)).what, check::identity_missing);

    verify_context context = at(0);
    token_view bob = identity_for(w, "bob", &request.tag());
    context.auxiliary = std::span<const token_view>(&bob, 1);
    EXPECT_TRUE(verify_request(w.key(), request, context));

    // Mismatched identity.
    token_view carol = identity_for(w, "carol", &request.tag());
    context.auxiliary = std::span<const token_view>(&carol, 1);
    EXPECT_EQ(rejected(w, request, context).what, check::identity_missing);

    // Reused: bob's token is bound to the first request, not this one.
    context.auxiliary = std::span<const token_view>(&bob, 1);
    EXPECT_EQ(rejected(w, other_request, context).what, check::identity_missing);

    // Unbound: an identity token without a signature constraint could be replayed anywhere.
    token_view unbound = identity_for(w, "bob", nullptr);
    context.auxiliary = std::span<const token_view>(&unbound, 1);
    EXPECT_EQ(rejected(w, request, context).what, check::identity_missing);

    // Forged: bob's identity token from another origin.
    workshop forger(0x09);
    token_view forged = identity_for(forger, "bob", &request.tag());
    context.auxiliary = std::span<const token_view>(&forged, 1);
    EXPECT_EQ(rejected(w, request, context).what, check::identity_missing);
}

TEST(caplets, services_and_call_requests) {
    workshop w;
    const std::string_view camera_procedures[] = {"capture", "describe"};
    frame_spec camera;
    camera.add_service("camera", camera_procedures, false);
    token_view token = w.derive(w.mint(root_spec()), camera);

    const std::string_view fewer[] = {"describe"};
    frame_spec narrower;
    narrower.add_service("camera", fewer, false);
    EXPECT_TRUE(verify(w.key(), w.derive(token, narrower), at(0)));

    const std::string_view more[] = {"describe", "reset"};
    frame_spec wider;
    wider.add_service("camera", more, false);
    EXPECT_EQ(rejected(w, w.derive(token, wider), at(0)).what, check::not_a_subset);

    frame_spec star;
    star.add_service("camera", {}, true);
    EXPECT_EQ(rejected(w, w.derive(token, star), at(0)).what, check::not_a_subset);

    const std::uint8_t arguments[] = {1, 2, 3};
    frame_spec call;
    call.add_call_request("camera", "capture", arguments);
    auto granted = verify_request(w.key(), w.derive(token, call), at(0));
    ASSERT_TRUE(granted);
    EXPECT_EQ((*granted)->call_request()->arguments.size(), 3u);

    frame_spec wrong;
    wrong.add_call_request("camera", "reset", {});
    EXPECT_EQ(rejected(w, w.derive(token, wrong), at(0)).what, check::not_a_subset);
    frame_spec other_service;
    other_service.add_call_request("door", "capture", {});
    EXPECT_EQ(rejected(w, w.derive(token, other_service), at(0)).what, check::not_a_subset);

    EXPECT_EQ(verify_request(w.key(), token, at(0)).error().what, check::not_a_request);
}

bool same_type_smaller_body(const extension_capability& child, const extension_capability& parent) {
    return child.type_id == parent.type_id && child.body.size() <= parent.body.size();
}

TEST(caplets, extension_capabilities_follow_the_application_rule) {
    workshop w;
    const std::uint8_t big[4] = {1, 2, 3, 4};
    const std::uint8_t small[2] = {1, 2};
    frame_spec parent;
    parent.add_extension(7, big);
    token_view token = w.derive(w.mint(root_spec()), parent);
    frame_spec child;
    child.add_extension(7, small);
    token_view derived = w.derive(token, child);
    EXPECT_EQ(rejected(w, derived, at(0)).what, check::not_a_subset);  // default: false
    verify_context context = at(0);
    context.extensions = same_type_smaller_body;
    EXPECT_TRUE(verify(w.key(), derived, context));
}

// A stand-in for a CapVM evaluator: accepts programs whose first byte is 1. It exercises the
// hook only; CapVM itself is tested in capvm/.
class first_byte_evaluator final : public dynamic_evaluator {
public:
    bool accepts(byte_view bytecode, const token_view&) override {
        return !bytecode.empty() && bytecode[0] == 1;
    }
};

TEST(caplets, dynamic_constraints_go_through_the_hook) {
    workshop w;
    const std::uint8_t accept[] = {1};
    const std::uint8_t reject[] = {0};
    frame_spec yes = path_spec("/x", rights::read);
    yes.add_capvm(accept);
    frame_spec no = path_spec("/x", rights::read);
    no.add_capvm(reject);
    token_view ok = w.derive(w.mint(root_spec()), yes);
    token_view bad = w.derive(w.mint(root_spec()), no);
    EXPECT_EQ(rejected(w, ok, at(0)).what, check::dynamic_unavailable);
    first_byte_evaluator evaluator;
    verify_context context = at(0);
    context.dynamic = &evaluator;
    EXPECT_TRUE(verify(w.key(), ok, context));
    EXPECT_EQ(rejected(w, bad, context).what, check::dynamic_rejected);
}

TEST(caplets, garbage_never_parses_as_a_token) {
    std::vector<std::uint64_t> storage(64);
    auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
    std::uint32_t state = 12345;
    for (int round = 0; round < 20000; ++round) {
        std::size_t size = state % 500;
        for (std::size_t i = 0; i < size; ++i) {
            state = state * 1103515245u + 12345u;
            bytes[i] = static_cast<std::uint8_t>(state >> 16);
        }
        // A garbage message that happens to parse still cannot carry a valid tag.
        auto parsed = token_view::parse({bytes, size});
        if (parsed) {
            workshop w;
            EXPECT_FALSE(verify(w.key(), *parsed, at(0)));
        }
    }
}

TEST(caplets, frame_spec_capacity_and_mint_checks) {
    frame_spec spec;
    for (std::size_t i = 0; i < frame_spec::capacity; ++i)
        EXPECT_TRUE(spec.add_root());
    EXPECT_FALSE(spec.add_root());
    workshop w;
    std::vector<std::uint64_t> storage(16);
    lidl::builder out(workshop::bytes_of(storage));
    const std::uint8_t not_a_frame[16] = {1, 0, 0, 0, 200, 0, 0, 0};
    EXPECT_EQ(mint(w.key(), not_a_frame, out).error(), build_error::bad_frame);
    for (int c = 1; c <= static_cast<int>(check::not_an_encryption_token); ++c)
        EXPECT_STRNE(describe(static_cast<check>(c)), "unknown check");
}

// --- verified prefixes (verify_context::prefix) and verification details -----------------------

TEST(caplets, verification_reports_the_holder_tag_it_computed) {
    workshop w;
    token_view root = w.mint(root_spec());
    token_view alice = w.derive(root, path_spec("/home/alice", rights::read));
    token_view request = w.derive(alice, read_request("/home/alice/x"));
    verification_details details;
    ASSERT_TRUE(verify_request(w.key(), request, at(0), &details));
    tag_bytes chain[3];
    chain_tags(w.key(), request, chain);
    EXPECT_EQ(details.holder, chain[1]);
    EXPECT_EQ(details.holder, alice.tag());  // the token the request was derived from
    EXPECT_EQ(details.reused_frames, 0u);
    verification_details of_root;
    ASSERT_TRUE(verify(w.key(), root, at(0), &of_root));
    EXPECT_EQ(of_root.holder, root.tag());  // one frame: its own tag, as the sequence holder
    // Refused: nothing is written.
    verification_details untouched;
    untouched.reused_frames = 99;
    workshop other(0x07);
    EXPECT_FALSE(verify(other.key(), request, at(0), &untouched));
    EXPECT_EQ(untouched.reused_frames, 99u);
    EXPECT_EQ(untouched.holder, tag_bytes{});
}

// Verifies every token twice, in full and from a verified prefix (each with its own sequence
// store, fed the same tokens), and expects the same outcome for the same reason.
class twin_verifier {
public:
    explicit twin_verifier(const secret_key& key) : key_(key) {}

    verify_context context;  // what both see, apart from the sequence store and the prefix
    verified_prefix& prefix() { return prefix_; }
    const std::vector<std::uint8_t>& storage() const { return storage_; }

    struct outcome {
        bool accepted = false;
        reason why{};
        std::size_t reused = 0;  // frames the cached verification took from the prefix
    };

    outcome check(const token_view& token) {
        verify_context full = context;
        full.sequences = &full_sequences_;
        full.prefix = nullptr;
        verify_context cached = context;
        cached.sequences = &cached_sequences_;
        cached.prefix = &prefix_;
        verification_details full_details, cached_details;
        auto in_full = verify(key_, token, full, &full_details);
        auto from_prefix = verify(key_, token, cached, &cached_details);
        EXPECT_EQ(in_full.has_value(), from_prefix.has_value());
        outcome result;
        result.accepted = in_full.has_value() && from_prefix.has_value();
        if (!in_full && !from_prefix) {
            const reason& a = in_full.error();
            const reason& b = from_prefix.error();
            EXPECT_EQ(a.what, b.what) << describe(a.what) << " / " << describe(b.what);
            EXPECT_EQ(a.token, b.token);
            EXPECT_EQ(a.frame, b.frame);
            EXPECT_EQ(a.capability, b.capability);
            EXPECT_EQ(a.constraint, b.constraint);
            EXPECT_EQ(a.current_sequence, b.current_sequence);
            result.why = a;
        }
        if (result.accepted) {
            EXPECT_EQ(full_details.holder, cached_details.holder);
            EXPECT_EQ(full_details.reused_frames, 0u);
            result.reused = cached_details.reused_frames;
        }
        return result;
    }

private:
    const secret_key& key_;
    std::vector<std::uint8_t> storage_ = std::vector<std::uint8_t>(512);
    verified_prefix prefix_{storage_};
    memory_sequence_store full_sequences_;
    memory_sequence_store cached_sequences_;
};

TEST(caplets, a_verified_prefix_is_reused_only_for_the_same_bytes) {
    workshop w;
    token_view root = w.mint(root_spec());
    frame_spec limits = path_spec("/home/alice", rights::read);
    limits.add_expires(5000);
    token_view alice = w.derive(root, limits);
    twin_verifier twin(w.key());
    twin.context = at(1000);
    EXPECT_TRUE(twin.prefix().empty());
    auto first = twin.check(w.derive(alice, read_request("/home/alice/a")));
    EXPECT_TRUE(first.accepted);
    EXPECT_EQ(first.reused, 0u);
    EXPECT_EQ(twin.prefix().frames(), 2u);  // root and alice: everything before the request
    auto second = twin.check(w.derive(alice, read_request("/home/alice/b")));
    EXPECT_TRUE(second.accepted);
    EXPECT_EQ(second.reused, 2u);
    // A longer token derived through alice reuses the two frames and verifies the rest.
    token_view photos = w.derive(alice, path_spec("/home/alice/photos", rights::read));
    auto longer = twin.check(w.derive(photos, read_request("/home/alice/photos/1")));
    EXPECT_TRUE(longer.accepted);
    EXPECT_EQ(longer.reused, 2u);
    EXPECT_EQ(twin.prefix().frames(), 3u);  // then remembers its own three
    // alice itself: no frame after the three remembered ones, so in full; it leaves its own
    // frames before the leaf (the root).
    auto itself = twin.check(alice);
    EXPECT_TRUE(itself.accepted);
    EXPECT_EQ(itself.reused, 0u);
    EXPECT_EQ(twin.prefix().frames(), 1u);
    // Another credential from the same root shares frame 0 only.
    token_view bob = w.derive(root, path_spec("/home/bob", rights::read));
    auto other = twin.check(w.derive(bob, read_request("/home/bob/x")));
    EXPECT_TRUE(other.accepted);
    EXPECT_EQ(other.reused, 1u);
    EXPECT_EQ(twin.prefix().frames(), 2u);  // root and bob
    EXPECT_EQ(twin.check(w.derive(alice, read_request("/home/alice/c"))).reused, 0u);
    EXPECT_EQ(twin.check(w.derive(alice, read_request("/home/alice/d"))).reused, 2u);
    // A one-frame token remembers nothing.
    twin.prefix().clear();
    EXPECT_TRUE(twin.check(root).accepted);
    EXPECT_TRUE(twin.prefix().empty());
    EXPECT_TRUE(std::all_of(twin.storage().begin(), twin.storage().end(),
                            [](std::uint8_t b) { return b == 0; }));
}

TEST(caplets, every_attack_is_refused_alike_with_a_verified_prefix) {
    workshop w;
    token_view root = w.mint(root_spec());
    frame_spec limits = path_spec("/home/alice", rights::read);
    limits.add_expires(5000);
    limits.add_not_before(100);
    token_view alice = w.derive(root, limits);
    revocation_list revoked;
    twin_verifier twin(w.key());
    twin.context = at(1000);
    twin.context.revoked = &revoked;
    std::uint64_t sequence = 1;
    auto request = [&](std::string_view path, std::uint64_t number) {
        frame_spec spec = read_request(path);
        spec.add_sequence(number);
        return w.derive(alice, spec);
    };
    auto warm = [&] {
        auto ok = twin.check(request("/home/alice/warm", ++sequence));
        EXPECT_TRUE(ok.accepted);
        EXPECT_EQ(twin.prefix().frames(), 2u);
    };
    warm();

    // Every flipped byte of a request: refused alike, and the prefix stays.
    token_view target = request("/home/alice/x", ++sequence);
    std::vector<std::uint8_t> original(target.bytes().begin(), target.bytes().end());
    std::vector<std::uint64_t> storage(original.size() / 8 + 1);
    auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
    int refused = 0;
    for (std::size_t at_byte = 0; at_byte < original.size(); ++at_byte) {
        for (std::uint8_t flip : {0x01, 0x80, 0xff}) {
            std::memcpy(bytes, original.data(), original.size());
            bytes[at_byte] ^= flip;
            auto parsed = token_view::parse({bytes, original.size()});
            if (!parsed)
                continue;
            EXPECT_FALSE(twin.check(*parsed).accepted) << at_byte;
            ++refused;
        }
    }
    EXPECT_GT(refused, 100);
    EXPECT_EQ(twin.prefix().frames(), 2u);
    auto untouched = twin.check(target);  // nothing consumed its sequence number
    EXPECT_TRUE(untouched.accepted);
    EXPECT_EQ(untouched.reused, 2u);

    // Forged: the same frames, tags from another key.
    workshop forger(0x09);
    token_view forged_alice = forger.derive(forger.mint(root_spec()), limits);
    frame_spec forged_request = read_request("/home/alice/x");
    forged_request.add_sequence(++sequence);
    EXPECT_EQ(twin.check(forger.derive(forged_alice, forged_request)).why.what, check::bad_tag);

    // Widened, dropped constraint, derived from a request.
    frame_spec write;
    write.add_path_request(rights::write, "/home/alice/x");
    write.add_sequence(++sequence);
    EXPECT_EQ(twin.check(w.derive(alice, write)).why.what, check::not_a_subset);
    EXPECT_EQ(twin.check(request("/home/alicia/x", ++sequence)).why.what, check::not_a_subset);
    EXPECT_EQ(twin.check(request("/home/alice/../bob", ++sequence)).why.what, check::bad_path);
    frame_spec dropped = read_request("/home/alice/x");
    dropped.add_sequence(++sequence);
    EXPECT_EQ(twin.check(w.derive(alice, dropped, false)).why.what, check::dropped_constraint);
    token_view first_request = request("/home/alice/x", ++sequence);
    EXPECT_EQ(twin.check(w.derive(first_request, read_request("/home/alice/y"))).why.what,
              check::derived_from_leaf_only);

    // Replay: the same request twice, and an older number.
    token_view once = request("/home/alice/once", ++sequence);
    EXPECT_TRUE(twin.check(once).accepted);
    auto replayed = twin.check(once);
    EXPECT_EQ(replayed.why.what, check::sequence_replayed);
    EXPECT_EQ(replayed.why.current_sequence, sequence);
    EXPECT_EQ(twin.check(request("/home/alice/old", 1)).why.what, check::sequence_replayed);

    // Time: the credential expires while its prefix is remembered, or is not valid yet.
    warm();
    twin.context.now = 5000;
    EXPECT_EQ(twin.check(request("/home/alice/x", ++sequence)).why.what, check::expired);
    twin.context.now = 99;
    EXPECT_EQ(twin.check(request("/home/alice/x", ++sequence)).why.what, check::not_yet_valid);
    twin.context.now = 1000;
    warm();

    // Revoked after its prefix was remembered: the credential, then only the root.
    ASSERT_TRUE(revoked.add(alice.tag(), 5000, 1000));
    auto revoked_alice = twin.check(request("/home/alice/x", ++sequence));
    EXPECT_EQ(revoked_alice.why.what, check::revoked);
    EXPECT_EQ(revoked_alice.why.frame, 1);
    revocation_list only_root;
    ASSERT_TRUE(only_root.add(root.tag(), 0, 1000));
    twin.context.revoked = &only_root;
    auto revoked_root = twin.check(request("/home/alice/x", ++sequence));
    EXPECT_EQ(revoked_root.why.what, check::revoked);
    EXPECT_EQ(revoked_root.why.frame, 0);
    twin.context.revoked = &revoked;
    revoked.prune(6000);  // a revocation that went away: accepted again, from the prefix
    EXPECT_EQ(revoked.size(), 0u);
    auto again = twin.check(request("/home/alice/x", ++sequence));
    EXPECT_TRUE(again.accepted);
    EXPECT_EQ(again.reused, 2u);
    EXPECT_EQ(twin.prefix().frames(), 2u);
}

TEST(caplets, request_dependent_constraints_still_run_with_a_verified_prefix) {
    workshop w;
    const std::uint8_t accept[] = {1};
    const std::uint8_t net[4] = {10, 1, 0, 0};
    frame_spec spec = path_spec("/x", rights::read);
    spec.add_capvm(accept);
    spec.add_endpoint(net, 16);
    spec.add_identity_constraint("bob");
    token_view credential = w.derive(w.mint(root_spec()), spec);
    first_byte_evaluator evaluator;
    twin_verifier twin(w.key());
    twin.context = at(0);
    twin.context.dynamic = &evaluator;
    const std::uint8_t inside[4] = {10, 1, 2, 3};
    const std::uint8_t outside[4] = {10, 2, 2, 3};
    twin.context.endpoint = inside;
    token_view request = w.derive(credential, read_request("/x/a"));
    token_view bob = identity_for(w, "bob", &request.tag());
    twin.context.auxiliary = std::span<const token_view>(&bob, 1);
    EXPECT_TRUE(twin.check(request).accepted);
    ASSERT_EQ(twin.prefix().frames(), 2u);
    // The same request from outside the endpoint, without its identity token, with an identity
    // token bound to another request, and with an evaluator that refuses.
    twin.context.endpoint = outside;
    EXPECT_EQ(twin.check(request).why.what, check::endpoint_mismatch);
    twin.context.endpoint = inside;
    twin.context.auxiliary = {};
    EXPECT_EQ(twin.check(request).why.what, check::identity_missing);
    token_view other = w.derive(credential, read_request("/x/b"));
    twin.context.auxiliary = std::span<const token_view>(&bob, 1);
    EXPECT_EQ(twin.check(other).why.what, check::identity_missing);
    twin.context.dynamic = nullptr;
    EXPECT_EQ(twin.check(request).why.what, check::dynamic_unavailable);
    const std::uint8_t reject[] = {0};
    frame_spec refusing = read_request("/x/a");
    refusing.add_capvm(reject);  // the request adds a program of its own, checked first
    refusing.inherit_constraints(credential.leaf());
    twin.context.dynamic = &evaluator;
    EXPECT_EQ(twin.check(w.derive(credential, refusing, false)).why.what,
              check::dynamic_rejected);
    auto accepted = twin.check(request);
    EXPECT_TRUE(accepted.accepted);
    EXPECT_EQ(accepted.reused, 2u);
}

TEST(caplets, a_verified_prefix_needs_the_same_extension_rule_and_room) {
    workshop w;
    const std::uint8_t big[4] = {1, 2, 3, 4};
    const std::uint8_t small[2] = {1, 2};
    frame_spec parent;
    parent.add_extension(7, big);
    token_view token = w.derive(w.mint(root_spec()), parent);
    frame_spec child;
    child.add_extension(7, small);
    twin_verifier twin(w.key());
    twin.context = at(0);
    twin.context.extensions = same_type_smaller_body;
    EXPECT_TRUE(twin.check(w.derive(token, child)).accepted);
    ASSERT_EQ(twin.prefix().frames(), 2u);
    EXPECT_EQ(twin.check(w.derive(token, child)).reused, 2u);
    // Under another rule the remembered links mean nothing: verified in full (and refused).
    twin.context.extensions = nullptr;
    frame_spec grandchild;
    grandchild.add_extension(7, small);
    token_view deeper = w.derive(w.derive(token, child), grandchild);
    EXPECT_EQ(twin.check(deeper).why.what, check::not_a_subset);
    EXPECT_EQ(twin.prefix().frames(), 2u);

    // A prefix larger than the storage, or with more than max_frames frames, is not remembered.
    std::uint8_t tiny_storage[16];
    verified_prefix tiny(tiny_storage);
    verify_context context = at(0);
    context.prefix = &tiny;
    token_view alice = w.derive(w.mint(root_spec()), path_spec("/home/alice", rights::read));
    EXPECT_TRUE(verify(w.key(), w.derive(alice, read_request("/home/alice/x")), context));
    EXPECT_TRUE(tiny.empty());
    std::vector<std::uint8_t> roomy_storage(4096);
    verified_prefix roomy(roomy_storage);
    context.prefix = &roomy;
    token_view deep = alice;
    for (std::size_t i = 0; i < verified_prefix::max_frames; ++i)
        deep = w.derive(deep, path_spec("/home/alice", rights::read));
    EXPECT_TRUE(verify(w.key(), w.derive(deep, read_request("/home/alice/x")), context));
    EXPECT_TRUE(roomy.empty());
    // Nothing is remembered without storage at all.
    verified_prefix none;
    context.prefix = &none;
    EXPECT_TRUE(verify(w.key(), w.derive(alice, read_request("/home/alice/x")), context));
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.capacity(), 0u);
}

TEST(caplets, an_encryption_token_verifies_alike_from_a_verified_prefix) {
    workshop w;
    token_view alice = w.derive(w.mint(root_spec()), path_spec("/home/alice", rights::read));
    frame_spec encrypt;
    encrypt.add_encrypt();
    token_view encryption = w.derive(alice, encrypt);
    std::vector<std::uint8_t> storage(512);
    verified_prefix prefix(storage);
    verify_context context = at(0);
    context.prefix = &prefix;
    auto first = verify_encryption_token(w.key(), encryption, context);
    ASSERT_TRUE(first);
    EXPECT_EQ(prefix.frames(), 2u);
    auto second = verify_encryption_token(w.key(), encryption, context);
    ASSERT_TRUE(second);
    EXPECT_EQ(*first, *second);
    EXPECT_EQ(*first, encryption.tag());
}

}  // namespace
}  // namespace caplets
