// The Ambience side of benchmark `deploy`: the calling nodes here, node "b" serving `adder` in a
// forked child, UDP on 127.0.0.1 (see fixtures.hpp). Besides the UDP sockets the two processes
// share a SOCK_SEQPACKET control socketpair (port exchange, windows, stop) and a small shared
// mapping whose flag tells the child's loop that a control message is waiting (so that the loop
// makes no system call for the control socket while it serves).
#include "fixtures.hpp"

#include "adder.lidl.hpp"
#include "child_process.hpp"

#include <crypto/crypto.hpp>
#include <hosted/remote/network_node.hpp>
#include <hosted/loop/process_loop.hpp>
#include <remote/keys.hpp>
#include <remote/remote_backend.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <vector>

namespace amb::deploy_bench {
namespace {

namespace ar = amb::remote;
namespace hr = amb::hosted::remote;
using ar::byte_view;
using adder_client = deploy_schema::adder_client<ar::remote_backend<deploy_schema::adder>>;

constexpr std::size_t most_callers = 4096;

class adder_impl final : public deploy_schema::adder {
public:
    lidl::completion<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        co_return a + b;
    }
};

std::uint64_t nanoseconds(const timespec& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(t.tv_nsec);
}

std::uint64_t clock_ns(clockid_t clock) {
    timespec now{};
    clock_gettime(clock, &now);
    return nanoseconds(now);
}

std::uint64_t nanoseconds(const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(t.tv_usec) * 1000u;
}

// Control messages (parent → child), each answered by one `control_reply`.
enum class command : std::uint32_t { begin_window = 1, end_window, quit };

struct control_reply {
    std::uint32_t ok = 0;
    server_window window;
};

// The shared mapping.
struct control_header {
    // Set by the parent before each control message, cleared by the child once it took it: the
    // child's loop looks at this flag on every pass instead of asking the socket (a system call
    // per pass would be counted as the serving node's CPU time).
    std::atomic<std::uint32_t> pending{0};
};
constexpr std::size_t control_bytes = 4096;

bool send_all(int fd, const void* data, std::size_t size) {
    ssize_t sent;
    do {
        sent = ::send(fd, data, size, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent == static_cast<ssize_t>(size);
}

// One message of at most `size` bytes; its size, or -1 on error or when the peer has gone.
ssize_t receive_message(int fd, void* data, std::size_t size, int flags = 0) {
    ssize_t got;
    do {
        got = ::recv(fd, data, size, flags);
    } while (got < 0 && errno == EINTR);
    return got > 0 ? got : -1;
}

std::string caller_name(std::size_t index, std::size_t callers) {
    return callers == 1 ? std::string("a") : "a" + std::to_string(index);
}

// Spans of one kind: 4-ns buckets up to 32 µs (longer ones in the last bucket), for medians.
struct span_histogram {
    static constexpr std::size_t buckets = 8192;
    static constexpr unsigned shift = 2;
    std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(buckets);

    void add(std::uint64_t ns) { ++counts[std::min<std::uint64_t>(ns >> shift, buckets - 1)]; }

    // Median of the spans added since `earlier` was copied, merged with `other` since
    // `other_earlier` (0 when there are none).
    double median_since(const span_histogram& earlier, const span_histogram* other = nullptr,
                        const span_histogram* other_earlier = nullptr) const {
        std::vector<std::uint64_t> window(buckets);
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            window[i] = counts[i] - earlier.counts[i];
            if (other != nullptr)
                window[i] += other->counts[i] - other_earlier->counts[i];
            total += window[i];
        }
        if (total == 0)
            return 0;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += window[i];
            if (2 * seen >= total)
                return static_cast<double>((i << shift) + (1u << shift) / 2);
        }
        return 0;
    }
};

// The serving node's measurement hook: CLOCK_MONOTONIC (vDSO, no system call) around each part.
class timing_meter final : public ar::verification_meter {
public:
    void begin(part) override { started_ = clock_ns(CLOCK_MONOTONIC); }
    void end(part what, bool passed, bool from_verified_credential) override {
        const std::uint64_t spent = clock_ns(CLOCK_MONOTONIC) - started_;
        const std::uint64_t capped = std::min(spent, span_cap_ns);
        totals.long_spans += spent > span_cap_ns ? 1 : 0;
        if (what == part::record) {
            totals.record_ns += spent;
            totals.record_capped_ns += capped;
            record.add(spent);
            return;
        }
        ++totals.verifications;
        totals.verify_ns += spent;
        totals.verify_capped_ns += capped;
        if (!passed)
            ++totals.refused;
        if (from_verified_credential) {
            ++totals.hits;
            totals.hit_capped_ns += capped;
            hits.add(spent);
        } else {
            ++totals.misses;
            totals.miss_capped_ns += capped;
            misses.add(spent);
        }
    }
    server_window totals; // only the meter's fields
    span_histogram hits;
    span_histogram misses;
    span_histogram record;

private:
    std::uint64_t started_ = 0;
};

// What one empty begin/end pair of the hook costs here (no node in between).
double empty_part_ns() {
    timing_meter probe;
    constexpr int rounds = 20000;
    const std::uint64_t start = clock_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < rounds; ++i) {
        probe.begin(ar::verification_meter::part::verify);
        probe.end(ar::verification_meter::part::verify, true, true);
    }
    return static_cast<double>(clock_ns(CLOCK_MONOTONIC) - start) / rounds;
}

