// The pipeline example's log store: keeps the count and the sum of the values appended (a real
// store would write them to flash or a file). No dependencies.
#pragma once

#include "store.lidl.hpp"

#include <cstdint>

namespace demo::pipeline {

class store_impl final : public log_store {
public:
    lidl::completion<std::uint64_t> append(double value) override {
        ++count_;
        total_ += value;
        co_return count_;
    }
    lidl::completion<std::uint64_t> count() override { co_return count_; }
    lidl::completion<double> total() override { co_return total_; }

private:
    std::uint64_t count_ = 0;
    double total_ = 0;
};

}  // namespace demo::pipeline
