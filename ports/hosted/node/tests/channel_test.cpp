// Channels between processes under a node_kernel: the same service answers the same way in the
// caller's group, in another group of the same process (rings) and in another process with each
// strategy; zero-copy views; crashes, restarts, garbage in the ring, shutdown.
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include <groups/ring_backend.hpp>

#include "probe.lidl.hpp"

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

class probe_service final : public probe {
public:
    amb::task<std::uint64_t> mix(std::uint64_t a, std::int32_t b, bool flag, node_test::mode m,
                                 double scale) override {
        std::uint64_t sum = a + static_cast<std::uint64_t>(b) + (flag ? 1 : 0);
        if (m == node_test::mode::doubled)
            sum *= 2;
        co_return static_cast<std::uint64_t>(static_cast<double>(sum) * scale);
    }
    amb::task<std::uint64_t> measure(std::span<const std::uint8_t> data) override {
        if (data.empty())
            co_return 0;
        co_return data.size() + data.front() + data.back();
    }
    amb::task<std::uint64_t> checksum(std::span<const std::uint8_t> data) override {
        std::uint64_t sum = 0;
        for (std::uint8_t byte : data)
            sum += byte;
        co_return sum;
    }
    amb::task<std::string_view> echo(std::string_view text, lidl::builder& response) override {
        co_return response.copy(text);
    }
    amb::task<node_test::point> shift(const node_test::point& p, std::int32_t dx,
                                      std::int32_t dy) override {
        co_return node_test::point{p.x + dx, p.y + dy};
    }
    amb::task<std::uint64_t> total(std::span<const std::uint32_t> values) override {
        std::uint64_t sum = 0;
        for (std::uint32_t v : values)
            sum += v;
        co_return sum;
    }
    amb::task<std::uint64_t> weigh(const node_test::label& l) override {
        co_return l.text.view().size() * 1000 + l.weight;
    }
    amb::task<std::uint64_t> where(std::span<const std::uint8_t> data) override {
        co_return reinterpret_cast<std::uintptr_t>(data.data());
    }
    amb::task<void> touch() override {
        ++touched;
        co_return;
    }
    amb::task<void> crash() override {
        ::_exit(3);
        co_return;
    }
    amb::task<void> scribble(std::span<const std::uint8_t> data) override {
        // A misbehaving callee: the bytes are const, and the mapping is read-only too.
        const_cast<std::uint8_t&>(data[0]) = 0xee;
        co_return;
    }
    int touched = 0;
};

template <class T>
T run(group_loop& loop, amb::task<T> work) {
    work.start();
    EXPECT_TRUE(loop.run_until([&] { return work.done(); }, std::chrono::milliseconds(10000)));
    return work.take_result();
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
    group_loop loop;
    loop.add(*server);
    loop.run_until([] { return false; });
    return 0;
}

// Everything the tests ask, so that each placement answers the same questions.
struct answers {
    std::uint64_t mix = 0, mix_plain = 0, measure = 0, checksum = 0, total = 0, weigh = 0;
    std::string echo;
    node_test::point shifted{};
    bool operator==(const answers& other) const {
        return mix == other.mix && mix_plain == other.mix_plain && measure == other.measure &&
               checksum == other.checksum && total == other.total && weigh == other.weigh &&
               echo == other.echo && shifted.x == other.shifted.x && shifted.y == other.shifted.y;
    }
};

amb::task<answers> ask(probe& api, std::span<const std::uint8_t> buffer) {
    answers out;
    out.mix = co_await api.mix(40, -2, true, node_test::mode::doubled, 1.5);
    out.mix_plain = co_await api.mix(7, 3, false, node_test::mode::plain, 1.0);
    out.measure = co_await api.measure(buffer);
    out.checksum = co_await api.checksum(buffer);
    std::uint64_t storage[64];
    lidl::builder response(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(storage),
                                                   sizeof storage));
    out.echo = std::string(co_await api.echo("hello across processes", response));
    out.shifted = co_await api.shift(node_test::point{3, 4}, 10, -20);
    const std::uint32_t values[] = {1, 2, 3, 4000000000u};
    out.total = co_await api.total(values);
    std::uint64_t label_storage[16];
    lidl::builder label_message(std::span<std::uint8_t>(
        reinterpret_cast<std::uint8_t*>(label_storage), sizeof label_storage));
    auto* l = label_message.create_root<node_test::label>();
    label_message.set(l->text, "four");
    l->weight = 2;
    out.weigh = co_await api.weigh(*l);
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

// (a) in the caller's group, (b) in another group of the same process through rings, (c) in
// another process with the static, dynamic and user strategies: the same answers.
TEST(channel, the_same_service_answers_the_same_in_every_placement) {
    auto bytes = pattern(10000);
    probe_service local;

    // (a) the caller's group: a direct call through the generated client.
    group_loop direct_loop;
    node_test::probe_client<lidl::direct_backend<probe>> direct(local);
    answers expected = run(direct_loop, ask(direct, bytes));
    EXPECT_EQ(expected.mix, 117u);
    EXPECT_EQ(expected.echo, "hello across processes");
    EXPECT_EQ(expected.total, 4000000006u);
    EXPECT_EQ(expected.weigh, 4002u);

    // (b) another group in this process: rings, pointers cross.
    {
        std::size_t size = *amb::rings::region_size(ring_config);
        std::vector<std::uint64_t> memory(size / 8 + 8);
        auto* base = reinterpret_cast<std::byte*>(
            (reinterpret_cast<std::uintptr_t>(memory.data()) + 63) / 64 * 64);
        auto region = *amb::rings::ring_region::init({base, size}, ring_config);
        amb::groups::ring_caller caller(region.kernel());
        amb::groups::ring_server<probe> server(region.group(), local);
        node_test::probe_client<amb::groups::ring_backend<probe>> remote(caller);
        auto work = ask(remote, bytes);
        work.start();
        for (int i = 0; i < 100000 && !work.done(); ++i) {
            (void)server.serve();
            (void)caller.complete();
        }
        ASSERT_TRUE(work.done());
        EXPECT_TRUE(work.take_result() == expected);
    }

    // (c) another process, each strategy.
    auto in_process = [&](auto strategy_constant) {
        constexpr strategy S = decltype(strategy_constant)::value;
        node_kernel kernel;
        channel_id channel = 0;
        group_id server = kernel.add_group(
            {"probe", [&](group_context& context) { return serve_probe<S>(context, channel); }});
        channel = *kernel.connect(kernel_group, server, ring_config);
        EXPECT_TRUE(kernel.start());
        auto link = kernel.kernel().caller_link(channel);
        auto caller = channel_caller::attach(*link);
        EXPECT_TRUE(caller);
        node_test::probe_client<channel_backend<probe, S>> remote(*caller);
        group_loop loop;
        loop.add(*caller);
        loop.add(kernel);
        answers got = run(loop, ask(remote, bytes));
        EXPECT_FALSE(remote.backend().last_error().has_value())
            << describe(*remote.backend().last_error());
        kernel.stop();
        return got;
    };
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::static_types>{}) == expected);
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::dynamic_types>{}) ==
                expected);
    EXPECT_TRUE(in_process(std::integral_constant<strategy, strategy::user>{}) == expected);
}