// The child's half: the serving node and what the control socket asks of it.
class serving_child final : public hosted::loop::descriptor_poller {
public:
    serving_child(int control, control_header& header, const caplets::secret_key& key)
        : control_(control), header_(header), key_(key) {}

    int run(const udp_options& options) {
        hosted::net::udp_config udp_config;
        // One peer per caller, as the deployment tool would size it.
        udp_config.max_peers = std::max(udp_config.max_peers, options.callers);
        auto udp = hosted::net::udp_transport::open(udp_config);
        if (!udp)
            return 3;
        const std::uint16_t own_port = (*udp)->local().port;
        std::vector<std::uint16_t> caller_ports(most_callers);
        if (!send_all(control_, &own_port, sizeof own_port))
            return 4;
        const ssize_t got = receive_message(control_, caller_ports.data(),
                                            caller_ports.size() * sizeof(std::uint16_t));
        if (got <= 0 || static_cast<std::size_t>(got) != options.callers * sizeof(std::uint16_t))
            return 4;
        net_.add_udp(std::move(*udp));
        std::vector<std::string> names;
        std::vector<ar::route_entry> routes;
        for (std::size_t i = 0; i < options.callers; ++i)
            names.push_back(caller_name(i, options.callers));
        for (std::size_t i = 0; i < options.callers; ++i)
            routes.push_back({names[i], net_.add_udp_link(0, hosted::net::ipv4_endpoint::loopback(
                                                                 caller_ports[i]))});
        ar::node_config config;
        config.name = "b";
        config.routes = routes;
        config.verification_key = &key_;
        // Sized for its callers, as the deployment tool would: one replay root and one remembered
        // credential per caller.
        config.max_callers = std::max<std::size_t>(config.max_callers, options.callers);
        config.verified_callers =
            options.verified_callers != 0 ? options.verified_callers : options.callers;
        if (options.meter) {
            empty_part_ns_ = empty_part_ns();
            config.meter = &meter_;
        }
        if (!net_.start(config, &log_).has_value() ||
            !net_.node().export_service("adder", exported_))
            return 5;
        auto loop = hosted::loop::process_loop::create(options.spin);
        if (!loop)
            return 7;
        loop_ = std::move(*loop);
        if (!net_.run_on(*loop_) || !attach_to(*loop_, control_))
            return 7;
        loop_->run_until([&] { return quit_; });
        return failed_ ? 6 : 0;
    }

