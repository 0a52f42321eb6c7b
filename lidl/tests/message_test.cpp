// Building and reading messages: round trips of every type, relocation, buffers that are too
// small, and systematic corruption of a valid message (every byte, every bit) under the
// verifier, which must reject or accept without ever reading outside the buffer.
#include "test_messages.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace lidl_test {
namespace {

std::vector<std::uint8_t> everything_bytes() {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    EXPECT_NE(build_everything(out), nullptr);
    auto finished = out.finish();
    EXPECT_TRUE(finished);
    return {finished->begin(), finished->end()};
}

TEST(message, round_trip_of_every_type) {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    ASSERT_NE(build_everything(out), nullptr);
    auto bytes = out.finish();
    ASSERT_TRUE(bytes);
    auto message = lidl::verify<everything>(*bytes);
    ASSERT_TRUE(message) << lidl::describe(message.error().kind);
    EXPECT_EQ(check_everything(*message.value()), nullptr);
}

TEST(message, reads_are_in_place) {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    ASSERT_NE(build_everything(out), nullptr);
    auto message = lidl::verify<everything>(*out.finish());
    ASSERT_TRUE(message);
    std::string_view text = message.value()->text;
    std::span<const std::uint8_t> blob = message.value()->blob;
    auto inside = [&](const void* p) {
        auto* byte = static_cast<const std::uint8_t*>(p);
        return byte >= buffer.data() && byte < buffer.data() + buffer.size();
    };
    EXPECT_TRUE(inside(text.data()));
    EXPECT_TRUE(inside(blob.data()));
}

TEST(message, survives_memcpy_to_another_buffer) {
    std::vector<std::uint8_t> original = everything_bytes();
    aligned_buffer moved(original.size());
    std::memcpy(moved.data(), original.data(), original.size());
    auto message = lidl::verify<everything>(moved.bytes());
    ASSERT_TRUE(message);
    EXPECT_EQ(check_everything(*message.value()), nullptr);
}

TEST(message, zeroed_root_is_valid_and_empty) {
    aligned_buffer buffer(1024);
    lidl::builder out(buffer.bytes());
    everything* root = out.create_root<everything>();
    ASSERT_NE(root, nullptr);
    // `level` declares no value 0, so a zeroed `level` is invalid (docs/lidl.md: give enums a
    // zero value when unset fields must stay valid).
    auto unset = lidl::verify<everything>(*out.finish());
    ASSERT_FALSE(unset);
    EXPECT_EQ(unset.error().kind, lidl::error::bad_enum);
    root->s.l = level::high;
    auto message = lidl::verify<everything>(*out.finish());
    ASSERT_TRUE(message) << lidl::describe(message.error().kind);
    const everything& e = *message.value();
    EXPECT_TRUE(e.text.empty());
    EXPECT_TRUE(e.words.empty());
    EXPECT_FALSE(e.maybe_number.has_value());
    EXPECT_EQ(e.maybe_number.get(), nullptr);
    EXPECT_FALSE(e.main_shape.has_value());
    EXPECT_EQ(e.main_shape.circle(), nullptr);
    EXPECT_EQ(e.s.c, color::red);
}

TEST(message, every_too_small_buffer_fails_cleanly) {
    const std::size_t needed = everything_bytes().size();
    for (std::size_t size = 0; size < needed; ++size) {
        aligned_buffer buffer(size);
        lidl::builder out(buffer.bytes());
        EXPECT_EQ(build_everything(out), nullptr) << size;
        if (out.failed()) {
            EXPECT_EQ(out.finish().error(), lidl::error::buffer_too_small) << size;
        }
    }
    aligned_buffer exact(needed);
    lidl::builder out(exact.bytes());
    EXPECT_NE(build_everything(out), nullptr);
    EXPECT_EQ(out.size(), needed);
}

TEST(message, large_values) {
    const std::size_t mebibyte = 1 << 20;
    aligned_buffer buffer(mebibyte * 3);
    lidl::builder out(buffer.bytes());
    everything* e = out.create_root<everything>();
    ASSERT_NE(e, nullptr);
    e->s.l = level::high;
    std::string text(mebibyte, 'x');
    text.back() = 'y';
    ASSERT_TRUE(out.set(e->text, text));
    std::vector<std::uint64_t> wide(100000);
    for (std::size_t i = 0; i < wide.size(); ++i)
        wide[i] = i * i;
    ASSERT_TRUE(out.set(e->wide, std::span<const std::uint64_t>(wide)));
    auto message = lidl::verify<everything>(*out.finish());
    ASSERT_TRUE(message);
    EXPECT_EQ(message.value()->text.size(), mebibyte);
    EXPECT_EQ(message.value()->text.view().back(), 'y');
    EXPECT_EQ(message.value()->wide[99999], 99999ULL * 99999ULL);
}

TEST(message, reset_reuses_the_buffer) {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    ASSERT_NE(build_everything(out), nullptr);
    std::size_t first = out.size();
    out.reset();
    ASSERT_NE(build_everything(out), nullptr);
    EXPECT_EQ(out.size(), first);
    EXPECT_TRUE(lidl::verify<everything>(*out.finish()));
}

TEST(message, deep_copy_preserves_everything) {
    std::vector<std::uint8_t> original = everything_bytes();
    aligned_buffer source(original.size());
    std::memcpy(source.data(), original.data(), original.size());
    auto message = lidl::verify<everything>(source.bytes());
    ASSERT_TRUE(message);
    aligned_buffer target(original.size() * 2);
    lidl::builder out(target.bytes());
    ASSERT_NE(lidl::copy_root(out, *message.value()), nullptr);
    auto copied = lidl::verify<everything>(*out.finish());
    ASSERT_TRUE(copied) << lidl::describe(copied.error().kind) << " " << copied.error().type << "." << copied.error().field;
    EXPECT_EQ(check_everything(*copied.value()), nullptr);
    EXPECT_EQ(out.size(), original.size());  // the same layout, byte count for byte count
}

// After any corruption, verification either rejects the message or accepts one that can be
// read in full (a deep copy reads every reachable byte; ASan and UBSan watch in the asan preset).
void check_corrupted(std::span<std::uint8_t> bytes) {
    auto message = lidl::verify<everything>(bytes);
    if (!message)
        return;
    aligned_buffer copy_buffer(bytes.size() * 5 + 64);
    lidl::builder out(copy_buffer.bytes());
    const everything* copied = lidl::copy_root(out, *message.value());
    ASSERT_NE(copied, nullptr);
    ASSERT_TRUE(lidl::verify<everything>(*out.finish()));
}

TEST(message, every_single_byte_corruption_is_handled) {
    std::vector<std::uint8_t> original = everything_bytes();
    aligned_buffer buffer(original.size());
    for (std::size_t at = 0; at < original.size(); ++at) {
        for (std::uint8_t value : {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff}) {
            std::memcpy(buffer.data(), original.data(), original.size());
            buffer.data()[at] = value;
            check_corrupted(buffer.bytes());
        }
    }
}

TEST(message, every_bit_flip_is_handled) {
    std::vector<std::uint8_t> original = everything_bytes();
    aligned_buffer buffer(original.size());
    for (std::size_t bit = 0; bit < original.size() * 8; ++bit) {
        std::memcpy(buffer.data(), original.data(), original.size());
        buffer.data()[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        check_corrupted(buffer.bytes());
    }
}

TEST(message, every_truncation_is_rejected_or_safe) {
    std::vector<std::uint8_t> original = everything_bytes();
    for (std::size_t size = 0; size < original.size(); ++size) {
        aligned_buffer buffer(size);
        std::memcpy(buffer.data(), original.data(), size);
        auto message = lidl::verify<everything>(buffer.bytes());
        // The last bytes of a message are referenced data, so any truncation loses some of it.
        EXPECT_FALSE(message) << size;
    }
}

}  // namespace
}  // namespace lidl_test
