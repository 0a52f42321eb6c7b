// Channels between processes under a node_kernel: the same service answers the same way in the
// caller's group, in another group of the same process (rings) and in another process with each
// strategy; zero-copy views; crashes, restarts, garbage in the ring, shutdown.
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>


#include "probe.lidl.hpp"
#include "test_loop.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <dirent.h>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace amb::hosted::node;
using node_test::probe;
using node_test::process_loop;
using node_test::test_loop;

class probe_service final : public probe {
public:
    lidl::completion<std::uint64_t> mix(std::uint64_t a, std::int32_t b, bool flag,
                                        node_test::mode m, double scale) override {
        std::uint64_t sum = a + static_cast<std::uint64_t>(b) + (flag ? 1 : 0);
        if (m == node_test::mode::doubled)
            sum *= 2;
        co_return static_cast<std::uint64_t>(static_cast<double>(sum) * scale);
    }
    lidl::completion<std::uint64_t> measure(std::span<const std::uint8_t> data) override {
        if (data.empty())
            co_return 0;
        co_return data.size() + data.front() + data.back();
    }
    lidl::completion<std::uint64_t> checksum(std::span<const std::uint8_t> data) override {
        std::uint64_t sum = 0;
        for (std::uint8_t byte : data)
            sum += byte;
        co_return sum;
    }
    lidl::completion<std::string_view> echo(std::string_view text,
                                            lidl::builder& response) override {
        co_return response.copy(text);
    }
    lidl::completion<node_test::point> shift(const node_test::point& p, std::int32_t dx,
                                             std::int32_t dy) override {
        co_return node_test::point{p.x + dx, p.y + dy};
    }
    lidl::completion<std::uint64_t> total(std::span<const std::uint32_t> values) override {
        std::uint64_t sum = 0;
        for (std::uint32_t v : values)
            sum += v;
        co_return sum;
    }
    lidl::completion<std::uint64_t> weigh(const node_test::label& l) override {
        co_return l.text.view().size() * 1000 + l.weight;
    }
    lidl::completion<std::uint64_t> where(std::span<const std::uint8_t> data) override {
        co_return reinterpret_cast<std::uintptr_t>(data.data());
    }
    lidl::completion<void> touch() override {
        ++touched;
        co_return {};
    }
    lidl::completion<void> crash() override {
        ::_exit(3);
        co_return {};
    }
    lidl::completion<void> scribble(std::span<const std::uint8_t> data) override {
        // A misbehaving callee: the bytes are const, and the mapping is read-only too.
        const_cast<std::uint8_t&>(data[0]) = 0xee;
        co_return {};
    }
    lidl::completion<std::uint64_t> fail_with(std::uint32_t code) override {
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, code}};
    }
    lidl::completion<std::uint64_t> stall(std::uint32_t ms) override {
        ::usleep(ms * 1000);
        co_return ms;
    }
    int touched = 0;
};

template <class T>
T run(process_loop& loop, amb::task<T> work) {
    work.start();
    EXPECT_TRUE(loop.run_until([&] { return work.done(); }, std::chrono::milliseconds(10000)));
    return work.take_result();
}

// The value of a call that must succeed: a failed call fails the test, naming its fault, and
// yields a value-initialised T.
template <class T>
T succeeded(lidl::call_result<T> r) {
    EXPECT_TRUE(r) << lidl::name(r.error().what);
    if (!r)
        return T{};
    return std::move(r.value());
}

constexpr amb::rings::config ring_config{64, 4096, 64, 64};

// A group that serves probe on `channel` with strategy S until it is stopped.
template <strategy S>
int serve_probe(group_context& context, channel_id channel) {
    probe_service implementation;
    auto link = context.server_link(channel);
    if (!link)
        return 10;
    auto server = channel_server<probe, S>::attach(*link, implementation);
    if (!server)
        return 11;
    auto loop = test_loop();
    if (!server->run_on(*loop))
        return 12;
    loop->run_until([] { return false; });
    return 0;
}

