// Lexer and precedence-climbing parser of the policy language, with constant folding.
#include "policy_syntax.hpp"

#include <capvm/host.hpp>

#include <cctype>

namespace amb::capvm::policy {
namespace {

enum class token_kind { end, identifier, number, address, op };

struct token {
    token_kind kind;
    std::string_view text;
    std::int64_t value = 0;
    std::uint32_t line = 1;
    std::uint32_t column = 1;
};

class lexer {
public:
    explicit lexer(std::string_view source) : source_(source) {}

    amb::result<token, tool_error> next() {
        skip_space();
        token t{token_kind::end, {}, 0, line_, column_};
        if (at_ >= source_.size())
            return t;
        const char c = source_[at_];
        const std::size_t begin = at_;
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            while (at_ < source_.size() && (std::isalnum(static_cast<unsigned char>(source_[at_])) || source_[at_] == '_'))
                advance();
            t.kind = token_kind::identifier;
            t.text = source_.substr(begin, at_ - begin);
            return t;
        }
        if (std::isdigit(static_cast<unsigned char>(c))) {
            while (at_ < source_.size() && (std::isalnum(static_cast<unsigned char>(source_[at_])) || source_[at_] == '_' || source_[at_] == '.'))
                advance();
            t.text = source_.substr(begin, at_ - begin);
            if (t.text.find('.') != std::string_view::npos) {
                const auto address = parse_ipv4(t.text);
                if (!address)
                    return amb::failure{make_tool_error(t.line, t.column, "bad IPv4 address '%.*s'",
                                                        static_cast<int>(t.text.size()), t.text.data())};
                t.kind = token_kind::address;
                t.value = *address;
                return t;
            }
            auto value = parse_number(t.text);
            if (!value)
                return amb::failure{make_tool_error(t.line, t.column, "bad number '%.*s'",
                                                    static_cast<int>(t.text.size()), t.text.data())};
            t.kind = token_kind::number;
            t.value = *value;
            return t;
        }
        static constexpr std::string_view two[] = {"&&", "||", "==", "!=", "<=", ">=", "<<", ">>"};
        for (std::string_view op : two) {
            if (source_.substr(at_, 2) == op) {
                advance();
                advance();
                t.kind = token_kind::op;
                t.text = op;
                return t;
            }
        }
        if (std::string_view("()<>,!+-*/%&|^~").find(c) != std::string_view::npos) {
            advance();
            t.kind = token_kind::op;
            t.text = source_.substr(begin, 1);
            return t;
        }
        if (c == '=')
            return amb::failure{make_tool_error(t.line, t.column, "'=' is not an operator; did you mean '=='?")};
        if (std::isprint(static_cast<unsigned char>(c)))
            return amb::failure{make_tool_error(t.line, t.column, "unexpected character '%c'", c)};
        return amb::failure{make_tool_error(t.line, t.column, "unexpected byte 0x%02x",
                                            static_cast<unsigned>(static_cast<unsigned char>(c)))};
    }

private:
    static std::optional<std::int64_t> parse_number(std::string_view text) {
        unsigned base = 10;
        if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
            base = 16;
            text.remove_prefix(2);
        }
        std::uint64_t value = 0;
        bool any = false;
        for (char c : text) {
            if (c == '_')
                continue;
            unsigned digit;
            if (std::isdigit(static_cast<unsigned char>(c)))
                digit = static_cast<unsigned>(c - '0');
            else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c)))
                digit = static_cast<unsigned>(std::tolower(c) - 'a' + 10);
            else
                return std::nullopt;
            if (value > (static_cast<std::uint64_t>(INT64_MAX) - digit) / base)
                return std::nullopt;
            value = value * base + digit;
            any = true;
        }
        if (!any)
            return std::nullopt;
        return static_cast<std::int64_t>(value);
    }

    void advance() {
        if (source_[at_] == '\n') {
            ++line_;
            column_ = 1;
        } else {
            ++column_;
        }
        ++at_;
    }
    void skip_space() {
        for (;;) {
            while (at_ < source_.size() && std::isspace(static_cast<unsigned char>(source_[at_])))
                advance();
            if (at_ < source_.size() && source_[at_] == '#') { // comment to end of line
                while (at_ < source_.size() && source_[at_] != '\n')
                    advance();
                continue;
            }
            return;
        }
    }

    std::string_view source_;
    std::size_t at_ = 0;
    std::uint32_t line_ = 1;
    std::uint32_t column_ = 1;
};

