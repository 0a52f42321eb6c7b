#include <caplets/capvm_constraints.hpp>

#include <algorithm>

namespace caplets {
namespace {

// The token as CapVM sees it: frames as their MACed bytes, capabilities and constraints as the
// bytes of their union alternative (the object the union header points to).
class token_items final : public amb::capvm::token_view {
public:
    explicit token_items(const caplets::token_view& token) : token_(token) {}

    std::uint32_t count(amb::capvm::item_kind kind, std::uint32_t frame_index) const override {
        if (kind == amb::capvm::item_kind::frame)
            return static_cast<std::uint32_t>(token_.frame_count());
        const frame& f = token_.frame_at(frame_index);
        return static_cast<std::uint32_t>(kind == amb::capvm::item_kind::capability
                                              ? f.capabilities.size()
                                              : f.constraints.size());
    }

    std::span<const std::uint8_t> item(amb::capvm::item_kind kind, std::uint32_t frame_index,
                                       std::uint32_t index) const override {
        if (kind == amb::capvm::item_kind::frame)
            return token_.frame_bytes(frame_index);
        const frame& f = token_.frame_at(frame_index);
        const lidl::union_header& header = kind == amb::capvm::item_kind::capability
                                               ? f.capabilities[index].lidl_header
                                               : f.constraints[index].lidl_header;
        if (!header.has_value())
            return {};
        return {&header.payload<std::uint8_t>(), header.payload_size()};
    }

private:
    const caplets::token_view& token_;
};

}  // namespace

bool capvm_evaluator::accepts(byte_view bytecode, const token_view& token) {
    exhausted_ = false;
    executed_ = 0;
    if (remaining_ == 0) {
        fault_.reset();
        exhausted_ = true;
        return false;
    }
    token_items items(token);
    const amb::capvm::limits bounds{std::min(bounds_.instructions, remaining_)};
    auto outcome = amb::capvm::evaluate(bytecode, host_, &items, bounds);
    if (!outcome) {
        fault_ = outcome.error();
        // Out of instructions because the verification's budget, not the program's own bound,
        // was the smaller one.
        exhausted_ = outcome.error().kind == amb::capvm::fault_kind::budget_exceeded &&
                     bounds.instructions < bounds_.instructions;
        remaining_ = 0;  // a fault rejects the verification: nothing more runs in it
        return false;
    }
    fault_.reset();
    executed_ = outcome->executed;
    remaining_ -= std::min(remaining_, std::max<std::uint32_t>(1, outcome->executed));
    return outcome->accepted;
}

}  // namespace caplets
