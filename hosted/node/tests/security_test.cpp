// Attacks on the hosted node by a compromised group (issue 12, holes 1 and 2), performed for
// real against a node_kernel: each test fails on a kernel that trusts the shared ring's geometry
// or the epoch a group can write, or that forks groups from its own image after it read
// secrets. CTest names: security.hosted.*.
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include "memory_scan.hpp"
#include "probe.lidl.hpp"
#include "test_loop.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace amb::hosted::node;
using node_test::probe;

class probe_service final : public probe {
public:
    lidl::completion<std::uint64_t> mix(std::uint64_t a, std::int32_t, bool, node_test::mode,
                                        double) override {
        co_return a;
    }
    lidl::completion<std::uint64_t> measure(std::span<const std::uint8_t> data) override {
        co_return data.size();
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
    lidl::completion<node_test::point> shift(const node_test::point& p, std::int32_t,
                                             std::int32_t) override {
        co_return p;
    }
    lidl::completion<std::uint64_t> total(std::span<const std::uint32_t> values) override {
        co_return values.size();
    }
    lidl::completion<std::uint64_t> weigh(const node_test::label& l) override {
        co_return l.weight;
    }
    lidl::completion<std::uint64_t> where(std::span<const std::uint8_t>) override { co_return 0; }
    lidl::completion<void> touch() override { co_return {}; }
    lidl::completion<void> crash() override {
        ::_exit(3);
        co_return {};
    }
    lidl::completion<void> scribble(std::span<const std::uint8_t>) override { co_return {}; }
    lidl::completion<std::uint64_t> fail_with(std::uint32_t code) override {
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, code}};
    }
    lidl::completion<std::uint64_t> stall(std::uint32_t ms) override { co_return ms; }
};

constexpr amb::rings::config ring_config{64, 4096, 64, 64};
// Where the epoch sat in the control block before it moved to the kernel's read-only page: a
// group that wants the serving side to re-attach writes there.
constexpr std::size_t writable_epoch_offset = 208;
// The channel memory read and written by the attack: the geometry it lays out instead.
constexpr amb::rings::config larger_payload{2, 65536, 64, 64};

// Exit statuses of the attacking group (0: every expectation held).
enum attack_outcome : int {
    attack_held = 0,
    no_link = 20,
    normal_call_failed_before = 21,
    status_page_writable = 22,
    reinit_failed = 23,
    oversized_call_not_sent = 24,
    oversized_call_unanswered = 25,
    oversized_call_accepted = 26, // the serving kernel copied and ran it: the hole
    normal_call_failed_after = 27,
};

// A coroutine of its own (not a capturing lambda, whose captures would dangle once it
// suspended).
lidl::completion<std::uint64_t> measure_through(probe& api,
                                                std::span<const std::uint8_t> data) {
    co_return co_await api.measure(data);
}

template <class Done>
bool spin_until(node_test::process_loop& loop, Done&& done) {
    return loop.run_until(std::forward<Done>(done), std::chrono::milliseconds(5000));
}

// Whether this process holds a descriptor of the file mapped at `address` (by inode).
bool holds_descriptor_of(const void* address) {
    std::FILE* maps = std::fopen("/proc/self/maps", "r");
    if (maps == nullptr)
        return true; // cannot tell: count as held
    unsigned long start = 0, end = 0, inode = 0;
    char line[512];
    bool found = false;
    while (!found && std::fgets(line, sizeof line, maps) != nullptr) {
        char perms[8] = {};
        unsigned long offset = 0;
        char device[16] = {};
        if (std::sscanf(line, "%lx-%lx %7s %lx %15s %lu", &start, &end, perms, &offset, device,
                        &inode) == 6)
            found = reinterpret_cast<unsigned long>(address) >= start &&
                    reinterpret_cast<unsigned long>(address) < end;
    }
    std::fclose(maps);
    if (!found || inode == 0)
        return true;
    for (int fd = 0; fd < 1024; ++fd) {
        struct stat status {};
        if (::fstat(fd, &status) == 0 && status.st_ino == inode)
            return true;
    }
    return false;
}

