// Plugs CapVM into CAPLets' dynamic-constraint hook: a `capvm` constraint's bytecode is run by
// the CapVM interpreter with the host's validation context (time, endpoint, battery, sensors…)
// and a read-only view of the token being verified. Any fault rejects.
//
// Use: make a capvm_evaluator over the host's amb::capvm::context and put its address in
// verify_context::dynamic. Not synchronised; one per verifying thread. No allocation.
#pragma once

#include <caplets/caplets.hpp>
#include <capvm/capvm.hpp>

#include <optional>

namespace caplets {

class capvm_evaluator final : public dynamic_evaluator {
public:
    explicit capvm_evaluator(amb::capvm::context& host, amb::capvm::limits bounds = {})
        : host_(host), bounds_(bounds) {}

    bool accepts(byte_view bytecode, const token_view& token) override;

    /// Why the last program was not accepted: its fault, or nullopt when it ran and rejected
    /// (or accepted).
    std::optional<amb::capvm::fault> last_fault() const { return fault_; }
    /// Instructions the last program executed (0 after a fault).
    std::uint32_t last_executed() const { return executed_; }

private:
    amb::capvm::context& host_;
    amb::capvm::limits bounds_;
    std::optional<amb::capvm::fault> fault_;
    std::uint32_t executed_ = 0;
};

}  // namespace caplets
