// Schema evolution (docs/lidl.md): a reader built from an older schema reads messages from a
// newer one that appended struct fields, union alternatives and procedures.
#include "evolution_v1.lidl.hpp"
#include "evolution_v2.lidl.hpp"
#include "test_messages.hpp"

#include <gtest/gtest.h>

namespace lidl_test {
namespace {

namespace v1 = evolution::v1;
namespace v2 = evolution::v2;

// A version-2 report: one event of each old kind, plus the new trailing fields.
std::span<const std::uint8_t> build_v2_report(lidl::builder& out, bool with_alarm) {
    v2::report* report = out.create_root<v2::report>();
    EXPECT_NE(report, nullptr);
    out.set(report->device, "station-9");
    v2::event* events = out.create_vector(report->events, with_alarm ? 3 : 2);
    v2::reading* first = events[0].set_reading(out);
    first->sensor = 4;
    first->value = 21.5;
    out.set(first->unit, "celsius");
    first->calibrated = true;
    first->offset = -3;
    out.set(*events[1].set_note(out), "door opened");
    if (with_alarm)
        *events[2].set_alarm(out) = 17;
    v2::reading* last = report->last.set_reading(out);
    last->sensor = 5;
    out.set(last->unit, "percent");
    out.set(report->battery, std::uint8_t{80});
    return *out.finish();
}

TEST(evolution, old_reader_reads_appended_fields_and_known_alternatives) {
    aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    auto old_view = lidl::verify<v1::report>(build_v2_report(out, false));
    ASSERT_TRUE(old_view) << lidl::describe(old_view.error().kind);
    const v1::report& report = *old_view.value();
    EXPECT_EQ(report.device.view(), "station-9");
    ASSERT_EQ(report.events.size(), 2u);
    const v1::reading* first = report.events[0].reading();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->sensor, 4u);
    EXPECT_EQ(first->value, 21.5);
    EXPECT_EQ(first->unit.view(), "celsius");
    ASSERT_NE(report.events[1].note(), nullptr);
    EXPECT_EQ(report.events[1].note()->view(), "door opened");
    ASSERT_NE(report.last.reading(), nullptr);
    EXPECT_EQ(report.last.reading()->unit.view(), "percent");
}

TEST(evolution, old_reader_rejects_a_new_alternative_clearly) {
    aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    auto old_view = lidl::verify<v1::report>(build_v2_report(out, true));
    ASSERT_FALSE(old_view);
    EXPECT_EQ(old_view.error().kind, lidl::error::bad_union_tag);
    EXPECT_STREQ(old_view.error().type, "evolution::v1::event");
}

TEST(evolution, new_reader_reads_new_messages) {
    aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    auto view = lidl::verify<v2::report>(build_v2_report(out, true));
    ASSERT_TRUE(view);
    EXPECT_EQ(*view.value()->events[2].alarm(), 17u);
    EXPECT_EQ(view.value()->battery.value_or(0), 80);
    EXPECT_TRUE(view.value()->events[0].reading()->calibrated);
}

TEST(evolution, new_reader_rejects_an_older_smaller_root) {
    aligned_buffer buffer(4096);
    lidl::builder out(buffer.bytes());
    v1::report* report = out.create_root<v1::report>();
    ASSERT_NE(report, nullptr);
    out.set(report->device, "old");
    auto view = lidl::verify<v2::report>(*out.finish());
    ASSERT_FALSE(view);
    EXPECT_EQ(view.error().kind, lidl::error::object_too_small);
}

TEST(evolution, procedures_keep_their_ids) {
    // A v2 client's `submit` call (with the bigger v2 reading) decodes on a v1 server.
    aligned_buffer buffer(4096);
    lidl::builder call(buffer.bytes());
    aligned_buffer argument(4096);
    lidl::builder argument_builder(argument.bytes());
    v2::reading* r = argument_builder.create_root<v2::reading>();
    r->sensor = 11;
    argument_builder.set(r->unit, "lux");
    r->calibrated = true;
    v2::station::submit_params new_params{r};
    ASSERT_TRUE(v2::station::lidl_codec::encode_call(0, &new_params, call));
    v1::station::submit_params old_params{};
    auto decoded = v1::station::lidl_codec::decode_call(0, call.written(), &old_params, nullptr);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(old_params.r->sensor, 11u);
    EXPECT_EQ(old_params.r->unit.view(), "lux");

    // The appended procedure is unknown to the v1 server: a clear error, not a crash.
    lidl::builder reboot(buffer.bytes());
    v2::station::reboot_params reboot_params{5};
    ASSERT_TRUE(v2::station::lidl_codec::encode_call(2, &reboot_params, reboot));
    auto unknown = v1::station::lidl_codec::decode_call(2, reboot.written(), &old_params, nullptr);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, lidl::error::bad_procedure);
    EXPECT_EQ(v1::station::lidl_procedure_count, 2u);
    EXPECT_EQ(v2::station::lidl_procedure_count, 3u);
}

}  // namespace
}  // namespace lidl_test