// The attacking group: a caller of the kernel's probe service that turns the shared channel
// against the kernel (issue 12, hole 1).
int attack_kernel_channel(group_context& context, channel_id channel) {
    auto link = context.caller_link(channel);
    if (!link)
        return no_link;
    auto caller = channel_caller::attach(*link);
    if (!caller)
        return no_link;
    node_test::probe_client<channel_backend<probe>> remote(*caller);
    auto loop = node_test::test_loop();
    if (!caller->run_on(*loop))
        return no_link;
    auto call_measure = [&](std::size_t size) -> std::optional<std::uint64_t> {
        std::vector<std::uint8_t> data(size, 7);
        auto work = measure_through(remote, data);
        work.start();
        if (!spin_until(*loop, [&] { return work.done(); }))
            return std::nullopt;
        auto value = work.take_result();
        if (!value)
            return std::nullopt;
        return *value;
    };
    if (call_measure(100) != 100u)
        return normal_call_failed_before;

    // 1. The kernel's page (epoch, peer gone) cannot be made writable here.
    void* page = const_cast<channel_status*>(link->status);
    if (::mprotect(page, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)),
                   PROT_READ | PROT_WRITE) == 0)
        return status_page_writable;
    // Nor through a descriptor: a read-only memfd descriptor can be reopened read-write through
    // /proc/self/fd, so the group must hold none of the page (the mapping is enough).
    if (holds_descriptor_of(page))
        return status_page_writable;

    // 2. Re-initialise the ring in place with a 16 times larger payload and bump the epoch where
    // a group can write it.
    std::span<std::byte> ring_memory = link->memory.subspan(channel_ring_offset);
    auto region = amb::rings::ring_region::init(ring_memory, larger_payload);
    if (!region)
        return reinit_failed;
    reinterpret_cast<std::atomic<std::uint32_t>*>(link->memory.data() + writable_epoch_offset)
        ->fetch_add(1);

    // 3. An oversized call, valid in every other way: a lidl message of `measure` with 60000
    // bytes, as long as the new payload allows and 15 times the kernel's buffers.
    std::vector<std::uint8_t> data(60000, 0x41);
    std::vector<std::uint64_t> storage(70000 / 8);
    lidl::builder message(
        std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(storage.data()), 70000));
    probe::measure_params params{data};
    if (!probe::lidl_codec::encode_call(1, &params, message) || message.failed())
        return oversized_call_not_sent;
    auto bytes = message.written();
    amb::rings::endpoint forged = region->kernel();
    auto index = forged.allocate();
    if (!index)
        return oversized_call_not_sent;
    auto element = forged.element(*index);
    if (!element || element->payload.size() < bytes.size())
        return oversized_call_not_sent;
    std::memcpy(element->payload.data(), bytes.data(), bytes.size());
    element->header->kind = static_cast<std::uint16_t>(amb::rings::element_kind::request);
    element->header->status = static_cast<std::uint16_t>(request_encoding::message);
    element->header->procedure = 1;
    element->header->payload_length = static_cast<std::uint32_t>(bytes.size());
    element->header->cookie = 0x5eed;
    if (!forged.submit(*index))
        return oversized_call_not_sent;
    (void)signal_event(link->request_event);
    // The answer comes back in the same element, wherever the kernel looked for it.
    std::optional<std::uint16_t> status;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!status && std::chrono::steady_clock::now() < deadline) {
        auto polled = forged.poll();
        if (polled && *polled)
            status = forged.element(**polled)->header->status;
        else
            ::usleep(1000);
    }
    if (!status)
        return oversized_call_unanswered;
    if (*status == static_cast<std::uint16_t>(call_status::ok))
        return oversized_call_accepted;

    // 4. Put the ring back as the kernel laid it out: the channel serves again.
    if (!amb::rings::ring_region::init(ring_memory, ring_config))
        return reinit_failed;
    if (call_measure(3000) != 3000u)
        return normal_call_failed_after;
    return attack_held;
}

} // namespace

