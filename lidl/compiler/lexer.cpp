#include "lexer.hpp"

#include <cstdio>

namespace lidl::compiler {
namespace {

bool is_identifier_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_identifier_char(char c) { return is_identifier_start(c) || is_digit(c); }

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string hex_byte(unsigned char byte) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "0x%02X", byte);
    return buffer;
}

// Describes the character at the start of `rest` for "unknown character" messages, and how many
// bytes it spans (a whole UTF-8 sequence is reported once, not byte by byte).
std::string describe_character(std::string_view rest, std::size_t& length) {
    const auto lead = static_cast<unsigned char>(rest[0]);
    length = 1;
    if (lead >= 0x20 && lead < 0x7F)
        return "unknown character '" + std::string(1, rest[0]) + "'";
    if (lead < 0x80)
        return "unknown control character " + hex_byte(lead);

    std::size_t sequence = 0;
    std::uint32_t code_point = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        sequence = 2;
        code_point = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        sequence = 3;
        code_point = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        sequence = 4;
        code_point = lead & 0x07u;
    }
    bool valid = sequence != 0 && sequence <= rest.size();
    for (std::size_t k = 1; valid && k < sequence; ++k) {
        const auto byte = static_cast<unsigned char>(rest[k]);
        valid = (byte & 0xC0) == 0x80;
        code_point = (code_point << 6) | (byte & 0x3Fu);
    }
    if (!valid)
        return "invalid byte " + hex_byte(lead) + " (the file is not UTF-8 text)";
    length = sequence;
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "U+%04X", static_cast<unsigned>(code_point));
    return "unknown character '" + std::string(rest.substr(0, sequence)) + "' (" + buffer +
           "); names are ASCII";
}

}  // namespace

std::string_view spelling(token_kind kind) {
    switch (kind) {
    case token_kind::identifier: return "identifier";
    case token_kind::integer: return "integer";
    case token_kind::string: return "string";
    case token_kind::semicolon: return ";";
    case token_kind::colon: return ":";
    case token_kind::double_colon: return "::";
    case token_kind::comma: return ",";
    case token_kind::left_brace: return "{";
    case token_kind::right_brace: return "}";
    case token_kind::left_paren: return "(";
    case token_kind::right_paren: return ")";
    case token_kind::less: return "<";
    case token_kind::greater: return ">";
    case token_kind::equals: return "=";
    case token_kind::minus: return "-";
    case token_kind::arrow: return "->";
    case token_kind::end_of_file: return "end of file";
    case token_kind::error: return "invalid text";
    }
    return "?";
}

std::string describe(const token& t) {
    switch (t.kind) {
    case token_kind::identifier: return "'" + std::string(t.text) + "'";
    case token_kind::integer: return "integer " + std::string(t.text);
    case token_kind::string: return "string \"" + std::string(t.text) + "\"";
    case token_kind::end_of_file:
    case token_kind::error: return std::string(spelling(t.kind));
    default: return "'" + std::string(spelling(t.kind)) + "'";
    }
}

lexer::lexer(std::string file, std::string_view text, diagnostics& diag)
    : file_(std::move(file)), text_(text), diag_(diag) {
    // A UTF-8 byte order mark is not text; editors on some systems add one.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF")
        pos_ = 3;
}

void lexer::advance(std::size_t count) {
    for (; count > 0 && pos_ < text_.size(); --count, ++pos_) {
        if (text_[pos_] == '\n') {
            ++line_;
            column_ = 1;
        } else {
            ++column_;
        }
    }
}

token lexer::make(token_kind kind, std::size_t begin, int line, int column) const {
    token t;
    t.kind = kind;
    t.text = text_.substr(begin, pos_ - begin);
    t.line = line;
    t.column = column;
    t.length = pos_ - begin;
    return t;
}

token lexer::fail(int line, int column, std::size_t length, std::string_view message) {
    diag_.error(source_location{file_, line, column}, message, length);
    failed_ = true;
    token t;
    t.kind = token_kind::error;
    t.line = line;
    t.column = column;
    return t;
}

token lexer::fail_silently() const {
    token t;
    t.kind = token_kind::error;
    t.line = line_;
    t.column = column_;
    return t;
}

bool lexer::skip_trivia(std::string& doc) {
    int doc_lines = 0;
    while (!at_end()) {
        const char c = peek();
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
            advance();
            continue;
        }
        if (c == '/' && peek(1) == '/') {
            const std::size_t begin = pos_;
            std::size_t end = text_.find('\n', pos_);
            if (end == std::string_view::npos)
                end = text_.size();
            std::string_view comment = text_.substr(begin, end - begin);
            advance(end - begin);
            // `///` is a doc comment; `////...` is a ruler or commented-out doc, not doc.
            if (comment.size() >= 3 && comment[2] == '/' &&
                (comment.size() == 3 || comment[3] != '/')) {
                comment.remove_prefix(3);
                if (!comment.empty() && comment.front() == ' ')
                    comment.remove_prefix(1);
                if (!comment.empty() && comment.back() == '\r')
                    comment.remove_suffix(1);
                if (doc_lines++ > 0)
                    doc.push_back('\n');
                doc.append(comment);
            }
            continue;
        }
        if (c == '/' && peek(1) == '*') {
            const int line = line_;
            const int column = column_;
            const std::size_t end = text_.find("*/", pos_ + 2);
            if (end == std::string_view::npos) {
                fail(line, column, 2, "unterminated comment: '/*' has no matching '*/'");
                advance(text_.size() - pos_);
                return false;
            }
            advance(end + 2 - pos_);
            continue;
        }
        break;
    }
    return true;
}

