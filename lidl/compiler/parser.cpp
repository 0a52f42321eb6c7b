#include "parser.hpp"

#include "lexer.hpp"

#include <array>
#include <utility>

namespace lidl::compiler {
namespace {

struct builtin_spelling {
    builtin type;
    std::string_view name;
};

constexpr std::array<builtin_spelling, 13> builtin_spellings{{
    {builtin::bool_, "bool"},
    {builtin::i8, "i8"},
    {builtin::i16, "i16"},
    {builtin::i32, "i32"},
    {builtin::i64, "i64"},
    {builtin::u8, "u8"},
    {builtin::u16, "u16"},
    {builtin::u32, "u32"},
    {builtin::u64, "u64"},
    {builtin::f32, "f32"},
    {builtin::f64, "f64"},
    {builtin::string, "string"},
    {builtin::string_view, "string_view"},
}};

constexpr std::string_view top_level_keywords[] = {"namespace", "import", "enum",
                                                   "struct",    "union",  "service"};

// The range of an integer builtin, as magnitudes: a value v fits when
// -negative_limit <= v <= positive_limit.
struct integer_range {
    std::uint64_t negative_limit;
    std::uint64_t positive_limit;
};

std::optional<integer_range> range_of(builtin b) {
    switch (b) {
    case builtin::i8: return integer_range{128, 127};
    case builtin::i16: return integer_range{32768, 32767};
    case builtin::i32: return integer_range{2147483648u, 2147483647u};
    case builtin::i64: return integer_range{9223372036854775808u, 9223372036854775807u};
    case builtin::u8: return integer_range{0, 255};
    case builtin::u16: return integer_range{0, 65535};
    case builtin::u32: return integer_range{0, 4294967295u};
    case builtin::u64: return integer_range{0, UINT64_MAX};
    default: return std::nullopt;
    }
}

std::string range_text(const integer_range& range) {
    std::string low = range.negative_limit == 0 ? "0" : "-" + std::to_string(range.negative_limit);
    return low + " to " + std::to_string(range.positive_limit);
}

class parser {
public:
    parser(std::string file, std::string_view text, diagnostics& diag)
        : lexer_(file, text, diag), diag_(diag) {
        result_.file = std::move(file);
        current_ = lexer_.next();
    }

    parsed_file run();

private:
    source_location location(int line, int column) const {
        return source_location{result_.file, line, column};
    }
    source_location location(const token& t) const { return location(t.line, t.column); }

    bool at(token_kind kind) const { return current_.kind == kind; }
    bool at_word(std::string_view word) const {
        return current_.kind == token_kind::identifier && current_.text == word;
    }
    void advance() {
        previous_ = std::move(current_);
        have_previous_ = true;
        current_ = lexer_.next();
    }

    /// Reports a syntax error about the current token and stops the file. The caret goes under
    /// the current token, unless `missing` says the problem is rather something missing after
    /// the previous token (a ';', a '>') and the current token is on a later line: then it goes
    /// right after the previous token, where the missing text belongs. At the end of the file
    /// it always goes after the last token.
    bool syntax_error(const std::string& message, bool missing = false);
    /// Consumes a token of `kind` or reports "expected <what>, found <current>" (as missing).
    bool expect(token_kind kind, const std::string& what);
    bool expect_name(std::string& name, source_location& loc, const std::string& what);

    bool parse_namespace();
    bool parse_import();
    bool parse_enum(declaration& d);
    bool parse_members(declaration& d, std::string_view member_word);
    bool parse_service(declaration& d);
    bool parse_procedure(declaration& service, procedure& p);
    bool parse_type(type_expr& type, int depth);
    bool parse_qualified_name(std::string& name);
    /// After the opening brace of a declaration: reports end of file inside it.
    bool unexpected_end(const declaration& d, const token& open_brace);

