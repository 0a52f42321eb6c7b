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

    lidl::completion<double> average(std::uint32_t count) override {
        if (count == 0)
            co_return 0.0;
        double sum = 0;
        for (std::uint32_t i = 0; i < count; ++i) {
            // A failed call of a dependency fails this call with the same error (the deadline
            // passed, the sensor's node is unreachable, ...), which reaches this call's caller.
            lidl::call_result<reading> taken = co_await source_.read();
            if (!taken)
                co_return amb::failure{taken.error()};
            double celsius = taken.value().celsius;
            sum += celsius;
            lidl::call_result<std::uint64_t> appended = co_await sink_.append(celsius);
            if (!appended)
                co_return amb::failure{appended.error()};
        }
        co_return sum / static_cast<double>(count);
    }

private:
    temperature_sensor& source_;
    log_store& sink_;
};

}  // namespace demo::pipeline
