// The typed configuration of an instance in a generated node (docs/deploy.md, "Typed
// configuration"). A service that names a lidl config struct (`service(..., config_type=...)`)
// gets each instance's `config=` as that struct, first argument of its constructor:
//
//     amb::deploy::instance_config<demo::pipeline::sensor_config> sensor_config(
//         context.name(), "sensor", R"({"base_celsius": 20.0, "step_celsius": 0.5, "cycle": 5})");
//     demo::pipeline::sensor_impl sensor(sensor_config.value());
//
// The JSON text is the manifest's, already checked against the struct by `ambience plan`
// (deploy/manifest/config.py follows lidl's JSON mapping); here it is built into a lidl message
// with the schema's generated JSON mapping (`<schema>.lidl.json.hpp`) and verified, so the
// struct is read in place like any received message: strings and vectors are views into the
// buffer this object owns. Hosted only (allocates at start-up).
//
// Lifetime: `value()` and every view inside it live as long as this object; generated code
// declares it before the instance that takes it. A text that does not fit the struct (a node
// built from an unchecked plan) fails the group with a line naming the instance and the field.
#pragma once

#include <deploy/glue.hpp>

#include <lidl/json.hpp>
#include <lidl/verifier.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amb::deploy {

template <class T>
class instance_config {
public:
    /// Builds `json` as a `T` for instance `instance` of group `group`; fails the process
    /// (see `fail`) on a mismatch.
    instance_config(std::string_view group, std::string_view instance, std::string_view json) {
        // Wire data is at most a few times the JSON text (an 8-byte integer is written as
        // one digit and a comma); grow until it fits rather than guess exactly.
        for (std::size_t words = 128 + json.size(); words <= max_words; words *= 2) {
            storage_.assign(words, 0);
            lidl::builder out(std::span<std::uint8_t>(
                reinterpret_cast<std::uint8_t*>(storage_.data()), words * sizeof(std::uint64_t)));
            auto built = lidl::json::build<T>(json, out);
            if (!built) {
                if (!out.failed())  // the buffer was large enough: the text is wrong
                    fail(group, std::string("instance ") + std::string(instance) + ": config " +
                                    built.error().path + ": " + built.error().message);
                continue;
            }
            auto verified = lidl::verify<T>(built.value());
            if (!verified)
                fail(group, std::string("instance ") + std::string(instance) +
                                ": config does not verify as its lidl struct");
            value_ = &*verified.value();
            return;
        }
        fail(group, std::string("instance ") + std::string(instance) +
                        ": config is larger than a lidl message may be");
    }
    instance_config(const instance_config&) = delete;
    instance_config& operator=(const instance_config&) = delete;

    const T& value() const { return *value_; }

private:
    static constexpr std::size_t max_words = (16u << 20) / sizeof(std::uint64_t);

    std::vector<std::uint64_t> storage_;  // 8-byte aligned, as lidl::builder requires
    const T* value_ = nullptr;
};

}  // namespace amb::deploy
