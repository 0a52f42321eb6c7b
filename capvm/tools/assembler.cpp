// The CapVM assembler and disassembler, driven by the TVM tables of capvm/isa.hpp.
#include <capvm/assembler.hpp>

#include <capvm/host.hpp>
#include <capvm/isa.hpp>

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

namespace amb::capvm {

tool_error make_tool_error(std::uint32_t line, std::uint32_t column, const char* format, ...) {
    tool_error error{line, column, {}};
    va_list args;
    va_start(args, format);
    std::vsnprintf(error.message, sizeof error.message, format, args);
    va_end(args);
    return error;
}

std::string format_tool_error(const tool_error& error) {
    return std::to_string(error.line) + ":" + std::to_string(error.column) + ": " + error.message;
}

namespace {

constexpr const char* call_names[] = {"now", "endpoint", "endpoint6", "battery", "sensor"};
constexpr const char* item_names[] = {"frame", "capability", "constraint"};

std::optional<std::int64_t> named_constant(std::string_view name) {
    for (std::size_t i = 0; i < std::size(call_names); ++i)
        if (name == call_names[i])
            return static_cast<std::int64_t>(i);
    for (std::size_t i = 0; i < std::size(item_names); ++i)
        if (name == item_names[i])
            return static_cast<std::int64_t>(i);
    return std::nullopt;
}

/// Parses an integer literal: decimal or 0x hex, optional leading '-', '_' separators.
std::optional<std::int64_t> parse_integer(std::string_view text) {
    bool negative = false;
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    unsigned base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty())
        return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c == '_')
            continue;
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = static_cast<unsigned>(c - '0');
        else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c)))
            digit = static_cast<unsigned>(std::tolower(c) - 'a' + 10);
        else
            return std::nullopt;
        if (value > (~std::uint64_t{0} - digit) / base)
            return std::nullopt;
        value = value * base + digit;
    }
    if (!negative && base == 10 && value > static_cast<std::uint64_t>(INT64_MAX))
        return std::nullopt;
    if (negative && value > std::uint64_t{1} << 63)
        return std::nullopt;
    return negative ? static_cast<std::int64_t>(0 - value) : static_cast<std::int64_t>(value);
}

struct operand_text {
    std::string_view text;
    std::uint32_t column;
};

struct statement {
    std::uint32_t line;
    std::uint32_t column;
    const tvm::instruction_info* info; // nullptr for .byte
    std::vector<operand_text> operands;
    std::vector<std::int64_t> values; // resolved operands (labels resolved in pass 2)
    std::uint32_t offset;
    std::uint32_t length;
};

bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

std::string_view trim(std::string_view text, std::uint32_t& column) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
        ++column;
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return text;
}

const tvm::instruction_info* find_mnemonic(std::string_view name) {
    for (const auto& info : isa::infos)
        if (name == info.name)
            return &info;
    return nullptr;
}

} // namespace

