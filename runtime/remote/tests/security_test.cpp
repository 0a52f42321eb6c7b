// Replay protection of a serving node under attack (issue 12, holes 4 and 7; CTest
// security.remote.*). Requests are built by hand, as an attacker on the wire or a caller with its
// own credential would, and fed to a remote::node; its answers are read back from the wire.
//
// - one caller derives many narrower credentials (each a new holder) to fill the replay store:
//   only its own root is affected, another caller still gets in;
// - a request refused after verification (unknown procedure) does not consume its number;
// - a request accepted before a restart, kill -9 included (a real serving process), is refused
//   after it; the caller jumps above the restarted node's floor; durable writes stay bounded.
#include "test_services.hpp"

#include <hosted/remote/durable_replay.hpp>
#include <remote/node.hpp>
#include <remote/remote_backend.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace amb::remote {
namespace {

using namespace remote_testing;
using hosted::remote::durable_sequence_store;
using bytes = std::vector<std::uint8_t>;
using calculator_client = remote_test::calculator_client<remote_backend<remote_test::calculator>>;

std::uint64_t wall_microseconds() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

class fake_clock final : public clock_source {
public:
    loop_clock::time_point now{std::chrono::seconds(1000)};
    std::uint64_t unix_now = wall_microseconds();
    loop_clock::time_point monotonic() override { return now; }
    std::uint64_t unix_microseconds() override { return unix_now++; }
};

// 8-byte aligned bytes (tokens and packets are read in place).
struct aligned {
    std::vector<std::uint64_t> words = std::vector<std::uint64_t>(1024);
    std::size_t size = 0;
    byte_span span() { return {reinterpret_cast<std::uint8_t*>(words.data()), words.size() * 8}; }
    byte_view view() const { return {reinterpret_cast<const std::uint8_t*>(words.data()), size}; }
};

aligned aligned_copy(const bytes& packet) {
    aligned copy;
    std::memcpy(copy.words.data(), packet.data(), packet.size());
    copy.size = packet.size();
    return copy;
}

class sent_packets final : public link_output {
public:
    std::deque<bytes> packets;
    bool send(link_id, byte_view data) override {
        packets.emplace_back(data.begin(), data.end());
        return true;
    }
};

// A caller's credential and what it derives from it.
class caller {
public:
    caller(const caplets::secret_key& root, std::string name) : name_(std::move(name)) {
        bytes minted = credential(root, name_, "b", all_of_calculator());
        credential_.size = minted.size();
        std::memcpy(credential_.words.data(), minted.data(), minted.size());
    }
    const std::string& name() const { return name_; }

    // Derives a narrower credential (add only, a distinct expiry) from the one minted: a new
    // holder of the same root, used by the requests from now on.
    void narrow(std::uint64_t expires) {
        static constexpr std::string_view add[] = {"add"};
        caplets::frame_spec spec;
        spec.add_service("calculator", add, false);
        spec.add_expires(expires);
        auto parent = caplets::token_view::parse(credential_.view());
        ASSERT_TRUE(parent.has_value());
        spec.inherit_constraints(parent->leaf());
        aligned frame;
        lidl::builder frame_out(frame.span());
        auto written = spec.write(frame_out);
        ASSERT_TRUE(written.has_value());
        aligned& next = narrowed_.emplace_back();
        lidl::builder out(next.span());
        auto derived = caplets::derive(*parent, *written, out);
        ASSERT_TRUE(derived.has_value());
        next.size = derived->size();
    }

