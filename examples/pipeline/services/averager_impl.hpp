// The pipeline example's averager: reads its `source` (a temperature sensor), appends each
// reading to its `sink` (a log store) and returns the mean. Its constructor takes the two
// dependencies in the order the service declares them (services.py): generated node code
// passes the implementation itself when it shares the group, or a client over a channel or the
// network otherwise; this code cannot tell which.
#pragma once

#include "averager.lidl.hpp"
#include "sensor.lidl.hpp"
#include "store.lidl.hpp"

#include <cstdint>

namespace demo::pipeline {

class averager_impl final : public averager {
public:
    averager_impl(temperature_sensor& source, log_store& sink) : source_(source), sink_(sink) {}

    amb::task<double> average(std::uint32_t count) override {
        if (count == 0)
            co_return 0.0;
        double sum = 0;
        for (std::uint32_t i = 0; i < count; ++i) {
            reading taken = co_await source_.read();
            if (taken.sequence == 0)
                co_return 0.0;  // a failed call gives a value-initialised reading
            sum += taken.celsius;
            co_await sink_.append(taken.celsius);
        }
        co_return sum / static_cast<double>(count);
    }

private:
    temperature_sensor& source_;
    log_store& sink_;
};

}  // namespace demo::pipeline
