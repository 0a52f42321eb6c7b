// Tests of the lexer: tokens, positions, comments and doc comments, and its errors.
#include "lexer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace lidl::compiler {
namespace {

struct lexed {
    std::unique_ptr<std::string> source;  // the tokens' texts point into it
    std::vector<token> tokens;            // up to and including end_of_file or error
    std::string messages;
};

lexed lex(const std::string& text) {
    std::ostringstream messages;
    lexed out;
    out.source = std::make_unique<std::string>(text);
    {
        diagnostics diag(messages);
        diag.add_source("t.lidl", text);
        lexer l("t.lidl", *out.source, diag);
        for (;;) {
            out.tokens.push_back(l.next());
            const token_kind kind = out.tokens.back().kind;
            if (kind == token_kind::end_of_file || kind == token_kind::error)
                break;
        }
    }
    out.messages = messages.str();
    return out;
}

std::vector<token_kind> kinds(const lexed& l) {
    std::vector<token_kind> out;
    for (const token& t : l.tokens)
        out.push_back(t.kind);
    return out;
}

TEST(lexer, punctuation_and_words) {
    const lexed l = lex("a::b : ; , { } ( ) < > = - -> vector<vector<u8>>");
    using k = token_kind;
    EXPECT_EQ(kinds(l), (std::vector<token_kind>{k::identifier, k::double_colon, k::identifier,
                                                 k::colon, k::semicolon, k::comma, k::left_brace,
                                                 k::right_brace, k::left_paren, k::right_paren,
                                                 k::less, k::greater, k::equals, k::minus,
                                                 k::arrow, k::identifier, k::less, k::identifier,
                                                 k::less, k::identifier, k::greater, k::greater,
                                                 k::end_of_file}));
    EXPECT_EQ(l.messages, "");
}

TEST(lexer, positions_are_one_based_byte_columns) {
    const lexed l = lex("struct\n  \tab_1 ;\r\n  x");
    ASSERT_EQ(l.tokens.size(), 5u);
    EXPECT_EQ(l.tokens[0].line, 1);
    EXPECT_EQ(l.tokens[0].column, 1);
    EXPECT_EQ(l.tokens[1].text, "ab_1");
    EXPECT_EQ(l.tokens[1].line, 2);
    EXPECT_EQ(l.tokens[1].column, 4);
    EXPECT_EQ(l.tokens[1].length, 4u);
    EXPECT_EQ(l.tokens[2].column, 9);
    EXPECT_EQ(l.tokens[3].line, 3);
    EXPECT_EQ(l.tokens[3].column, 3);
}

TEST(lexer, integers) {
    const lexed l = lex("0 42 0x1F 0XfF 18446744073709551615 0xFFFFFFFFFFFFFFFF");
    ASSERT_EQ(l.tokens.size(), 7u) << l.messages;
    EXPECT_EQ(l.tokens[0].integer, 0u);
    EXPECT_EQ(l.tokens[1].integer, 42u);
    EXPECT_EQ(l.tokens[2].integer, 31u);
    EXPECT_EQ(l.tokens[3].integer, 255u);
    EXPECT_EQ(l.tokens[4].integer, UINT64_MAX);
    EXPECT_EQ(l.tokens[5].integer, UINT64_MAX);
}

TEST(lexer, bad_integers) {
    EXPECT_NE(lex("18446744073709551616").messages.find(
                  "t.lidl:1:1: error: integer literal '18446744073709551616' does not fit in 64 "
                  "bits"),
              std::string::npos);
    EXPECT_NE(lex("0x10000000000000000").messages.find("does not fit in 64 bits"),
              std::string::npos);
    EXPECT_NE(lex("x 12ab").messages.find(
                  "t.lidl:1:3: error: invalid digit 'a' in decimal literal '12ab'"),
              std::string::npos);
    EXPECT_NE(lex("0x").messages.find("hexadecimal literal '0x' has no digits"),
              std::string::npos);
    EXPECT_NE(lex("0xag").messages.find("invalid digit 'g' in hexadecimal literal"),
              std::string::npos);
    EXPECT_NE(lex("007").messages.find("leading zeros are not allowed in '007'"),
              std::string::npos);
}

TEST(lexer, strings) {
    const lexed l = lex(R"(import "dir/a b.lidl";)");
    ASSERT_EQ(l.tokens.size(), 4u);
    EXPECT_EQ(l.tokens[1].kind, token_kind::string);
    EXPECT_EQ(l.tokens[1].text, "dir/a b.lidl");
    EXPECT_EQ(l.tokens[1].length, 14u);
    EXPECT_EQ(l.tokens[2].column, 22);

    const lexed unterminated = lex("import \"a.lidl\n;");
    EXPECT_EQ(unterminated.tokens.back().kind, token_kind::error);
    EXPECT_NE(unterminated.messages.find(
                  "t.lidl:1:8: error: unterminated string: missing closing '\"' on this line"),
              std::string::npos)
        << unterminated.messages;
    EXPECT_NE(lex("import \"a\\b\";").messages.find("t.lidl:1:10: error: backslashes are not "
                                                     "allowed in strings"),
              std::string::npos);
}

TEST(lexer, comments_are_skipped_and_doc_comments_collected) {
    const lexed l = lex("// plain\n/// first\n///second\n///\n/* block\n/// not doc */ a\n"
                        "//// ruler\n/** not doc either */ b /// trailing\n c");
    ASSERT_EQ(l.tokens.size(), 4u) << l.messages;
    EXPECT_EQ(l.tokens[0].text, "a");
    EXPECT_EQ(l.tokens[0].doc, "first\nsecond\n");
    EXPECT_EQ(l.tokens[0].line, 6);
    EXPECT_EQ(l.tokens[1].text, "b");
    EXPECT_EQ(l.tokens[1].doc, "");
    EXPECT_EQ(l.tokens[2].text, "c");
    EXPECT_EQ(l.tokens[2].doc, "trailing");
}

TEST(lexer, doc_comments_keep_all_but_one_leading_space_and_drop_carriage_returns) {
    const lexed l = lex("///   indented\r\n///\tx\r\nname");
    ASSERT_EQ(l.tokens.size(), 2u);
    EXPECT_EQ(l.tokens[0].doc, "  indented\n\tx");
}

TEST(lexer, unterminated_comment) {
    const lexed l = lex("a /* never\n closed");
    EXPECT_EQ(l.tokens.back().kind, token_kind::error);
    EXPECT_NE(l.messages.find("t.lidl:1:3: error: unterminated comment: '/*' has no matching "
                              "'*/'"),
              std::string::npos)
        << l.messages;
}

TEST(lexer, unknown_characters) {
    EXPECT_NE(lex("a @").messages.find("t.lidl:1:3: error: unknown character '@'"),
              std::string::npos);
    EXPECT_NE(lex("a\x01").messages.find("error: unknown control character 0x01"),
              std::string::npos);
    EXPECT_NE(lex("caf\xC3\xA9").messages.find(
                  "t.lidl:1:4: error: unknown character '\xC3\xA9' (U+00E9); names are ASCII"),
              std::string::npos);
    EXPECT_NE(lex("\xff").messages.find("error: invalid byte 0xFF (the file is not UTF-8 text)"),
              std::string::npos);
    EXPECT_NE(lex(std::string("a\0b", 3)).messages.find("unknown control character 0x00"),
              std::string::npos);
}

TEST(lexer, a_byte_order_mark_is_ignored) {
    const lexed l = lex("\xEF\xBB\xBFstruct");
    ASSERT_EQ(l.tokens.size(), 2u);
    EXPECT_EQ(l.tokens[0].text, "struct");
    EXPECT_EQ(l.messages, "");
}

TEST(lexer, keeps_failing_after_an_error) {
    std::ostringstream messages;
    diagnostics diag(messages);
    lexer l("t.lidl", diag.add_source("t.lidl", "@ a b"), diag);
    EXPECT_EQ(l.next().kind, token_kind::error);
    EXPECT_EQ(l.next().kind, token_kind::error);
    EXPECT_EQ(diag.error_count(), 1);
}

TEST(lexer, describe_tokens_for_messages) {
    const lexed l = lex("name 12 \"f\" } ->");
    EXPECT_EQ(describe(l.tokens[0]), "'name'");
    EXPECT_EQ(describe(l.tokens[1]), "integer 12");
    EXPECT_EQ(describe(l.tokens[2]), "string \"f\"");
    EXPECT_EQ(describe(l.tokens[3]), "'}'");
    EXPECT_EQ(describe(l.tokens[4]), "'->'");
    EXPECT_EQ(describe(l.tokens[5]), "end of file");
}

}  // namespace
}  // namespace lidl::compiler
