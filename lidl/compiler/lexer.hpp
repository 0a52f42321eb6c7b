// The lidl lexer: turns the text of one schema file into tokens, one at a time, for the parser.
//
// It skips whitespace and comments (`// ...`, `/* ... */`) and collects doc comments (`/// ...`,
// not `////`): their text, one leading space stripped, lines joined with '\n', is handed to the
// parser with the next token (`token::doc`). Problems in the text itself (an unknown character,
// an unterminated comment or string, an integer literal that does not fit in 64 bits) are
// reported to the diagnostics and produce a `token_kind::error` token; the lexer keeps returning
// `end_of_file` after the end, so a parser can never read past it.
//
// Token texts are views into the source, which must outlive the lexer and its tokens.
#pragma once

#include "diagnostics.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace lidl::compiler {

enum class token_kind : std::uint8_t {
    identifier,     // also keywords: the parser decides from context
    integer,        // decimal or 0x hexadecimal, value in `token::integer`
    string,         // "text": `token::text` is the content without the quotes
    semicolon,      // ;
    colon,          // :
    double_colon,   // ::
    comma,          // ,
    left_brace,     // {
    right_brace,    // }
    left_paren,     // (
    right_paren,    // )
    less,           // <
    greater,        // > (never `>>`, so `vector<vector<u8>>` needs no special case)
    equals,         // =
    minus,          // -
    arrow,          // ->
    end_of_file,
    error,          // already reported; parsing of the file stops
};

struct token {
    token_kind kind = token_kind::end_of_file;
    std::string_view text;  // as written (for strings: without the quotes)
    std::uint64_t integer = 0;
    int line = 1;
    int column = 1;
    std::size_t length = 0;  // in bytes, including quotes
    std::string doc;         // doc comments just before this token
};

/// How a token is named in messages: "'}'", "identifier 'foo'", "end of file".
std::string describe(const token& t);
/// The spelling of a punctuation kind for "expected ';'" messages.
std::string_view spelling(token_kind kind);

class lexer {
public:
    /// Lexes `text`, the contents of `file` (the name used in locations).
    lexer(std::string file, std::string_view text, diagnostics& diag);

    token next();
    const std::string& file() const { return file_; }

private:
    char peek(std::size_t ahead = 0) const {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    bool at_end() const { return pos_ >= text_.size(); }
    void advance(std::size_t count = 1);
    /// Skips whitespace and comments; false if an error was reported (unterminated comment).
    bool skip_trivia(std::string& doc);
    token make(token_kind kind, std::size_t begin, int line, int column) const;
    token lex_number(int line, int column);
    token lex_string(int line, int column);
    /// Reports `message` and returns an error token; every later call returns one too.
    token fail(int line, int column, std::size_t length, std::string_view message);
    token fail_silently() const;

    std::string file_;
    std::string_view text_;
    diagnostics& diag_;
    std::size_t pos_ = 0;
    int line_ = 1;
    int column_ = 1;
    bool failed_ = false;
};

}  // namespace lidl::compiler