// Hole 1: a caller group re-initialises the shared ring with a larger payload, bumps the epoch
// where it can write, and sends a call as long as the new payload. The serving kernel must not
// follow (only it moves epochs; it never takes geometry from shared memory), must refuse the
// call with a clear status instead of copying it into buffers sized for the real payload, and
// must keep serving correctly.
TEST(channel, a_group_cannot_change_the_geometry_of_a_channel_the_kernel_serves) {
    node_kernel kernel{std::chrono::milliseconds(500)};
    channel_id channel = 0;
    group_id attacker = kernel.add_group({"attacker", [&](group_context& context) {
                                              return attack_kernel_channel(context, channel);
                                          }});
    channel = *kernel.connect(attacker, kernel_group, ring_config);
    std::vector<group_exit> exits;
    kernel.on_exit = [&](const group_exit& exit) { exits.push_back(exit); };
    ASSERT_TRUE(kernel.start());

    probe_service implementation;
    auto link = kernel.kernel().server_link(channel);
    ASSERT_TRUE(link);
    auto server = channel_server<probe>::attach(*link, implementation);
    ASSERT_TRUE(server);
    node_test::kernel_loop loop(kernel);
    ASSERT_TRUE(server->run_on(*loop));
    ASSERT_TRUE(loop->run_until([&] { return !exits.empty(); }, std::chrono::milliseconds(10000)));
    ASSERT_TRUE(WIFEXITED(exits[0].wait_status)) << exits[0].wait_status;
    EXPECT_EQ(WEXITSTATUS(exits[0].wait_status), attack_held);
    // The kernel answered the normal calls and refused the forged one.
    EXPECT_EQ(server->answered(), 3u);
    EXPECT_EQ(server->rejected(), 1u);
    kernel.stop();
}

namespace {

// The serving group turned against the kernel that calls it: it takes the kernel's request,
// re-initialises the ring with a larger payload, bumps the epoch where it can write it and
// answers in the same element with a reply as long as the new payload. Then it waits to be
// stopped.
int answer_with_foreign_geometry(group_context& context, channel_id channel) {
    auto link = context.server_link(channel);
    if (!link)
        return 10;
    auto region = attach_ring(*link);
    if (!region)
        return 11;
    amb::rings::endpoint own = region->group();
    std::optional<amb::rings::element_index> request;
    for (int waited = 0; waited < 5000 && !request; ++waited) {
        auto polled = own.poll();
        if (polled && *polled)
            request = **polled;
        else
            ::usleep(1000);
    }
    if (!request)
        return 12;
    const std::uint64_t cookie = own.element(*request)->header->cookie;
    auto forged =
        amb::rings::ring_region::init(link->memory.subspan(channel_ring_offset), larger_payload);
    if (!forged)
        return 13;
    reinterpret_cast<std::atomic<std::uint32_t>*>(link->memory.data() + writable_epoch_offset)
        ->fetch_add(1);
    // Element 0 sits where it did (the rings did not move): the kernel finds its call there.
    auto element = forged->group().element(*request);
    if (!element)
        return 14;
    std::memset(element->payload.data(), 0x41, 60000);
    element->header->kind = static_cast<std::uint16_t>(amb::rings::element_kind::response);
    element->header->status = 0;
    element->header->payload_length = 60000;
    element->header->cookie = cookie;
    if (!forged->group().submit(*request))
        return 15;
    (void)signal_event(link->reply_event);
    for (;;)
        ::pause();
}

} // namespace

// The same attack from the other side (the kernel calls a group): the calling kernel must not
// follow the forged epoch nor accept a reply longer than its own payload; the call fails with
// call_fault::malformed_reply and the serving group cannot make it read or copy past its buffers.
TEST(channel, a_serving_group_cannot_change_the_geometry_of_a_channel_the_kernel_calls) {
    node_kernel kernel{std::chrono::milliseconds(500)};
    channel_id channel = 0;
    group_id server = kernel.add_group({"server", [&](group_context& context) {
                                            return answer_with_foreign_geometry(context, channel);
                                        }});
    channel = *kernel.connect(kernel_group, server, ring_config);
    ASSERT_TRUE(kernel.start());
    auto link = kernel.kernel().caller_link(channel);
    ASSERT_TRUE(link);
    auto caller = channel_caller::attach(*link);
    ASSERT_TRUE(caller);
    node_test::probe_client<channel_backend<probe>> remote(*caller);
    node_test::kernel_loop loop(kernel);
    ASSERT_TRUE(caller->run_on(*loop));
    std::vector<std::uint8_t> data(100, 7);
    auto work = measure_through(remote, data);
    work.start();
    ASSERT_TRUE(loop->run_until([&] { return work.done(); }, std::chrono::milliseconds(10000)));
    auto measured = work.take_result();
    ASSERT_FALSE(measured);
    EXPECT_EQ(measured.error().what, lidl::call_fault::malformed_reply);
    EXPECT_EQ(caller->payload_size(), ring_config.payload_size);
    EXPECT_EQ(kernel.running(), 1u);
    kernel.stop();
}

