// Start-up in dependency order, graph errors, and a dependency that fails to start.
#include <groups/registry.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using amb::groups::registry;
using amb::groups::start_error;

// An instance that logs its start and stop into a shared journal.
struct logged {
    std::string name;
    std::vector<std::string>* journal;
    int fail_with = 0;
};

int start_logged(void* p) {
    auto* self = static_cast<logged*>(p);
    if (self->fail_with != 0)
        return self->fail_with;
    self->journal->push_back("start " + self->name);
    return 0;
}

void stop_logged(void* p) {
    auto* self = static_cast<logged*>(p);
    self->journal->push_back("stop " + self->name);
}

TEST(registry, starts_dependencies_first_and_stops_in_reverse) {
    std::vector<std::string> journal;
    logged app{"app", &journal}, camera{"camera", &journal}, log{"log", &journal},
        clock{"clock", &journal};
    registry r;
    const std::string_view app_deps[] = {"camera", "log"};
    const std::string_view camera_deps[] = {"clock", "log"};
    const std::string_view log_deps[] = {"clock"};
    ASSERT_TRUE(r.add("app", &app, start_logged, stop_logged, app_deps));
    ASSERT_TRUE(r.add("camera", &camera, start_logged, stop_logged, camera_deps));
    ASSERT_TRUE(r.add("log", &log, start_logged, stop_logged, log_deps));
    ASSERT_TRUE(r.add("clock", &clock, start_logged, stop_logged, {}));
    ASSERT_TRUE(r.start_all());
    EXPECT_EQ(journal, (std::vector<std::string>{"start clock", "start log", "start camera",
                                                 "start app"}));
    journal.clear();
    r.stop_all();
    EXPECT_EQ(journal, (std::vector<std::string>{"stop app", "stop camera", "stop log",
                                                 "stop clock"}));
}

TEST(registry, a_dependency_that_fails_to_start_leaves_nothing_running) {
    std::vector<std::string> journal;
    logged app{"app", &journal}, storage{"storage", &journal, 5}, clock{"clock", &journal};
    registry r;
    const std::string_view app_deps[] = {"storage"};
    const std::string_view storage_deps[] = {"clock"};
    ASSERT_TRUE(r.add("app", &app, start_logged, stop_logged, app_deps));
    ASSERT_TRUE(r.add("storage", &storage, start_logged, stop_logged, storage_deps));
    ASSERT_TRUE(r.add("clock", &clock, start_logged, stop_logged, {}));
    auto started = r.start_all();
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().what, start_error::instance_failed);
    EXPECT_EQ(started.error().instance, "storage");
    EXPECT_EQ(started.error().detail, 5);
    // clock had started: it is stopped again; app never started.
    EXPECT_EQ(journal, (std::vector<std::string>{"start clock", "stop clock"}));
}

TEST(registry, graph_errors_are_reported_before_anything_starts) {
    std::vector<std::string> journal;
    logged a{"a", &journal}, b{"b", &journal}, c{"c", &journal};
    const std::string_view needs_b[] = {"b"};
    const std::string_view needs_a[] = {"a"};
    const std::string_view needs_ghost[] = {"ghost"};

    registry cycle;
    ASSERT_TRUE(cycle.add("a", &a, start_logged, stop_logged, needs_b));
    ASSERT_TRUE(cycle.add("b", &b, start_logged, stop_logged, needs_a));
    ASSERT_TRUE(cycle.add("c", &c, start_logged, stop_logged, {}));
    auto result = cycle.start_all();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().what, start_error::dependency_cycle);
    EXPECT_TRUE(journal.empty());

    registry missing;
    ASSERT_TRUE(missing.add("a", &a, start_logged, stop_logged, needs_ghost));
    result = missing.start_all();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().what, start_error::unknown_dependency);
    EXPECT_EQ(result.error().dependency, "ghost");

    registry duplicate;
    ASSERT_TRUE(duplicate.add("a", &a, start_logged, stop_logged, {}));
    auto again = duplicate.add("a", &b, start_logged, stop_logged, {});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().what, start_error::duplicate_name);
    EXPECT_STRNE(amb::groups::describe(start_error::dependency_cycle), "unknown start error");
}

}  // namespace
