// The JSON mapping of generated types: output shape, round trips, and clear errors.
#include "test_messages.hpp"

#include "everything.lidl.json.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace lidl_test {
namespace {

using lidl::json::value;

value everything_json() {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    EXPECT_NE(build_everything(out), nullptr);
    auto message = lidl::verify<everything>(*out.finish());
    EXPECT_TRUE(message);
    return lidl::json::to_json(*message.value());
}

TEST(json, maps_every_kind_of_type) {
    value j = everything_json();
    EXPECT_EQ(j["text"], "hello, lidl");
    EXPECT_EQ(j["s"]["c"], "blue");
    EXPECT_EQ(j["s"]["l"], "low");
    EXPECT_EQ(j["s"]["u64v"].get<std::uint64_t>(), 18000000000000000000ULL);
    EXPECT_EQ(j["s"]["i64v"].get<std::int64_t>(), -6400000000LL);
    EXPECT_EQ(j["s"]["b"], true);
    EXPECT_EQ(j["words"], value::array({"alpha", "beta", ""}));
    EXPECT_EQ(j["maybe_number"], 42);
    EXPECT_EQ(j["main_shape"]["circle"]["x"], 7);
    EXPECT_EQ(j["shapes"][1]["label"], "a label");
    EXPECT_EQ(j["shapes"][4]["count"], 99);
    EXPECT_EQ(j["tree"]["children"][1]["children"][0]["name"], "leaf");
    EXPECT_EQ(j["arrays"]["bytes"], value::array({1, 2, 3, 4, 5}));
    EXPECT_EQ(j["nothing"], value::object());
    // Field order follows the schema.
    EXPECT_EQ(j.begin().key(), "s");
}

TEST(json, round_trips_through_text) {
    value first = everything_json();
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    auto built = lidl::json::build<everything>(first.dump(), out);
    ASSERT_TRUE(built) << built.error().path << ": " << built.error().message;
    auto message = lidl::verify<everything>(built.value());
    ASSERT_TRUE(message);
    EXPECT_EQ(check_everything(*message.value()), nullptr);
    EXPECT_EQ(lidl::json::to_json(*message.value()), first);
}

TEST(json, absent_optionals_and_empty_unions_are_null) {
    aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    everything* root = out.create_root<everything>();
    ASSERT_NE(root, nullptr);
    root->s.l = level::low;
    auto message = lidl::verify<everything>(*out.finish());
    ASSERT_TRUE(message);
    value j = lidl::json::to_json(*message.value());
    EXPECT_TRUE(j["maybe_text"].is_null());
    EXPECT_TRUE(j["main_shape"].is_null());
}

// Replaces one value of the full document and returns the error from building it.
lidl::json::json_error error_for(const std::function<void(value&)>& edit) {
    value j = everything_json();
    edit(j);
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    auto built = lidl::json::build<everything>(j.dump(), out);
    EXPECT_FALSE(built);
    return built ? lidl::json::json_error{} : built.error();
}

TEST(json, reports_errors_with_paths) {
    auto e = error_for([](value& j) { j["text"] = 5; });
    EXPECT_EQ(e.path, "lidl_test::everything.text");
    EXPECT_NE(e.message.find("expected a string"), std::string::npos);

    e = error_for([](value& j) { j["s"]["u8v"] = 256; });
    EXPECT_EQ(e.path, "lidl_test::everything.s.u8v");
    EXPECT_NE(e.message.find("out of range"), std::string::npos);

    e = error_for([](value& j) { j["s"]["u16v"] = -1; });
    EXPECT_NE(e.message.find("negative"), std::string::npos);

    e = error_for([](value& j) { j["s"]["c"] = "purple"; });
    EXPECT_EQ(e.path, "lidl_test::everything.s.c");
    EXPECT_NE(e.message.find("red, green, blue"), std::string::npos);

    e = error_for([](value& j) { j["words"][2] = nullptr; });
    EXPECT_EQ(e.path, "lidl_test::everything.words[2]");

    e = error_for([](value& j) { j["colour"] = "red"; });
    EXPECT_NE(e.message.find("unknown field 'colour'"), std::string::npos);

    e = error_for([](value& j) { j.erase("text"); });
    EXPECT_EQ(e.path, "lidl_test::everything.text");
    EXPECT_EQ(e.message, "missing field");

    e = error_for([](value& j) { j["main_shape"] = value{{"circle", {{"x", 1}, {"y", 2}}}, {"count", 3}}; });
    EXPECT_NE(e.message.find("exactly one of"), std::string::npos);

    e = error_for([](value& j) { j["main_shape"] = value{{"square", 1}}; });
    EXPECT_NE(e.message.find("unknown alternative 'square'"), std::string::npos);

    e = error_for([](value& j) { j["arrays"]["bytes"] = value::array({1, 2}); });
    EXPECT_NE(e.message.find("array of 5"), std::string::npos);

    e = error_for([](value& j) { j["s"]["i8v"] = 1.5; });
    EXPECT_NE(e.message.find("expected an integer"), std::string::npos);
}

TEST(json, rejects_malformed_text_and_small_buffers) {
    aligned_buffer buffer(16384);
    lidl::builder out(buffer.bytes());
    auto built = lidl::json::build<everything>("{\"text\": ", out);
    ASSERT_FALSE(built);
    EXPECT_EQ(built.error().message, "malformed JSON");

    aligned_buffer tiny(64);
    lidl::builder small(tiny.bytes());
    auto too_big = lidl::json::build<everything>(everything_json().dump(), small);
    ASSERT_FALSE(too_big);
    EXPECT_NE(too_big.error().message.find("too small"), std::string::npos);
}

}  // namespace
}  // namespace lidl_test
