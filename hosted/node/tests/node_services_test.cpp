// The kernel group's node services seen from a group process: the clock, the log and the
// request log (one structured line per served request, naming the group the kernel knows).
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include <node_services.hpp>

#include "probe.lidl.hpp"
#include "test_loop.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace amb::hosted::node;
using amb::node_services::kernel_services;

class tiny_probe final : public node_test::probe {
public:
    lidl::completion<std::uint64_t> mix(std::uint64_t a, std::int32_t, bool, node_test::mode,
                                        double) override {
        co_return a;
    }
    lidl::completion<std::uint64_t> measure(std::span<const std::uint8_t> d) override {
        co_return d.size();
    }
    lidl::completion<std::uint64_t> checksum(std::span<const std::uint8_t>) override {
        co_return 0;
    }
    lidl::completion<std::string_view> echo(std::string_view t, lidl::builder& r) override {
        co_return r.copy(t);
    }
    lidl::completion<node_test::point> shift(const node_test::point& p, std::int32_t,
                                             std::int32_t) override {
        co_return p;
    }
    lidl::completion<std::uint64_t> total(std::span<const std::uint32_t>) override {
        co_return 0;
    }
    lidl::completion<std::uint64_t> weigh(const node_test::label&) override { co_return 0; }
    lidl::completion<std::uint64_t> where(std::span<const std::uint8_t>) override {
        co_return 0;
    }
    lidl::completion<void> touch() override { co_return {}; }
    lidl::completion<void> crash() override { co_return {}; }
    lidl::completion<void> scribble(std::span<const std::uint8_t>) override {
        co_return {};
    }
    lidl::completion<std::uint64_t> fail_with(std::uint32_t code) override {
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, code}};
    }
    lidl::completion<std::uint64_t> stall(std::uint32_t ms) override { co_return ms; }
};

template <class T>
T run(node_test::process_loop& loop, amb::task<T> work) {
    work.start();
    EXPECT_TRUE(loop.run_until([&] { return work.done(); }, std::chrono::milliseconds(10000)));
    return work.take_result();
}

}  // namespace

TEST(node_services, a_group_reads_the_clock_logs_and_its_requests_are_logged) {
    std::unique_ptr<node_test::process_loop> loop;  // made after start; outlives the kernel
    node_kernel kernel(std::chrono::milliseconds(500));
    constexpr amb::rings::config ring{64, 1024, 64, 64};
    channel_id probe_channel = 0;
    kernel_services::group_channels services{};
    group_id group = kernel.add_group(
        {"sensor-group", [&](group_context& context) {
             // The clock, then one line of text through the log service.
             auto clock_caller = channel_caller::attach(*context.caller_link(services.clock));
             auto log_caller = channel_caller::attach(*context.caller_link(services.log));
             if (!clock_caller || !log_caller)
                 return 30;
             amb_node::clock_client<channel_backend<amb_node::clock>> clock(*clock_caller);
             amb_node::log_client<channel_backend<amb_node::log>> log(*log_caller);
             auto loop = node_test::test_loop();
             if (!clock_caller->run_on(*loop) || !log_caller->run_on(*loop))
                 return 33;
             auto now = run(*loop, clock.now());
             auto wall = std::chrono::system_clock::now().time_since_epoch();
             auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count();
             if (!now || *now == 0 || *now > static_cast<std::uint64_t>(wall_ns))
                 return 31;
             if (!run(*loop, log.write(amb_node::level::info, "hello \"kernel\"\n")))
                 return 35;
             // Then serve probe with every request logged.
             tiny_probe implementation;
             amb::node_services::request_logger<node_test::probe> logger(*log_caller);
             auto server = channel_server<node_test::probe>::attach(
                 *context.server_link(probe_channel), implementation, logger.hook());
             if (!server)
                 return 32;
             if (!server->run_on(*loop))
                 return 34;
             loop->run_until([] { return false; });
             return 0;
         }});
    services = *kernel_services::connect(kernel, group);
    probe_channel = *kernel.connect(kernel_group, group, ring);
    ASSERT_TRUE(kernel.start());

    std::vector<std::string> lines;
    kernel_services served(kernel, [&](std::string_view line) { lines.emplace_back(line); });
    ASSERT_TRUE(served.serve("sensor-group", services));
    auto caller = channel_caller::attach(*kernel.kernel().caller_link(probe_channel));
    ASSERT_TRUE(caller);
    node_test::probe_client<channel_backend<node_test::probe>> remote(*caller);
    loop = node_test::test_loop();
    ASSERT_TRUE(served.run_on(*loop));
    ASSERT_TRUE(caller->run_on(*loop));
    ASSERT_TRUE(kernel.run_on(*loop));
    auto mixed = run(*loop, remote.mix(9, 0, false, node_test::mode::plain, 1.0));
    ASSERT_TRUE(mixed) << lidl::name(mixed.error().what);
    EXPECT_EQ(*mixed, 9u);
    auto measured = run(*loop, remote.measure(std::vector<std::uint8_t>(5)));
    ASSERT_TRUE(measured) << lidl::name(measured.error().what);
    EXPECT_EQ(*measured, 5u);
    ASSERT_TRUE(loop->run_until([&] { return lines.size() >= 3; }, std::chrono::milliseconds(5000)));
    EXPECT_EQ(lines[0],
              R"({"group":"sensor-group","level":"info","text":"hello \"kernel\"\n"})");
    EXPECT_EQ(lines[1].rfind(R"({"group":"sensor-group","service":"node_test::probe","procedure":"mix","status":0,"duration_ns":)", 0), 0u)
        << lines[1];
    EXPECT_NE(lines[2].find(R"("procedure":"measure")"), std::string::npos) << lines[2];
    kernel.stop();
}

// Text from a group cannot forge fields or lines: quotes, backslashes and control bytes are
// escaped, non-ASCII UTF-8 passes unchanged, invalid UTF-8 becomes U+FFFD.
TEST(node_services, log_lines_escape_what_a_group_writes) {
    std::vector<std::string> lines;
    amb::node_services::log_service log("group \"x\"",
                                        [&](std::string_view line) { lines.emplace_back(line); });
    const std::string hostile = std::string("a\"b\\c\nd\re\tf\x01g\x1fh\x7fi caf\xC3\xA9 \xE2\x82\xAC"
                                            " \xF0\x9F\x98\x80 \xff\",\"level\":\"error");
    EXPECT_TRUE(amb::sync_wait(log.write(amb_node::level::warning, hostile)));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0],
              "{\"group\":\"group \\\"x\\\"\",\"level\":\"warning\",\"text\":\"a\\\"b\\\\c\\nd\\re"
              "\\tf\\u0001g\\u001fh\x7fi caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD"
              "\\\",\\\"level\\\":\\\"error\"}");
    EXPECT_EQ(lines[0].find('\n'), std::string::npos);
    auto parsed = nlohmann::json::parse(lines[0], nullptr, false);
    ASSERT_FALSE(parsed.is_discarded());
    EXPECT_EQ(parsed.size(), 3u);
    EXPECT_EQ(parsed["level"], "warning");
    std::string expected_text = hostile;
    expected_text.replace(expected_text.find('\xff'), 1, "\xEF\xBF\xBD");
    EXPECT_EQ(parsed["text"], expected_text);
}
