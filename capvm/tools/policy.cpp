// The policy generator: expression tree to CapVM bytecode.
//
// Registers are allocated as a stack: an expression computed into rN uses rN+1.. for its
// operands, so a policy can nest 16 deep. Top-level conjuncts become "reject unless" forms
// (reqc.<cc> when a VM call is compared with a literal, req.<cc> for any other value compared
// with a literal, req for the rest); other conditions compile to short-circuit branches. Branch
// offsets start short and are widened (an inverted branch over a jmpw) until every one fits.
#include <capvm/policy.hpp>

#include "policy_syntax.hpp"

#include <capvm/isa.hpp>

#include <map>
#include <optional>

namespace amb::capvm {
namespace {

using policy::node;
using policy::node_kind;

const tvm::instruction_info& instruction(std::string_view name) {
    for (const auto& info : isa::infos)
        if (name == info.name)
            return info;
    AMB_ASSERT(false, "the generator names an instruction the ISA does not have");
    return isa::infos[0];
}

/// One emitted instruction, or a label definition (info == nullptr).
struct pending {
    const tvm::instruction_info* info;
    std::array<std::int64_t, tvm::max_operands> operands{};
    int label = -1;        // label defined here (info == nullptr) or targeted by the offset
    bool wide = false;     // widened: inverted branch over a jmpw
};

struct function_info {
    const char* name;
    int arity;
};

// Comparison mnemonic suffixes and their mirror (a OP b == b MIRROR a) and negation.
struct comparison {
    const char* op;
    const char* suffix;
    const char* mirrored;
    const char* negated;
};
constexpr comparison comparisons[] = {
    {"==", "eq", "eq", "ne"}, {"!=", "ne", "ne", "eq"}, {"<", "lt", "gt", "ge"},
    {"<=", "le", "ge", "gt"}, {">", "gt", "lt", "le"},  {">=", "ge", "le", "lt"},
};

const comparison* find_comparison(std::string_view op) {
    for (const auto& c : comparisons)
        if (op == c.op)
            return &c;
    return nullptr;
}

const char* arithmetic_mnemonic(std::string_view op) {
    static const std::map<std::string_view, const char*> names = {
        {"+", "add"}, {"-", "sub"}, {"*", "mul"}, {"/", "div"}, {"%", "rem"}, {"&", "and"},
        {"|", "or"},  {"^", "xor"}, {"<<", "shl"}, {">>", "sar"}, {"==", "eq"}, {"!=", "ne"},
        {"<", "lt"},  {"<=", "le"}, {">", "gt"},  {">=", "ge"}};
    const auto found = names.find(op);
    return found == names.end() ? nullptr : found->second;
}

class generator {
public:
    amb::result<std::vector<std::uint8_t>, tool_error> run(const node& root) {
        if (auto e = require(root); !e)
            return amb::failure{e.error()};
        emit("accept");
        if (reject_label_ >= 0) {
            place(reject_label_);
            emit("reject");
        }
        return layout();
    }

private:
    using status = amb::result<void, tool_error>;

    static tool_error error_at(const node& n, const char* message) {
        return make_tool_error(n.line, n.column, "%s", message);
    }

    void emit(std::string_view name, std::initializer_list<std::int64_t> operands = {}, int label = -1) {
        pending p{&instruction(name), {}, label, false};
        std::size_t i = 0;
        for (std::int64_t v : operands)
            p.operands[i++] = v;
        code_.push_back(p);
    }
    int new_label() { return labels_++; }
    void place(int label) { code_.push_back(pending{nullptr, {}, label, false}); }

    static bool is_number(const node& n) { return n.kind == node_kind::number; }

    /// A zero-argument standard VM call (now(), endpoint(), battery()) and its id.
    static std::optional<std::int64_t> plain_call(const node& n) {
        if (n.kind != node_kind::call || !n.arguments.empty())
            return std::nullopt;
        if (n.op == "now")
            return vm_call::now;
        if (n.op == "endpoint")
            return vm_call::endpoint;
        if (n.op == "battery")
            return vm_call::battery;
        return std::nullopt;
    }