    // A poller woken by the control socket, read when the shared flag says a message was sent
    // (a parent that dies without a quit message takes the child with it: PR_SET_PDEATHSIG).
    std::size_t progress() noexcept override {
        if (header_.pending.load(std::memory_order_acquire) == 0)
            return 0;
        header_.pending.store(0, std::memory_order_relaxed);
        command what{};
        ssize_t got;
        do {
            got = ::recv(control_, &what, sizeof what, 0);
        } while (got < 0 && errno == EINTR);
        if (got != sizeof what || what == command::quit) {
            quit_ = true; // a closed socket (the parent went away) stops the child too
            return 1;
        }
        control_reply reply;
        reply.ok = 1;
        if (what == command::begin_window) {
            window_cpu_ = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
            getrusage(RUSAGE_SELF, &window_usage_);
            window_requests_ = net_.node().counters().requests_accepted;
            window_meter_ = meter_.totals;
            earlier_hits_ = meter_.hits;
            earlier_misses_ = meter_.misses;
            earlier_record_ = meter_.record;
        } else if (what == command::end_window) {
            rusage usage{};
            const std::uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
            getrusage(RUSAGE_SELF, &usage);
            server_window& w = reply.window;
            const server_window& m = meter_.totals;
            w.verifications = m.verifications - window_meter_.verifications;
            w.verify_ns = m.verify_ns - window_meter_.verify_ns;
            w.record_ns = m.record_ns - window_meter_.record_ns;
            w.verify_capped_ns = m.verify_capped_ns - window_meter_.verify_capped_ns;
            w.record_capped_ns = m.record_capped_ns - window_meter_.record_capped_ns;
            w.long_spans = m.long_spans - window_meter_.long_spans;
            w.hits = m.hits - window_meter_.hits;
            w.hit_capped_ns = m.hit_capped_ns - window_meter_.hit_capped_ns;
            w.misses = m.misses - window_meter_.misses;
            w.miss_capped_ns = m.miss_capped_ns - window_meter_.miss_capped_ns;
            w.refused = m.refused - window_meter_.refused;
            w.empty_part_ns = empty_part_ns_;
            w.verify_median_ns =
                meter_.hits.median_since(earlier_hits_, &meter_.misses, &earlier_misses_);
            w.hit_median_ns = meter_.hits.median_since(earlier_hits_);
            w.miss_median_ns = meter_.misses.median_since(earlier_misses_);
            w.record_median_ns = meter_.record.median_since(earlier_record_);
            w.cpu_ns = cpu - window_cpu_;
            w.user_ns = nanoseconds(usage.ru_utime) - nanoseconds(window_usage_.ru_utime);
            w.system_ns = nanoseconds(usage.ru_stime) - nanoseconds(window_usage_.ru_stime);
            w.voluntary_switches =
                static_cast<std::uint64_t>(usage.ru_nvcsw - window_usage_.ru_nvcsw);
            w.requests = net_.node().counters().requests_accepted - window_requests_;
        } else {
            reply.ok = 0;
        }
        if (!send_all(control_, &reply, sizeof reply)) {
            failed_ = true;
            quit_ = true;
        }
        return 1;
    }

private:
    int control_;
    control_header& header_;
    const caplets::secret_key& key_;
    // The loop, the log, the service, its export and the meter outlive the node (declared
    // before it).
    std::unique_ptr<hosted::loop::process_loop> loop_;
    hr::incident_log log_{"b"};
    adder_impl adder_;
    ar::lidl_export<deploy_schema::adder> exported_{adder_};
    timing_meter meter_;
    hr::network_node net_;
    bool quit_ = false;
    bool failed_ = false;
    std::uint64_t window_cpu_ = 0;
    rusage window_usage_{};
    std::uint64_t window_requests_ = 0;
    server_window window_meter_;
    span_histogram earlier_hits_;
    span_histogram earlier_misses_;
    span_histogram earlier_record_;
    double empty_part_ns_ = 0;
};

