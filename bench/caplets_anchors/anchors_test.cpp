// Tests of the benchmark `caplets` anchors: the macaroon verifier accepts the benchmark's
// macaroons and rejects a failing caveat, a wrong key and a tampered text; the CAPLets tokens
// the benchmark builds verify and carry the content of chain_content, frame by frame. A
// benchmark whose verifiers accept everything (or nothing) would time nothing worth comparing.
#include "macaroons_anchor.hpp"

#include <gtest/gtest.h>

namespace amb::caplets_anchors {
namespace {

caplets::verify_context at(std::uint64_t now) {
    caplets::verify_context context;
    context.now = now;
    return context;
}

TEST(chain, steps_narrow_the_path_or_add_an_earlier_expiry) {
    const std::vector<chain_step> chain = chain_content(6);
    ASSERT_EQ(chain.size(), 6u);
    EXPECT_EQ(caveat_text(chain[0]), "path = /home/alice");
    EXPECT_EQ(caveat_text(chain[1]), "path = /home/alice/photos");
    EXPECT_EQ(caveat_text(chain[2]), "time < 1767225600");
    EXPECT_EQ(chain[2].prefix, "/home/alice/photos");
    EXPECT_EQ(caveat_text(chain[3]), "path = /home/alice/photos/2025");
    EXPECT_EQ(caveat_text(chain[5]), "time < 1767139200");
    for (std::size_t steps : {1u, 5u, 10u, 20u})
        EXPECT_EQ(chain_content(steps).size(), steps);
}

TEST(macaroons, accepts_a_valid_macaroon) {
    const caplets::secret_key secret = bench_secret();
    for (std::size_t steps : {1u, 5u, 10u, 20u}) {
        const std::vector<chain_step> chain = chain_content(steps);
        auto text = mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain);
        ASSERT_TRUE(text);
        const macaroon_checker checker(chain.back().prefix, bench_now);
        EXPECT_TRUE(checker.verify_text(*text, secret)) << steps;
        auto token = deserialized_macaroon::parse(*text);
        ASSERT_TRUE(token);
        EXPECT_TRUE(checker.verify(*token, secret)) << steps;
        // Below the narrowest path is within every path caveat too.
        const macaroon_checker deeper(chain.back().prefix + "/notes.txt", bench_now);
        EXPECT_TRUE(deeper.verify(*token, secret)) << steps;
    }
}

TEST(macaroons, rejects_a_failing_caveat) {
    const caplets::secret_key secret = bench_secret();
    const std::vector<chain_step> chain = chain_content(5);
    auto token = deserialized_macaroon::parse(
        *mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain));
    ASSERT_TRUE(token);
    // Outside the narrowest path, or only a name that shares its prefix.
    EXPECT_FALSE(macaroon_checker("/home/alice", bench_now).verify(*token, secret));
    EXPECT_FALSE(macaroon_checker("/home/bob/photos/2025/11", bench_now).verify(*token, secret));
    EXPECT_FALSE(macaroon_checker("/home/alice/photos/2025/110", bench_now).verify(*token, secret));
    // At the expiry.
    EXPECT_FALSE(macaroon_checker(chain.back().prefix, first_expiry).verify(*token, secret));
    EXPECT_TRUE(macaroon_checker(chain.back().prefix, first_expiry - 1).verify(*token, secret));
}

TEST(macaroons, rejects_a_path_caveat_that_is_not_normalised) {
    const caplets::secret_key secret = bench_secret();
    std::vector<chain_step> chain = chain_content(3);
    chain[1].prefix = "/home/alice/../bob";
    auto text = mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain);
    ASSERT_TRUE(text);
    EXPECT_FALSE(macaroon_checker("/home/alice/../bob", bench_now).verify_text(*text, secret));
}

