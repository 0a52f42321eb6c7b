#include <groups/registry.hpp>

namespace amb::groups {

const char* describe(start_error e) {
    switch (e) {
    case start_error::too_many_instances: return "too many instances or dependencies";
    case start_error::duplicate_name: return "two instances have the same name";
    case start_error::unknown_dependency: return "an instance depends on an unknown instance";
    case start_error::dependency_cycle: return "instances depend on each other in a cycle";
    case start_error::instance_failed: return "an instance failed to start";
    }
    return "unknown start error";
}

std::size_t registry::index_of(std::string_view name) const {
    for (std::size_t i = 0; i < count_; ++i)
        if (entries_[i].name == name)
            return i;
    return capacity;
}

amb::result<void, start_failure> registry::add(std::string_view name, void* instance,
                                               start_function start, stop_function stop,
                                               std::span<const std::string_view> dependencies) {
    if (count_ == capacity || dependencies.size() > max_dependencies)
        return amb::failure{start_failure{start_error::too_many_instances, name, {}, 0}};
    if (index_of(name) != capacity)
        return amb::failure{start_failure{start_error::duplicate_name, name, {}, 0}};
    entry& e = entries_[count_++];
    e = entry{};
    e.name = name;
    e.instance = instance;
    e.start = start;
    e.stop = stop;
    for (std::string_view dependency : dependencies)
        e.dependencies[e.dependency_count++] = dependency;
    return {};
}

amb::result<void, start_failure> registry::start_all() {
    // Resolve names first: every error in the graph is reported before anything starts.
    std::array<std::array<std::uint8_t, max_dependencies>, capacity> edges{};
    for (std::size_t i = 0; i < count_; ++i) {
        for (std::size_t d = 0; d < entries_[i].dependency_count; ++d) {
            std::size_t target = index_of(entries_[i].dependencies[d]);
            if (target == capacity)
                return amb::failure{start_failure{start_error::unknown_dependency, entries_[i].name,
                                                  entries_[i].dependencies[d], 0}};
            edges[i][d] = static_cast<std::uint8_t>(target);
        }
    }
    // Kahn's algorithm: repeatedly take an instance whose dependencies are all ordered; keep
    // registration order among the ready ones so that start-up is deterministic.
    std::array<bool, capacity> placed{};
    ordered_ = 0;
    while (ordered_ < count_) {
        std::size_t ready = capacity;
        for (std::size_t i = 0; i < count_ && ready == capacity; ++i) {
            if (placed[i])
                continue;
            bool all = true;
            for (std::size_t d = 0; d < entries_[i].dependency_count; ++d)
                all = all && placed[edges[i][d]];
            if (all)
                ready = i;
        }
        if (ready == capacity) {
            for (std::size_t i = 0; i < count_; ++i)
                if (!placed[i])
                    return amb::failure{
                        start_failure{start_error::dependency_cycle, entries_[i].name, {}, 0}};
        }
        placed[ready] = true;
        order_[ordered_++] = static_cast<std::uint8_t>(ready);
    }
    for (std::size_t k = 0; k < ordered_; ++k) {
        entry& e = entries_[order_[k]];
        int code = e.start != nullptr ? e.start(e.instance) : 0;
        if (code != 0) {
            stop_all();
            return amb::failure{start_failure{start_error::instance_failed, e.name, {}, code}};
        }
        e.started = true;
    }
    return {};
}

void registry::stop_all() {
    for (std::size_t k = ordered_; k-- > 0;) {
        entry& e = entries_[order_[k]];
        if (!e.started)
            continue;
        if (e.stop != nullptr)
            e.stop(e.instance);
        e.started = false;
    }
}

}  // namespace amb::groups
