// The stamper of the node_services test: answers with its node's clock and writes notes to its
// node's log. Its constructor takes the two node services in the order of its `depends` slots
// (deployment.py); the generated node passes its group's clients of them.
#pragma once

#include "node_services.lidl.hpp"
#include "stamper.lidl.hpp"

namespace demo::node_services {

class stamper_impl final : public stamper {
public:
    stamper_impl(amb_node::clock& clock, amb_node::log& log) : clock_(clock), log_(log) {}

    // A failed call of a node service fails this call with the same error.
    lidl::completion<std::uint64_t> now() override { co_return co_await clock_.now(); }
    lidl::completion<void> note(std::string_view text) override {
        co_return co_await log_.write(amb_node::level::info, text);
    }

private:
    amb_node::clock& clock_;
    amb_node::log& log_;
};

}  // namespace demo::node_services