    // A request packet for calculator.`procedure`(a, b) with `sequence`, from the current
    // (narrowest) credential.
    aligned request(std::uint64_t sequence, std::string_view procedure = "add",
                    std::uint64_t correlation = 1, std::string_view destination = "b") {
        aligned call;
        lidl::builder call_out(call.span());
        remote_test::calculator::add_params params{1, 2};
        EXPECT_TRUE(remote_test::calculator::lidl_codec::encode_call(0, &params, call_out));
        auto parent = caplets::token_view::parse(current().view());
        EXPECT_TRUE(parent.has_value());
        caplets::frame_spec spec;
        spec.add_call_request("calculator", procedure, call_out.written());
        spec.inherit_constraints(parent->leaf());
        spec.add_sequence(sequence);
        spec.add_audience("b"); // the node it is for (when named, it must be the serving node)
        aligned frame;
        lidl::builder frame_out(frame.span());
        auto written = spec.write(frame_out);
        EXPECT_TRUE(written.has_value());
        envelope_fields fields;
        fields.source = name_;
        fields.destination = destination;
        fields.correlation = correlation;
        aligned packet;
        envelope_writer writer;
        EXPECT_TRUE(writer.start(packet.span(), fields));
        lidl::builder token_out(writer.body());
        auto token = caplets::derive(*parent, *written, token_out);
        EXPECT_TRUE(token.has_value());
        if (!token)
            return packet;
        byte_view finished = writer.finish(token->size());
        packet.size = finished.size();
        return packet;
    }

private:
    const aligned& current() const { return narrowed_.empty() ? credential_ : narrowed_.back(); }
    std::string name_;
    aligned credential_;
    std::deque<aligned> narrowed_;
};

// The serving node b: exports the calculator, answers a and c on link 0.
class serving_node {
public:
    serving_node(const caplets::secret_key& root, fake_clock& clock,
                 caplets::sequence_store* sequences = nullptr, std::string_view name = "b") {
        key_ = node_verification_key(root, name);
        node_config config;
        config.name = name;
        config.routes = routes_;
        config.verification_key = &key_;
        config.max_message_size = 4096;
        config.sequences = sequences;
        auto made = node::create(config, wire, clock, nullptr);
        EXPECT_TRUE(made.has_value());
        self = std::move(*made);
        EXPECT_TRUE(self->export_service("calculator", exported_));
    }

    // Delivers `packet`; the status of b's answer (nullopt: no answer).
    std::optional<status_code> deliver(const aligned& packet) {
        wire.packets.clear();
        self->on_packet(0, packet.view());
        self->poll();
        if (wire.packets.empty())
            return std::nullopt;
        aligned answer = aligned_copy(wire.packets.back());
        auto parsed = parse_envelope(answer.view());
        EXPECT_TRUE(parsed.has_value());
        return parsed ? std::optional<status_code>(parsed->header->status) : std::nullopt;
    }

    calculator_impl calculator;
    sent_packets wire;
    std::unique_ptr<node> self;

private:
    caplets::secret_key key_;
    route_entry routes_[2] = {{"a", 0}, {"c", 0}};
    lidl_export<remote_test::calculator> exported_{calculator};
};

// The calling node a: one credential for b (every procedure of the calculator), b on link 0.
class calling_node {
public:
    calling_node(const caplets::secret_key& root, fake_clock& clock)
        : credential_(credential(root, "a", "b", all_of_calculator())) {
        node_config config;
        config.name = "a";
        config.routes = routes_;
        config.credentials = credentials_;
        config.max_message_size = 4096;
        auto made = node::create(config, wire, clock, nullptr);
        EXPECT_TRUE(made.has_value());
        if (made)
            self = std::move(*made);
    }

