// The sandbox on hundreds of thousands of pseudo-random programs (biased toward valid opcodes
// and small registers, so that they run for a while): evaluation never crashes (run this under
// the asan preset), every dispatch strategy reaches the same outcome, the budget holds, and
// verified evaluation agrees with unverified evaluation whenever verify accepts. A canary
// context and token check that nothing outside the machine is written.
#include <capvm/isa.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace amb::capvm {
namespace {

class random_context final : public context {
public:
    amb::result<std::int64_t, fault_kind> call(std::uint8_t id, std::span<const std::int64_t> args) override {
        ++calls;
        if (args.size() > 3)
            ++bad_arguments;
        if (id == 7)
            return amb::failure{fault_kind::vm_call_failed};
        if (id > 9)
            return amb::failure{fault_kind::bad_vm_call};
        std::int64_t value = id * 1000;
        for (std::int64_t a : args)
            value += a;
        return value;
    }
    std::uint64_t calls = 0;
    std::uint64_t bad_arguments = 0;
};

class small_token final : public token_view {
public:
    std::uint32_t count(item_kind kind, std::uint32_t frame) const override {
        EXPECT_LT(frame, 2u);
        return kind == item_kind::frame ? 2 : 2;
    }
    std::span<const std::uint8_t> item(item_kind, std::uint32_t frame, std::uint32_t index) const override {
        EXPECT_LT(frame, 2u);
        EXPECT_LT(index, 2u);
        return std::span<const std::uint8_t>(bytes_).subspan(frame * 4 + index, 8);
    }

private:
    std::uint8_t bytes_[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
};

std::vector<std::uint8_t> random_program(std::mt19937& random) {
    std::vector<std::uint8_t> code(1 + random() % 48);
    for (std::size_t i = 0; i < code.size(); ++i) {
        const unsigned pick = random() % 8;
        if (pick < 4) { // an opcode that exists
            code[i] = isa::infos[random() % isa::infos.size()].opcode;
        } else if (pick < 6) { // small operands: registers 0..3, small offsets and literals
            code[i] = static_cast<std::uint8_t>(random() % 4 * 16 + random() % 4);
        } else {
            code[i] = static_cast<std::uint8_t>(random());
        }
    }
    return code;
}

bool same(const amb::result<evaluation, fault>& a, const amb::result<evaluation, fault>& b) {
    if (a.has_value() != b.has_value())
        return false;
    if (a.has_value())
        return a->accepted == b->accepted && a->executed == b->executed;
    return a.error().kind == b.error().kind && a.error().offset == b.error().offset;
}

TEST(sandbox, random_bytecode_is_contained) {
    random_context host;
    small_token token;
    std::mt19937 random(2025);
    const limits bounds{200};
    std::uint64_t verified_programs = 0;
    std::uint64_t outcomes[4] = {};
    for (int round = 0; round < 300000; ++round) {
        const std::vector<std::uint8_t> code = random_program(random);
        const token_view* view = round % 4 == 0 ? nullptr : &token;
        auto reference = evaluate_using<tvm::dispatch::switch_loop, true>(code, host, view, bounds);
        auto table = evaluate_using<tvm::dispatch::function_table, true>(code, host, view, bounds);
        auto threaded = evaluate_using<tvm::dispatch::threaded, true>(code, host, view, bounds);
        ASSERT_TRUE(same(reference, table)) << round;
        ASSERT_TRUE(same(reference, threaded)) << round;
        if (reference.has_value()) {
            ASSERT_LE(reference->executed, bounds.instructions);
            ++outcomes[reference->accepted ? 0 : 1];
        } else {
            ASSERT_LE(reference.error().offset, code.size()) << round;
            ++outcomes[reference.error().kind == fault_kind::budget_exceeded ? 3 : 2];
        }
        if (auto program = verify(code)) {
            ++verified_programs;
            auto fast = evaluate(*program, host, view, bounds);
            ASSERT_TRUE(same(reference, fast)) << round;
        }
    }
    EXPECT_EQ(host.bad_arguments, 0u);
    // The generator must exercise every kind of ending, or the test proves little.
    EXPECT_GT(outcomes[0], 1000u);
    EXPECT_GT(outcomes[1], 1000u);
    EXPECT_GT(outcomes[2], 1000u);
    EXPECT_GT(outcomes[3], 10u);
    EXPECT_GT(verified_programs, 1000u);
    EXPECT_GT(host.calls, 1000u);
}

} // namespace
} // namespace amb::capvm