// Everything the tests ask, so that each placement answers the same questions.
struct answers {
    std::uint64_t mix = 0, mix_plain = 0, measure = 0, checksum = 0, total = 0, weigh = 0;
    std::string echo;
    node_test::point shifted{};
    // The error the service returns (fail_with): fault and code, as the caller saw them.
    lidl::call_fault returned = lidl::call_fault::unknown_procedure;
    std::uint32_t returned_code = 0;
    bool operator==(const answers& other) const {
        return mix == other.mix && mix_plain == other.mix_plain && measure == other.measure &&
               checksum == other.checksum && total == other.total && weigh == other.weigh &&
               echo == other.echo && shifted.x == other.shifted.x && shifted.y == other.shifted.y &&
               returned == other.returned && returned_code == other.returned_code;
    }
};

amb::task<answers> ask(probe& api, std::span<const std::uint8_t> buffer) {
    answers out;
    out.mix = succeeded(co_await api.mix(40, -2, true, node_test::mode::doubled, 1.5));
    out.mix_plain = succeeded(co_await api.mix(7, 3, false, node_test::mode::plain, 1.0));
    out.measure = succeeded(co_await api.measure(buffer));
    out.checksum = succeeded(co_await api.checksum(buffer));
    std::uint64_t storage[64];
    lidl::builder response(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(storage),
                                                   sizeof storage));
    out.echo = std::string(succeeded(co_await api.echo("hello across processes", response)));
    out.shifted = succeeded(co_await api.shift(node_test::point{3, 4}, 10, -20));
    const std::uint32_t values[] = {1, 2, 3, 4000000000u};
    out.total = succeeded(co_await api.total(values));
    std::uint64_t label_storage[16];
    lidl::builder label_message(std::span<std::uint8_t>(
        reinterpret_cast<std::uint8_t*>(label_storage), sizeof label_storage));
    auto* l = label_message.create_root<node_test::label>();
    label_message.set(l->text, "four");
    l->weight = 2;
    out.weigh = succeeded(co_await api.weigh(*l));
    lidl::call_result<std::uint64_t> failed = co_await api.fail_with(77);
    EXPECT_FALSE(failed);
    if (!failed) {
        out.returned = failed.error().what;
        out.returned_code = failed.error().code;
    }
    co_return out;
}

std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return bytes;
}

int open_descriptors() {
    int count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    while (dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.')
            ++count;
    ::closedir(dir);
    return count - 1;  // the directory itself
}

}  // namespace

// (a) in the caller's group, (b) in another process with the static, dynamic and user
// strategies: the same answers.
TEST(channel, the_same_service_answers_the_same_in_every_placement) {
    auto bytes = pattern(10000);
    probe_service local;

    // (a) the caller's group: a direct call through the generated client.
    auto direct_loop = test_loop();
    node_test::probe_client<lidl::direct_backend<probe>> direct(local);
    answers expected = run(*direct_loop, ask(direct, bytes));
    EXPECT_EQ(expected.mix, 117u);
    EXPECT_EQ(expected.echo, "hello across processes");
    EXPECT_EQ(expected.total, 4000000006u);
    EXPECT_EQ(expected.weigh, 4002u);
    EXPECT_EQ(expected.returned, lidl::call_fault::callee_error);
    EXPECT_EQ(expected.returned_code, 77u);

    // (b) another process, each strategy.
    auto in_process = [&](auto strategy_constant) {
        constexpr strategy S = decltype(strategy_constant)::value;
        std::unique_ptr<process_loop> loop;
        node_kernel kernel;
        channel_id channel = 0;
        group_id server = kernel.add_group(
            {"probe", [&](group_context& context) { return serve_probe<S>(context, channel); }});
        channel = *kernel.connect(kernel_group, server, ring_config);
        EXPECT_TRUE(kernel.start());
        loop = test_loop();
        auto link = kernel.kernel().caller_link(channel);
        auto caller = channel_caller::attach(*link);
        EXPECT_TRUE(caller);
        node_test::probe_client<channel_backend<probe, S>> remote(*caller);
        EXPECT_TRUE(caller->run_on(*loop));
        EXPECT_TRUE(kernel.run_on(*loop));
        answers got = run(*loop, ask(remote, bytes));  // ask() expects every call to succeed
        kernel.stop();
        return got;
    };
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::static_types>{}) == expected);
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::dynamic_types>{}) ==
                expected);
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::user>{}) == expected);
}

