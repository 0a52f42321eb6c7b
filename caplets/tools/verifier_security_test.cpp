// Attacks on a CAPLets verifier and on the `caplets` command's files, each performed for real
// (issue 12, hole 6): a request spent at a verifier it was not meant for, a token whose CapVM
// programs would together run far longer than one verification should, a state file written
// through a link planted by someone who can write to its directory, and token text that would
// drive a terminal.
#include "store.hpp"
#include "text.hpp"

#include "../test_workshop.hpp"

#include <caplets/caplets.hpp>
#include <caplets/capvm_constraints.hpp>
#include <capvm/assembler.hpp>
#include <capvm/host.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace caplets {
namespace {

using test_support::root_spec;

// Tokens minted (parent null) or derived under one key.
class minter {
public:
    const secret_key& key() const { return shop_.key(); }
    token_view issue(const token_view* parent, const frame_spec& spec) {
        return parent == nullptr ? shop_.mint(spec) : shop_.derive(*parent, spec);
    }

private:
    test_support::workshop shop_{0x5a};
};

frame_spec call(std::string_view audience) {
    frame_spec spec;
    spec.add_call_request("thermostat", "set", {});
    spec.add_sequence(7);
    if (!audience.empty())
        spec.add_audience(audience);
    return spec;
}

// A serving node that shares the origin's key with another one names itself as the audience
// and requires every request to name one.
verify_context verifier(std::string_view name, sequence_store* sequences) {
    verify_context context;
    context.now = 1000;
    context.sequences = sequences;
    context.audience = name;
    context.require_audience = true;
    return context;
}

TEST(verifier, a_request_for_one_verifier_is_refused_by_another_sharing_the_key) {
    minter m;
    token_view root = m.issue(nullptr, root_spec());
    token_view request = m.issue(&root, call("node-b"));
    // The attacker captured the request on its way to node-b and spends it at node-c first:
    // node-c's replay state has never seen it.
    memory_sequence_store at_c;
    auto spent = verify_request(m.key(), request, verifier("node-c", &at_c));
    ASSERT_FALSE(spent);
    EXPECT_EQ(spent.error().what, check::audience_mismatch);
    EXPECT_EQ(spent.error().frame, 1);
    memory_sequence_store at_b;
    EXPECT_TRUE(verify_request(m.key(), request, verifier("node-b", &at_b)));
}

TEST(verifier, a_request_naming_no_audience_is_refused_where_one_is_required) {
    minter m;
    token_view root = m.issue(nullptr, root_spec());
    token_view request = m.issue(&root, call(""));
    memory_sequence_store sequences;
    auto spent = verify_request(m.key(), request, verifier("node-b", &sequences));
    ASSERT_FALSE(spent);
    EXPECT_EQ(spent.error().what, check::audience_mismatch);
}

TEST(verifier, an_audience_cannot_be_widened_or_satisfied_by_a_nameless_verifier) {
    minter m;
    token_view root = m.issue(nullptr, root_spec());
    frame_spec for_b;
    for_b.add_service("thermostat", {}, true);
    for_b.add_audience("node-b");
    token_view credential = m.issue(&root, for_b);
    // Deriving keeps node-b's audience and can only add another: the request then names two
    // verifiers, and no verifier is both.
    token_view request = m.issue(&credential, call("node-c"));
    for (std::string_view name : {"node-b", "node-c"}) {
        memory_sequence_store sequences;
        auto spent = verify_request(m.key(), request, verifier(name, &sequences));
        ASSERT_FALSE(spent) << name;
        EXPECT_EQ(spent.error().what, check::audience_mismatch) << name;
    }
    memory_sequence_store sequences;
    verify_context nameless = verifier("", &sequences);
    nameless.require_audience = false;
    auto spent = verify(m.key(), credential, nameless);
    ASSERT_FALSE(spent);
    EXPECT_EQ(spent.error().what, check::audience_mismatch);
}

// A program that runs about 2 * n + 2 instructions, then accepts.
std::vector<std::uint8_t> counting_program(int n) {
    std::ostringstream source;
    source << "li r1, " << n << "\ntop: subi r1, 1\nbnz r1, top\naccept\n";
    auto code = amb::capvm::assemble(source.str());
    EXPECT_TRUE(code);
    return code ? *code : std::vector<std::uint8_t>{};
}

TEST(verifier, many_capvm_programs_share_one_instruction_budget) {
    minter m;
    token_view root = m.issue(nullptr, root_spec());
    // Each program stays well under the per-program bound (1000), but sixteen of them would run
    // ~9600 instructions in one verification.
    const std::vector<std::uint8_t> program = counting_program(300);
    frame_spec heavy;
    heavy.add_path("/data", rights::read);
    for (std::size_t i = 0; i < frame_spec::capacity; ++i)
        ASSERT_TRUE(heavy.add_capvm(program));
    token_view token = m.issue(&root, heavy);

    amb::capvm::fixed_context host;
    capvm_evaluator evaluator(host);
    verify_context context;
    context.now = 1000;
    context.dynamic = &evaluator;
    auto verified = verify(m.key(), token, context);
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().what, check::dynamic_budget);
    EXPECT_EQ(evaluator.remaining(), 0u);
    // Fewer programs within the budget pass, and the budget is refilled for each verification.
    frame_spec light;
    light.add_path("/data", rights::read);
    for (int i = 0; i < 6; ++i)
        ASSERT_TRUE(light.add_capvm(program));
    token_view fine = m.issue(&root, light);
    for (int round = 0; round < 3; ++round) {
        auto passed = verify(m.key(), fine, context);
        EXPECT_TRUE(passed) << round << ": " << (passed ? "" : describe(passed.error().what));
    }
}

TEST(state_file, is_never_written_through_a_planted_link) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("caplets-store-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path victim = dir / "victim";
    { std::ofstream(victim) << "precious\n"; }
    const std::string state = (dir / "state").string();
    // The temporary name the old code used (path.tmp.PID), and a spread of others, each a link
    // to the victim.
    std::filesystem::create_symlink(victim, state + ".tmp." + std::to_string(::getpid()));
    for (const char* suffix : {"tmp", "tmp.0", "new", "~"})
        std::filesystem::create_symlink(victim, state + "." + suffix);
    std::string error;
    ASSERT_TRUE(store::atomic_write(state, "new state\n", error)) << error;
    std::stringstream victim_text, state_text;
    victim_text << std::ifstream(victim).rdbuf();
    state_text << std::ifstream(state).rdbuf();
    EXPECT_EQ(victim_text.str(), "precious\n");
    EXPECT_EQ(state_text.str(), "new state\n");
    EXPECT_FALSE(std::filesystem::is_symlink(state));
    std::filesystem::remove_all(dir);
}

TEST(token_text, control_bytes_are_escaped_before_reaching_a_terminal) {
    // ESC [ 2 J clears the screen; a path capability may carry any bytes.
    const std::string hostile = "/home/\x1b[2J\x07\x9b"
                                "bob\\";
    const std::string shown = text::printable(hostile);
    for (char c : shown)
        EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(static_cast<unsigned char>(c));
    EXPECT_EQ(shown, "/home/\\x1b[2J\\x07\\x9bbob\\x5c");
}

} // namespace
} // namespace caplets