// One calling node of this process.
struct calling_node {
    std::string name;
    std::vector<std::uint64_t> credential; // aligned token bytes
    std::size_t credential_size = 0;
    ar::route_entry routes[1];
    ar::credential_entry credentials[1];
    // Made after the fork (the child inherits none of their descriptors).
    std::unique_ptr<hr::incident_log> log;
    std::unique_ptr<hr::network_node> net;
    std::unique_ptr<adder_client> client;
};

class udp_fixture final : public ambience_udp {
public:
    udp_fixture(int control, pid_t child, control_header& header, std::chrono::microseconds spin,
                std::vector<std::unique_ptr<calling_node>> callers)
        : control_(control), child_(child), header_(header), spin_(spin),
          callers_(std::move(callers)) {}

    ~udp_fixture() override {
        stop();
        ::munmap(&header_, control_bytes);
    }

    std::optional<std::string> connect() {
        auto loop = hosted::loop::process_loop::create(spin_);  // after the fork
        if (!loop)
            return "cannot create the event loop";
        loop_ = std::move(*loop);
        std::uint16_t child_port = 0;
        if (receive_message(control_, &child_port, sizeof child_port) != sizeof child_port)
            return "the child did not open its UDP socket";
        std::vector<std::uint16_t> ports;
        for (auto& caller : callers_) {
            caller->net = std::make_unique<hr::network_node>();
            auto udp = hosted::net::udp_transport::open({});
            if (!udp)
                return "cannot open a UDP socket";
            ports.push_back((*udp)->local().port);
            caller->net->add_udp(std::move(*udp));
        }
        if (!send_all(control_, ports.data(), ports.size() * sizeof(std::uint16_t)))
            return "the child went away";
        for (auto& caller : callers_) {
            caller->routes[0] = {"b", caller->net->add_udp_link(
                                          0, hosted::net::ipv4_endpoint::loopback(child_port))};
            caller->credentials[0] = {
                "b", byte_view{reinterpret_cast<const std::uint8_t*>(caller->credential.data()),
                               caller->credential_size}};
            ar::node_config config;
            config.name = caller->name;
            config.routes = caller->routes;
            config.credentials = caller->credentials;
            config.call_timeout = std::chrono::seconds(10);
            caller->log = std::make_unique<hr::incident_log>(caller->name);
            if (!caller->net->start(config, caller->log.get()).has_value())
                return "node " + caller->name + " does not start";
            if (!caller->net->run_on(*loop_))
                return "node " + caller->name + " cannot watch its socket";
            caller->client = std::make_unique<adder_client>(caller->net->node(), "b", "adder");
        }
        // One answer from every caller (which also leaves its credential remembered by b).
        for (std::size_t i = 0; i < callers_.size(); ++i)
            if (add(2, 3) != std::optional<std::uint64_t>(5))
                return "the first call of " + callers_[i]->name + " was not answered with 5";
        return std::nullopt;
    }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        if (broken_)
            return std::nullopt;
        adder_client& client = next_client();
        lidl::completion<std::uint64_t> call = client.add(a, b);
        call.start();
        if (!loop_->run_until([&] { return call.done(); }, std::chrono::seconds(10))) {
            broken_ = true;
            return std::nullopt;
        }
        lidl::call_result<std::uint64_t> sum = call.take_result();
        if (!sum) {
            broken_ = true;
            return std::nullopt;
        }
        return sum.value();
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        in_flight_.clear();
        for (const add_operands& operands : calls)
            in_flight_.push_back(next_client().add(operands.a, operands.b));
        for (auto& call : in_flight_)
            call.start();
        const bool finished = loop_->run_until(
            [&] {
                for (auto& call : in_flight_)
                    if (!call.done())
                        return false;
                return true;
            },
            std::chrono::seconds(10));
        if (!finished)
            return fail();
        for (std::size_t i = 0; i < calls.size(); ++i) {
            lidl::call_result<std::uint64_t> sum = in_flight_[i].take_result();
            if (!sum)
                return fail();
            sums[i] = sum.value();
        }
        return true;
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        broken_ = true;
        const command quit = command::quit;
        header_.pending.store(1, std::memory_order_release);
        send_all(control_, &quit, sizeof quit);
        ::close(control_);
        stopped_cleanly_ = ipc_anchors::reap(child_);
        return stopped_cleanly_;
    }

    pid_t child_pid() const override { return child_; }

    bool begin_window() override { return ask(command::begin_window).has_value(); }

    std::optional<server_window> end_window() override {
        auto reply = ask(command::end_window);
        if (!reply)
            return std::nullopt;
        return reply->window;
    }

    std::size_t callers() const override { return callers_.size(); }

