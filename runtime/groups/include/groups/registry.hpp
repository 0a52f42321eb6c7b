// The registry of a node: service instances, their dependencies, and start-up in dependency
// order (DESIGN.md §7).
//
// Wiring code (generated per node from the manifest, or written by hand) adds every instance
// with the names of the instances it depends on and a start function that binds those
// dependencies (for example by constructing lidl clients over the right backend: direct in the
// same group, a ring to another group). `start_all()` checks the graph (unknown dependency,
// cycle), starts instances so that each starts after everything it depends on, and if one fails
// to start, stops the ones already started in reverse order and reports which failed and why.
// Services never look each other up by name at run time: only wiring code uses names.
//
// Fixed capacity, no allocation; names are views of the caller's strings, which must outlive the
// registry. Not synchronised: start-up runs on one thread.
#pragma once

#include <base/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace amb::groups {

enum class start_error : std::uint8_t {
    too_many_instances = 1,  ///< more than registry::capacity instances
    duplicate_name,          ///< two instances with one name
    unknown_dependency,      ///< an instance depends on a name nobody registered
    dependency_cycle,        ///< instances depend on each other in a cycle
    instance_failed,         ///< an instance's start function failed (see `detail`)
};

const char* describe(start_error e);

/// Why start-up failed: the kind, the instance concerned (for unknown_dependency, the one that
/// names it; for a cycle, one instance on it), the dependency name where relevant, and the code
/// the instance's start function returned.
struct start_failure {
    start_error what = start_error::instance_failed;
    std::string_view instance;
    std::string_view dependency;
    int detail = 0;
};

class registry {
public:
    static constexpr std::size_t capacity = 32;
    static constexpr std::size_t max_dependencies = 8;

    /// Returns 0 on success, or a non-zero code naming the failure (reported as `detail`).
    using start_function = int (*)(void* instance);
    using stop_function = void (*)(void* instance);

    struct entry {
        std::string_view name;
        void* instance = nullptr;
        start_function start = nullptr;
        stop_function stop = nullptr;
        std::array<std::string_view, max_dependencies> dependencies{};
        std::size_t dependency_count = 0;
        bool started = false;
    };

    /// Adds an instance. Errors: too_many_instances, duplicate_name (also for more than
    /// max_dependencies dependencies: too_many_instances).
    amb::result<void, start_failure> add(std::string_view name, void* instance,
                                         start_function start, stop_function stop,
                                         std::span<const std::string_view> dependencies);

    /// Starts every instance after its dependencies. On failure nothing stays started.
    amb::result<void, start_failure> start_all();

    /// Stops every started instance, dependents before their dependencies.
    void stop_all();

    /// The order start_all() used (valid after it succeeded).
    std::span<const std::uint8_t> start_order() const { return {order_.data(), ordered_}; }
    const entry& at(std::size_t index) const { return entries_[index]; }
    std::size_t size() const { return count_; }

private:
    std::size_t index_of(std::string_view name) const;

    std::array<entry, capacity> entries_{};
    std::size_t count_ = 0;
    std::array<std::uint8_t, capacity> order_{};
    std::size_t ordered_ = 0;
};

}  // namespace amb::groups
