// The verifier rejects each kind of malformed message with the right reason and location.
#include "test_messages.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace lidl_test {
namespace {

// A valid `everything` message in a buffer, with the root and typed pointers into it so that
// a test can corrupt one field.
struct fixture {
    aligned_buffer buffer{16384};
    lidl::builder out{buffer.bytes()};
    everything* root = build_everything(out);
    std::size_t size = out.size();

    std::span<const std::uint8_t> bytes() { return {buffer.data(), size}; }
    std::uint32_t offset_of(const void* p) {
        return static_cast<std::uint32_t>(static_cast<const std::uint8_t*>(p) - buffer.data());
    }
    template <class T>
    void poke(void* at, T value) {
        std::memcpy(at, &value, sizeof value);
    }
    lidl::verify_error rejected() {
        auto message = lidl::verify<everything>(bytes());
        EXPECT_FALSE(message);
        return message ? lidl::verify_error{} : message.error();
    }
};

TEST(verifier, accepts_the_valid_message) {
    fixture f;
    ASSERT_NE(f.root, nullptr);
    EXPECT_TRUE(lidl::verify<everything>(f.bytes()));
}

TEST(verifier, rejects_misaligned_buffers) {
    fixture f;
    aligned_buffer shifted(f.size + 1);
    std::memcpy(shifted.data() + 1, f.buffer.data(), f.size);
    auto message = lidl::verify<everything>(shifted.bytes().subspan(1));
    ASSERT_FALSE(message);
    EXPECT_EQ(message.error().kind, lidl::error::misaligned_buffer);
}

TEST(verifier, rejects_bad_headers) {
    fixture f;
    EXPECT_EQ(lidl::verify<everything>(f.bytes().first(7)).error().kind, lidl::error::truncated);
    f.buffer.data()[0] = 2;  // format version
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_header);
    f.buffer.data()[0] = 1;
    f.buffer.data()[2] = 1;  // flags
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_header);
    f.buffer.data()[2] = 0;
    f.poke<std::uint32_t>(f.buffer.data() + 4, 4);  // root smaller than `everything`
    EXPECT_EQ(f.rejected().kind, lidl::error::object_too_small);
    f.poke<std::uint32_t>(f.buffer.data() + 4, static_cast<std::uint32_t>(f.size));
    EXPECT_EQ(f.rejected().kind, lidl::error::truncated);
}

TEST(verifier, names_the_type_and_field_of_a_bad_bool) {
    fixture f;
    f.poke<std::uint8_t>(&f.root->s.b, 2);
    lidl::verify_error e = f.rejected();
    EXPECT_EQ(e.kind, lidl::error::bad_bool);
    EXPECT_EQ(e.offset, f.offset_of(&f.root->s.b));
    EXPECT_STREQ(e.type, "lidl_test::scalars");
    EXPECT_STREQ(e.field, "b");
}

TEST(verifier, rejects_undeclared_enum_values) {
    fixture f;
    f.poke<std::uint8_t>(&f.root->s.c, 3);  // color declares 0, 1, 7
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_enum);
    f.poke<std::uint8_t>(&f.root->s.c, 7);
    f.poke<std::int16_t>(&f.root->s.l, 0);  // level declares -5, 300
    lidl::verify_error e = f.rejected();
    EXPECT_EQ(e.kind, lidl::error::bad_enum);
    EXPECT_STREQ(e.field, "l");
}

TEST(verifier, rejects_bad_optional_flags) {
    fixture f;
    f.poke<std::uint8_t>(&f.root->maybe_number, 2);
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_optional_flag);
}

TEST(verifier, rejects_unknown_union_tags_and_empty_unions_with_data) {
    fixture f;
    f.poke<std::uint32_t>(&f.root->main_shape, 99);
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_union_tag);
    f.poke<std::uint32_t>(&f.root->main_shape, 0);  // empty, but still pointing at data
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_offset);
}

TEST(verifier, rejects_a_union_whose_alternative_is_too_small) {
    fixture f;
    // main_shape holds a circle (a point, 8 bytes); claim it is 4 bytes long.
    f.poke<std::uint32_t>(reinterpret_cast<std::uint8_t*>(&f.root->main_shape) + 8, 4);
    EXPECT_EQ(f.rejected().kind, lidl::error::object_too_small);
}

TEST(verifier, rejects_backward_zero_and_out_of_range_offsets) {
    for (std::int32_t offset : {-4, 0, 1 << 30}) {
        fixture f;
        f.poke<std::int32_t>(&f.root->text, offset);
        lidl::verify_error e = f.rejected();
        EXPECT_EQ(e.kind, lidl::error::bad_offset) << offset;
        EXPECT_STREQ(e.field, "text");
    }
}

TEST(verifier, rejects_lengths_past_the_end) {
    fixture f;
    f.poke<std::uint32_t>(reinterpret_cast<std::uint8_t*>(&f.root->blob) + 4, 0xffffffffu);
    EXPECT_EQ(f.rejected().kind, lidl::error::bad_offset);
}

TEST(verifier, rejects_misaligned_references) {
    fixture f;
    std::int32_t offset;
    std::memcpy(&offset, &f.root->wide, 4);
    f.poke<std::int32_t>(&f.root->wide, offset - 4);  // still forward, but not 8-byte aligned
    EXPECT_EQ(f.rejected().kind, lidl::error::misaligned_reference);
}

TEST(verifier, limits_nesting_depth) {
    aligned_buffer buffer(1 << 16);
    lidl::builder shallow(buffer.bytes());
    ASSERT_NE(build_chain(shallow, 60), nullptr);
    EXPECT_TRUE(lidl::verify<node>(*shallow.finish()));

    lidl::builder deep(buffer.bytes());
    ASSERT_NE(build_chain(deep, 200), nullptr);
    auto message = lidl::verify<node>(*deep.finish());
    ASSERT_FALSE(message);
    EXPECT_EQ(message.error().kind, lidl::error::too_deep);
}

TEST(verifier, limits_the_bytes_a_message_may_reference) {
    // 1000 strings that all point at the same 4 KiB: a small message that would make a naive
    // reader touch 4 MB.
    aligned_buffer buffer(1 << 16);
    lidl::builder out(buffer.bytes());
    everything* e = out.create_root<everything>();
    ASSERT_NE(e, nullptr);
    e->s.l = level::low;
    lidl::string* words = out.create_vector(e->words, 1000);
    ASSERT_NE(words, nullptr);
    std::string big(4096, 'z');
    ASSERT_TRUE(out.set(e->text, big));
    const std::uint8_t* data = reinterpret_cast<const std::uint8_t*>(e->text.view().data());
    for (int i = 0; i < 1000; ++i) {
        std::int32_t offset =
            static_cast<std::int32_t>(data - reinterpret_cast<const std::uint8_t*>(&words[i]));
        std::uint32_t size = 4096;
        std::memcpy(static_cast<void*>(&words[i]), &offset, 4);
        std::memcpy(reinterpret_cast<std::uint8_t*>(&words[i]) + 4, &size, 4);
    }
    auto message = lidl::verify<everything>(*out.finish());
    ASSERT_FALSE(message);
    EXPECT_EQ(message.error().kind, lidl::error::budget_exceeded);
}

TEST(verifier, every_error_is_described) {
    for (int kind = 1; kind <= static_cast<int>(lidl::error::bad_procedure); ++kind)
        EXPECT_STRNE(lidl::describe(static_cast<lidl::error>(kind)), "unknown lidl error");
}

}  // namespace
}  // namespace lidl_test
