// The policy compiler: exact output for the benchmark policies, verdicts of the issue's
// examples over a grid of contexts, short-circuit and value semantics, and error positions.
// (Golden error files under tests/policy_errors run through the real `capvm` binary.)
#include <capvm/policy.hpp>

#include <capvm/host.hpp>
#include <capvm/isa.hpp>

#include <gtest/gtest.h>

#include <string>

namespace amb::capvm {
namespace {

constexpr const char* timeout = "now() < 1767225600";
constexpr const char* compound =
    "now() >= 1735689600 && now() < 1767225600 && endpoint() in 10.0.0.0/8 && battery() >= 20";

std::vector<std::uint8_t> compiled(const char* source) {
    auto code = compile_policy(source);
    EXPECT_TRUE(code.has_value()) << format_tool_error(code.error());
    return code ? *code : std::vector<std::uint8_t>{};
}

TEST(policy, benchmark_policies_compile_to_their_golden_code) {
    EXPECT_EQ(disassemble(compiled(timeout)), "    reqc.lt now, 1767225600\n    accept\n");
    EXPECT_EQ(compiled(timeout).size(), 8u);
    EXPECT_EQ(disassemble(compiled(compound)),
              "    reqc.ge now, 1735689600\n    reqc.lt now, 1767225600\n    vcall r0, endpoint\n"
              "    shri r0, 24\n    req.eq r0, 10\n    reqc.ge battery, 20\n    accept\n");
    EXPECT_EQ(compiled(compound).size(), 26u);
    EXPECT_EQ(disassemble(compiled("true")), "    accept\n");
    EXPECT_EQ(disassemble(compiled("1 > 2")), "    reject\n    accept\n");
    EXPECT_EQ(disassemble(compiled("20 <= battery()")), "    reqc.ge battery, 20\n    accept\n");
}

struct verdict_case {
    const char* policy;
    std::int64_t time;
    const char* endpoint;
    std::int64_t battery;
    bool accepted;
};

const verdict_case verdicts[] = {
    {timeout, 1767225599, "10.0.0.1", 50, true},
    {timeout, 1767225600, "10.0.0.1", 50, false},
    {compound, 1750000000, "10.200.3.4", 20, true},
    {compound, 1735689599, "10.200.3.4", 20, false},
    {compound, 1767225600, "10.200.3.4", 20, false},
    {compound, 1750000000, "11.0.0.1", 20, false},
    {compound, 1750000000, "9.255.255.255", 20, false},
    {compound, 1750000000, "10.0.0.1", 19, false},
    {compound, 1750000000, "fd00::1", 50, false}, // endpoint() is -1 for IPv6
    {"now() < 1767225600 && endpoint() in 10.0.0.0/8 && battery() >= 20", 1700000000, "10.1.1.1", 100, true},
    {"endpoint() in 192.168.1.0/24 || endpoint() in 172.16.0.0/12", 0, "172.31.0.9", 0, true},
    {"endpoint() in 192.168.1.0/24 || endpoint() in 172.16.0.0/12", 0, "172.32.0.9", 0, false},
    {"endpoint() in 192.168.1.7", 0, "192.168.1.7", 0, true},
    {"endpoint() in 0.0.0.0/0", 0, "255.255.255.255", 0, true},
    {"endpoint() in 0.0.0.0/0", 0, "::1", 0, false},
    // weekdays (2025-06-02 was a Monday), 9:00 to 17:00 UTC
    {"weekday(now()) < 5 && hour(now()) >= 9 && hour(now()) < 17", 1748854800, "10.0.0.1", 0, true},
    {"weekday(now()) < 5 && hour(now()) >= 9 && hour(now()) < 17", 1748854800 - 3600, "10.0.0.1", 0, false},
    {"weekday(now()) < 5 && hour(now()) >= 9 && hour(now()) < 17", 1748854800 - 86400, "10.0.0.1", 0, false},
    {"!(battery() < 20) && (battery() * 2 - 10) / 3 == 30", 0, "1.2.3.4", 50, true},
    {"(battery() > 90) == (now() > 5)", 6, "1.2.3.4", 95, true},
    {"(battery() > 90 || now() > 5) + (battery() > 90 && now() > 5) == 1", 6, "1.2.3.4", 50, true},
    {"-battery() == -50 && ~battery() == -51 && (battery() ^ 3) == 49 && (battery() & 48) == 48", 0, "1.2.3.4", 50, true},
    {"(battery() << 2) == 200 && (-battery() >> 1) == -25 && battery() % 7 == 1 && (battery() | 1) == 51", 0, "1.2.3.4", 50, true},
    {"sensor(3) > 10 && sensor(3) <= 20", 0, "1.2.3.4", 0, true},
    {"call(200) == 9 && call(201, 4, 5) == 9", 0, "1.2.3.4", 0, true},
    {"endpoint6(1) == 0xffff0a000001 && endpoint6(0) == 0", 0, "10.0.0.1", 0, true},
};

TEST(policy, examples_accept_and_reject_as_expected) {
    for (const verdict_case& c : verdicts) {
        SCOPED_TRACE(std::string(c.policy) + " at " + std::to_string(c.time) + " from " + c.endpoint);
        fixed_context host;
        host.time = c.time;
        if (auto v4 = parse_ipv4(c.endpoint))
            host.ipv4 = *v4;
        else
            host.ipv6 = parse_ipv6(c.endpoint);
        host.battery = c.battery;
        host.sensors[3] = 15;
        host.application[200] = 9;
        host.application[201] = 9;
        const auto code = compiled(c.policy);
        auto outcome = evaluate(code, host, nullptr);
        ASSERT_TRUE(outcome.has_value()) << describe(outcome.error().kind) << "\n" << disassemble(code, true);
        EXPECT_EQ(outcome->accepted, c.accepted) << disassemble(code, true);
        ASSERT_TRUE(verify(code).has_value());
    }
}

TEST(policy, short_circuit_skips_faulting_calls) {
    fixed_context host;
    host.battery = 50; // no time: now() fails
    auto skip = evaluate(compiled("battery() > 90 && now() > 5"), host, nullptr);
    ASSERT_TRUE(skip.has_value());
    EXPECT_FALSE(skip->accepted);
    auto reached = evaluate(compiled("battery() > 10 && now() > 5"), host, nullptr);
    ASSERT_FALSE(reached.has_value());
    EXPECT_EQ(reached.error().kind, fault_kind::vm_call_failed);
}

TEST(policy, token_functions) {
    class one_frame final : public token_view {
    public:
        std::uint32_t count(item_kind kind, std::uint32_t) const override { return kind == item_kind::capability ? 2 : 1; }
        std::span<const std::uint8_t> item(item_kind kind, std::uint32_t, std::uint32_t index) const override {
            if (kind == item_kind::frame)
                return frame_;
            return kind == item_kind::capability ? std::span<const std::uint8_t>(caps_[index]) : std::span<const std::uint8_t>(frame_).first(1);
        }
        std::uint8_t frame_[6] = {1, 2, 3, 4, 5, 6};
        std::uint8_t caps_[2][3] = {{7, 8, 9}, {0xaa, 0xbb, 0xcc}};
    } token;
    fixed_context host;
    auto outcome = evaluate(compiled("frames() == 1 && capabilities(-1) == 2 && constraints(0) == 1 && "
                                     "size(frame(0)) == 6 && u16(frame(-1), 4) == 0x0605 && "
                                     "u8(capability(0, 1), 2) == 0xcc && size(constraint(0, 0)) == 1 && "
                                     "u32(frame(0), 0) == 0x04030201 && u64(capability(0, 0), 0) == 0"),
                            host, &token);
    // u64 of a 3-byte item is out of bounds: the request is rejected by a fault.
    ASSERT_FALSE(outcome.has_value());
    EXPECT_EQ(outcome.error().kind, fault_kind::out_of_bounds);
    auto fine = evaluate(compiled("frames() == 1 && capabilities(-1) == 2 && constraints(0) == 1 && "
                                  "size(frame(0)) == 6 && u16(frame(-1), 4) == 0x0605 && "
                                  "u8(capability(0, 1), 2) == 0xcc && size(constraint(0, 0)) == 1 && "
                                  "u32(frame(0), 0) == 0x04030201"),
                         host, &token);
    ASSERT_TRUE(fine.has_value());
    EXPECT_TRUE(fine->accepted);
}

TEST(policy, long_branches_are_widened) {
    // A || whose right side is longer than an 8-bit branch can skip.
    std::string big = "battery() == 1";
    for (int i = 0; i < 60; ++i)
        big += " || battery() == " + std::to_string(1000000 + i);
    big = "(" + big + ") && now() > 0";
    fixed_context host;
    host.time = 10;
    for (std::int64_t level : {1, 1000059, 5}) {
        host.battery = level;
        auto outcome = evaluate(compiled(big.c_str()), host, nullptr);
        ASSERT_TRUE(outcome.has_value());
        EXPECT_EQ(outcome->accepted, level != 5);
    }
}

TEST(policy, errors_have_positions) {
    struct row {
        const char* source;
        const char* expected;
    };
    const row rows[] = {
        {"", "1:1: empty policy"},
        {"now() <", "1:8: expected a number, an address, a function call or '(', found the end of the policy"},
        {"now() = 5", "1:7: '=' is not an operator; did you mean '=='?"},
        {"battery() >= 20 &&\n  bogus() > 1", "2:3: unknown function 'bogus'"},
        {"endpoint() in 10.0.0.1/8", "1:15: address has bits set beyond the /8 prefix"},
        {"endpoint() in 10.0.0/8", "1:15: bad IPv4 address '10.0.0'"},
        {"endpoint() in 5", "1:15: expected an IPv4 network such as 10.0.0.0/8, found '5'"},
        {"now(1)", "1:1: now() takes 0 arguments, not 1"},
        {"frame(0) == 1", "1:1: frame() is a token item; read it with size(), u8(), u16(), u32() or u64()"},
        {"size(now())", "1:6: expected a token item: frame(f), capability(f, i) or constraint(f, i)"},
        {"battery() / (2 - 2)", "1:11: division by zero"},
        {"99999999999999999999 > 1", "1:1: bad number '99999999999999999999'"},
        {"(battery() > 1", "1:15: expected ')', found the end of the policy"},
        {"battery() battery()", "1:11: expected an operator or the end of the policy, found 'battery'"},
        {"call(now())", "1:1: call() needs a literal VM call id 0..255 first"},
        {"x > 1", "1:1: unknown name 'x' (functions are called with ())"},
        {"battery() $ 1", "1:11: unexpected character '$'"},
    };
    for (const row& r : rows) {
        auto result = compile_policy(r.source);
        ASSERT_FALSE(result.has_value()) << r.source;
        EXPECT_EQ(format_tool_error(result.error()), r.expected);
    }
    std::string deep = "battery()";
    for (int i = 0; i < 20; ++i)
        deep = "(" + deep + " + battery())";
    std::string deep_right = "battery()";
    for (int i = 0; i < 20; ++i)
        deep_right = "battery() - (" + deep_right + ")";
    auto too_deep = compile_policy(deep_right);
    ASSERT_FALSE(too_deep.has_value());
    EXPECT_NE(std::string(too_deep.error().message).find("too deeply nested"), std::string::npos);
    EXPECT_TRUE(compile_policy(deep).has_value()); // left-deep needs two registers
}

} // namespace
} // namespace amb::capvm
