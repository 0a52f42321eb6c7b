// Tests of message formatting, ordering and the "did you mean" helpers.
#include "diagnostics.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace lidl::compiler {
namespace {

TEST(diagnostics, quotes_the_line_and_underlines) {
    std::ostringstream out;
    {
        diagnostics diag(out);
        diag.add_source("f.lidl", "first\n\tx: caf\xC3\xA9 bad;\r\nthird");
        diag.error({"f.lidl", 2, 11}, "oops", 3);  // "bad": columns count bytes, é has two
        diag.error({"f.lidl", 2, 13}, "clipped", 9);
    }
    EXPECT_EQ(out.str(), "f.lidl:2:11: error: oops\n"
                         "    2 | \tx: caf\xC3\xA9 bad;\n"
                         "      | \t        ^~~\n"
                         "f.lidl:2:13: error: clipped\n"
                         "    2 | \tx: caf\xC3\xA9 bad;\n"
                         "      | \t          ^~\n");
}

TEST(diagnostics, locations_past_the_end_of_the_line_point_after_it) {
    std::ostringstream out;
    {
        diagnostics diag(out);
        diag.add_source("f.lidl", "ab\n");
        diag.error({"f.lidl", 1, 3}, "here", 5);
        diag.error({"f.lidl", 2, 1}, "last line");
        diag.error({"f.lidl", 9, 1}, "no such line");
    }
    EXPECT_EQ(out.str(), "f.lidl:1:3: error: here\n"
                         "    1 | ab\n"
                         "      |   ^\n"
                         "f.lidl:2:1: error: last line\n"
                         "    2 | \n"
                         "      | ^\n"
                         "f.lidl:9:1: error: no such line\n");
}

TEST(diagnostics, long_lines_are_shown_as_a_window_around_the_location) {
    std::ostringstream out;
    {
        diagnostics diag(out);
        diag.add_source("f.lidl", std::string(1000, 'a') + "\n");
        diag.error({"f.lidl", 1, 501}, "middle", 2);
        diag.error({"f.lidl", 1, 1}, "start");
    }
    const std::string window(160, 'a');
    EXPECT_EQ(out.str(), "f.lidl:1:1: error: start\n"
                         "    1 | " + window + "...\n"
                         "      | ^\n"
                         "f.lidl:1:501: error: middle\n"
                         "    1 | ..." + window + "...\n"
                         "      | " + std::string(83, ' ') + "^~\n");
}

TEST(diagnostics, control_bytes_are_not_echoed) {
    std::ostringstream out;
    {
        diagnostics diag(out);
        diag.add_source("f.lidl", std::string("a\x1b[31m\xff\0z", 9));
        diag.error({"f.lidl", 1, 9}, "z");
    }
    EXPECT_EQ(out.str(), "f.lidl:1:9: error: z\n"
                         "    1 | a?[31m??z\n"
                         "      |         ^\n");
}

TEST(diagnostics, errors_are_printed_in_source_order_with_their_notes) {
    std::ostringstream out;
    diagnostics diag(out);
    diag.add_source("main.lidl", "1\n2\n3\n");
    diag.add_source("other.lidl", "1\n");
    diag.error({"other.lidl", 1, 1}, "in the second file");
    diag.error({"main.lidl", 3, 1}, "third line");
    diag.note({"main.lidl", 1, 1}, "related");
    diag.error({"main.lidl", 2, 1}, "second line");
    diag.error("no location");
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(diag.error_count(), 4);
    diag.flush();
    const std::string text = out.str();
    const std::size_t none = text.find("lidlc: error: no location");
    const std::size_t second = text.find("main.lidl:2:1: error: second line");
    const std::size_t third = text.find("main.lidl:3:1: error: third line");
    const std::size_t note = text.find("main.lidl:1:1: note: related");
    const std::size_t other = text.find("other.lidl:1:1: error");
    EXPECT_EQ(none, 0u);
    EXPECT_LT(second, third);
    EXPECT_LT(third, note);
    EXPECT_LT(note, other);
    EXPECT_NE(other, std::string::npos);
}

TEST(diagnostics, output_is_capped) {
    std::ostringstream out;
    {
        diagnostics diag(out);
        for (int i = 0; i < diagnostics::max_errors + 50; ++i)
            diag.error("e");
        EXPECT_EQ(diag.error_count(), diagnostics::max_errors + 50);
    }
    const std::string text = out.str();
    std::size_t count = 0;
    for (std::size_t at = text.find("error: e"); at != std::string::npos;
         at = text.find("error: e", at + 1))
        ++count;
    EXPECT_EQ(count, static_cast<std::size_t>(diagnostics::max_errors));
    EXPECT_NE(text.find("too many errors"), std::string::npos);
}

TEST(diagnostics, edit_distance_counts_typos) {
    EXPECT_EQ(edit_distance("u32", "u32", 2), 0u);
    EXPECT_EQ(edit_distance("u33", "u32", 2), 1u);
    EXPECT_EQ(edit_distance("resolutoin", "resolution", 2), 1u);  // a swap is one edit
    EXPECT_EQ(edit_distance("strng", "string", 2), 1u);
    EXPECT_EQ(edit_distance("abc", "xyz", 2), 3u);            // capped at limit + 1
    EXPECT_EQ(edit_distance("a", "abcdefgh", 2), 3u);         // sizes alone decide
    EXPECT_EQ(edit_distance(std::string(100000, 'a'), "a", 2), 3u);
}

TEST(diagnostics, closest_match_only_suggests_plausible_typos) {
    const std::vector<std::string_view> names = {"u8", "u32", "string", "frame"};
    EXPECT_EQ(closest_match("u33", names), "u32");
    EXPECT_EQ(closest_match("frmae", names), "frame");
    EXPECT_EQ(closest_match("x", names), "");  // two edits of a one-letter word is not a typo
    EXPECT_EQ(closest_match("completely_different", names), "");
    EXPECT_EQ(closest_match("u8", names), "");  // not a suggestion of itself
}

}  // namespace
}  // namespace lidl::compiler