    status check_register(const node& n, int r) {
        if (r >= static_cast<int>(machine::register_count))
            return amb::failure{error_at(n, "expression too deeply nested (needs more than 16 registers)")};
        return {};
    }

    // ---- "reject unless n" ------------------------------------------------------------------

    status require(const node& n) {
        if (n.kind == node_kind::binary && n.op == "&&") {
            if (auto e = require(*n.arguments[0]); !e)
                return e;
            return require(*n.arguments[1]);
        }
        if (is_number(n)) {
            if (n.value == 0)
                emit("reject");
            return {};
        }
        if (n.kind == node_kind::binary) {
            if (const comparison* c = find_comparison(n.op)) {
                const node* value = n.arguments[0].get();
                const node* literal = n.arguments[1].get();
                const char* suffix = c->suffix;
                if (is_number(*value) && !is_number(*literal)) {
                    std::swap(value, literal);
                    suffix = c->mirrored;
                }
                if (is_number(*literal)) {
                    if (auto id = plain_call(*value)) {
                        emit(std::string("reqc.") + suffix, {*id, literal->value});
                        return {};
                    }
                    if (auto e = value_into(*value, 0); !e)
                        return e;
                    emit(std::string("req.") + suffix, {0, literal->value});
                    return {};
                }
            }
        }
        if (n.kind == node_kind::in_cidr) {
            if (auto e = value_into(*n.arguments[0], 0); !e)
                return e;
            emit_network_shift(n, 0);
            emit("req.eq", {0, network_key(n)});
            return {};
        }
        if ((n.kind == node_kind::binary && (n.op == "||")) || (n.kind == node_kind::unary && n.op == "!")) {
            if (reject_label_ < 0)
                reject_label_ = new_label();
            return jump(n, false, reject_label_, 0);
        }
        if (auto e = value_into(n, 0); !e)
            return e;
        emit("req", {0});
        return {};
    }

    // A CIDR match shifts the host bits out: 10.0.0.0/8 holds for x when x >> 24 == 10, and
    // only for x in 0..2^32-1 (the shift is logical, so -1 "not IPv4" never matches).
    void emit_network_shift(const node& n, int r) {
        if (n.prefix < 32)
            emit("shri", {r, 32 - n.prefix});
    }
    static std::int64_t network_key(const node& n) {
        return n.prefix == 0 ? 0 : (n.value >> (32 - n.prefix));
    }

    // ---- Branches -----------------------------------------------------------------------------

    /// Jumps to `target` when the truth of n equals `when`; falls through otherwise.
    status jump(const node& n, bool when, int target, int r) {
        if (is_number(n)) {
            if ((n.value != 0) == when)
                emit("jmp", {0}, target);
            return {};
        }
        if (n.kind == node_kind::unary && n.op == "!")
            return jump(*n.arguments[0], !when, target, r);
        if (n.kind == node_kind::binary && (n.op == "&&" || n.op == "||")) {
            const bool is_and = n.op == "&&";
            if (is_and != when) {
                // && jumping when false, || jumping when true: either operand decides.
                if (auto e = jump(*n.arguments[0], when, target, r); !e)
                    return e;
                return jump(*n.arguments[1], when, target, r);
            }
            const int skip = new_label();
            if (auto e = jump(*n.arguments[0], !when, skip, r); !e)
                return e;
            if (auto e = jump(*n.arguments[1], when, target, r); !e)
                return e;
            place(skip);
            return {};
        }
        if (n.kind == node_kind::binary) {
            if (const comparison* c = find_comparison(n.op)) {
                if (auto e = check_register(n, r + 1); !e)
                    return e;
                if (auto e = value_into(*n.arguments[0], r); !e)
                    return e;
                if (auto e = value_into(*n.arguments[1], r + 1); !e)
                    return e;
                std::string_view suffix = when ? c->suffix : c->negated;
                // Compare-and-branch exists for eq ne lt ge; gt and le swap the operands.
                std::int64_t a = r;
                std::int64_t b = r + 1;
                if (suffix == "gt" || suffix == "le") {
                    std::swap(a, b);
                    suffix = suffix == "gt" ? "lt" : "ge";
                }
                emit(std::string("b") + std::string(suffix), {a, b, 0}, target);
                return {};
            }
        }
        if (auto e = value_into(n, r); !e)
            return e;
        emit(when ? "bnz" : "bz", {r, 0}, target);
        return {};
    }