namespace {

constexpr std::size_t secret_size = 32;
constexpr const char* withheld_variable = "AMBIENCE_TEST_WITHHELD_TOKEN";

// Exit statuses of the scanning group.
enum scan_outcome : int {
    scan_clean = 0,
    crashed_on_purpose = 3,
    no_instructions = 30,
    secret_found = 31,
    environment_found = 32,
    environment_visible = 33,
    scan_failed = 34,
};

} // namespace

// Hole 2: after the kernel started its groups it reads a secret (as a node's glue reads the
// node key, the HTTP key and credentials) and an environment variable it keeps to itself; a
// group then crashes itself, the kernel restarts it, and the restarted group scans all of its
// readable memory for those bytes. It must find none, while the same scan in the kernel does.
TEST(node_kernel, a_restarted_group_holds_no_secret_the_kernel_read) {
    // A secret in the environment before anything starts (as `ambience run` passes
    // authorizations), withheld from the groups.
    // The value is built in place and wiped after setenv copied it, so that, as for a variable
    // that came with exec, environ holds the only copy.
    std::random_device random;
    char environment_value[29] = "tok_";
    for (int i = 4; i < 28; ++i)
        environment_value[i] = static_cast<char>('a' + random() % 26);
    ::setenv(withheld_variable, environment_value, 1);
    for (volatile char& c : environment_value)
        c = 0;

    int instructions[2];
    ASSERT_EQ(::pipe(instructions), 0); // inherited by the group: crash, then what to look for
    node_kernel kernel{std::chrono::milliseconds(500)};
    kernel.withhold_environment("AMBIENCE_TEST_WITHHELD_");
    std::vector<group_exit> exits;
    kernel.on_exit = [&](const group_exit& exit) { exits.push_back(exit); };
    kernel.add_group(
        {"victim",
         [&](group_context& context) {
             ::close(instructions[1]);
             char go = 0;
             if (context.restarts() == 0) {
                 // Compromised: wait for the kernel to hold its secrets, then
                 // crash to be restarted.
                 (void)::read(instructions[0], &go, 1);
                 ::_exit(crashed_on_purpose);
             }
             std::vector<std::uint8_t> masked(secret_size), mask(secret_size);
             std::vector<std::uint8_t> masked_env(64), mask_env(64);
             std::uint32_t env_length = 0;
             if (::read(instructions[0], masked.data(), secret_size) != secret_size ||
                 ::read(instructions[0], mask.data(), secret_size) != secret_size ||
                 ::read(instructions[0], &env_length, 4) != 4 || env_length > 64 ||
                 ::read(instructions[0], masked_env.data(), env_length) !=
                     static_cast<ssize_t>(env_length) ||
                 ::read(instructions[0], mask_env.data(), env_length) !=
                     static_cast<ssize_t>(env_length))
                 return int{no_instructions};
             std::size_t scanned = 0;
             std::size_t secret = test::occurrences_in_own_memory(masked, mask, &scanned);
             std::size_t variable = test::occurrences_in_own_memory(
                 std::span(masked_env).first(env_length), std::span(mask_env).first(env_length));
             if (secret == SIZE_MAX || variable == SIZE_MAX || scanned < (1u << 20))
                 return int{scan_failed};
             if (secret != 0)
                 return int{secret_found};
             if (std::getenv(withheld_variable) != nullptr)
                 return int{environment_visible};
             if (variable != 0)
                 return int{environment_found};
             return int{scan_clean};
         },
         std::size_t{1} << 20, restart_policy::on_failure, 1});
    ASSERT_TRUE(kernel.start());
    ::close(instructions[0]);

    // The kernel reads its secret after start, as the generated glue does.
    std::vector<std::uint8_t> secret(secret_size), mask(secret_size), masked(secret_size);
    // Read from the system, as a key from a file: the bytes are in memory for sure (a value
    // computed here could live in registers only).
    ASSERT_EQ(::getrandom(secret.data(), secret_size, 0), ssize_t(secret_size));
    for (std::size_t i = 0; i < secret_size; ++i) {
        mask[i] = static_cast<std::uint8_t>(random() | 1);
        masked[i] = secret[i] ^ mask[i];
    }
    const std::string variable = std::getenv(withheld_variable); // the kernel still has it
    const auto env_length = static_cast<std::uint32_t>(variable.size());
    std::vector<std::uint8_t> mask_env(env_length), masked_env(env_length);
    for (std::size_t i = 0; i < env_length; ++i) {
        mask_env[i] = static_cast<std::uint8_t>(random() | 1);
        masked_env[i] = static_cast<std::uint8_t>(variable[i]) ^ mask_env[i];
    }
    const char go = 1;
    ASSERT_EQ(::write(instructions[1], &go, 1), 1);
    ASSERT_EQ(::write(instructions[1], masked.data(), secret_size), ssize_t(secret_size));
    ASSERT_EQ(::write(instructions[1], mask.data(), secret_size), ssize_t(secret_size));
    ASSERT_EQ(::write(instructions[1], &env_length, 4), 4);
    ASSERT_EQ(::write(instructions[1], masked_env.data(), env_length), ssize_t(env_length));
    ASSERT_EQ(::write(instructions[1], mask_env.data(), env_length), ssize_t(env_length));

    node_test::kernel_loop loop(kernel);
    ASSERT_TRUE(
        loop->run_until([&] { return exits.size() == 2; }, std::chrono::milliseconds(20000)));
    ::close(instructions[1]);
    ASSERT_TRUE(WIFEXITED(exits[0].wait_status));
    EXPECT_EQ(WEXITSTATUS(exits[0].wait_status), crashed_on_purpose);
    EXPECT_TRUE(exits[0].restarting);
    ASSERT_TRUE(WIFEXITED(exits[1].wait_status)) << exits[1].wait_status;
    EXPECT_EQ(WEXITSTATUS(exits[1].wait_status), scan_clean);

    // Positive control: the same scan finds both in the kernel.
    EXPECT_GE(test::occurrences_in_own_memory(masked, mask), 1u);
    EXPECT_GE(test::occurrences_in_own_memory(masked_env, mask_env), 1u);
    kernel.stop();
    ::unsetenv(withheld_variable);
}