namespace {

// A node with one probe group served over a channel from the kernel, static strategy.
struct probe_node {
    std::unique_ptr<process_loop> loop;  // made after start; outlives what attaches to it
    node_kernel kernel{std::chrono::milliseconds(500)};
    channel_id channel = 0;
    group_id server = 0;
    std::optional<channel_caller> caller;
    std::vector<group_exit> exits;

    explicit probe_node(restart_policy restart = restart_policy::never) {
        server = kernel.add_group({"probe",
                                   [this](group_context& context) {
                                       return serve_probe<strategy::static_types>(context, channel);
                                   },
                                   std::size_t{1} << 20, restart, 3});
        channel = *kernel.connect(kernel_group, server, ring_config);
        kernel.on_exit = [this](const group_exit& exit) { exits.push_back(exit); };
    }
    void start() {
        ASSERT_TRUE(kernel.start());
        auto link = kernel.kernel().caller_link(channel);
        ASSERT_TRUE(link);
        auto attached = channel_caller::attach(*link);
        ASSERT_TRUE(attached);
        caller.emplace(std::move(*attached));
        loop = test_loop();
        ASSERT_TRUE(caller->run_on(*loop));
        ASSERT_TRUE(kernel.run_on(*loop));
    }
};

std::string mapping_of(pid_t pid, std::uintptr_t address) {
    FILE* maps = std::fopen(("/proc/" + std::to_string(pid) + "/maps").c_str(), "r");
    if (maps == nullptr)
        return {};
    char line[512];
    std::string found;
    while (std::fgets(line, sizeof line, maps) != nullptr) {
        unsigned long start = 0, end = 0;
        char permissions[8] = {};
        if (std::sscanf(line, "%lx-%lx %7s", &start, &end, permissions) == 3 && address >= start &&
            address < end)
            found = permissions;
    }
    std::fclose(maps);
    return found;
}

}  // namespace