amb::result<std::vector<std::uint8_t>, tool_error> assemble(std::string_view source) {
    std::vector<statement> statements;
    std::map<std::string, std::uint32_t, std::less<>> labels;
    std::uint32_t offset = 0;
    std::uint32_t line_number = 0;
    // Pass 1: parse, size every statement, place labels.
    while (!source.empty()) {
        ++line_number;
        const std::size_t end = source.find('\n');
        std::string_view line = source.substr(0, end);
        source.remove_prefix(end == std::string_view::npos ? source.size() : end + 1);
        const std::size_t comment = line.find_first_of(";#");
        if (comment != std::string_view::npos)
            line = line.substr(0, comment);
        std::uint32_t column = 1;
        line = trim(line, column);
        // Labels: "name:" possibly followed by a statement.
        for (;;) {
            std::size_t i = 0;
            while (i < line.size() && is_identifier_char(line[i]))
                ++i;
            if (i == 0 || i >= line.size() || line[i] != ':' || !is_identifier_start(line[0]))
                break;
            const std::string name(line.substr(0, i));
            if (!labels.emplace(name, offset).second)
                return amb::failure{make_tool_error(line_number, column, "label '%s' defined twice", name.c_str())};
            line.remove_prefix(i + 1);
            column += static_cast<std::uint32_t>(i + 1);
            line = trim(line, column);
        }
        if (line.empty())
            continue;
        std::size_t i = 0;
        while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
            ++i;
        const std::string_view mnemonic = line.substr(0, i);
        statement s{line_number, column, nullptr, {}, {}, offset, 0};
        if (mnemonic != ".byte") {
            s.info = find_mnemonic(mnemonic);
            if (s.info == nullptr)
                return amb::failure{make_tool_error(line_number, column, "unknown instruction '%.*s'",
                                                    static_cast<int>(mnemonic.size()), mnemonic.data())};
        }
        std::string_view rest = line.substr(i);
        std::uint32_t rest_column = column + static_cast<std::uint32_t>(i);
        rest = trim(rest, rest_column);
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            std::uint32_t operand_column = rest_column;
            std::string_view text = rest.substr(0, comma);
            const std::uint32_t consumed = static_cast<std::uint32_t>(comma == std::string_view::npos ? rest.size() : comma + 1);
            text = trim(text, operand_column);
            if (text.empty())
                return amb::failure{make_tool_error(line_number, operand_column, "missing operand")};
            s.operands.push_back({text, operand_column});
            rest.remove_prefix(consumed);
            rest_column += consumed;
            std::uint32_t probe = rest_column;
            if (comma != std::string_view::npos && trim(rest, probe).empty())
                return amb::failure{make_tool_error(line_number, rest_column, "missing operand after ','")};
            rest = trim(rest, rest_column);
        }
        if (s.info == nullptr) {
            if (s.operands.empty())
                return amb::failure{make_tool_error(line_number, column, ".byte needs at least one value")};
            s.length = static_cast<std::uint32_t>(s.operands.size());
        } else {
            if (s.operands.size() != s.info->operand_count)
                return amb::failure{make_tool_error(line_number, column, "%s takes %u operand%s, not %zu",
                                                    s.info->name, s.info->operand_count,
                                                    s.info->operand_count == 1 ? "" : "s",
                                                    s.operands.size())};
            s.length = 1u + s.info->fixed_bytes;
        }
        // Resolve everything but labels now: varint lengths depend on the values.
        s.values.resize(s.operands.size());
        for (std::size_t k = 0; k < s.operands.size(); ++k) {
            const operand_text& op = s.operands[k];
            const tvm::operand_kind kind = s.info ? s.info->operands[k].kind : tvm::operand_kind::unsigned_literal;
            if (kind == tvm::operand_kind::reg) {
                std::optional<std::int64_t> index;
                if (op.text.size() >= 2 && (op.text[0] == 'r' || op.text[0] == 'R'))
                    index = parse_integer(op.text.substr(1));
                if (!index || op.text.substr(1).find_first_not_of("0123456789") != std::string_view::npos)
                    return amb::failure{make_tool_error(line_number, op.column, "expected a register r0..r15, got '%.*s'",
                                                        static_cast<int>(op.text.size()), op.text.data())};
                s.values[k] = *index;
            } else if (kind == tvm::operand_kind::offset && is_identifier_start(op.text[0])) {
                s.values[k] = 0; // a label, resolved in pass 2
            } else {
                std::optional<std::int64_t> value = parse_integer(op.text);
                if (!value)
                    value = named_constant(op.text);
                if (!value) {
                    if (auto address = parse_ipv4(op.text))
                        value = static_cast<std::int64_t>(*address);
                }
                if (!value)
                    return amb::failure{make_tool_error(line_number, op.column, "expected a number, got '%.*s'",
                                                        static_cast<int>(op.text.size()), op.text.data())};
                s.values[k] = *value;
                if (kind == tvm::operand_kind::varint)
                    s.length += tvm::varint_length(*value) - 1;
            }
        }
        if (s.info == nullptr) {
            for (std::size_t k = 0; k < s.values.size(); ++k)
                if (s.values[k] < -128 || s.values[k] > 255)
                    return amb::failure{make_tool_error(line_number, s.operands[k].column, "byte value out of range")};
        } else {
            s.length += s.info->varint_count; // each varint counted as 1 above plus extra
        }
        offset += s.length;
        if (offset > 0xffff)
            return amb::failure{make_tool_error(line_number, column, "code longer than 65535 bytes")};
        statements.push_back(std::move(s));
    }
    // Pass 2: resolve labels and encode.
    std::vector<std::uint8_t> code(offset);
    for (statement& s : statements) {
        if (s.info == nullptr) {
            for (std::size_t k = 0; k < s.values.size(); ++k)
                code[s.offset + k] = static_cast<std::uint8_t>(s.values[k]);
            continue;
        }
        for (std::size_t k = 0; k < s.operands.size(); ++k) {
            if (s.info->operands[k].kind != tvm::operand_kind::offset || !is_identifier_start(s.operands[k].text[0]))
                continue;
            const auto found = labels.find(s.operands[k].text);
            if (found == labels.end())
                return amb::failure{make_tool_error(s.line, s.operands[k].column, "unknown label '%.*s'",
                                                    static_cast<int>(s.operands[k].text.size()), s.operands[k].text.data())};
            s.values[k] = static_cast<std::int64_t>(found->second) - (s.offset + s.length);
        }
        auto written = tvm::encode<isa>(*s.info, s.values, std::span<std::uint8_t>(code).subspan(s.offset));
        if (!written) {
            const tvm::encode_error error = written.error();
            const tvm::operand_info& op = s.info->operands[error.operand];
            const char* what = op.kind == tvm::operand_kind::reg ? "register"
                               : op.kind == tvm::operand_kind::offset ? "jump offset"
                               : op.kind == tvm::operand_kind::signed_literal ? "signed literal"
                                                                              : "unsigned literal";
            return amb::failure{make_tool_error(s.line, s.operands[error.operand].column,
                                                "%s operand %u of %s out of range: %lld does not fit %u bits",
                                                what, error.operand + 1u, s.info->name,
                                                static_cast<long long>(s.values[error.operand]), op.bits)};
        }
        AMB_ASSERT(*written == s.length, "assembler sized an instruction wrongly");
    }
    return code;
}