    lexer lexer_;
    diagnostics& diag_;
    parsed_file result_;
    token current_;
    token previous_;
    bool have_previous_ = false;
    bool seen_content_ = false;  // an import or declaration: a namespace after it is misplaced
};

bool parser::syntax_error(const std::string& message, bool missing) {
    result_.complete = false;
    if (current_.kind == token_kind::error)  // the lexer has reported the real problem
        return false;
    const bool after_previous =
        have_previous_ && (current_.kind == token_kind::end_of_file ||
                           (missing && current_.line != previous_.line));
    if (after_previous) {
        diag_.error(location(previous_.line,
                             previous_.column + static_cast<int>(previous_.length)),
                    message);
    } else {
        diag_.error(location(current_), message, current_.length);
    }
    return false;
}

bool parser::expect(token_kind kind, const std::string& what) {
    if (at(kind)) {
        advance();
        return true;
    }
    return syntax_error("expected " + what + ", found " + describe(current_), true);
}

bool parser::expect_name(std::string& name, source_location& loc, const std::string& what) {
    if (!at(token_kind::identifier))
        return syntax_error("expected " + what + ", found " + describe(current_));
    name = std::string(current_.text);
    loc = location(current_);
    advance();
    return true;
}

bool parser::parse_qualified_name(std::string& name) {
    name = std::string(current_.text);
    advance();
    while (at(token_kind::double_colon)) {
        advance();
        if (!at(token_kind::identifier))
            return syntax_error("expected a name after '" + name + "::', found " +
                                describe(current_));
        name += "::";
        name += current_.text;
        advance();
    }
    return true;
}

parsed_file parser::run() {
    while (!at(token_kind::end_of_file)) {
        if (at(token_kind::error)) {
            result_.complete = false;
            break;
        }
        bool ok = true;
        if (at_word("namespace")) {
            ok = parse_namespace();
        } else if (at_word("import")) {
            ok = parse_import();
            seen_content_ = true;
        } else if (at_word("enum") || at_word("struct") || at_word("union") ||
                   at_word("service")) {
            auto d = std::make_unique<declaration>();
            d->doc = std::move(current_.doc);
            d->name_space = result_.name_space;
            const std::string_view keyword = current_.text;
            advance();
            ok = expect_name(d->name, d->loc, "a name after '" + std::string(keyword) + "'");
            if (ok && keyword == "enum") {
                d->k = declaration::kind::enum_;
                ok = parse_enum(*d);
            } else if (ok && keyword == "struct") {
                d->k = declaration::kind::struct_;
                ok = parse_members(*d, "field");
            } else if (ok && keyword == "union") {
                d->k = declaration::kind::union_;
                ok = parse_members(*d, "alternative");
            } else if (ok) {
                d->k = declaration::kind::service;
                ok = parse_service(*d);
            }
            // A C++ habit; harmless, so accepted.
            if (ok && at(token_kind::semicolon))
                advance();
            if (ok)
                result_.declarations.push_back(std::move(d));
            seen_content_ = true;
        } else {
            std::string message = "expected a declaration ('enum', 'struct', 'union' or "
                                  "'service') or an import, found " +
                                  describe(current_);
            if (at(token_kind::identifier)) {
                const std::vector<std::string_view> keywords(std::begin(top_level_keywords),
                                                             std::end(top_level_keywords));
                const std::string_view match = closest_match(current_.text, keywords);
                if (!match.empty())
                    message += "; did you mean '" + std::string(match) + "'?";
            }
            ok = syntax_error(message);
        }
        if (!ok)
            break;
    }
    return std::move(result_);
}

bool parser::parse_namespace() {
    const token keyword = current_;
    advance();
    if (!at(token_kind::identifier))
        return syntax_error("expected a namespace name after 'namespace', found " +
                            describe(current_));
    const source_location loc = location(current_);
    std::string name;
    if (!parse_qualified_name(name) || !expect(token_kind::semicolon,
                                               "';' after 'namespace " + name + "'"))
        return false;

    if (!result_.name_space.empty() || result_.namespace_loc.line != 0) {
        diag_.error(location(keyword), "the namespace of this file is already declared",
                    keyword.length);
        diag_.note(result_.namespace_loc, "declared here as '" + result_.name_space + "'");
    } else if (seen_content_) {
        diag_.error(location(keyword),
                    "'namespace' must come first in the file, before imports and declarations",
                    keyword.length);
    } else {
        result_.name_space = std::move(name);
        result_.namespace_loc = loc;
    }
    return true;
}

bool parser::parse_import() {
    advance();
    if (!at(token_kind::string))
        return syntax_error("expected a file name in quotes after 'import', found " +
                            describe(current_));
    import_statement statement{std::string(current_.text), location(current_), current_.length};
    advance();
    if (!expect(token_kind::semicolon, "';' after 'import \"" + statement.path + "\"'"))
        return false;
    if (statement.path.empty()) {
        diag_.error(statement.loc, "empty file name in import", statement.length);
        return true;
    }
    result_.imports.push_back(std::move(statement));
    return true;
}

bool parser::unexpected_end(const declaration& d, const token& open_brace) {
    syntax_error("unexpected end of file in '" + d.name + "': missing '}'");
    diag_.note(location(open_brace), "'" + d.name + "' starts here");
    return false;
}

bool parser::parse_enum(declaration& d) {
    if (!expect(token_kind::colon, "':' and an underlying type after 'enum " + d.name +
                                       "' (every enum states its integer type, e.g. ': u8')"))
        return false;
    type_expr underlying;
    if (!parse_type(underlying, 0))
        return false;
    std::optional<integer_range> range;
    if (underlying.k == type_expr::kind::builtin)
        range = range_of(underlying.b);
    if (range) {
        d.underlying = underlying.b;
    } else {
        diag_.error(underlying.loc,
                    "the underlying type of enum '" + d.name +
                        "' must be an integer type (i8, i16, i32, i64, u8, u16, u32 or u64), "
                        "not '" + spelling(underlying) + "'",
                    spelling(underlying).size());
    }

    const token open_brace = current_;
    if (!expect(token_kind::left_brace, "'{' after 'enum " + d.name + " : " +
                                            spelling(underlying) + "'"))
        return false;
    while (!at(token_kind::right_brace)) {
        if (at(token_kind::end_of_file))
            return unexpected_end(d, open_brace);
        enum_value value;
        value.doc = std::move(current_.doc);
        if (!expect_name(value.name, value.loc,
                         "an enum value name or '}' in enum '" + d.name + "'"))
            return false;
        if (!expect(token_kind::equals, "'=' and a value after '" + value.name +
                                            "' (every enum value is given explicitly)"))
            return false;
        const token first = current_;
        const bool negative = at(token_kind::minus);
        if (negative)
            advance();
        if (!at(token_kind::integer))
            return syntax_error("expected an integer value for '" + value.name + "', found " +
                                describe(current_));
        const std::uint64_t magnitude = current_.integer;
        const std::size_t length =
            static_cast<std::size_t>(current_.column - first.column) + current_.length;
        advance();
        // C++20 defines the conversion as modular, so u64 values above INT64_MAX keep their bits.
        value.value = static_cast<std::int64_t>(negative ? 0 - magnitude : magnitude);
        if (range && ((negative && magnitude > range->negative_limit) ||
                      (!negative && magnitude > range->positive_limit))) {
            diag_.error(location(first),
                        "value " + std::string(negative ? "-" : "") + std::to_string(magnitude) +
                            " of '" + value.name + "' is out of range for the underlying type '" +
                            std::string(spelling(d.underlying)) + "' (" + range_text(*range) +
                            ")",
                        length);
        }
        d.values.push_back(std::move(value));
        if (at(token_kind::comma)) {
            advance();
            continue;
        }
        if (!at(token_kind::right_brace))
            return syntax_error("expected ',' or '}' after enum value '" + d.values.back().name +
                                    "', found " + describe(current_),
                                true);
    }
    advance();
    return true;
}

bool parser::parse_members(declaration& d, std::string_view member_word) {
    const std::string keyword = d.k == declaration::kind::struct_ ? "struct" : "union";
    const std::string member(member_word);
    const token open_brace = current_;
    if (!expect(token_kind::left_brace, "'{' after '" + keyword + " " + d.name + "'"))
        return false;
    while (!at(token_kind::right_brace)) {
        if (at(token_kind::end_of_file))
            return unexpected_end(d, open_brace);
        field f;
        f.doc = std::move(current_.doc);
        f.index = static_cast<std::uint32_t>(d.fields.size());
        if (!expect_name(f.name, f.loc,
                         "a " + member + " name or '}' in " + keyword + " '" + d.name + "'"))
            return false;
        if (!expect(token_kind::colon, "':' and a type after " + member + " '" + f.name + "'"))
            return false;
        if (!parse_type(f.type, 0))
            return false;
        if (!expect(token_kind::semicolon, "';' after " + member + " '" + f.name + "'"))
            return false;
        d.fields.push_back(std::move(f));
    }
    advance();
    return true;
}

bool parser::parse_service(declaration& d) {
    const token open_brace = current_;
    if (!expect(token_kind::left_brace, "'{' after 'service " + d.name + "'"))
        return false;
    while (!at(token_kind::right_brace)) {
        if (at(token_kind::end_of_file))
            return unexpected_end(d, open_brace);
        procedure p;
        p.id = static_cast<std::uint32_t>(d.procedures.size());
        if (!parse_procedure(d, p))
            return false;
        d.procedures.push_back(std::move(p));
    }
    advance();
    return true;
}

bool parser::parse_procedure(declaration& service, procedure& p) {
    p.doc = std::move(current_.doc);
    if (!expect_name(p.name, p.loc,
                     "a procedure name or '}' in service '" + service.name + "'"))
        return false;
    if (!expect(token_kind::left_paren, "'(' after procedure name '" + p.name + "'"))
        return false;
    while (!at(token_kind::right_paren)) {
        field param;
        param.doc = std::move(current_.doc);
        param.index = static_cast<std::uint32_t>(p.params.size());
        if (!expect_name(param.name, param.loc,
                         "a parameter name or ')' in procedure '" + p.name + "'"))
            return false;
        if (!expect(token_kind::colon,
                    "':' and a type after parameter '" + param.name + "'"))
            return false;
        if (!parse_type(param.type, 0))
            return false;
        p.params.push_back(std::move(param));
        if (at(token_kind::comma)) {
            advance();
            continue;
        }
        if (!at(token_kind::right_paren))
            return syntax_error("expected ',' or ')' after parameter '" + p.params.back().name +
                                    "', found " + describe(current_),
                                true);
    }
    advance();
    if (at(token_kind::arrow)) {
        advance();
        if (at_word("void")) {
            advance();
        } else {
            p.result.emplace();
            if (!parse_type(*p.result, 0))
                return false;
        }
    }
    return expect(token_kind::semicolon, "';' after procedure '" + p.name + "'");
}

bool parser::parse_type(type_expr& type, int depth) {
    if (!at(token_kind::identifier))
        return syntax_error("expected a type, found " + describe(current_));
    if (depth >= max_type_depth)
        return syntax_error("type nested too deeply (more than " +
                            std::to_string(max_type_depth) + " levels)");
    type.loc = location(current_);
    const std::string_view word = current_.text;

    if (const auto b = builtin_named(word)) {
        type.k = type_expr::kind::builtin;
        type.b = *b;
        advance();
        return true;
    }
    if (word == "void") {
        // Reported here, but the tree stays usable: the declaration is checked as if the type
        // were bool so that the rest of the file still gets its messages.
        diag_.error(type.loc,
                    "'void' can only be the result of a procedure ('-> void'), not a value type",
                    word.size());
        type.k = type_expr::kind::builtin;
        type.b = builtin::bool_;
        advance();
        return true;
    }

    type_expr::kind generic = type_expr::kind::named;
    if (word == "vector")
        generic = type_expr::kind::vector;
    else if (word == "optional")
        generic = type_expr::kind::optional;
    else if (word == "span")
        generic = type_expr::kind::span;
    else if (word == "array")
        generic = type_expr::kind::array;
    if (generic == type_expr::kind::named) {
        type.k = type_expr::kind::named;
        return parse_qualified_name(type.name);
    }

    const std::string name(word);
    type.k = generic;
    advance();
    const std::string usage = generic == type_expr::kind::array ? "array<T, N>" : name + "<T>";
    if (!expect(token_kind::less, "'<' after '" + name + "' (write " + usage + ")"))
        return false;
    type.element = std::make_unique<type_expr>();
    if (!parse_type(*type.element, depth + 1))
        return false;
    if (generic == type_expr::kind::array) {
        if (!expect(token_kind::comma, "',' and the number of elements after the element type "
                                       "of 'array' (write array<T, N>)"))
            return false;
        if (!at(token_kind::integer))
            return syntax_error("expected the number of elements of the array (an integer), "
                                "found " + describe(current_));
        type.array_size = current_.integer;
        advance();
    }
    return expect(token_kind::greater, "'>' to close '" + name + "<'");
}

}  // namespace

std::string_view spelling(builtin b) {
    for (const auto& entry : builtin_spellings)
        if (entry.type == b)
            return entry.name;
    return "?";
}

std::optional<builtin> builtin_named(std::string_view name) {
    for (const auto& entry : builtin_spellings)
        if (entry.name == name)
            return entry.type;
    return std::nullopt;
}

std::string spelling(const type_expr& type) {
    const auto element = [&] { return type.element ? spelling(*type.element) : std::string("?"); };
    switch (type.k) {
    case type_expr::kind::builtin: return std::string(spelling(type.b));
    case type_expr::kind::named: return type.name;
    case type_expr::kind::vector: return "vector<" + element() + ">";
    case type_expr::kind::optional: return "optional<" + element() + ">";
    case type_expr::kind::span: return "span<" + element() + ">";
    case type_expr::kind::array:
        return "array<" + element() + ", " + std::to_string(type.array_size) + ">";
    }
    return "?";
}

parsed_file parse(std::string file, std::string_view text, diagnostics& diag) {
    return parser(std::move(file), text, diag).run();
}

}  // namespace lidl::compiler
