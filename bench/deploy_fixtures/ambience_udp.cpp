// The Ambience side of benchmark `deploy`: node "a" here, node "b" serving `adder` in a forked
// child, UDP on 127.0.0.1 (see fixtures.hpp). Besides the UDP socket the two processes share a
// SOCK_SEQPACKET control socketpair (port exchange, windows, verification, stop) and a shared
// anonymous mapping into which "a" copies the request packets it sends during a window, so that
// the child can verify exactly those requests again with CAPLets alone.
#include "fixtures.hpp"

#include "adder.lidl.hpp"
#include "child_process.hpp"

#include <crypto/crypto.hpp>
#include <hosted/remote/network_node.hpp>
#include <remote/envelope.hpp>
#include <remote/keys.hpp>
#include <remote/remote_backend.hpp>
#include <remote/replay.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <vector>

namespace amb::deploy_bench {
namespace {

namespace ar = amb::remote;
namespace hr = amb::hosted::remote;
using ar::byte_view;
using adder_client = deploy_schema::adder_client<ar::remote_backend<deploy_schema::adder>>;

class adder_impl final : public deploy_schema::adder {
public:
    task<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override { co_return a + b; }
};

std::uint64_t nanoseconds(const timespec& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(t.tv_nsec);
}

std::uint64_t process_cpu_ns() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return nanoseconds(now);
}

std::uint64_t nanoseconds(const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(t.tv_usec) * 1000u;
}

// Control messages (parent → child), each answered by one `control_reply`.
enum class command : std::uint32_t { begin_window = 1, end_window, verify, quit };

struct control_reply {
    std::uint32_t ok = 0;
    server_window window;
    verification_cost cost;
};

// The shared mapping: this header, then records of (u64 size, bytes padded to 8).
struct capture_header {
    // Set by the parent before each control message, cleared by the child once it took it: the
    // child's loop looks at this flag on every pass instead of asking the socket (a system call
    // per pass would be counted as the serving node's CPU time).
    std::atomic<std::uint32_t> pending{0};
    std::uint64_t count = 0;
    std::uint64_t used = 0; // bytes of records
};
constexpr std::size_t records_offset = 64;

bool send_all(int fd, const void* data, std::size_t size) {
    ssize_t sent;
    do {
        sent = ::send(fd, data, size, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent == static_cast<ssize_t>(size);
}

// One message of at most `size` bytes; false on error or when the peer has gone.
bool receive_message(int fd, void* data, std::size_t size, int flags = 0) {
    ssize_t got;
    do {
        got = ::recv(fd, data, size, flags);
    } while (got < 0 && errno == EINTR);
    return got > 0;
}

// The child's half: the serving node and what the control socket asks of it.
class serving_child final : public hosted::node::loop_source {
public:
    serving_child(int control, std::span<std::byte> capture, const caplets::secret_key& key)
        : control_(control), capture_(capture), key_(key) {}

    int run(std::chrono::microseconds spin) {
        auto udp = hosted::net::udp_transport::open({});
        if (!udp)
            return 3;
        const std::uint16_t own_port = (*udp)->local().port;
        std::uint16_t parent_port = 0;
        if (!send_all(control_, &own_port, sizeof own_port) ||
            !receive_message(control_, &parent_port, sizeof parent_port))
            return 4;
        net_.add_udp(std::move(*udp));
        ar::route_entry routes[] = {
            {"a", net_.add_udp_link(0, hosted::net::ipv4_endpoint::loopback(parent_port))}};
        ar::node_config config;
        config.name = "b";
        config.routes = routes;
        config.verification_key = &key_;
        if (!net_.start(config, &log_).has_value() ||
            !net_.node().export_service("adder", exported_))
            return 5;
        hosted::node::group_loop loop(spin);
        loop.add(net_);
        loop.add(*this);
        loop.run_until([&] { return quit_; });
        return failed_ ? 6 : 0;
    }

    // loop_source: the control socket, read when the shared flag says a message was sent (a
    // parent that dies without a quit message takes the child with it: PR_SET_PDEATHSIG).
    std::size_t progress() override {
        capture_header& header = *reinterpret_cast<capture_header*>(capture_.data());
        if (header.pending.load(std::memory_order_acquire) == 0)
            return 0;
        header.pending.store(0, std::memory_order_relaxed);
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
            window_cpu_ = process_cpu_ns();
            getrusage(RUSAGE_SELF, &window_usage_);
            window_requests_ = net_.node().counters().requests_accepted;
        } else if (what == command::end_window) {
            rusage usage{};
            const std::uint64_t cpu = process_cpu_ns();
            getrusage(RUSAGE_SELF, &usage);
            reply.window.cpu_ns = cpu - window_cpu_;
            reply.window.user_ns =
                nanoseconds(usage.ru_utime) - nanoseconds(window_usage_.ru_utime);
            reply.window.system_ns =
                nanoseconds(usage.ru_stime) - nanoseconds(window_usage_.ru_stime);
            reply.window.voluntary_switches =
                static_cast<std::uint64_t>(usage.ru_nvcsw - window_usage_.ru_nvcsw);
            reply.window.requests = net_.node().counters().requests_accepted - window_requests_;
        } else if (what == command::verify) {
            auto cost = verify();
            reply.ok = cost.has_value() ? 1 : 0;
            if (cost)
                reply.cost = *cost;
        } else {
            reply.ok = 0;
        }
        if (!send_all(control_, &reply, sizeof reply)) {
            failed_ = true;
            quit_ = true;
        }
        return 1;
    }
    bool prepare_sleep() override { return true; }
    void finish_sleep() override {}
    int wake_descriptor() const override { return control_; }

private:
    // CAPLets' part of serving each captured request, as node::handle_request does it: the token
    // parse and verify_request with a replay store that sees the requests in order and a verified
    // prefix (the caller's credential, remembered by its bytes), which also yields the holder tag.
    // The packets are copied and their envelopes parsed first, outside the timed pass.
    std::optional<verification_cost> verify() {
        const capture_header& header = *reinterpret_cast<const capture_header*>(capture_.data());
        if (header.used > capture_.size() - records_offset)
            return std::nullopt;
        std::vector<std::uint64_t> storage(header.used / 8 + 1);
        std::memcpy(storage.data(), capture_.data() + records_offset, header.used);
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(storage.data());
        std::vector<byte_view> tokens;
        tokens.reserve(header.count);
        std::size_t offset = 0;
        for (std::uint64_t i = 0; i < header.count; ++i) {
            std::uint64_t size = 0;
            std::memcpy(&size, bytes + offset, sizeof size);
            offset += 8;
            if (size > header.used - offset)
                return std::nullopt;
            auto packet = ar::parse_envelope({bytes + offset, size});
            if (!packet || packet->header->kind != ar::message_kind::request)
                return std::nullopt;
            tokens.push_back(packet->body);
            offset += (size + 7) / 8 * 8;
        }
        ar::bounded_sequence_store sequences(64);
        timespec wall{};
        clock_gettime(CLOCK_REALTIME, &wall);
        std::uint64_t verified = 0;
        std::uint8_t mix = 0;
        // As the serving node does (docs/remote.md, "Verified credentials"): the caller's
        // credential frames are verified once and remembered by their exact bytes; each request
        // then costs the request frame's HMAC, and verification hands back the holder tag.
        std::vector<std::uint8_t> prefix_storage(512);
        caplets::verified_prefix prefix(prefix_storage);
        const std::uint64_t start = process_cpu_ns();
        for (byte_view body : tokens) {
            auto token = caplets::token_view::parse(body);
            if (!token)
                continue;
            caplets::verify_context context;
            context.now = static_cast<std::uint64_t>(wall.tv_sec);
            context.sequences = &sequences;
            // As the node: the number is checked after verification and recorded right before
            // serving (docs/remote.md, "Replay").
            context.defer_sequences = true;
            context.audience = "b"; // as the node: requests name it
            context.prefix = &prefix;
            caplets::verification_details details;
            auto granted = caplets::verify_request(key_, *token, context, &details);
            if (!granted || !caplets::check_sequences(context, details) ||
                !caplets::commit_sequences(context, details))
                continue;
            mix ^= details.holder[0];
            ++verified;
        }
        const std::uint64_t spent = process_cpu_ns() - start;
        // The holder tags must be used: their bytes leave through a volatile store.
        *static_cast<volatile std::uint8_t*>(&holder_sink_) = mix;
        if (verified != header.count)
            return std::nullopt;
        return verification_cost{verified, spent};
    }

    int control_;
    std::span<std::byte> capture_;
    const caplets::secret_key& key_;
    // The log, the service and its export outlive the node (declared before it).
    hr::incident_log log_{"b"};
    adder_impl adder_;
    ar::lidl_export<deploy_schema::adder> exported_{adder_};
    hr::network_node net_;
    std::uint8_t holder_sink_ = 0;
    bool quit_ = false;
    bool failed_ = false;
    std::uint64_t window_cpu_ = 0;
    rusage window_usage_{};
    std::uint64_t window_requests_ = 0;
};

class udp_fixture final : public ambience_udp {
public:
    udp_fixture(int control, pid_t child, std::span<std::byte> capture, std::size_t spin_us,
                std::vector<std::uint64_t> credential)
        : control_(control), child_(child), capture_(capture),
          loop_(std::chrono::microseconds(spin_us)), credential_(std::move(credential)) {}

    ~udp_fixture() override {
        stop();
        ::munmap(capture_.data(), capture_.size());
    }

    std::optional<std::string> connect(std::size_t credential_size) {
        std::uint16_t child_port = 0;
        if (!receive_message(control_, &child_port, sizeof child_port))
            return "the child did not open its UDP socket";
        auto udp = hosted::net::udp_transport::open({});
        if (!udp)
            return "cannot open a UDP socket";
        const std::uint16_t own_port = (*udp)->local().port;
        if (!send_all(control_, &own_port, sizeof own_port))
            return "the child went away";
        net_.add_udp(std::move(*udp));
        routes_[0] = {"b", net_.add_udp_link(0, hosted::net::ipv4_endpoint::loopback(child_port))};
        credentials_[0] = {"b", byte_view{reinterpret_cast<const std::uint8_t*>(credential_.data()),
                                          credential_size}};
        ar::node_config config;
        config.name = "a";
        config.routes = routes_;
        config.credentials = credentials_;
        config.call_timeout = std::chrono::seconds(10);
        if (!net_.start(config, &log_).has_value())
            return "node a does not start";
        net_.tap = [this](ar::link_id, byte_view packet) { capture(packet); };
        loop_.add(net_);
        client_ = std::make_unique<adder_client>(net_.node(), "b", "adder");
        if (add(2, 3) != std::optional<std::uint64_t>(5))
            return "the first call was not answered with 5";
        return std::nullopt;
    }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        if (broken_)
            return std::nullopt;
        task<std::uint64_t> call = client_->add(a, b);
        call.start();
        if (!loop_.run_until([&] { return call.done(); }, std::chrono::seconds(10)) ||
            client_->backend().last_error()) {
            broken_ = true;
            return std::nullopt;
        }
        return call.take_result();
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        in_flight_.clear();
        for (const add_operands& operands : calls)
            in_flight_.push_back(client_->add(operands.a, operands.b));
        for (auto& call : in_flight_)
            call.start();
        const bool finished = loop_.run_until(
            [&] {
                for (auto& call : in_flight_)
                    if (!call.done())
                        return false;
                return true;
            },
            std::chrono::seconds(10));
        if (!finished || client_->backend().last_error())
            return fail();
        for (std::size_t i = 0; i < calls.size(); ++i)
            sums[i] = in_flight_[i].take_result();
        return true;
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        broken_ = true;
        const command quit = command::quit;
        header().pending.store(1, std::memory_order_release);
        send_all(control_, &quit, sizeof quit);
        ::close(control_);
        stopped_cleanly_ = ipc_anchors::reap(child_);
        return stopped_cleanly_;
    }

    pid_t child_pid() const override { return child_; }

    bool begin_window() override {
        header().count = 0;
        header().used = 0;
        capturing_ = true;
        return ask(command::begin_window).has_value();
    }

    std::optional<server_window> end_window() override {
        capturing_ = false;
        auto reply = ask(command::end_window);
        if (!reply)
            return std::nullopt;
        return reply->window;
    }

    std::optional<verification_cost> verify_captured() override {
        auto reply = ask(command::verify);
        if (!reply)
            return std::nullopt;
        return reply->cost;
    }

    std::size_t captured() const override {
        return static_cast<std::size_t>(
            reinterpret_cast<const capture_header*>(capture_.data())->count);
    }

private:
    capture_header& header() {
        return *std::launder(reinterpret_cast<capture_header*>(capture_.data()));
    }

    void capture(byte_view packet) {
        if (!capturing_)
            return;
        capture_header& h = header();
        const std::size_t record = 8 + (packet.size() + 7) / 8 * 8;
        if (h.used + record > capture_.size() - records_offset)
            return; // full: the verification uses the requests captured so far
        std::byte* at = capture_.data() + records_offset + h.used;
        const std::uint64_t size = packet.size();
        std::memcpy(at, &size, sizeof size);
        std::memcpy(at + 8, packet.data(), packet.size());
        h.used += record;
        ++h.count;
    }

    std::optional<control_reply> ask(command what) {
        control_reply reply;
        if (!broken_)
            header().pending.store(1, std::memory_order_release);
        if (broken_ || !send_all(control_, &what, sizeof what) ||
            !receive_message(control_, &reply, sizeof reply) || reply.ok != 1) {
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
    std::span<std::byte> capture_;
    hosted::node::group_loop loop_;
    std::vector<std::uint64_t> credential_;
    ar::route_entry routes_[1];
    ar::credential_entry credentials_[1];
    hr::incident_log log_{"a"};
    hr::network_node net_;
    std::unique_ptr<adder_client> client_;
    std::vector<task<std::uint64_t>> in_flight_;
    bool capturing_ = false;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started<ambience_udp> start_ambience_udp(const udp_options& options) {
    // Keys, as the deployment tool makes them: a fresh root, b's node key, a's credential for b.
    caplets::secret_key root;
    if (!crypto::random_bytes(root.bytes))
        return {nullptr, "no randomness for the deployment root"};
    const caplets::secret_key key_b = ar::node_verification_key(root, "b");
    std::vector<std::uint64_t> credential(512);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(credential.data()), credential.size() * 8});
    const ar::import_rights rights[] = {{"adder", {}}};
    auto minted = ar::mint_credential(root, "a", "b", rights, 0, out);
    if (!minted)
        return {nullptr, "cannot mint the credential a → b"};
    const std::size_t credential_size = minted->size();
    if (minted->data() != reinterpret_cast<const std::uint8_t*>(credential.data()))
        return {nullptr, "the credential was not written at the start of its buffer"};

    void* mapping = ::mmap(nullptr, options.capture_bytes, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        return {nullptr, "cannot map the capture buffer"};
    std::span<std::byte> capture(static_cast<std::byte*>(mapping), options.capture_bytes);
    new (mapping) capture_header;
    static_assert(sizeof(capture_header) <= records_offset);
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
        ::munmap(mapping, options.capture_bytes);
        return {nullptr, "socketpair failed"};
    }
    const auto spin = options.spin;
    const pid_t child = ipc_anchors::fork_serving([&] {
        ::close(ends[0]);
        serving_child serving(ends[1], capture, key_b);
        return serving.run(spin);
    });
    ::close(ends[1]);
    if (child < 0) {
        ::close(ends[0]);
        ::munmap(mapping, options.capture_bytes);
        return {nullptr, "fork failed"};
    }
    auto fixture = std::make_unique<udp_fixture>(
        ends[0], child, capture, static_cast<std::size_t>(spin.count()), std::move(credential));
    if (auto error = fixture->connect(credential_size))
        return {nullptr, *error};
    return {std::move(fixture), {}};
}

} // namespace amb::deploy_bench