    // ---- Values -------------------------------------------------------------------------------

    status value_into(const node& n, int r) {
        if (auto e = check_register(n, r); !e)
            return e;
        switch (n.kind) {
        case node_kind::number:
            if (n.value >= -8 && n.value <= 7)
                emit("lis", {r, n.value});
            else
                emit("li", {r, n.value});
            return {};
        case node_kind::call:
            return call_into(n, r);
        case node_kind::unary: {
            if (auto e = value_into(*n.arguments[0], r); !e)
                return e;
            if (n.op == "!")
                emit("not", {r});
            else if (n.op == "-")
                emit("neg", {r});
            else
                emit("xori", {r, -1});
            return {};
        }
        case node_kind::in_cidr:
            if (auto e = value_into(*n.arguments[0], r); !e)
                return e;
            emit_network_shift(n, r);
            emit("eqi", {r, network_key(n)});
            return {};
        case node_kind::binary:
            break;
        }
        if (n.op == "&&" || n.op == "||") {
            const int is_false = new_label();
            const int done = new_label();
            if (auto e = jump(n, false, is_false, r); !e)
                return e;
            emit("lis", {r, 1});
            emit("jmp", {0}, done);
            place(is_false);
            emit("lis", {r, 0});
            place(done);
            return {};
        }
        const node* left = n.arguments[0].get();
        const node* right = n.arguments[1].get();
        std::string name = arithmetic_mnemonic(n.op);
        const bool commutative = n.op == "+" || n.op == "*" || n.op == "&" || n.op == "|" ||
                                 n.op == "^" || n.op == "==" || n.op == "!=";
        if (is_number(*left) && !is_number(*right)) {
            if (commutative) {
                std::swap(left, right);
            } else if (const comparison* c = find_comparison(n.op)) {
                std::swap(left, right);
                name = c->mirrored;
            }
        }
        if (is_number(*right)) {
            if (auto e = value_into(*left, r); !e)
                return e;
            emit(name + "i", {r, right->value});
            return {};
        }
        if (auto e = check_register(n, r + 1); !e)
            return e;
        if (auto e = value_into(*left, r); !e)
            return e;
        if (auto e = value_into(*right, r + 1); !e)
            return e;
        emit(name, {r, r + 1});
        return {};
    }

    status arity(const node& n, std::size_t count) {
        if (n.arguments.size() != count)
            return amb::failure{make_tool_error(n.line, n.column, "%s() takes %zu argument%s, not %zu", n.op.c_str(),
                                                count, count == 1 ? "" : "s", n.arguments.size())};
        return {};
    }

    static bool is_item(const node& n) {
        return n.kind == node_kind::call && (n.op == "frame" || n.op == "capability" || n.op == "constraint");
    }

    /// Selects the token item `n` (frame(f), capability(f, i), constraint(f, i)) using r, r+1.
    status select(const node& n, int r) {
        if (!is_item(n))
            return amb::failure{error_at(n, "expected a token item: frame(f), capability(f, i) or constraint(f, i)")};
        const bool frame = n.op == "frame";
        if (auto e = arity(n, frame ? 1 : 2); !e)
            return e;
        if (auto e = check_register(n, r + 1); !e)
            return e;
        if (auto e = value_into(*n.arguments[0], r); !e)
            return e;
        if (!frame) {
            if (auto e = value_into(*n.arguments[1], r + 1); !e)
                return e;
        }
        emit("tsel", {frame ? 0 : n.op == "capability" ? 1 : 2, r, frame ? r : r + 1});
        return {};
    }

