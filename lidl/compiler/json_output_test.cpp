// Tests of the JSON description: escaping and the shape of the output. The full output for the
// example schema is compared by the golden test lidl.json.camera.
#include "json_output.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace lidl::compiler {
namespace {

TEST(json_output, strings_are_escaped) {
    EXPECT_EQ(json_string("plain"), "\"plain\"");
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
    EXPECT_EQ(json_string("\b\f"), "\"\\b\\f\"");
    EXPECT_EQ(json_string(std::string("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
    EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");  // DEL needs no escape in JSON
    EXPECT_EQ(json_string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
              "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(json_output, invalid_utf8_becomes_replacement_characters) {
    const std::string replacement = "\xEF\xBF\xBD";
    EXPECT_EQ(json_string("\xff"), "\"" + replacement + "\"");
    EXPECT_EQ(json_string("a\xC3"), "\"a" + replacement + "\"");            // truncated
    EXPECT_EQ(json_string("\xC0\xAF"), "\"" + replacement + replacement + "\"");  // overlong
    EXPECT_EQ(json_string("\xED\xA0\x80"), "\"" + replacement + replacement + replacement +
                                               "\"");  // a surrogate
}

TEST(json_output, describes_every_kind_of_declaration) {
    const testing::compiled c = testing::compile_text(R"(namespace n;
/// Big "values".
enum e : u64 { small = 0, huge = 0xFFFFFFFFFFFFFFFF }
struct s { a: u8; b: array<optional<e>, 2>; }
union u { one: s; two: vector<string>; }
service svc { p(x: span<s>, y: string_view) -> u; q(); }
)");
    ASSERT_TRUE(c.result) << c.messages;
    const std::string json = to_json(*c);
    EXPECT_NE(json.find("\"namespace\": \"n\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"doc\": \"Big \\\"values\\\".\""), std::string::npos) << json;
    EXPECT_NE(json.find("{\"name\": \"huge\", \"value\": 18446744073709551615, \"doc\": \"\"}"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find("\"type\": {\n"
                        "            \"kind\": \"array\",\n"
                        "            \"element\": {\"kind\": \"optional\", \"element\": "
                        "{\"kind\": \"enum\", \"name\": \"n::e\"}},\n"
                        "            \"size\": 2\n"
                        "          }"),
              std::string::npos)
        << json;
    // Union tags on the wire are the alternative's index + 1: 0 means empty.
    const std::size_t one = json.find("\"name\": \"one\"");
    const std::size_t two = json.find("\"name\": \"two\"");
    ASSERT_LT(one, two) << json;
    EXPECT_EQ(json.find("\"tag\": 1", one), json.find("\"tag\"", one)) << json;
    EXPECT_EQ(json.find("\"tag\": 2", two), json.find("\"tag\"", two)) << json;
    EXPECT_NE(json.find("\"result\": {\"kind\": \"union\", \"name\": \"n::u\"}"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find("{\"kind\": \"span\", \"element\": {\"kind\": \"struct\", \"name\": "
                        "\"n::s\"}}"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find("{\"name\": \"q\", \"id\": 1, \"params\": [], \"result\": null, "
                        "\"doc\": \"\"}"),
              std::string::npos)
        << json;
    EXPECT_EQ(json.back(), '\n');
}

TEST(json_output, an_empty_schema) {
    const testing::compiled c = testing::compile_text("");
    ASSERT_TRUE(c.result) << c.messages;
    EXPECT_EQ(to_json(*c),
              "{\"file\": \"test.lidl\", \"namespace\": \"\", \"imports\": [], "
              "\"declarations\": []}\n");
}

}  // namespace
}  // namespace lidl::compiler