TEST(channel, buffers_in_the_callers_heap_cross_without_a_copy_and_read_only) {
    probe_node node;
    node.kernel.set_kernel_heap_size(std::size_t{4} << 20);
    node.start();
    shared_heap& heap = node.kernel.kernel().heap();
    std::span<std::byte> block = heap.allocate(std::size_t{1} << 20);
    ASSERT_EQ(block.size(), std::size_t{1} << 20);
    auto* bytes = reinterpret_cast<std::uint8_t*>(block.data());
    for (std::size_t i = 0; i < block.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(i % 251);
    std::span<const std::uint8_t> buffer(bytes, block.size());

    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    std::uint64_t before = node.caller->views_shared();
    std::uint64_t sum = succeeded(run(*node.loop, remote.checksum(buffer)));
    std::uint64_t expected = 0;
    for (std::uint8_t b : buffer)
        expected += b;
    EXPECT_EQ(sum, expected);
    EXPECT_EQ(node.caller->views_shared(), before + 1);

    // The server sees the caller's bytes in place, in a mapping it can only read.
    std::uint64_t address = succeeded(run(*node.loop, remote.where(buffer)));
    EXPECT_EQ(mapping_of(node.kernel.pid_of(node.server), address).substr(0, 3), "r--");

    // A buffer outside the heap that does not fit in the element is copied once into the heap.
    std::vector<std::uint8_t> outside(100000, 1);
    before = node.caller->views_shared();
    auto copied = run(*node.loop, remote.checksum(outside));
    ASSERT_TRUE(copied) << lidl::name(copied.error().what);
    EXPECT_EQ(*copied, 100000u);
    EXPECT_EQ(node.caller->views_shared(), before + 1);
    heap.free(block);
}

TEST(channel, a_callee_that_writes_into_a_shared_buffer_faults_and_the_caller_gets_an_error) {
    probe_node node;
    node.start();
    std::span<std::byte> block = node.kernel.kernel().heap().allocate(4096);
    std::memset(block.data(), 7, block.size());
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    auto scribbled = run(*node.loop, remote.scribble(std::span<const std::uint8_t>(
                                         reinterpret_cast<const std::uint8_t*>(block.data()),
                                         block.size())));
    ASSERT_FALSE(scribbled);
    EXPECT_EQ(scribbled.error().what, lidl::call_fault::peer_exited);
    // The caller's bytes are unchanged; the group died of the fault.
    EXPECT_EQ(std::to_integer<int>(block[0]), 7);
    ASSERT_EQ(node.exits.size(), 1u);
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer catches the SIGSEGV, reports it and exits with a failure status.
    EXPECT_TRUE(WIFEXITED(node.exits[0].wait_status));
    EXPECT_NE(WEXITSTATUS(node.exits[0].wait_status), 0);
#else
    EXPECT_TRUE(WIFSIGNALED(node.exits[0].wait_status));
    EXPECT_EQ(WTERMSIG(node.exits[0].wait_status), SIGSEGV);
#endif
}

TEST(channel, a_group_that_crashes_mid_call_fails_the_call_and_is_restarted) {
    probe_node node(restart_policy::on_failure);
    node.start();
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    EXPECT_EQ(succeeded(run(*node.loop, remote.measure(std::vector<std::uint8_t>{1, 2, 3}))),
              3u + 1 + 3);
    pid_t first = node.kernel.pid_of(node.server);

    auto crashed = run(*node.loop, remote.crash());
    ASSERT_FALSE(crashed);
    EXPECT_EQ(crashed.error().what, lidl::call_fault::peer_exited);
    ASSERT_EQ(node.exits.size(), 1u);
    EXPECT_TRUE(node.exits[0].restarting);
    EXPECT_EQ(WEXITSTATUS(node.exits[0].wait_status), 3);

    // The kernel resets the channel once the caller drained it, then starts the group again.
    ASSERT_TRUE(node.loop->run_until([&] { return node.kernel.restarts_of(node.server) == 1; },
                                    std::chrono::milliseconds(5000)));
    EXPECT_NE(node.kernel.pid_of(node.server), first);
    auto after_restart = run(*node.loop, remote.mix(1, 2, false, node_test::mode::plain, 1.0));
    ASSERT_TRUE(after_restart) << lidl::name(after_restart.error().what);
    EXPECT_EQ(*after_restart, 3u);
}

TEST(channel, a_call_past_its_deadline_fails_and_its_late_reply_is_dropped) {
    probe_node node;
    node.start();
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    // The callee answers after 400 ms; the call may wait 50 ms.
    auto late = run(*node.loop, remote.within(std::chrono::milliseconds(50)).stall(400));
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().what, lidl::call_fault::deadline_passed);
    // Its element comes back with the late reply (already here if the loop was starved).
    EXPECT_LE(node.caller->in_flight(), 1u);
    // The deadline was this call's own: the next call waits as long as it takes, and gets its
    // own answer, not the late one.
    auto next = run(*node.loop, remote.stall(20));
    ASSERT_TRUE(next) << lidl::name(next.error().what);
    EXPECT_EQ(*next, 20u);
    EXPECT_EQ(node.caller->in_flight(), 0u);
    // A caller-wide timeout applies to calls without their own.
    node.caller->set_call_timeout(std::chrono::milliseconds(50));
    auto bounded = run(*node.loop, remote.stall(400));
    ASSERT_FALSE(bounded);
    EXPECT_EQ(bounded.error().what, lidl::call_fault::deadline_passed);
    auto quick = run(*node.loop, remote.within(std::chrono::seconds(5)).stall(100));
    ASSERT_TRUE(quick) << lidl::name(quick.error().what);
    EXPECT_EQ(*quick, 100u);
}

// A caller taken off its loop and destroyed while a call's deadline is armed takes the timer
// back: the loop holds nothing of it (it could not end otherwise, and would run freed work).
TEST(channel, a_caller_destroyed_with_a_deadline_armed_leaves_nothing_in_its_loop) {
    probe_node node;
    node.start();
    // The caller on a loop of its own, which holds nothing else.
    node.caller->detach();
    auto own = test_loop();
    ASSERT_TRUE(node.caller->run_on(*own));
    ASSERT_FALSE(own->loop().busy());
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    auto call = remote.within(std::chrono::seconds(30)).stall(200);
    call.start();  // sent; waits for its answer
    EXPECT_TRUE(own->loop().busy());  // the deadline's timer
    node.caller->detach();
    node.caller.reset();
    EXPECT_FALSE(own->loop().busy());
}

