// Tests of the benchmark `lidl` anchors: each system's verify_read, run on the message it built,
// returns the checksum worked out by hand from the input values, and each rejects bytes it can
// tell are damaged. A benchmark whose anchors read garbage would time nothing worth comparing.
#include "anchors.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace amb::lidl_anchors {
namespace {

// sample_checksum(make_sample()) derived from the values alone, without reading any message:
//   payload: i*7+3 mod 256 visits every residue once per 256 bytes (7 is odd), so each of the
//   16 blocks of 256 sums to 0+1+...+255 = 32640;
//   label: 26 bytes, first byte 'c' (99); tags: 16 of 6 bytes.
std::uint64_t hand_checksum() {
    const std::uint64_t scalars = 0x0123456789abcdefULL + 1732536000123456789ULL +
                                  std::bit_cast<std::uint32_t>(21.5F) +
                                  std::bit_cast<std::uint32_t>(63.25F) + 40017 + 0x00a5 + 3 + 1;
    return scalars + 26 + 'c' + 16 * 32640 + 16 * 6;
}

// Owning, word-aligned copies of built bytes (std::vector's storage is aligned for any scalar),
// as a receiver would hold them.
std::vector<std::uint8_t> copy(std::span<const std::uint8_t> bytes) {
    return {bytes.begin(), bytes.end()};
}

TEST(anchors, hand_checksum_matches_the_shared_definition) {
    EXPECT_EQ(sample_checksum(make_sample()), hand_checksum());
}

TEST(anchors, capnp_reads_back_what_it_built) {
    const sample_values sample = make_sample();
    capnp_builder builder;
    const std::vector<std::uint8_t> first = copy(builder.build(sample));
    EXPECT_EQ(capnp_verify_read(first), hand_checksum());
    // A second build reuses the zeroed scratch and must give the same bytes.
    const std::vector<std::uint8_t> second = copy(builder.build(sample));
    EXPECT_EQ(first, second);
    // One segment, framed in place: the table says one segment of all the remaining words.
    ASSERT_GE(first.size(), 8U);
    std::uint32_t table[2];
    std::memcpy(table, first.data(), sizeof table);
    EXPECT_EQ(table[0], 0U);
    EXPECT_EQ(table[1] * 8U + 8U, first.size());
}

TEST(anchors, capnp_falls_back_when_the_scratch_is_too_small) {
    const sample_values sample = make_sample();
    capnp_builder builder(64);
    const std::vector<std::uint8_t> bytes = copy(builder.build(sample));
    EXPECT_EQ(capnp_verify_read(bytes), hand_checksum());
}

TEST(anchors, flatbuffers_reads_back_what_it_built) {
    const sample_values sample = make_sample();
    flatbuffers_builder builder;
    const std::vector<std::uint8_t> first = copy(builder.build(sample));
    EXPECT_EQ(flatbuffers_verify_read(first), hand_checksum());
    const std::vector<std::uint8_t> second = copy(builder.build(sample));
    EXPECT_EQ(first, second);
}

TEST(anchors, capnp_rejects_damaged_bytes) {
    capnp_builder builder;
    const std::vector<std::uint8_t> bytes = copy(builder.build(make_sample()));

    // Truncated by whole words: the segment table promises more than there is.
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 64);
    EXPECT_EQ(capnp_verify_read(truncated), std::nullopt);
    EXPECT_EQ(capnp_verify_read({}), std::nullopt);

    // Not a whole number of words.
    std::vector<std::uint8_t> ragged(bytes.begin(), bytes.end() - 3);
    EXPECT_EQ(capnp_verify_read(ragged), std::nullopt);

    // The root struct pointer (the word after the table) aimed far past the segment.
    std::vector<std::uint8_t> corrupted = bytes;
    const std::uint32_t far_offset = 0x00100000U << 2;  // struct pointer, offset 2^20 words
    std::memcpy(corrupted.data() + 8, &far_offset, sizeof far_offset);
    EXPECT_EQ(capnp_verify_read(corrupted), std::nullopt);

    // Misaligned bytes are refused rather than read.
    std::vector<std::uint8_t> shifted(bytes.size() + 1);
    std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
    EXPECT_EQ(capnp_verify_read(std::span(shifted).subspan(1)), std::nullopt);
}

TEST(anchors, flatbuffers_rejects_damaged_bytes) {
    flatbuffers_builder builder;
    const std::vector<std::uint8_t> bytes = copy(builder.build(make_sample()));

    // Truncated: the first-built objects (at the end of the buffer) are cut off.
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 64);
    EXPECT_EQ(flatbuffers_verify_read(truncated), std::nullopt);
    EXPECT_EQ(flatbuffers_verify_read({}), std::nullopt);

    // The root offset aimed past the end of the buffer.
    std::vector<std::uint8_t> corrupted = bytes;
    const std::uint32_t far_offset = 0x00100000U;
    std::memcpy(corrupted.data(), &far_offset, sizeof far_offset);
    EXPECT_EQ(flatbuffers_verify_read(corrupted), std::nullopt);

    // The payload's length field grown past the end of the buffer.
    std::vector<std::uint8_t> long_payload = bytes;
    const std::vector<std::uint8_t>& payload = make_sample().payload;
    auto at = std::search(long_payload.begin(), long_payload.end(), payload.begin(), payload.end());
    ASSERT_NE(at, long_payload.end());
    const std::uint32_t too_long = 0x00100000U;
    std::memcpy(&*(at - 4), &too_long, sizeof too_long);
    EXPECT_EQ(flatbuffers_verify_read(long_payload), std::nullopt);
}

class read_text_test : public testing::TestWithParam<std::size_t> {};

TEST_P(read_text_test, both_systems_read_length_and_first_byte) {
    const std::string text = make_text(GetParam());
    const text_summary expected{text.size(), text.empty() ? std::uint8_t{0} : std::uint8_t{'a'}};

    const std::vector<std::uint8_t> capnp_bytes = capnp_build_text(text);
    EXPECT_EQ(capnp_read_text(capnp_bytes), expected);
    const std::vector<std::uint8_t> flatbuffers_bytes = flatbuffers_build_text(text);
    EXPECT_EQ(flatbuffers_read_text(flatbuffers_bytes), expected);

    // Cut to the first half (whole words, so capnp sees a short message, not a ragged one).
    const std::size_t half = capnp_bytes.size() / 16 * 8;
    EXPECT_EQ(capnp_read_text(std::span(capnp_bytes).first(half)), std::nullopt);
    EXPECT_EQ(
        flatbuffers_read_text(std::span(flatbuffers_bytes).first(flatbuffers_bytes.size() / 2)),
        std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(anchors, read_text_test, testing::Values(0, 16, 1 << 20));

}  // namespace
}  // namespace amb::lidl_anchors