    sent_packets wire;
    std::unique_ptr<node> self;

private:
    bytes credential_; // before credentials_, which views it
    credential_entry credentials_[1] = {{"b", credential_, false}};
    route_entry routes_[1] = {{"b", 0}};
};

// Hole 4: the store was keyed by the frame before the request, so a caller that appended
// narrowing frames minted holders until max_callers (64) was reached, and then every new caller
// was refused. Now only the attacker's own root fills up.
TEST(replay, one_caller_minting_holders_does_not_lock_out_another) {
    const caplets::secret_key root = random_key();
    fake_clock clock;
    serving_node b(root, clock);
    caller attacker(root, "a");
    const std::uint64_t far = clock.unix_now / 1000000u + 3600;
    int accepted = 0;
    for (int i = 0; i < 70; ++i) {
        attacker.narrow(far + static_cast<std::uint64_t>(i));
        accepted += b.deliver(attacker.request(clock.unix_now++)) == status_code::ok ? 1 : 0;
    }
    // The attacker got its share of holders, no more.
    EXPECT_EQ(accepted, static_cast<int>(bounded_sequence_store::default_holders_per_root));
    caller victim(root, "c");
    EXPECT_EQ(b.deliver(victim.request(clock.unix_now++)), status_code::ok);
    EXPECT_EQ(b.calculator.calls, accepted + 1);
}

// Record after every check: a request refused after verification (here an unknown procedure)
// used to consume its number, so the caller's next request with it was a "replay".
TEST(replay, a_request_refused_after_verification_does_not_consume_its_number) {
    const caplets::secret_key root = random_key();
    fake_clock clock;
    serving_node b(root, clock);
    caller a(root, "a");
    const std::uint64_t number = clock.unix_now;
    EXPECT_EQ(b.deliver(a.request(number, "no_such_procedure")), status_code::unknown_procedure);
    EXPECT_EQ(b.deliver(a.request(number)), status_code::ok);
    EXPECT_EQ(b.deliver(a.request(number)), status_code::denied);
    EXPECT_EQ(b.calculator.calls, 1);
}

std::string temporary_directory() {
    char pattern[] = "/tmp/amb_replay_XXXXXX";
    const char* made = ::mkdtemp(pattern);
    EXPECT_NE(made, nullptr);
    return made != nullptr ? made : "/tmp";
}

// Hole 7, in process: the node and its store are stopped, then started again from the same
// directory (the test below kills a real process instead).
TEST(replay, a_request_accepted_before_a_restart_is_refused_after_it) {
    const caplets::secret_key root = random_key();
    const std::string mark = temporary_directory() + "/replay.mark";
    fake_clock clock;
    caller a(root, "a");
    aligned captured = a.request(clock.unix_now++);
    {
        auto store = durable_sequence_store::open(mark, clock.unix_now);
        ASSERT_TRUE(store.has_value()) << store.error();
        serving_node b(root, clock, store->get());
        ASSERT_EQ(b.deliver(captured), status_code::ok);
        EXPECT_EQ((*store)->writes(), 1u);
    }
    // Restarted a moment later (well inside the old one-minute window).
    clock.unix_now += 1000;
    auto store = durable_sequence_store::open(mark, clock.unix_now);
    ASSERT_TRUE(store.has_value()) << store.error();
    serving_node b(root, clock, store->get());
    EXPECT_EQ(b.deliver(captured), status_code::denied);
    EXPECT_EQ(b.calculator.calls, 0);
}

// Hole 7 with a real process: a serving process (node b with the durable store, packets over a
// socketpair) accepts a request and is killed with SIGKILL; a new process on the same state
// directory refuses the captured request.
pid_t start_serving_process(const caplets::secret_key& root, const std::string& mark, int& fd) {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    pid_t child = ::fork();
    if (child == 0) {
        ::close(pair[0]);
        fake_clock clock;
        auto store = durable_sequence_store::open(mark, wall_microseconds());
        if (!store)
            ::_exit(2);
        serving_node b(root, clock, store->get());
        for (;;) {
            aligned packet;
            ssize_t got = ::recv(pair[1], packet.words.data(), packet.words.size() * 8, 0);
            if (got <= 0)
                ::_exit(0);
            packet.size = static_cast<std::size_t>(got);
            auto status = b.deliver(packet);
            std::uint8_t answer = status ? static_cast<std::uint8_t>(*status) : 0xff;
            if (::send(pair[1], &answer, 1, MSG_NOSIGNAL) != 1)
                ::_exit(0);
        }
    }
    ::close(pair[1]);
    fd = pair[0];
    // A bound on each exchange's answer (a stuck child fails the test instead of hanging it);
    // a safety net, not a timing assertion.
    timeval timeout{30, 0};
    EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    return child;
}

int exchange(int fd, const aligned& packet) {
    EXPECT_EQ(::send(fd, packet.view().data(), packet.size, MSG_NOSIGNAL),
              static_cast<ssize_t>(packet.size));
    std::uint8_t answer = 0;
    EXPECT_EQ(::recv(fd, &answer, 1, 0), 1);
    return answer;
}

TEST(replay, a_request_captured_before_kill_9_is_refused_after_the_restart) {
    const caplets::secret_key root = random_key();
    const std::string mark = temporary_directory() + "/replay.mark";
    caller a(root, "a");
    aligned captured = a.request(wall_microseconds());
    int fd = -1;
    pid_t first = start_serving_process(root, mark, fd);
    ASSERT_EQ(exchange(fd, captured), static_cast<int>(status_code::ok));
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(first, &status, 0), first);
    ASSERT_TRUE(WIFSIGNALED(status));
    ::close(fd);