token lexer::lex_number(int line, int column) {
    const std::size_t begin = pos_;
    while (is_identifier_char(peek()))
        advance();
    token t = make(token_kind::integer, begin, line, column);
    const std::string_view text = t.text;

    std::uint64_t value = 0;
    bool overflow = false;
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        const std::string_view digits = text.substr(2);
        if (digits.empty())
            return fail(line, column, t.length, "hexadecimal literal '" + std::string(text) +
                                                    "' has no digits after '0x'");
        for (const char c : digits) {
            const int digit = hex_value(c);
            if (digit < 0)
                return fail(line, column, t.length,
                            "invalid digit '" + std::string(1, c) + "' in hexadecimal literal '" +
                                std::string(text) + "'");
            overflow = overflow || value > (UINT64_MAX >> 4);
            value = (value << 4) | static_cast<std::uint64_t>(digit);
        }
    } else {
        for (const char c : text) {
            if (!is_digit(c))
                return fail(line, column, t.length,
                            "invalid digit '" + std::string(1, c) + "' in decimal literal '" +
                                std::string(text) + "'");
            const auto digit = static_cast<std::uint64_t>(c - '0');
            overflow = overflow || value > (UINT64_MAX - digit) / 10;
            value = value * 10 + digit;
        }
        // C would read `010` as octal; refuse rather than guess which the author meant.
        if (text.size() > 1 && text[0] == '0')
            return fail(line, column, t.length,
                        "leading zeros are not allowed in '" + std::string(text) +
                            "' (octal literals are not supported; use 0x for hexadecimal)");
    }
    if (overflow)
        return fail(line, column, t.length,
                    "integer literal '" + std::string(text) + "' does not fit in 64 bits");
    t.integer = value;
    return t;
}

token lexer::lex_string(int line, int column) {
    const std::size_t begin = pos_;
    advance();  // opening quote
    while (!at_end() && peek() != '"' && peek() != '\n') {
        if (peek() == '\\')
            return fail(line_, column_, 1,
                        "backslashes are not allowed in strings (write paths with '/')");
        advance();
    }
    if (peek() != '"')
        return fail(line, column, 1, "unterminated string: missing closing '\"' on this line");
    advance();
    token t = make(token_kind::string, begin, line, column);
    t.text = text_.substr(begin + 1, pos_ - begin - 2);
    return t;
}

token lexer::next() {
    if (failed_)
        return fail_silently();
    std::string doc;
    if (!skip_trivia(doc))
        return fail_silently();
    const int line = line_;
    const int column = column_;
    token t;
    if (at_end()) {
        t = make(token_kind::end_of_file, pos_, line, column);
    } else {
        const std::size_t begin = pos_;
        const char c = peek();
        token_kind kind = token_kind::error;
        std::size_t length = 1;
        switch (c) {
        case ';': kind = token_kind::semicolon; break;
        case ',': kind = token_kind::comma; break;
        case '{': kind = token_kind::left_brace; break;
        case '}': kind = token_kind::right_brace; break;
        case '(': kind = token_kind::left_paren; break;
        case ')': kind = token_kind::right_paren; break;
        case '<': kind = token_kind::less; break;
        case '>': kind = token_kind::greater; break;
        case '=': kind = token_kind::equals; break;
        case ':':
            kind = peek(1) == ':' ? token_kind::double_colon : token_kind::colon;
            length = kind == token_kind::double_colon ? 2 : 1;
            break;
        case '-':
            kind = peek(1) == '>' ? token_kind::arrow : token_kind::minus;
            length = kind == token_kind::arrow ? 2 : 1;
            break;
        default: break;
        }
        if (kind != token_kind::error) {
            advance(length);
            t = make(kind, begin, line, column);
        } else if (is_identifier_start(c)) {
            while (is_identifier_char(peek()))
                advance();
            t = make(token_kind::identifier, begin, line, column);
        } else if (is_digit(c)) {
            t = lex_number(line, column);
        } else if (c == '"') {
            t = lex_string(line, column);
        } else {
            const std::string message = describe_character(text_.substr(pos_), length);
            return fail(line, column, length, message);
        }
    }
    t.doc = std::move(doc);
    return t;
}

}  // namespace lidl::compiler
