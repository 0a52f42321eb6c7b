// Every CapVM instruction, through the assembler and all three dispatch strategies: each case
// is a program whose verdict (accept, reject or a fault) shows the instruction did its job.
#include <capvm/isa.hpp>

#include <capvm/assembler.hpp>
#include <capvm/host.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace amb::capvm {
namespace {

/// A token of three frames; frame f has f + 1 capabilities and one constraint.
class test_token final : public token_view {
public:
    test_token() {
        for (std::uint8_t f = 0; f < 3; ++f) {
            frames_.push_back({f, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});
            for (std::uint8_t c = 0; c <= f; ++c)
                capabilities_[f].push_back({static_cast<std::uint8_t>(0xc0 + c), f});
            constraints_[f].push_back({0xee});
        }
    }
    std::uint32_t count(item_kind kind, std::uint32_t frame) const override {
        switch (kind) {
        case item_kind::frame:
            return 3;
        case item_kind::capability:
            return static_cast<std::uint32_t>(capabilities_[frame].size());
        case item_kind::constraint:
            return static_cast<std::uint32_t>(constraints_[frame].size());
        }
        return 0;
    }
    std::span<const std::uint8_t> item(item_kind kind, std::uint32_t frame, std::uint32_t index) const override {
        switch (kind) {
        case item_kind::frame:
            return frames_[frame];
        case item_kind::capability:
            return capabilities_[frame][index];
        case item_kind::constraint:
            return constraints_[frame][index];
        }
        return {};
    }

private:
    std::vector<std::vector<std::uint8_t>> frames_;
    std::vector<std::vector<std::uint8_t>> capabilities_[3];
    std::vector<std::vector<std::uint8_t>> constraints_[3];
};

enum class expect { accept, reject };

struct instruction_case {
    const char* covers; // mnemonics this case exercises
    const char* source;
    std::optional<expect> verdict;
    std::optional<fault_kind> fault;
    std::uint32_t fault_offset = 0;
};

// "ok" programs end with `accept` only when every checked value was right; checks use req.eq.
const instruction_case cases[] = {
    {"reject", "reject", expect::reject, {}},
    {"accept", "accept", expect::accept, {}},
    {"halt", "lis r1, 1\nhalt r1", expect::accept, {}},
    {"halt", "lis r1, 0\nhalt r1", expect::reject, {}},
    {"req", "lis r1, 0\nreq r1\naccept", expect::reject, {}},
    {"req", "lis r1, -1\nreq r1\naccept", expect::accept, {}},
    {"jmp", "jmp over\nreject\nover: accept", expect::accept, {}},
    {"jmp", "jmp 5", {}, fault_kind::bad_jump, 0},
    {"jmpw", "jmpw over\nreject\nover: accept", expect::accept, {}},
    {"jmpw", "jmpw -4", {}, fault_kind::bad_jump, 0},
    {"call ret", "call sub\nreq.eq r1, 7\naccept\nsub: lis r1, 7\nret", expect::accept, {}},
    {"call", "top: call top", {}, fault_kind::call_stack_overflow, 0},
    {"ret", "ret", {}, fault_kind::call_stack_underflow, 0},
    {"bz", "lis r1, 0\nbz r1, yes\nreject\nyes: accept", expect::accept, {}},
    {"bz", "lis r1, 1\nbz r1, yes\nreject\nyes: accept", expect::reject, {}},
    {"bnz", "lis r1, 1\nbnz r1, yes\nreject\nyes: accept", expect::accept, {}},
    {"bnz", "lis r1, 0\nbnz r1, yes\nreject\nyes: accept", expect::reject, {}},
    {"beq", "lis r1, 3\nlis r2, 3\nbeq r1, r2, yes\nreject\nyes: accept", expect::accept, {}},
    {"bne", "lis r1, 3\nlis r2, 3\nbne r1, r2, yes\naccept\nyes: reject", expect::accept, {}},
    {"blt", "lis r1, -3\nlis r2, 2\nblt r1, r2, yes\nreject\nyes: accept", expect::accept, {}},
    {"bge", "lis r1, 2\nlis r2, 2\nbge r1, r2, yes\nreject\nyes: accept", expect::accept, {}},
    {"bltu", "lis r1, -3\nlis r2, 2\nbltu r1, r2, yes\naccept\nyes: reject", expect::accept, {}},
    {"bgeu", "lis r1, -3\nlis r2, 2\nbgeu r1, r2, yes\nreject\nyes: accept", expect::accept, {}},
    {"mov lis li", "li r2, -1234567890123\nmov r1, r2\nreq.eq r1, -1234567890123\nlis r3, -8\nreq.eq r3, -8\naccept", expect::accept, {}},
    {"not", "lis r1, 5\nnot r1\nreq.eq r1, 0\nnot r1\nreq.eq r1, 1\naccept", expect::accept, {}},
    {"neg", "li r1, 42\nneg r1\nreq.eq r1, -42\naccept", expect::accept, {}},
    {"st64 ld64", "li r1, 0x0102030405060708\nlis r2, 7\nst64 r1, r2, 48\nld64 r3, r2, 48\nreq.eq r3, 0x0102030405060708\nld8 r4, r2, 48\nreq.eq r4, 8\naccept", expect::accept, {}},
    {"st32 ld32 st16 ld16 st8 ld8", "li r1, -1\nlis r2, 0\nst32 r1, r2, 0\nld32 r3, r2, 0\nreq.eq r3, 0xffffffff\nst16 r1, r2, 8\nld16 r3, r2, 8\nreq.eq r3, 0xffff\nst8 r1, r2, 63\nld8 r3, r2, 63\nreq.eq r3, 255\nld16 r3, r2, 62\nreq.eq r3, 0xff00\naccept", expect::accept, {}},
    {"ld64", "lis r2, 0\nld64 r3, r2, 57", {}, fault_kind::out_of_bounds, 2},
    {"st8", "lis r2, -1\nst8 r3, r2, 0", {}, fault_kind::out_of_bounds, 2},
    {"ld8", "li r2, 0x7fffffffffffffff\nld8 r3, r2, 255", {}, fault_kind::out_of_bounds, 12},
    {"add sub mul", "li r1, 7\nli r2, 5\nadd r1, r2\nreq.eq r1, 12\nsub r1, r2\nsub r1, r2\nreq.eq r1, 2\nmul r1, r2\nreq.eq r1, 10\naccept", expect::accept, {}},
    {"add", "li r1, 0x7fffffffffffffff\nlis r2, 1\nadd r1, r2\nli r3, -0x7fffffffffffffff\naddi r3, -1\nsub r1, r3\nreq.eq r1, 0\naccept", expect::accept, {}},
    {"div rem", "li r1, -7\nlis r2, 2\nmov r3, r1\ndiv r1, r2\nreq.eq r1, -3\nrem r3, r2\nreq.eq r3, -1\naccept", expect::accept, {}},
    {"div", "lis r1, 1\nlis r2, 0\ndiv r1, r2", {}, fault_kind::division_by_zero, 4},
    {"rem", "lis r1, 1\nlis r2, 0\nrem r1, r2", {}, fault_kind::division_by_zero, 4},
    {"div rem", "li r1, -0x7fffffffffffffff\naddi r1, -1\nmov r3, r1\nlis r2, -1\ndiv r1, r2\nsub r1, r3\nreq.eq r1, 0\nrem r3, r2\nreq.eq r3, 0\naccept", expect::accept, {}},
    {"shl shr sar", "lis r1, -8\nlis r2, 1\nmov r3, r1\nmov r4, r1\nshl r1, r2\nreq.eq r1, -16\nsar r3, r2\nreq.eq r3, -4\nshr r4, r2\nreq.eq r4, 0x7ffffffffffffffc\nli r5, 65\nlis r6, 1\nshl r6, r5\nreq.eq r6, 2\naccept", expect::accept, {}},
    {"eq ne lt le gt ge", "lis r1, 2\nlis r2, 3\nmov r3, r1\neq r3, r2\nreq.eq r3, 0\nmov r3, r1\nne r3, r2\nreq.eq r3, 1\nmov r3, r1\nlt r3, r2\nreq.eq r3, 1\nmov r3, r1\nle r3, r2\nreq.eq r3, 1\nmov r3, r1\ngt r3, r2\nreq.eq r3, 0\nmov r3, r1\nge r3, r2\nreq.eq r3, 0\naccept", expect::accept, {}},
    {"ltu leu gtu geu", "lis r1, -1\nlis r2, 3\nmov r3, r1\nltu r3, r2\nreq.eq r3, 0\nmov r3, r1\nleu r3, r2\nreq.eq r3, 0\nmov r3, r1\ngtu r3, r2\nreq.eq r3, 1\nmov r3, r1\ngeu r3, r2\nreq.eq r3, 1\naccept", expect::accept, {}},
    {"addi subi muli divi remi", "li r1, 100\naddi r1, 20\nsubi r1, 30\nmuli r1, 3\ndivi r1, 9\nreq.eq r1, 30\nremi r1, 7\nreq.eq r1, 2\naccept", expect::accept, {}},
    {"divi", "lis r1, 1\ndivi r1, 0", {}, fault_kind::division_by_zero, 2},
    {"remi", "lis r1, 1\nremi r1, 0", {}, fault_kind::division_by_zero, 2},
    {"andi ori xori", "li r1, 0xf0\nandi r1, 0x3c\nreq.eq r1, 0x30\nori r1, 1\nreq.eq r1, 0x31\nxori r1, -1\nreq.eq r1, -50\naccept", expect::accept, {}},
    {"shli shri sari", "lis r1, -8\nmov r2, r1\nmov r3, r1\nshli r1, 2\nreq.eq r1, -32\nshri r2, 60\nreq.eq r2, 15\nsari r3, 2\nreq.eq r3, -2\naccept", expect::accept, {}},
    {"eqi nei lti lei gti gei", "lis r1, 4\nmov r2, r1\neqi r2, 4\nreq.eq r2, 1\nmov r2, r1\nnei r2, 4\nreq.eq r2, 0\nmov r2, r1\nlti r2, 4\nreq.eq r2, 0\nmov r2, r1\nlei r2, 4\nreq.eq r2, 1\nmov r2, r1\ngti r2, -4\nreq.eq r2, 1\nmov r2, r1\ngei r2, 5\nreq.eq r2, 0\naccept", expect::accept, {}},
    {"ltui leui gtui geui", "lis r1, -1\nmov r2, r1\nltui r2, 4\nreq.eq r2, 0\nmov r2, r1\nleui r2, -1\nreq.eq r2, 1\nmov r2, r1\ngtui r2, 4\nreq.eq r2, 1\nmov r2, r1\ngeui r2, 0\nreq.eq r2, 1\naccept", expect::accept, {}},
    {"req.eq req.ne req.lt req.le req.gt req.ge", "lis r1, 5\nreq.eq r1, 5\nreq.ne r1, 6\nreq.lt r1, 6\nreq.le r1, 5\nreq.gt r1, 4\nreq.ge r1, 5\naccept", expect::accept, {}},
    {"req.eq", "lis r1, 5\nreq.eq r1, 6\naccept", expect::reject, {}},
    {"req.ne", "lis r1, 5\nreq.ne r1, 5\naccept", expect::reject, {}},
    {"req.lt", "lis r1, 5\nreq.lt r1, 5\naccept", expect::reject, {}},
    {"req.le", "lis r1, 5\nreq.le r1, 4\naccept", expect::reject, {}},
    {"req.gt", "lis r1, 5\nreq.gt r1, 5\naccept", expect::reject, {}},
    {"req.ge", "lis r1, 5\nreq.ge r1, 6\naccept", expect::reject, {}},
    {"reqc.eq reqc.ne reqc.lt reqc.le reqc.gt reqc.ge", "reqc.eq battery, 50\nreqc.ne battery, 51\nreqc.lt now, 1767225600\nreqc.le battery, 50\nreqc.gt battery, 49\nreqc.ge battery, 50\naccept", expect::accept, {}},
    {"reqc.eq", "reqc.eq battery, 49\naccept", expect::reject, {}},
    {"reqc.ne", "reqc.ne battery, 50\naccept", expect::reject, {}},
    {"reqc.lt", "reqc.lt now, 1000\naccept", expect::reject, {}},
    {"reqc.le", "reqc.le battery, 49\naccept", expect::reject, {}},
    {"reqc.gt", "reqc.gt battery, 50\naccept", expect::reject, {}},
    {"reqc.ge", "reqc.ge battery, 51\naccept", expect::reject, {}},
    {"reqc.ge", "reqc.ge 99, 51\naccept", {}, fault_kind::bad_vm_call, 0},
    {"vcall", "vcall r1, endpoint\nreq.eq r1, 10.1.2.3\nvcall r2, battery\nreq.eq r2, 50\naccept", expect::accept, {}},
    {"vcall", "vcall r1, 15", {}, fault_kind::bad_vm_call, 0},
    {"vcall", "vcall r1, sensor", {}, fault_kind::bad_vm_call, 0},
    {"vcallx", "lis r3, 7\nvcallx r1, sensor, r3, 1\nreq.eq r1, -70\nvcallx r2, 200, r0, 0\nreq.eq r2, 9\nlis r4, 1\nvcallx r5, endpoint6, r4, 1\nreq.eq r5, 0xffff0a010203\naccept", expect::accept, {}},
    {"vcallx", "li r3, 8\nvcallx r1, sensor, r3, 1", {}, fault_kind::vm_call_failed, 3},
    {"vcallx", "vcallx r1, sensor, r15, 2", {}, fault_kind::bad_vm_call, 0},
    {"tcnt", "tcnt r1, frame, r0\nreq.eq r1, 3\nlis r2, -1\ntcnt r3, capability, r2\nreq.eq r3, 3\nlis r2, 0\ntcnt r3, constraint, r2\nreq.eq r3, 1\naccept", expect::accept, {}},
    {"tcnt", "lis r2, 3\ntcnt r1, capability, r2", {}, fault_kind::no_such_item, 2},
    {"tcnt", "tcnt r1, 3, r2", {}, fault_kind::no_such_item, 0},
    {"tsel tlen tld8 tld16 tld32 tld64", "lis r1, 1\ntsel frame, r1, r0\ntlen r2\nreq.eq r2, 9\nlis r3, 0\ntld8 r4, r3\nreq.eq r4, 1\nlis r3, 1\ntld16 r4, r3\nreq.eq r4, 0x2211\ntld32 r4, r3\nreq.eq r4, 0x44332211\ntld64 r4, r3\nreq.eq r4, -0x778899aabbccddef\naccept", expect::accept, {}},
    {"tsel tld8", "lis r1, -1\nlis r2, -1\ntsel capability, r1, r2\ntlen r3\nreq.eq r3, 2\nlis r4, 0\ntld8 r5, r4\nreq.eq r5, 0xc2\naccept", expect::accept, {}},
    {"tld64", "lis r1, 1\ntsel frame, r1, r0\nlis r3, 2\ntld64 r4, r3", {}, fault_kind::out_of_bounds, 7},
    {"tld8", "lis r3, 0\ntld8 r4, r3", {}, fault_kind::out_of_bounds, 2},
    {"tsel", "lis r1, 0\nlis r2, 1\ntsel capability, r1, r2", {}, fault_kind::no_such_item, 4},
    {"tsel", "lis r1, -4\ntsel frame, r1, r0", {}, fault_kind::no_such_item, 2},
    {"tcpy teq", "lis r1, 2\ntsel frame, r1, r0\nli r2, 10\nlis r3, 0\nlis r4, 4\ntcpy r2, r3, r4\nld32 r5, r2, 0\nreq.eq r5, 0x33221102\nli r6, 9\ntcpy r2, r3, r6\nteq r7, r2, r6\nreq.eq r7, 1\nteq r7, r2, r4\nreq.eq r7, 0\naccept", expect::accept, {}},
    {"tcpy", "lis r1, 2\ntsel frame, r1, r0\nli r2, 60\nlis r3, 0\nlis r4, 5\ntcpy r2, r3, r4", {}, fault_kind::out_of_bounds, 12},
    {"teq", "li r2, 60\nlis r4, 5\nteq r1, r2, r4", {}, fault_kind::out_of_bounds, 5},
};

class fixture : public ::testing::Test {
protected:
    fixture() {
        host.time = 1750000000;
        host.ipv4 = 0x0a010203;
        host.battery = 50;
        host.sensors[7] = -70;
        host.application[200] = 9;
    }
    fixed_context host;
    test_token token;
};

template <tvm::dispatch Strategy>
amb::result<evaluation, fault> run_with(std::span<const std::uint8_t> code, context& host, const token_view* token) {
    return evaluate_using<Strategy, true>(code, host, token, limits{});
}

TEST_F(fixture, every_instruction_behaves_as_documented) {
    std::set<std::string> covered;
    for (const instruction_case& c : cases) {
        SCOPED_TRACE(c.source);
        auto code = assemble(c.source);
        ASSERT_TRUE(code.has_value()) << format_tool_error(code.error());
        for (auto outcome : {run_with<tvm::dispatch::switch_loop>(*code, host, &token),
                             run_with<tvm::dispatch::function_table>(*code, host, &token),
                             run_with<tvm::dispatch::threaded>(*code, host, &token),
                             evaluate(*code, host, &token)}) {
            if (c.fault) {
                ASSERT_FALSE(outcome.has_value());
                EXPECT_EQ(outcome.error().kind, *c.fault) << describe(outcome.error().kind);
                EXPECT_EQ(outcome.error().offset, c.fault_offset);
            } else {
                ASSERT_TRUE(outcome.has_value()) << describe(outcome.error().kind) << " at " << outcome.error().offset;
                EXPECT_EQ(outcome->accepted, *c.verdict == expect::accept);
            }
        }
        std::string names = c.covers;
        for (std::size_t at = 0; at < names.size();) {
            const std::size_t space = names.find(' ', at);
            covered.insert(names.substr(at, space - at));
            at = space == std::string::npos ? names.size() : space + 1;
        }
    }
    covered.insert({"and", "or", "xor"}); // covered by bitwise_operations
    for (const auto& info : isa::infos)
        EXPECT_TRUE(covered.count(info.name)) << "no test covers " << info.name;
}

TEST_F(fixture, bitwise_operations) {
    auto code = assemble("li r1, 0xf0\nli r2, 0x3c\nmov r3, r1\nand r3, r2\nreq.eq r3, 0x30\n"
                         "mov r3, r1\nor r3, r2\nreq.eq r3, 0xfc\nxor r1, r2\nreq.eq r1, 0xcc\naccept");
    ASSERT_TRUE(code.has_value());
    auto outcome = evaluate(*code, host, &token);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_TRUE(outcome->accepted);
}

TEST_F(fixture, token_instructions_fault_without_a_token) {
    for (const char* source : {"tcnt r1, frame, r0", "tsel frame, r0, r0"}) {
        auto code = assemble(source);
        ASSERT_TRUE(code.has_value());
        auto outcome = evaluate(*code, host, nullptr);
        ASSERT_FALSE(outcome.has_value());
        EXPECT_EQ(outcome.error().kind, fault_kind::no_token);
    }
}

TEST_F(fixture, decoding_faults) {
    struct row {
        std::vector<std::uint8_t> code;
        fault_kind kind;
        std::uint32_t offset;
    };
    const row rows[] = {
        {{0xff}, fault_kind::bad_opcode, 0},
        {{0x11, 0x15, 0x55}, fault_kind::bad_opcode, 2},
        {{0x0a, 0x12}, fault_kind::truncated_instruction, 0},
        {{0x12, 0x10, 0x80}, fault_kind::bad_literal, 0},                  // runs off the end
        {{0x12, 0x10, 0x80, 0x00, 0x01}, fault_kind::bad_literal, 0},      // not canonical
        {{0x12, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, fault_kind::bad_literal, 0},
        {{0x11, 0x15}, fault_kind::end_of_code, 2},
        {{}, fault_kind::end_of_code, 0},
    };
    for (const row& r : rows) {
        auto outcome = evaluate(r.code, host, &token);
        ASSERT_FALSE(outcome.has_value());
        EXPECT_EQ(outcome.error().kind, r.kind) << describe(outcome.error().kind);
        EXPECT_EQ(outcome.error().offset, r.offset);
    }
}

TEST_F(fixture, budget_counts_instructions) {
    auto code = assemble("top: jmp top");
    ASSERT_TRUE(code.has_value());
    auto outcome = evaluate(*code, host, &token, limits{50});
    ASSERT_FALSE(outcome.has_value());
    EXPECT_EQ(outcome.error().kind, fault_kind::budget_exceeded);
    auto three = assemble("lis r1, 1\nlis r1, 1\naccept");
    ASSERT_TRUE(three.has_value());
    auto exact = evaluate(*three, host, &token, limits{3});
    ASSERT_TRUE(exact.has_value());
    EXPECT_EQ(exact->executed, 3u);
    EXPECT_FALSE(evaluate(*three, host, &token, limits{2}).has_value());
}

TEST_F(fixture, verify_accepts_well_formed_code_and_names_faults) {
    auto good = assemble("lis r1, 3\nloop: subi r1, 1\nbnz r1, loop\ncall sub\naccept\nsub: ret");
    ASSERT_TRUE(good.has_value());
    auto program = verify(*good);
    ASSERT_TRUE(program.has_value());
    auto outcome = evaluate(*program, host, &token);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_TRUE(outcome->accepted);

    const std::vector<std::uint8_t> mid_instruction = {0x04, 0xff, 0x01}; // jmp -1: into itself
    EXPECT_EQ(verify(mid_instruction).error().kind, fault_kind::bad_jump);
    const std::vector<std::uint8_t> outside = {0x04, 0x05, 0x01};
    EXPECT_EQ(verify(outside).error().kind, fault_kind::bad_jump);
    const std::vector<std::uint8_t> truncated = {0x01, 0x0a, 0x12};
    EXPECT_EQ(verify(truncated).error().kind, fault_kind::truncated_instruction);
    EXPECT_EQ(verify(truncated).error().offset, 1u);
    EXPECT_EQ(verify(std::vector<std::uint8_t>(5000, 0x01)).error().kind, fault_kind::code_too_large);
}

TEST(machine, fits_the_memory_target) {
    // The benchmark target is 256 bytes of interpreter state.
    EXPECT_LE(sizeof(machine), 256u);
    EXPECT_EQ(machine_bytes(), sizeof(machine));
}

} // namespace
} // namespace amb::capvm