    pid_t second = start_serving_process(root, mark, fd);
    EXPECT_EQ(exchange(fd, captured), static_cast<int>(status_code::denied));
    // A new request above the restarted node's floor is served.
    auto reserved = durable_sequence_store::read_mark(mark);
    ASSERT_TRUE(reserved.has_value());
    EXPECT_EQ(exchange(fd, a.request(*reserved + 1, "add", 2)), static_cast<int>(status_code::ok));
    ::close(fd);
    ::kill(second, SIGKILL);
    ::waitpid(second, &status, 0);
}

// After a restart the floor (the reservation) may be ahead of a caller's clock: the caller learns
// the number from b's authenticated refusal and sends the call once more above it.
TEST(replay, a_caller_jumps_above_a_restarted_nodes_floor) {
    const caplets::secret_key root = random_key();
    const std::string mark = temporary_directory() + "/replay.mark";
    fake_clock clock;
    // b's floor is ahead of a's clock: after a crash, the reservation (up to a block ahead of
    // the last number accepted); here b's clock runs two minutes ahead of a's.
    auto restarted = durable_sequence_store::open(mark, clock.unix_now + 120'000'000u);
    ASSERT_TRUE(restarted.has_value()) << restarted.error();
    ASSERT_GT((*restarted)->floor(), clock.unix_now);
    serving_node b(root, clock, restarted->get());

    // Node a calls b over a queue-backed link (link 0 on both sides).
    calling_node caller_a(root, clock);
    ASSERT_NE(caller_a.self, nullptr);
    node& a = *caller_a.self;
    sent_packets& a_wire = caller_a.wire;
    calculator_client calculator(a, "b", "calculator");
    auto call = [&]() {
        auto work = calculator.add(20, 22);
        work.start();
        for (int round = 0; round < 10 && !work.done(); ++round) {
            while (!a_wire.packets.empty()) {
                aligned packet = aligned_copy(a_wire.packets.front());
                a_wire.packets.pop_front();
                b.deliver(packet);
                for (bytes& answer : b.wire.packets)
                    a.on_packet(0, answer);
            }
            a.poll();
        }
        EXPECT_TRUE(work.done());
        return work.take_result();
    };
    // The first request is below the floor: refused, and sent once more above it.
    auto first = call();
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value(), 42);
    EXPECT_EQ(b.self->counters().requests_refused, 1u);
    EXPECT_EQ(a.counters().calls_issued, 2u);
    auto second = call();
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value(), 42);
    EXPECT_EQ(a.counters().calls_issued, 3u);
    EXPECT_EQ(b.calculator.calls, 2);
}

// A network that duplicates a request and delays the reply: b serves the first copy and refuses
// the second as a replay (authenticated, with the number it just accepted). Had a resent the call
// on that refusal, the call would have run twice. It may resend only above every number it ever
// sent, which this refusal is not: the call ends refused, and b served it once.
TEST(replay, a_duplicated_request_refused_as_a_replay_is_not_sent_again) {
    const caplets::secret_key root = random_key();
    fake_clock clock;
    serving_node b(root, clock);
    calling_node caller_a(root, clock);
    ASSERT_NE(caller_a.self, nullptr);
    node& a = *caller_a.self;
    sent_packets& a_wire = caller_a.wire;
    calculator_client calculator(a, "b", "calculator");
    auto work = calculator.add(20, 22);
    work.start();
    ASSERT_EQ(a_wire.packets.size(), 1u);
    aligned request = aligned_copy(a_wire.packets.front());
    a_wire.packets.clear();
    EXPECT_EQ(b.deliver(request), status_code::ok); // served
    bytes reply = b.wire.packets.back();
    EXPECT_EQ(b.deliver(request), status_code::denied); // the duplicate: replayed
    bytes refusal = b.wire.packets.back();
    a.on_packet(0, refusal); // the refusal overtakes the reply
    a.poll();
    for (const bytes& sent : a_wire.packets)
        b.deliver(aligned_copy(sent));
    EXPECT_EQ(a.counters().calls_issued, 1u);
    EXPECT_EQ(b.calculator.calls, 1);
    a.on_packet(0, reply);
    a.poll();
    EXPECT_TRUE(work.done());
}