int precedence(std::string_view op) {
    if (op == "||") return 1;
    if (op == "&&") return 2;
    if (op == "|") return 3;
    if (op == "^") return 4;
    if (op == "&") return 5;
    if (op == "==" || op == "!=") return 6;
    if (op == "<" || op == "<=" || op == ">" || op == ">=" || op == "in") return 7;
    if (op == "<<" || op == ">>") return 8;
    if (op == "+" || op == "-") return 9;
    if (op == "*" || op == "/" || op == "%") return 10;
    return 0;
}

std::int64_t wrap(std::uint64_t value) { return static_cast<std::int64_t>(value); }

class parser {
public:
    explicit parser(std::string_view source) : lexer_(source) {}

    amb::result<node_ptr, tool_error> policy() {
        if (auto e = advance(); !e)
            return amb::failure{e.error()};
        if (current_.kind == token_kind::end)
            return amb::failure{make_tool_error(current_.line, current_.column, "empty policy")};
        auto root = expression(1);
        if (!root)
            return root;
        if (current_.kind != token_kind::end)
            return amb::failure{unexpected("an operator or the end of the policy")};
        return root;
    }

private:
    amb::result<void, tool_error> advance() {
        auto next = lexer_.next();
        if (!next)
            return amb::failure{next.error()};
        current_ = *next;
        return {};
    }

    tool_error unexpected(const char* expected) const {
        if (current_.kind == token_kind::end)
            return make_tool_error(current_.line, current_.column, "expected %s, found the end of the policy", expected);
        return make_tool_error(current_.line, current_.column, "expected %s, found '%.*s'", expected,
                               static_cast<int>(current_.text.size()), current_.text.data());
    }

    bool is_op(std::string_view op) const {
        return (current_.kind == token_kind::op || current_.kind == token_kind::identifier) && current_.text == op;
    }

    node_ptr make(node_kind kind, const token& at) {
        auto n = std::make_unique<node>();
        n->kind = kind;
        n->line = at.line;
        n->column = at.column;
        return n;
    }

    amb::result<node_ptr, tool_error> expression(int min_precedence) {
        auto left = unary();
        if (!left)
            return left;
        node_ptr lhs = std::move(*left);
        for (;;) {
            const bool binary_op = current_.kind == token_kind::op ||
                                   (current_.kind == token_kind::identifier && current_.text == "in");
            const int p = binary_op ? precedence(current_.text) : 0;
            if (p == 0 || p < min_precedence)
                return lhs;
            const token op = current_;
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            if (op.text == "in") {
                auto cidr = network(std::move(lhs), op);
                if (!cidr)
                    return cidr;
                lhs = std::move(*cidr);
                continue;
            }
            auto right = expression(p + 1);
            if (!right)
                return right;
            auto n = make(node_kind::binary, op);
            n->op = std::string(op.text);
            n->arguments.push_back(std::move(lhs));
            n->arguments.push_back(std::move(*right));
            auto folded = fold(std::move(n));
            if (!folded)
                return folded;
            lhs = std::move(*folded);
        }
    }

    amb::result<node_ptr, tool_error> network(node_ptr value, const token& op) {
        if (current_.kind != token_kind::address)
            return amb::failure{unexpected("an IPv4 network such as 10.0.0.0/8")};
        const token address = current_;
        if (auto e = advance(); !e)
            return amb::failure{e.error()};
        int prefix = 32;
        if (is_op("/")) {
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            if (current_.kind != token_kind::number || current_.value > 32)
                return amb::failure{unexpected("a prefix length 0..32")};
            prefix = static_cast<int>(current_.value);
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
        }
        const std::uint64_t host_mask = prefix == 0 ? 0xffffffffu : (std::uint64_t{1} << (32 - prefix)) - 1;
        if (static_cast<std::uint64_t>(address.value) & host_mask)
            return amb::failure{make_tool_error(address.line, address.column,
                                                "address has bits set beyond the /%d prefix", prefix)};
        auto n = make(node_kind::in_cidr, op);
        n->op = "in";
        n->value = address.value;
        n->prefix = prefix;
        n->arguments.push_back(std::move(value));
        return n;
    }

