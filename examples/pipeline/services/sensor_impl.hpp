// The pipeline example's temperature sensor: a simulated probe whose readings follow its
// configuration (a `sensor_config`, interfaces/sensor.lidl): reading n is base_celsius +
// step_celsius * (n mod cycle). Generated node code constructs it with the instance's checked
// `config=` (docs/deploy.md, "Typed configuration"); it has no dependencies.
#pragma once

#include "sensor.lidl.hpp"

#include <cstdint>

namespace demo::pipeline {

class sensor_impl final : public temperature_sensor {
public:
    // sensor_config holds no references (no strings or vectors), so a copy outlives the
    // buffer the generated node built it in.
    explicit sensor_impl(const sensor_config& config) : config_(config) {}

    lidl::completion<reading> read() override {
        ++taken_;
        std::uint64_t position = config_.cycle == 0 ? taken_ : taken_ % config_.cycle;
        co_return reading{config_.base_celsius +
                              config_.step_celsius * static_cast<double>(position),
                          taken_};
    }

private:
    sensor_config config_;
    std::uint64_t taken_ = 0;
};

}  // namespace demo::pipeline