// A mark far ahead of the clock (the clock stepped back after a crash, or the file was edited)
// would refuse every request until the clock caught up; opening it fails with a clear error.
TEST(replay, a_mark_far_ahead_of_the_clock_is_refused_at_open) {
    const std::string mark = temporary_directory() + "/replay.mark";
    const std::uint64_t now = 1'800'000'000'000'000u;
    const std::uint64_t later = now + 7'200'000'000u; // two hours
    {
        auto store = durable_sequence_store::open(mark, later);
        ASSERT_TRUE(store.has_value()) << store.error();
        caplets::sequence_key key{};
        key.root[0] = 1;
        ASSERT_TRUE((*store)->accept(key, later + 1, 0, later / 1'000'000u));
    }
    auto reopened = durable_sequence_store::open(mark, now);
    ASSERT_FALSE(reopened.has_value());
    EXPECT_NE(reopened.error().find("ahead of the clock"), std::string::npos) << reopened.error();
    EXPECT_TRUE(durable_sequence_store::open(mark, later).has_value());
}

// Durable writes are bounded by the reservation block, not by the number of requests: a
// thousand requests within 0.1 s of sequence numbers cost one write.
TEST(replay, durable_writes_are_one_per_block_not_one_per_request) {
    const caplets::secret_key root = random_key();
    const std::string mark = temporary_directory() + "/replay.mark";
    fake_clock clock;
    auto store = durable_sequence_store::open(mark, clock.unix_now);
    ASSERT_TRUE(store.has_value()) << store.error();
    serving_node b(root, clock, store->get());
    caller a(root, "a");
    const std::uint64_t start = clock.unix_now;
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(b.deliver(a.request(start + 100u * static_cast<std::uint64_t>(i))),
                  status_code::ok);
    EXPECT_EQ((*store)->writes(), 1u);
    // Three seconds of numbers: one write per second's block.
    for (int i = 1; i <= 30; ++i)
        ASSERT_EQ(b.deliver(a.request(start + 100000u * static_cast<std::uint64_t>(i) + 99900u)),
                  status_code::ok);
    EXPECT_LE((*store)->writes(), 4u);
    // A number far ahead of the clock would raise every caller's floor after a restart: refused.
    EXPECT_EQ(b.deliver(a.request(start + 3'600'000'000u)), status_code::denied);
}

// Hole 6 (audience). A request captured on its way to b and spent at c first (the attacker
// rewrites the envelope, which no tag covers): c's key is its own, derived from the deployment
// root and its name, so the request fails its tag there and c serves nothing; b still serves it.
TEST(audience, a_request_for_one_node_is_refused_by_another_of_the_same_deployment) {
    const caplets::secret_key root = random_key();
    fake_clock clock;
    serving_node b(root, clock);
    serving_node c(root, clock, nullptr, "c");
    caller a(root, "a");
    const std::uint64_t number = clock.unix_now++;
    EXPECT_EQ(c.deliver(a.request(number, "add", 1, "c")), status_code::denied);
    EXPECT_EQ(c.calculator.calls, 0);
    EXPECT_EQ(b.deliver(a.request(number, "add", 1, "b")), status_code::ok);
    EXPECT_EQ(b.calculator.calls, 1);
}

} // namespace
} // namespace amb::remote