    amb::result<node_ptr, tool_error> unary() {
        if (is_op("!") || is_op("-") || is_op("~")) {
            const token op = current_;
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            auto operand = unary();
            if (!operand)
                return operand;
            auto n = make(node_kind::unary, op);
            n->op = std::string(op.text);
            n->arguments.push_back(std::move(*operand));
            return fold(std::move(n));
        }
        return primary();
    }

    amb::result<node_ptr, tool_error> primary() {
        const token t = current_;
        if (t.kind == token_kind::number || t.kind == token_kind::address) {
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            auto n = make(node_kind::number, t);
            n->value = t.value;
            return n;
        }
        if (is_op("(")) {
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            auto inner = expression(1);
            if (!inner)
                return inner;
            if (!is_op(")"))
                return amb::failure{unexpected("')'")};
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            return inner;
        }
        if (t.kind == token_kind::identifier && t.text != "in") {
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            if (t.text == "true" || t.text == "false") {
                auto n = make(node_kind::number, t);
                n->value = t.text == "true";
                return n;
            }
            if (!is_op("("))
                return amb::failure{make_tool_error(t.line, t.column, "unknown name '%.*s' (functions are called with ())",
                                                    static_cast<int>(t.text.size()), t.text.data())};
            auto n = make(node_kind::call, t);
            n->op = std::string(t.text);
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            if (!is_op(")")) {
                for (;;) {
                    auto argument = expression(1);
                    if (!argument)
                        return argument;
                    n->arguments.push_back(std::move(*argument));
                    if (is_op(")"))
                        break;
                    if (!is_op(","))
                        return amb::failure{unexpected("',' or ')'")};
                    if (auto e = advance(); !e)
                        return amb::failure{e.error()};
                }
            }
            if (auto e = advance(); !e)
                return amb::failure{e.error()};
            return n;
        }
        return amb::failure{unexpected("a number, an address, a function call or '('")};
    }

    /// Folds operators whose operands are all numbers.
    amb::result<node_ptr, tool_error> fold(node_ptr n) {
        if (n->kind == node_kind::binary && (n->op == "/" || n->op == "%") &&
            n->arguments[1]->kind == node_kind::number && n->arguments[1]->value == 0)
            return amb::failure{make_tool_error(n->line, n->column, "division by zero")};
        for (const auto& a : n->arguments)
            if (a->kind != node_kind::number)
                return n;
        std::int64_t result = 0;
        if (n->kind == node_kind::unary) {
            const std::int64_t a = n->arguments[0]->value;
            result = n->op == "!" ? a == 0 : n->op == "-" ? wrap(0 - std::uint64_t(a)) : ~a;
        } else {
            const std::int64_t a = n->arguments[0]->value;
            const std::int64_t b = n->arguments[1]->value;
            const std::string& op = n->op;
            if ((op == "/" || op == "%") && b == 0)
                return amb::failure{make_tool_error(n->line, n->column, "division by zero")};
            if (op == "+") result = wrap(std::uint64_t(a) + std::uint64_t(b));
            else if (op == "-") result = wrap(std::uint64_t(a) - std::uint64_t(b));
            else if (op == "*") result = wrap(std::uint64_t(a) * std::uint64_t(b));
            else if (op == "/") result = b == -1 ? wrap(0 - std::uint64_t(a)) : a / b;
            else if (op == "%") result = b == -1 ? 0 : a % b;
            else if (op == "&") result = a & b;
            else if (op == "|") result = a | b;
            else if (op == "^") result = a ^ b;
            else if (op == "<<") result = wrap(std::uint64_t(a) << (b & 63));
            else if (op == ">>") result = a >> (b & 63);
            else if (op == "==") result = a == b;
            else if (op == "!=") result = a != b;
            else if (op == "<") result = a < b;
            else if (op == "<=") result = a <= b;
            else if (op == ">") result = a > b;
            else if (op == ">=") result = a >= b;
            else if (op == "&&") result = a != 0 && b != 0;
            else if (op == "||") result = a != 0 || b != 0;
        }
        auto folded = std::make_unique<node>();
        folded->kind = node_kind::number;
        folded->value = result;
        folded->line = n->line;
        folded->column = n->column;
        return folded;
    }

    lexer lexer_;
    token current_{};
};

} // namespace

amb::result<node*, tool_error> parse(std::string_view source, node_ptr& root) {
    parser p(source);
    auto tree = p.policy();
    if (!tree)
        return amb::failure{tree.error()};
    root = std::move(*tree);
    return root.get();
}

} // namespace amb::capvm::policy
