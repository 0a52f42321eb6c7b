// The pipeline example's temperature sensor: a simulated probe whose readings are a fixed
// sequence (20.5, 21.0, 21.5, 22.0, 20.0, then again), so that every placement of the example
// gives the same answers. Constructed by generated node code with no dependencies.
#pragma once

#include "sensor.lidl.hpp"

#include <cstdint>

namespace demo::pipeline {

class sensor_impl final : public temperature_sensor {
public:
    amb::task<reading> read() override {
        ++taken_;
        co_return reading{20.0 + 0.5 * static_cast<double>(taken_ % 5), taken_};
    }

private:
    std::uint64_t taken_ = 0;
};

}  // namespace demo::pipeline