namespace {

// The node of the test below, in a process of its own that runs as an unprivileged user (no
// capability can then bypass the check). Returns an exit status: 0 when the reading group
// could open neither the kernel's memory nor its sibling's.
int run_node_without_privileges() {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) < 0 || ::setgid(65534) < 0 || ::setuid(65534) < 0))
        return 50;
    // Changing the user id made this process non-dumpable; a node started by that user is.
    if (::prctl(PR_SET_DUMPABLE, 1) < 0)
        return 50;
    node_kernel kernel{std::chrono::milliseconds(500)};
    std::vector<group_exit> exits;
    kernel.on_exit = [&](const group_exit& exit) { exits.push_back(exit); };
    group_id sibling = kernel.add_group({"sibling", [](group_context&) {
                                             for (;;)
                                                 ::pause();
                                             return 0;
                                         }});
    int sibling_pid[2];
    if (::pipe(sibling_pid) < 0)
        return 51;
    kernel.add_group({"reader", [&](group_context&) {
                          pid_t target = -1;
                          if (::read(sibling_pid[0], &target, sizeof target) != sizeof target)
                              return 41;
                          for (pid_t pid : {::getppid(), target}) {
                              std::string path = "/proc/" + std::to_string(pid) + "/mem";
                              int memory = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
                              if (memory >= 0)
                                  return pid == target ? 43 : 42;
                          }
                          return 0;
                      }});
    if (!kernel.start())
        return 52;
    pid_t pid = kernel.pid_of(sibling);
    if (::write(sibling_pid[1], &pid, sizeof pid) != sizeof pid)
        return 53;
    node_test::kernel_loop loop(kernel);
    if (!loop->run_until([&] { return !exits.empty(); }, std::chrono::milliseconds(10000)))
        return 54;
    kernel.stop();
    return WIFEXITED(exits[0].wait_status) ? WEXITSTATUS(exits[0].wait_status) : 55;
}

} // namespace

// A group runs with the kernel's user id, so nothing but the kernel's own state keeps it from
// reading the kernel's memory (keys included) through /proc/PID/mem or ptrace: the kernel and
// its groups are not dumpable. A group of an unprivileged node tries to open the kernel's
// memory (42 if it can) and its sibling's (43).
TEST(node_kernel, a_group_cannot_read_the_memory_of_the_kernel_or_of_another_group) {
    pid_t node = ::fork();
    ASSERT_GE(node, 0);
    if (node == 0)
        ::_exit(run_node_without_privileges());
    int status = 0;
    ASSERT_EQ(::waitpid(node, &status, 0), node);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}