TEST(macaroons, rejects_a_wrong_key_and_tampering) {
    const caplets::secret_key secret = bench_secret();
    const std::vector<chain_step> chain = chain_content(5);
    const std::string text =
        *mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain);
    const macaroon_checker checker(chain.back().prefix, bench_now);
    caplets::secret_key other = bench_secret();
    other.bytes[7] ^= 0x01;
    EXPECT_FALSE(checker.verify_text(text, other));
    // Flip one base64 character at a time: nothing that still decodes may verify. The location
    // packet (the first 4 + 9 + size + 1 bytes) is a hint that macaroons leave out of the
    // signature by design, so characters that encode only it are skipped.
    const std::size_t location_bytes = 4 + 9 + macaroon_location.size() + 1;
    int accepted = 0;
    for (std::size_t i = location_bytes * 8 / 6; i < text.size(); ++i) {
        std::string tampered = text;
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        if (checker.verify_text(tampered, secret))
            ++accepted;
    }
    EXPECT_EQ(accepted, 0);
    EXPECT_FALSE(checker.verify_text("", secret));
    EXPECT_FALSE(checker.verify_text("not a macaroon", secret));
}

TEST(macaroons, text_is_v1_base64) {
    const caplets::secret_key secret = bench_secret();
    const std::string text =
        *mint_macaroon_v1(secret, macaroon_location, macaroon_identifier, chain_content(1));
    // V1 packets: 4 hex digits of length, "location ...\n", "identifier ...\n", "cid ...\n",
    // "signature " + 32 bytes + "\n"; base64 of their concatenation.
    const std::size_t packets =
        (4 + 9 + macaroon_location.size() + 1) + (4 + 11 + macaroon_identifier.size() + 1) +
        (4 + 4 + caveat_text(chain_content(1)[0]).size() + 1) + (4 + 10 + 32 + 1);
    EXPECT_GE(text.size(), 4 * packets / 3);
    EXPECT_LE(text.size(), 4 * ((packets + 2) / 3));
}

TEST(caplets, the_benchmark_tokens_verify_and_carry_the_chain) {
    const caplets::secret_key secret = bench_secret();
    for (std::size_t steps : {1u, 5u, 10u, 20u}) {
        const std::vector<chain_step> chain = chain_content(steps);
        auto token = build_caplets_token(secret, chain);
        ASSERT_TRUE(token) << steps;
        auto view = caplets::token_view::parse(token->bytes());
        ASSERT_TRUE(view) << steps;
        ASSERT_EQ(view->frame_count(), steps);
        auto granted = caplets::verify(secret, *view, at(bench_now));
        ASSERT_TRUE(granted) << steps << ": " << caplets::describe(granted.error().what);
        std::size_t expiries = 0;
        for (std::size_t i = 0; i < steps; ++i) {
            const caplets::frame& frame = view->frame_at(i);
            ASSERT_EQ(frame.capabilities.size(), 1u);
            const caplets::path_capability* path = frame.capabilities[0].path();
            ASSERT_NE(path, nullptr);
            EXPECT_EQ(path->prefix.view(), chain[i].prefix);
            EXPECT_EQ(path->rights, caplets::rights::all);
            if (chain[i].expires != 0)
                ++expiries;
            ASSERT_EQ(frame.constraints.size(), expiries) << "frame " << i;
            if (chain[i].expires != 0) {
                ASSERT_NE(frame.constraints[expiries - 1].expires(), nullptr);
                EXPECT_EQ(*frame.constraints[expiries - 1].expires(), chain[i].expires);
            }
        }
    }
}

TEST(caplets, the_benchmark_tokens_are_rejected_when_they_should_be) {
    const caplets::secret_key secret = bench_secret();
    auto token = build_caplets_token(secret, chain_content(5));
    ASSERT_TRUE(token);
    auto view = caplets::token_view::parse(token->bytes());
    ASSERT_TRUE(view);
    EXPECT_EQ(caplets::verify(secret, *view, at(first_expiry)).error().what,
              caplets::check::expired);
    caplets::secret_key other = bench_secret();
    other.bytes[7] ^= 0x01;
    EXPECT_EQ(caplets::verify(other, *view, at(bench_now)).error().what, caplets::check::bad_tag);
}

TEST(caplets, text_size_is_unpadded_base64url_after_the_prefix) {
    EXPECT_EQ(caplets_text_size(0), 5u);
    EXPECT_EQ(caplets_text_size(1), 5u + 2);
    EXPECT_EQ(caplets_text_size(2), 5u + 3);
    EXPECT_EQ(caplets_text_size(3), 5u + 4);
    EXPECT_EQ(caplets_text_size(296), 5u + 395);
}

}  // namespace
}  // namespace amb::caplets_anchors