private:
    adder_client& next_client() {
        adder_client& client = *callers_[next_]->client;
        next_ = (next_ + 1) % callers_.size();
        return client;
    }

    std::optional<control_reply> ask(command what) {
        control_reply reply;
        if (!broken_)
            header_.pending.store(1, std::memory_order_release);
        if (broken_ || !send_all(control_, &what, sizeof what) ||
            receive_message(control_, &reply, sizeof reply) != sizeof reply || reply.ok != 1) {
            broken_ = true;
            return std::nullopt;
        }
        return reply;
    }

    bool fail() {
        broken_ = true;
        return false;
    }

    int control_;
    pid_t child_;
    control_header& header_;
    std::chrono::microseconds spin_;
    std::unique_ptr<hosted::loop::process_loop> loop_;  // before the callers: outlives them
    std::vector<std::unique_ptr<calling_node>> callers_;
    std::size_t next_ = 0;
    std::vector<lidl::completion<std::uint64_t>> in_flight_;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started<ambience_udp> start_ambience_udp(const udp_options& options) {
    if (options.callers == 0 || options.callers > most_callers)
        return {nullptr, "between 1 and 4096 callers"};
    // Keys, as the deployment tool makes them: a fresh root, b's node key, each caller's
    // credential for b.
    caplets::secret_key root;
    if (!crypto::random_bytes(root.bytes))
        return {nullptr, "no randomness for the deployment root"};
    const caplets::secret_key key_b = ar::node_verification_key(root, "b");
    std::vector<std::unique_ptr<calling_node>> callers;
    const ar::import_rights rights[] = {{"adder", {}}};
    for (std::size_t i = 0; i < options.callers; ++i) {
        auto caller = std::make_unique<calling_node>();
        caller->name = caller_name(i, options.callers);
        caller->credential.resize(512);
        lidl::builder out({reinterpret_cast<std::uint8_t*>(caller->credential.data()),
                           caller->credential.size() * 8});
        auto minted = ar::mint_credential(root, caller->name, "b", rights, 0, out);
        if (!minted)
            return {nullptr, "cannot mint the credential " + caller->name + " → b"};
        if (minted->data() != reinterpret_cast<const std::uint8_t*>(caller->credential.data()))
            return {nullptr, "the credential was not written at the start of its buffer"};
        caller->credential_size = minted->size();
        callers.push_back(std::move(caller));
    }

    void* mapping =
        ::mmap(nullptr, control_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        return {nullptr, "cannot map the control flag"};
    auto* header = new (mapping) control_header;
    static_assert(sizeof(control_header) <= control_bytes);
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
        ::munmap(mapping, control_bytes);
        return {nullptr, "socketpair failed"};
    }
    const pid_t child = ipc_anchors::fork_serving([&] {
        ::close(ends[0]);
        serving_child serving(ends[1], *header, key_b);
        return serving.run(options);
    });
    ::close(ends[1]);
    if (child < 0) {
        ::close(ends[0]);
        ::munmap(mapping, control_bytes);
        return {nullptr, "fork failed"};
    }
    auto fixture =
        std::make_unique<udp_fixture>(ends[0], child, *header, options.spin, std::move(callers));
    if (auto error = fixture->connect())
        return {nullptr, *error};
    return {std::move(fixture), {}};
}

} // namespace amb::deploy_bench
