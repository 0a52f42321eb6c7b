// Plugs CapVM into CAPLets' dynamic-constraint hook: a `capvm` constraint's bytecode is run by
// the CapVM interpreter with the host's validation context (time, endpoint, battery, sensors…)
// and a read-only view of the token being verified. Any fault rejects.
//
// Use: make a capvm_evaluator over the host's amb::capvm::context and put its address in
// verify_context::dynamic. Not synchronised; one per verifying thread. No allocation.
//
// Budget: each program runs with at most `bounds.instructions`, and all the programs of one
// verification (however many constraints the tokens carry) share `verification_instructions`:
// a program that would need more than what is left faults, and verification reports
// check::dynamic_budget. Every program costs at least one instruction, so a token of ten
// thousand trivial programs is refused instead of run.
#pragma once

#include <caplets/caplets.hpp>
#include <capvm/capvm.hpp>

#include <optional>

namespace caplets {

class capvm_evaluator final : public dynamic_evaluator {
public:
    static constexpr std::uint32_t default_verification_instructions = 4000;

    explicit capvm_evaluator(amb::capvm::context& host, amb::capvm::limits bounds = {},
                             std::uint32_t verification_instructions =
                                 default_verification_instructions)
        : host_(host), bounds_(bounds), budget_(verification_instructions),
          remaining_(verification_instructions) {}

    void begin() override {
        remaining_ = budget_;
        exhausted_ = false;
    }
    bool accepts(byte_view bytecode, const token_view& token) override;
    bool budget_exhausted() const override { return exhausted_; }
    /// Instructions left to the current verification.
    std::uint32_t remaining() const { return remaining_; }

    /// Why the last program was not accepted: its fault, or nullopt when it ran and rejected
    /// (or accepted).
    std::optional<amb::capvm::fault> last_fault() const { return fault_; }
    /// Instructions the last program executed (0 after a fault).
    std::uint32_t last_executed() const { return executed_; }

private:
    amb::capvm::context& host_;
    amb::capvm::limits bounds_;
    std::uint32_t budget_;
    std::uint32_t remaining_;
    bool exhausted_ = false;
    std::optional<amb::capvm::fault> fault_;
    std::uint32_t executed_ = 0;
};

}  // namespace caplets
