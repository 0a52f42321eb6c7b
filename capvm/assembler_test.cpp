// Assembler and disassembler: exact encodings, operand checking with positions, and the round
// trip text -> bytes -> text -> bytes on hand-written and on random code.
#include <capvm/assembler.hpp>

#include <capvm/isa.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace amb::capvm {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
    std::vector<std::uint8_t> out;
    for (int b : list)
        out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

TEST(assembler, encodes_operands_packed_most_significant_first) {
    EXPECT_EQ(*assemble("accept"), bytes({0x01}));
    EXPECT_EQ(*assemble("add r1, r2"), bytes({0x20, 0x12}));
    EXPECT_EQ(*assemble("lis r3, -1"), bytes({0x11, 0x3f}));
    EXPECT_EQ(*assemble("beq r1, r2, 3"), bytes({0x0a, 0x12, 0x03}));
    EXPECT_EQ(*assemble("bz r4, -2"), bytes({0x08, 0x4f, 0xfe}));
    EXPECT_EQ(*assemble("tsel capability, r2, r3"), bytes({0x79, 0x48, 0xc0}));
    EXPECT_EQ(*assemble("vcallx r1, sensor, r2, 1"), bytes({0x71, 0x10, 0x42, 0x40}));
    EXPECT_EQ(*assemble("li r0, 63"), bytes({0x12, 0x00, 0x3f}));
    EXPECT_EQ(*assemble("li r0, 64"), bytes({0x12, 0x00, 0xc0, 0x00}));
    EXPECT_EQ(*assemble("li r0, -65"), bytes({0x12, 0x00, 0xbf, 0x7f}));
    EXPECT_EQ(*assemble("reqc.lt now, 1767225600"), bytes({0x6a, 0x00, 0x80, 0xf2, 0xd6, 0xca, 0x06}));
    EXPECT_EQ(*assemble("li r0, 10.0.0.1"), *assemble("li r0, 0x0a000001"));
    EXPECT_EQ(*assemble(".byte 0xff, -1, 7"), bytes({0xff, 0xff, 0x07}));
}

TEST(assembler, labels_resolve_forwards_and_backwards) {
    EXPECT_EQ(*assemble("top: jmp end\njmp top\nend: accept"), bytes({0x04, 0x02, 0x04, 0xfc, 0x01}));
    EXPECT_EQ(*assemble("a: b: accept\njmp a ; comment\n# another\n"), bytes({0x01, 0x04, 0xfd}));
}

TEST(assembler, errors_carry_line_and_column) {
    struct row {
        const char* source;
        const char* expected;
    };
    const row rows[] = {
        {"accept\n  frob r1", "2:3: unknown instruction 'frob'"},
        {"add r1", "1:1: add takes 2 operands, not 1"},
        {"add r1, r16", "1:9: register operand 2 of add out of range: 16 does not fit 4 bits"},
        {"add r1, x1", "1:9: expected a register r0..r15, got 'x1'"},
        {"lis r1, 8", "1:9: signed literal operand 2 of lis out of range: 8 does not fit 4 bits"},
        {"vcall r1, 16", "1:11: unsigned literal operand 2 of vcall out of range: 16 does not fit 4 bits"},
        {"jmp nowhere", "1:5: unknown label 'nowhere'"},
        {"x: accept\nx: accept", "2:1: label 'x' defined twice"},
        {"li r1, banana", "1:8: expected a number, got 'banana'"},
        {"add r1,", "1:8: missing operand after ','"},
        {".byte 256", "1:7: byte value out of range"},
    };
    for (const row& r : rows) {
        auto result = assemble(r.source);
        ASSERT_FALSE(result.has_value()) << r.source;
        EXPECT_EQ(format_tool_error(result.error()), r.expected);
    }
    std::string far = "jmp end\n";
    for (int i = 0; i < 200; ++i)
        far += "accept\n";
    far += "end: accept";
    EXPECT_EQ(format_tool_error(assemble(far).error()),
              "1:5: jump offset operand 1 of jmp out of range: 200 does not fit 8 bits");
}

TEST(disassembler, round_trips_every_instruction) {
    // One instance of every instruction with extreme operand values.
    std::string source = "start:\n";
    for (const auto& info : isa::infos) {
        source += std::string("    ") + info.name;
        for (unsigned k = 0; k < info.operand_count; ++k) {
            source += k == 0 ? " " : ", ";
            const auto& op = info.operands[k];
            switch (op.kind) {
            case tvm::operand_kind::reg:
                source += "r" + std::to_string(15 - k);
                break;
            case tvm::operand_kind::unsigned_literal:
                source += std::to_string((1u << op.bits) - 1);
                break;
            case tvm::operand_kind::signed_literal:
                source += std::to_string(-(1 << (op.bits - 1)));
                break;
            case tvm::operand_kind::varint:
                source += "-9223372036854775807";
                break;
            case tvm::operand_kind::offset:
                source += "start";
                break;
            }
        }
        source += "\n";
    }
    auto code = assemble(source);
    ASSERT_TRUE(code.has_value()) << format_tool_error(code.error());
    const std::string text = disassemble(*code);
    auto again = assemble(text);
    ASSERT_TRUE(again.has_value()) << format_tool_error(again.error()) << "\n" << text;
    EXPECT_EQ(*again, *code);
    EXPECT_EQ(disassemble(*again), text);
}

TEST(disassembler, names_calls_items_and_targets) {
    auto code = assemble("top: reqc.ge battery, 20\nvcall r1, endpoint\ntcnt r2, capability, r1\nbnz r1, top\naccept");
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(disassemble(*code), "L0000:\n    reqc.ge battery, 20\n    vcall r1, endpoint\n"
                                  "    tcnt r2, capability, r1\n    bnz r1, L0000\n    accept\n");
    const std::string listing = disassemble(*code, true);
    EXPECT_EQ(listing.rfind("L0000:\n0000  6d 03 14 ", 0), 0u) << listing;
    EXPECT_NE(listing.find(" reqc.ge battery, 20\n0003  70 11 "), std::string::npos) << listing;
}

TEST(disassembler, round_trips_random_bytes) {
    std::mt19937 random(7);
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> code(random() % 40);
        for (auto& b : code)
            b = static_cast<std::uint8_t>(random() % 4 == 0 ? random() % 0x81 : random());
        const std::string text = disassemble(code);
        auto again = assemble(text);
        ASSERT_TRUE(again.has_value()) << format_tool_error(again.error()) << "\n" << text;
        ASSERT_EQ(*again, code) << text;
    }
}

} // namespace
} // namespace amb::capvm