TEST(channel, many_calls_in_flight_complete_with_their_own_results) {
    probe_node node;
    node.start();
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    // More calls than ring elements: the rest wait in the caller's queue.
    constexpr int calls = 200;
    std::vector<lidl::completion<std::uint64_t>> work;
    for (int i = 0; i < calls; ++i)
        work.push_back(remote.mix(static_cast<std::uint64_t>(i), 1, false, node_test::mode::plain,
                                  1.0));
    for (auto& w : work)
        w.start();
    EXPECT_GT(node.caller->in_flight(), 64u);
    ASSERT_TRUE(node.loop->run_until(
        [&] {
            for (auto& w : work)
                if (!w.done())
                    return false;
            return true;
        },
        std::chrono::milliseconds(10000)));
    for (int i = 0; i < calls; ++i)
        EXPECT_EQ(succeeded(work[static_cast<std::size_t>(i)].take_result()),
                  static_cast<std::uint64_t>(i + 1));
}

TEST(channel, garbage_in_the_ring_is_rejected_and_the_group_keeps_serving) {
    probe_node node;
    node.start();
    auto link = *node.kernel.kernel().caller_link(node.channel);
    // Talk to the ring directly, as a misbehaving caller would.
    auto region = *amb::rings::ring_region::attach(link.memory.subspan(channel_ring_offset));
    amb::rings::endpoint raw = region.kernel();
    using amb::groups::view_ref;
    struct garbage {
        std::uint16_t kind, encoding;
        std::uint32_t procedure, length;
        std::vector<std::uint8_t> payload;
    };
    auto frame_with_view = [](std::uint64_t offset, std::uint32_t length, std::uint32_t place) {
        view_ref ref{offset, length, place};
        std::vector<std::uint8_t> bytes(64, 0);
        std::memcpy(bytes.data(), &ref, sizeof ref);
        return bytes;
    };
    std::vector<std::uint8_t> mix_frame(40, 0);
    mix_frame[12] = 5;  // flag: a bool that is neither 0 nor 1
    std::vector<std::uint8_t> bad_enum(40, 0);
    bad_enum[13] = 1;  // mode 1 is not declared
    const std::uint32_t measure = 1, touch = 8, mix = 0, weigh = 6;
    const garbage cases[] = {
        {2, 0, touch, 0, {}},                                   // a response, not a request
        {1, 0, touch, 100000, {}},                              // length past the payload
        {1, 0, 99, 0, {}},                                      // unknown procedure
        {1, 7, touch, 0, {}},                                   // unknown encoding
        {1, 0, measure, 64, frame_with_view(8, 16, 0)},         // inline view inside the fixed part
        {1, 0, measure, 64, frame_with_view(40, 1000, 0)},      // inline view past the frame
        {1, 0, measure, 64, frame_with_view(1u << 30, 16, 1)},  // heap view past the heap
        {1, 0, measure, 64, frame_with_view(0, 16, 9)},         // unknown place
        {1, 0, measure, 8, {}},                                 // frame shorter than its fields
        {1, 0, mix, 40, mix_frame},                             // bad bool
        {1, 0, mix, 40, bad_enum},                              // bad enum
        {1, 1, weigh, 32, std::vector<std::uint8_t>(32, 0xff)},  // a message that does not verify
        {1, 2, weigh, 16, frame_with_view(1u << 30, 64, 1)},     // message in heap, outside it
    };
    std::size_t sent = 0;
    for (const garbage& g : cases) {
        auto index = raw.allocate();
        ASSERT_TRUE(index);
        auto element = *raw.element(*index);
        element.header->kind = g.kind;
        element.header->status = g.encoding;
        element.header->procedure = g.procedure;
        element.header->payload_length = g.length;
        element.header->cookie = 1000 + sent;
        if (!g.payload.empty())
            std::memcpy(element.payload.data(), g.payload.data(), g.payload.size());
        ASSERT_TRUE(raw.submit(*index));
        ++sent;
    }
    (void)signal_event(link.request_event);
    // Every one comes back with a non-zero status.
    std::size_t answered = 0;
    for (int spins = 0; answered < sent && spins < 2000000; ++spins) {
        auto polled = raw.poll();
        ASSERT_TRUE(polled);
        if (!*polled) {
            (void)signal_event(link.request_event);
            ::usleep(100);
            continue;
        }
        auto element = *raw.element(**polled);
        EXPECT_NE(element.header->status, 0) << "case " << element.header->cookie - 1000;
        ASSERT_TRUE(raw.release(**polled));
        ++answered;
    }
    EXPECT_EQ(answered, sent);
    // A corrupt ring index is dropped too; the group still answers proper calls afterwards.
    node_test::probe_client<channel_backend<probe>> remote(*node.caller);
    auto proper = run(*node.loop, remote.mix(40, 2, true, node_test::mode::doubled, 1.0));
    ASSERT_TRUE(proper) << lidl::name(proper.error().what);
    EXPECT_EQ(*proper, 86u);
    EXPECT_TRUE(node.exits.empty());
}

