// Replay protection under attack (issue 12, holes 3-6): each test performs the attack against the
// portable core and checks that it fails. CTest: security.caplets.*
//
// - a holder of any token of the origin mints many holders to push a victim out of the store;
// - several `sequence` constraints in one leaf, the lower one last, to lower the watermark;
// - a key-exchange hello built from public frame bytes, with sequence UINT64_MAX, to lock the
//   victim out (recorded before the client proved anything);
// - deferred recording: a request refused after verification consumes nothing.
#include <caplets/caplets.hpp>
#include <caplets/channel.hpp>

#include "test_workshop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <vector>

namespace caplets {
namespace {

using test_support::root_spec;
using test_support::workshop;

frame_spec home(std::string_view prefix, std::uint64_t expires = 0) {
    frame_spec spec;
    spec.add_path(prefix, rights::read);
    if (expires != 0)
        spec.add_expires(expires);
    return spec;
}

token_view request(workshop& w, const token_view& holder, std::string_view path,
                   std::initializer_list<std::uint64_t> numbers) {
    frame_spec spec;
    spec.add_path_request(rights::read, path);
    for (std::uint64_t number : numbers)
        spec.add_sequence(number);
    return w.derive(holder, spec);
}

verify_context with(sequence_store& store, std::uint64_t now = 1000) {
    verify_context context;
    context.now = now;
    context.sequences = &store;
    return context;
}

check refusal(const workshop& w, const token_view& token, const verify_context& context) {
    auto verified = verify(w.key(), token, context);
    EXPECT_FALSE(verified);
    return verified ? check{} : verified.error().what;
}

// Hole 3 (at the core): the old store kept 64 holders and evicted the least recently used, so an
// attacker with any token of the origin derived 64 holders and replayed the victim's request.
TEST(replay, minted_holders_do_not_push_a_victim_out_of_the_store) {
    workshop w;
    memory_sequence_store store;
    token_view root = w.mint(root_spec());
    token_view victim = w.derive(root, home("/home/victim", 5000));
    token_view captured = request(w, victim, "/home/victim/diary", {100});
    ASSERT_TRUE(verify(w.key(), captured, with(store)));

    // The attacker: its own token of the same origin (same root here, and a second root
    // minted by the origin), and as many narrower holders as it likes.
    token_view attacker = w.derive(root, home("/home/mallory"));
    frame_spec other_root = root_spec();
    other_root.add_expires(9000);
    token_view second = w.derive(w.mint(other_root), home("/home/mallory"));
    int accepted = 0;
    for (int i = 0; i < 3 * static_cast<int>(memory_sequence_store::capacity); ++i) {
        const token_view& base = i % 2 == 0 ? attacker : second;
        const std::string own = "/home/mallory/" + std::to_string(i);
        token_view holder = w.derive(base, home(own));
        accepted += verify(w.key(), request(w, holder, own + "/x", {200}), with(store)) ? 1 : 0;
    }
    EXPECT_GT(accepted, 0);
    EXPECT_LT(accepted, 3 * static_cast<int>(memory_sequence_store::capacity));
    EXPECT_EQ(refusal(w, captured, with(store)), check::sequence_replayed);

    // The victim's root is full (the attacker shares it): the victim's own holder still works,
    // and roots the attacker does not hold are untouched.
    EXPECT_TRUE(verify(w.key(), request(w, victim, "/home/victim/diary", {101}), with(store)));
    token_view bystander = w.derive(w.mint(home("/srv")), home("/srv/data"));
    EXPECT_TRUE(verify(w.key(), request(w, bystander, "/srv/data/x", {1}), with(store)));
}

// Full of live entries: refused (fail closed), never an eviction; expired entries make room.
TEST(replay, a_full_store_refuses_until_entries_expire) {
    workshop w;
    memory_sequence_store store;
    std::vector<token_view> roots;
    for (std::size_t i = 0; i <= memory_sequence_store::max_roots; ++i) {
        const std::string prefix = "/r" + std::to_string(i);  // the spec holds a view of it
        roots.push_back(w.mint(home(prefix, 2000)));
    }
    for (std::size_t i = 0; i < memory_sequence_store::max_roots; ++i)
        ASSERT_TRUE(verify(w.key(), request(w, roots[i], "/r" + std::to_string(i) + "/x", {5}),
                           with(store)));
    token_view late = request(w, roots.back(), "/r16/x", {5});
    EXPECT_EQ(refusal(w, late, with(store)), check::sequence_unavailable);
    // At 2000 every token above has expired: their entries guard nothing any more.
    token_view fresh_root = w.mint(home("/fresh"));
    EXPECT_TRUE(verify(w.key(), request(w, fresh_root, "/fresh/x", {5}), with(store, 2000)));
}

// The floor: a holder the store does not know starts there, not at 0.
TEST(replay, unknown_holders_start_at_the_floor) {
    workshop w;
    memory_sequence_store store(1'000'000);
    token_view holder = w.derive(w.mint(root_spec()), home("/h"));
    EXPECT_EQ(refusal(w, request(w, holder, "/h/x", {999'999}), with(store)),
              check::sequence_replayed);
    EXPECT_TRUE(verify(w.key(), request(w, holder, "/h/x", {1'000'001}), with(store)));
}

// Hole 6: two sequence constraints, the lower one last. Recording them in order set the
// watermark to the lower one, so numbers between the two could be replayed.
TEST(replay, the_largest_of_several_sequence_numbers_is_recorded) {
    workshop w;
    memory_sequence_store store;
    token_view root = w.mint(root_spec());
    token_view holder = w.derive(root, home("/h"));
    ASSERT_TRUE(verify(w.key(), request(w, holder, "/h/x", {2000, 1500}), with(store)));
    sequence_key key{root.tag(), holder.tag()};
    EXPECT_EQ(store.last_accepted(key), 2000u);
    auto replayed = verify(w.key(), request(w, holder, "/h/x", {1800}), with(store));
    ASSERT_FALSE(replayed);
    EXPECT_EQ(replayed.error().what, check::sequence_replayed);
    EXPECT_EQ(replayed.error().current_sequence, 2000u);
    // Each number must be above the last accepted, not only the largest.
    EXPECT_EQ(refusal(w, request(w, holder, "/h/x", {3000, 1999}), with(store)),
              check::sequence_replayed);
}

// Deferred recording: verification records nothing; a request the verifier refuses afterwards
// (not granted, unknown procedure...) consumes nothing; commit records, once.
TEST(replay, deferred_numbers_are_recorded_only_by_commit) {
    workshop w;
    memory_sequence_store store;
    token_view root = w.mint(root_spec());
    token_view holder = w.derive(root, home("/h"));
    token_view first = request(w, holder, "/h/x", {10});
    verify_context context = with(store);
    context.defer_sequences = true;
    verification_details details;
    ASSERT_TRUE(verify(w.key(), first, context, &details));
    ASSERT_EQ(details.sequence_count, 1u);
    EXPECT_EQ(details.sequences[0].number, 10u);
    EXPECT_EQ(store.last_accepted({root.tag(), holder.tag()}), 0u);
    // The caller's own checks refuse it here: nothing was consumed, so it can come again.
    verification_details again;
    ASSERT_TRUE(verify(w.key(), first, context, &again));
    EXPECT_TRUE(check_sequences(context, again));
    EXPECT_TRUE(commit_sequences(context, again));
    EXPECT_EQ(store.last_accepted({root.tag(), holder.tag()}), 10u);
    auto twice = commit_sequences(context, details);
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().what, check::sequence_replayed);
    EXPECT_EQ(twice.error().frame, 2);
    // Deferring without details to carry the numbers cannot work: refused.
    EXPECT_EQ(refusal(w, request(w, holder, "/h/x", {20}), context), check::sequence_unavailable);
}

// Hole 5: the origin verifies a hello's encryption token without its tag (the tag is the shared
// secret), so anyone can build a hello from a victim's public frame bytes. It used to record the
// hello's sequence number at once: UINT64_MAX locked the victim out for good.
TEST(replay, a_forged_hello_does_not_move_the_victims_sequence_number) {
    using namespace channel;
    workshop w;
    memory_sequence_store store;
    token_view root = w.mint(root_spec());
    token_view victim = w.derive(root, home("/home/victim"));

    // The attacker has the victim's token bytes as they travel: frames, and no tag (zeroed
    // here: what derive() computes from it never leaves, the hello carries no tag).
    std::vector<std::uint64_t> copy(1024);
    std::memcpy(copy.data(), victim.bytes().data(), victim.bytes().size());
    auto* raw = reinterpret_cast<std::uint8_t*>(copy.data());
    auto* tag =
        std::search(raw, raw + victim.bytes().size(), victim.tag().begin(), victim.tag().end());
    ASSERT_NE(tag, raw + victim.bytes().size());
    std::fill(tag, tag + 32, 0);
    token_view public_frames = w.parse({raw, victim.bytes().size()});
    frame_spec forged;
    forged.add_encrypt();
    forged.add_sequence(std::numeric_limits<std::uint64_t>::max());
    token_view forged_encryption = w.derive(public_frames, forged);

    auto hello_of = [](const token_view& encryption, client_handshake& client,
                       std::vector<std::uint64_t>& storage) {
        storage.assign(hello_size(mode::tag_only, encryption.bytes().size()) / 8 + 1, 0);
        std::span<std::uint8_t> out(reinterpret_cast<std::uint8_t*>(storage.data()),
                                    storage.size() * 8);
        auto hello = client.start(encryption, mode::tag_only, out);
        EXPECT_TRUE(hello);
        return hello ? *hello : byte_view{};
    };
    verify_context context = with(store);
    std::vector<std::uint64_t> reply_storage(reply_size(mode::tag_only) / 8 + 1);
    std::span<std::uint8_t> reply(reinterpret_cast<std::uint8_t*>(reply_storage.data()),
                                  reply_storage.size() * 8);
    {
        client_handshake attacker;
        std::vector<std::uint64_t> storage;
        byte_view hello = hello_of(forged_encryption, attacker, storage);
        server_handshake server;
        // The token part verifies (its tag is never compared)...
        ASSERT_TRUE(server.on_hello(w.key(), hello, context, reply));
        // ...but the attacker cannot prove it knows K: nothing is recorded.
        std::array<std::uint8_t, client_proof_size> guess{};
        guess[0] = 3; // client proof message type
        EXPECT_FALSE(server.on_client_proof(guess));
    }
    EXPECT_EQ(store.last_accepted({root.tag(), victim.tag()}), 0u);

    // The victim's own key exchange with sequence 1000 still works, and is recorded.
    frame_spec genuine;
    genuine.add_encrypt();
    genuine.add_sequence(1000);
    token_view encryption = w.derive(victim, genuine);
    client_handshake client;
    std::vector<std::uint64_t> storage;
    byte_view hello = hello_of(encryption, client, storage);
    server_handshake server;
    auto answered = server.on_hello(w.key(), hello, context, reply);
    ASSERT_TRUE(answered);
    std::array<std::uint8_t, client_proof_size> proof_storage{};
    auto finished = client.on_server_reply(*answered, proof_storage);
    ASSERT_TRUE(finished);
    EXPECT_TRUE(server.on_client_proof(finished->proof));
    EXPECT_EQ(store.last_accepted({root.tag(), victim.tag()}), 1000u);

    // Replaying the victim's hello: refused at once (the number is taken).
    server_handshake replay;
    auto replayed = replay.on_hello(w.key(), hello, context, reply);
    ASSERT_FALSE(replayed);
    EXPECT_EQ(replayed.error().token.what, check::sequence_replayed);
}

} // namespace
} // namespace caplets