    status call_into(const node& n, int r) {
        const std::string& name = n.op;
        if (auto id = plain_call(n)) {
            emit("vcall", {r, *id});
            return {};
        }
        if (name == "now" || name == "endpoint" || name == "battery")
            return arity(n, 0);
        if (name == "sensor" || name == "endpoint6") {
            if (auto e = arity(n, 1); !e)
                return e;
            return vm_call(n, name == "sensor" ? vm_call::sensor : vm_call::endpoint6, 0, r);
        }
        if (name == "call") {
            if (n.arguments.empty() || !is_number(*n.arguments[0]) || n.arguments[0]->value < 0 ||
                n.arguments[0]->value > 255)
                return amb::failure{error_at(n, "call() needs a literal VM call id 0..255 first")};
            if (n.arguments.size() > 4)
                return amb::failure{error_at(n, "a VM call takes at most 3 arguments")};
            const auto id = n.arguments[0]->value;
            if (n.arguments.size() == 1 && id < 16) {
                emit("vcall", {r, id});
                return {};
            }
            return vm_call(n, id, 1, r);
        }
        if (name == "weekday" || name == "hour") {
            if (auto e = arity(n, 1); !e)
                return e;
            if (auto e = value_into(*n.arguments[0], r); !e)
                return e;
            if (name == "weekday") { // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday 0)
                emit("divi", {r, 86400});
                emit("addi", {r, 3});
                emit("remi", {r, 7});
            } else {
                emit("remi", {r, 86400});
                emit("divi", {r, 3600});
            }
            return {};
        }
        if (name == "frames") {
            if (auto e = arity(n, 0); !e)
                return e;
            emit("tcnt", {r, 0, r});
            return {};
        }
        if (name == "capabilities" || name == "constraints") {
            if (auto e = arity(n, 1); !e)
                return e;
            if (auto e = value_into(*n.arguments[0], r); !e)
                return e;
            emit("tcnt", {r, name == "capabilities" ? 1 : 2, r});
            return {};
        }
        if (name == "size") {
            if (auto e = arity(n, 1); !e)
                return e;
            if (auto e = select(*n.arguments[0], r); !e)
                return e;
            emit("tlen", {r});
            return {};
        }
        if (name == "u8" || name == "u16" || name == "u32" || name == "u64") {
            if (auto e = arity(n, 2); !e)
                return e;
            if (auto e = select(*n.arguments[0], r); !e)
                return e;
            if (auto e = value_into(*n.arguments[1], r); !e)
                return e;
            emit("tld" + name.substr(1), {r, r});
            return {};
        }
        if (is_item(n))
            return amb::failure{make_tool_error(n.line, n.column,
                                                "%s() is a token item; read it with size(), u8(), u16(), u32() or u64()",
                                                name.c_str())};
        return amb::failure{make_tool_error(n.line, n.column, "unknown function '%s'", name.c_str())};
    }

    /// rd = call id(arguments[first..]) through vcallx, arguments in r+1...
    status vm_call(const node& n, std::int64_t id, std::size_t first, int r) {
        const auto count = static_cast<int>(n.arguments.size() - first);
        if (auto e = check_register(n, r + count); !e)
            return e;
        for (int k = 0; k < count; ++k)
            if (auto e = value_into(*n.arguments[first + static_cast<std::size_t>(k)], r + 1 + k); !e)
                return e;
        emit("vcallx", {r, id, count == 0 ? 0 : r + 1, count});
        return {};
    }

    // ---- Layout -------------------------------------------------------------------------------