TEST(node_kernel, stop_leaves_no_process_descriptor_or_shared_memory_behind) {
    int descriptors = open_descriptors();
    pid_t server_pid = -1;
    {
        probe_node node;
        node.start();
        server_pid = node.kernel.pid_of(node.server);
        ASSERT_GT(server_pid, 0);
        node_test::probe_client<channel_backend<probe>> remote(*node.caller);
        EXPECT_EQ(succeeded(run(*node.loop, remote.mix(1, 1, false, node_test::mode::plain, 1.0))),
                  2u);
        node.kernel.stop();
        EXPECT_EQ(node.kernel.running(), 0u);
    }
    EXPECT_EQ(::kill(server_pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(open_descriptors(), descriptors);
    // No memfd of ours stays mapped.
    FILE* maps = std::fopen("/proc/self/maps", "r");
    char line[512];
    bool memfd_left = false;
    while (std::fgets(line, sizeof line, maps) != nullptr)
        memfd_left |= std::strstr(line, "amb-shared-region") != nullptr;
    std::fclose(maps);
    EXPECT_FALSE(memfd_left);
}

TEST(node_kernel, groups_call_each_other_without_the_kernel_in_the_path) {
    std::unique_ptr<process_loop> loop;  // made after start; outlives the kernel
    node_kernel kernel(std::chrono::milliseconds(500));
    channel_id channel = 0;
    group_id server = kernel.add_group(
        {"probe", [&](group_context& context) {
             return serve_probe<strategy::static_types>(context, channel);
         }});
    group_id client = kernel.add_group(
        {"client", [&](group_context& context) {
             auto link = context.caller_link(channel);
             if (!link)
                 return 20;
             auto caller = channel_caller::attach(*link);
             if (!caller)
                 return 21;
             node_test::probe_client<channel_backend<probe>> remote(*caller);
             auto loop = test_loop();
             if (!caller->run_on(*loop))
                 return 23;
             // A buffer in the client's own heap crosses to the server without a copy.
             std::span<std::byte> block = context.heap().allocate(300000);
             std::memset(block.data(), 2, block.size());
             auto sum = run(*loop, remote.checksum(std::span<const std::uint8_t>(
                                       reinterpret_cast<const std::uint8_t*>(block.data()),
                                       block.size())));
             return sum && *sum == 600000 && caller->views_shared() == 1 ? 0 : 22;
         }});
    channel = *kernel.connect(client, server, ring_config);
    std::vector<group_exit> exits;
    kernel.on_exit = [&](const group_exit& exit) { exits.push_back(exit); };
    ASSERT_TRUE(kernel.start());
    loop = test_loop();
    ASSERT_TRUE(kernel.run_on(*loop));
    ASSERT_TRUE(loop->run_until([&] { return !exits.empty(); }, std::chrono::milliseconds(10000)));
    EXPECT_EQ(exits[0].name, "client");
    EXPECT_TRUE(WIFEXITED(exits[0].wait_status));
    EXPECT_EQ(WEXITSTATUS(exits[0].wait_status), 0);
}

// A node kernel in its own process (so that the signal is not the test's): SIGTERM makes its loop
// stop every group and exit 0, and no group process survives it.
TEST(node_kernel, sigterm_stops_the_node_cleanly) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    pid_t kernel_pid = ::fork();
    ASSERT_GE(kernel_pid, 0);
    if (kernel_pid == 0) {
        ::close(pipe_fds[0]);
        node_kernel kernel(std::chrono::milliseconds(500));
        if (!kernel.watch_stop_signals())
            ::_exit(40);
        channel_id channel = 0;
        group_id a = kernel.add_group({"a", [&](group_context& context) {
                                           return serve_probe<strategy::static_types>(context,
                                                                                      channel);
                                       }});
        kernel.add_group({"b", [](group_context&) {
                              ::pause();
                              return 0;
                          }});
        channel = *kernel.connect(kernel_group, a, ring_config);
        if (!kernel.start())
            ::_exit(41);
        pid_t pids[2] = {kernel.pid_of(1), kernel.pid_of(2)};
        if (::write(pipe_fds[1], pids, sizeof pids) != sizeof pids)
            ::_exit(42);
        auto loop = test_loop();
        if (!kernel.run_on(*loop))
            ::_exit(45);
        // Bounded: a SIGTERM the loop never sees ends the node with status 44 after 30 s (the
        // test then fails on the status) instead of leaving the test waiting.
        if (!loop->run_until([&] { return kernel.stop_requested(); },
                             std::chrono::milliseconds(30000)))
            ::_exit(44);
        kernel.stop();
        ::_exit(kernel.running() == 0 ? 0 : 43);
    }
    ::close(pipe_fds[1]);
    pid_t groups[2] = {-1, -1};
    ASSERT_EQ(::read(pipe_fds[0], groups, sizeof groups), static_cast<ssize_t>(sizeof groups));
    ::close(pipe_fds[0]);
    EXPECT_EQ(::kill(groups[0], 0), 0);
    ASSERT_EQ(::kill(kernel_pid, SIGTERM), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(kernel_pid, &status, 0), kernel_pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // The groups were the kernel's children: reaped by it, so their pids no longer exist.
    for (pid_t group : groups) {
        errno = 0;
        EXPECT_EQ(::kill(group, 0), -1);
        EXPECT_EQ(errno, ESRCH);
    }
}

// The error in a reply element comes from the serving process: only a known fault in a payload
// of the right size is believed; anything else is a malformed reply, never a made-up fault.
TEST(channel, a_returned_error_is_read_only_when_it_names_a_known_fault) {
    auto payload = [](std::uint32_t fault, std::uint32_t code) {
        // As lidl::encode_returned writes it, with any fault number.
        std::vector<std::byte> bytes(lidl::returned_error_size);
        for (int i = 0; i < 4; ++i) {
            bytes[i] = static_cast<std::byte>(fault >> (8 * i));
            bytes[4 + i] = static_cast<std::byte>(code >> (8 * i));
        }
        return bytes;
    };
    auto valid = payload(static_cast<std::uint32_t>(lidl::call_fault::callee_error), 9);
    lidl::call_error read = answered_error(call_status::failed, valid);
    EXPECT_EQ(read.what, lidl::call_fault::callee_error);
    EXPECT_EQ(read.code, 9u);
    auto passed = payload(static_cast<std::uint32_t>(lidl::call_fault::deadline_passed), 0);
    EXPECT_EQ(answered_error(call_status::failed, passed).what, lidl::call_fault::deadline_passed);

    EXPECT_EQ(answered_error(call_status::failed, payload(0, 1)).what,
              lidl::call_fault::malformed_reply);
    EXPECT_EQ(answered_error(call_status::failed, payload(200, 1)).what,
              lidl::call_fault::malformed_reply);
    EXPECT_EQ(answered_error(call_status::failed, std::span(valid).first(7)).what,
              lidl::call_fault::malformed_reply);
    EXPECT_EQ(answered_error(static_cast<call_status>(99), valid).what,
              lidl::call_fault::malformed_reply);
    EXPECT_EQ(answered_error(call_status::malformed_request, {}).what,
              lidl::call_fault::malformed_call);
    EXPECT_EQ(answered_error(call_status::unknown_procedure, {}).what,
              lidl::call_fault::unknown_procedure);
    EXPECT_EQ(answered_error(call_status::reply_too_large, {}).what,
              lidl::call_fault::reply_too_large);
}