const char* vm_call_name(std::int64_t id) {
    if (id >= 0 && id < static_cast<std::int64_t>(std::size(call_names)))
        return call_names[id];
    return nullptr;
}

std::string disassemble(std::span<const std::uint8_t> code, bool listing) {
    struct line {
        std::uint32_t offset;
        std::uint32_t length;
        std::optional<tvm::decoded> instruction;
    };
    std::vector<line> lines;
    std::set<std::uint32_t> starts;
    const auto size = static_cast<std::uint32_t>(code.size());
    for (std::uint32_t pc = 0; pc < size;) {
        auto one = tvm::decode<isa>(code, pc);
        starts.insert(pc);
        if (one) {
            lines.push_back({pc, one->length, *one});
            pc += one->length;
        } else {
            lines.push_back({pc, 1, std::nullopt});
            pc += 1;
        }
    }
    std::set<std::uint32_t> targets;
    for (const line& l : lines) {
        if (!l.instruction)
            continue;
        for (unsigned k = 0; k < l.instruction->info->operand_count; ++k) {
            if (l.instruction->info->operands[k].kind != tvm::operand_kind::offset)
                continue;
            const std::int64_t target = std::int64_t{l.offset} + l.length + l.instruction->operands[k];
            if (target >= 0 && target < size && starts.count(static_cast<std::uint32_t>(target)))
                targets.insert(static_cast<std::uint32_t>(target));
        }
    }
    std::string out;
    char buffer[64];
    for (const line& l : lines) {
        if (targets.count(l.offset)) {
            std::snprintf(buffer, sizeof buffer, "L%04x:\n", l.offset);
            out += buffer;
        }
        std::string text;
        if (!l.instruction) {
            std::snprintf(buffer, sizeof buffer, ".byte 0x%02x", code[l.offset]);
            text = buffer;
        } else {
            const tvm::decoded& d = *l.instruction;
            const std::string name = d.info->name;
            text = name;
            for (unsigned k = 0; k < d.info->operand_count; ++k) {
                text += k == 0 ? " " : ", ";
                const std::int64_t value = d.operands[k];
                const tvm::operand_kind kind = d.info->operands[k].kind;
                const bool call_id = (name == "vcall" || name == "vcallx") ? k == 1 : name.rfind("reqc.", 0) == 0 && k == 0;
                const bool item = (name == "tcnt" && k == 1) || (name == "tsel" && k == 0);
                if (kind == tvm::operand_kind::reg) {
                    text += "r" + std::to_string(value);
                } else if (kind == tvm::operand_kind::offset) {
                    const std::int64_t target = std::int64_t{l.offset} + l.length + value;
                    if (target >= 0 && targets.count(static_cast<std::uint32_t>(target))) {
                        std::snprintf(buffer, sizeof buffer, "L%04x", static_cast<unsigned>(target));
                        text += buffer;
                    } else {
                        text += std::to_string(value);
                    }
                } else if (call_id && vm_call_name(value)) {
                    text += vm_call_name(value);
                } else if (item && value < 3) {
                    text += item_names[value];
                } else {
                    text += std::to_string(value);
                }
            }
        }
        if (listing) {
            std::snprintf(buffer, sizeof buffer, "%04x  ", l.offset);
            std::string prefix = buffer;
            for (std::uint32_t k = 0; k < l.length; ++k) {
                std::snprintf(buffer, sizeof buffer, "%02x ", code[l.offset + k]);
                prefix += buffer;
            }
            prefix.resize(std::max<std::size_t>(prefix.size(), 6 + 3 * 8), ' ');
            out += prefix + " " + text + "\n";
        } else {
            out += "    " + text + "\n";
        }
    }
    return out;
}

} // namespace amb::capvm