    static int offset_operand(const tvm::instruction_info& info) {
        for (int k = 0; k < info.operand_count; ++k)
            if (info.operands[static_cast<std::size_t>(k)].kind == tvm::operand_kind::offset)
                return k;
        return -1;
    }

    static std::uint32_t length(const pending& p) {
        if (p.info == nullptr)
            return 0;
        if (p.wide) // inverted branch (or nothing, for jmp) + jmpw
            return (std::string_view(p.info->name) == "jmp" ? 0 : p.info->min_length()) + 3;
        return tvm::encoded_length(*p.info, std::span(p.operands.data(), p.info->operand_count));
    }

    static const char* inverted(std::string_view branch) {
        static const std::map<std::string_view, const char*> names = {
            {"bz", "bnz"}, {"bnz", "bz"}, {"beq", "bne"}, {"bne", "beq"}, {"blt", "bge"}, {"bge", "blt"}};
        return names.at(branch);
    }

    amb::result<std::vector<std::uint8_t>, tool_error> layout() {
        std::vector<std::int64_t> label_at(static_cast<std::size_t>(labels_), 0);
        std::vector<std::uint32_t> at(code_.size(), 0);
        for (;;) {
            std::uint32_t offset = 0;
            for (std::size_t i = 0; i < code_.size(); ++i) {
                at[i] = offset;
                if (code_[i].info == nullptr)
                    label_at[static_cast<std::size_t>(code_[i].label)] = offset;
                offset += length(code_[i]);
            }
            if (offset > 0xffff)
                return amb::failure{make_tool_error(1, 1, "policy compiles to more than 65535 bytes")};
            bool widened = false;
            for (std::size_t i = 0; i < code_.size(); ++i) {
                pending& p = code_[i];
                if (p.info == nullptr || p.label < 0 || p.wide)
                    continue;
                const int k = offset_operand(*p.info);
                const std::int64_t delta = label_at[static_cast<std::size_t>(p.label)] - (at[i] + length(p));
                if (!tvm::operand_fits(p.info->operands[static_cast<std::size_t>(k)], delta, machine::register_count)) {
                    p.wide = true;
                    widened = true;
                }
                p.operands[static_cast<std::size_t>(k)] = delta;
            }
            if (widened)
                continue;
            std::vector<std::uint8_t> out(offset);
            for (std::size_t i = 0; i < code_.size(); ++i) {
                pending p = code_[i];
                if (p.info == nullptr)
                    continue;
                std::uint32_t cursor = at[i];
                if (p.wide) {
                    const std::int64_t target = label_at[static_cast<std::size_t>(p.label)];
                    if (std::string_view(p.info->name) != "jmp") {
                        // Inverted branch over the jmpw that follows it (3 bytes).
                        pending skip = p;
                        skip.info = &instruction(inverted(p.info->name));
                        skip.operands[static_cast<std::size_t>(offset_operand(*skip.info))] = 3;
                        cursor += encode(skip, out, cursor);
                    }
                    pending far{&instruction("jmpw"), {}, -1, false};
                    far.operands[0] = target - (cursor + 3);
                    encode(far, out, cursor);
                    continue;
                }
                encode(p, out, cursor);
            }
            return out;
        }
    }

    static std::uint32_t encode(const pending& p, std::vector<std::uint8_t>& out, std::uint32_t at) {
        auto written = tvm::encode<isa>(*p.info, std::span(p.operands.data(), p.info->operand_count),
                                        std::span<std::uint8_t>(out).subspan(at));
        AMB_ASSERT(written.has_value(), "the generator produced an operand out of range");
        return *written;
    }

    std::vector<pending> code_;
    int labels_ = 0;
    int reject_label_ = -1;
};

} // namespace

amb::result<std::vector<std::uint8_t>, tool_error> compile_policy(std::string_view source) {
    policy::node_ptr root;
    auto tree = policy::parse(source, root);
    if (!tree)
        return amb::failure{tree.error()};
    generator g;
    return g.run(**tree);
}

} // namespace amb::capvm
