// The REST side of benchmark `deploy`: the adder exported over HTTP (services/http_export) by a
// forked child on 127.0.0.1, a capability token for it, and a minimal HTTP client to check the
// answer before `wrk` runs. The child serves on its own event loop (the demo's setup,
// services/http_export/demo) until SIGTERM.
#include "fixtures.hpp"

#include "adder.lidl.json.hpp"
#include "child_process.hpp"

#include <caplets/caplets.hpp>
#include <crypto/crypto.hpp>
#include <http_export/exporter.hpp>
#include <text.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <vector>

namespace amb::deploy_bench {
namespace {

class adder_impl final : public deploy_schema::adder {
public:
    lidl::completion<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        co_return a + b;
    }
};

volatile std::sig_atomic_t terminated = 0;

// A capability token for every procedure of `adder`, valid for an hour.
std::string mint_token(const caplets::secret_key& key) {
    caplets::frame_spec spec;
    spec.add_service("adder", {}, true);
    spec.add_expires(static_cast<std::uint64_t>(std::time(nullptr)) + 3600);
    std::vector<std::uint64_t> frame_storage(128), token_storage(256);
    lidl::builder frame_out({reinterpret_cast<std::uint8_t*>(frame_storage.data()), 1024});
    lidl::builder token_out({reinterpret_cast<std::uint8_t*>(token_storage.data()), 2048});
    auto frame = spec.write(frame_out);
    if (!frame)
        return {};
    auto token = caplets::mint(key, *frame, token_out);
    return token ? caplets::text::token_to_text(*token) : std::string();
}

// The child: serves until SIGTERM; writes its port to `report` once it listens.
int serve(const caplets::secret_key& key, int report) {
    std::signal(SIGTERM, [](int) { terminated = 1; });
    auto driver = http_export::io_driver::create();
    if (!driver)
        return 3;
    event_loop loop(**driver);
    adder_impl adder;
    http_export::exporter server(loop, **driver, key, http_export::options{});
    if (!server.add_local("adder", adder) || !server.start())
        return 4;
    const std::uint16_t port = server.port();
    if (::write(report, &port, sizeof port) != sizeof port)
        return 5;
    ::close(report);
    // The driver retries epoll_wait after EINTR: a timer wakes the loop to look at the flag.
    struct tick : loop_work {
        explicit tick(event_loop& l) : loop_work(&run), loop(l) {}
        static void run(loop_work& work) noexcept {
            auto& self = static_cast<tick&>(work);
            if (terminated == 0)
                self.loop.run_at(self, self.loop.now() + std::chrono::milliseconds(100));
        }
        event_loop& loop;
    } ticker(loop);
    loop.run_at(ticker, loop.now() + std::chrono::milliseconds(100));
    while (terminated == 0)
        loop.run_once();
    loop.cancel(ticker);
    server.stop();
    return 0;
}

class rest_fixture final : public rest_export {
public:
    rest_fixture(pid_t child, std::uint16_t port, std::string token)
        : child_(child), port_(port), token_(std::move(token)) {}
    ~rest_fixture() override { stop(); }

    std::uint16_t port() const override { return port_; }
    const std::string& token() const override { return token_; }

    std::optional<std::uint64_t> server_cpu_ns() const override {
        clockid_t clock;
        timespec now{};
        if (stopped_ || ::clock_getcpuclockid(child_, &clock) != 0 || ::clock_gettime(clock, &now))
            return std::nullopt;
        return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
               static_cast<std::uint64_t>(now.tv_nsec);
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        ::kill(child_, SIGTERM);
        stopped_cleanly_ = ipc_anchors::reap(child_);
        return stopped_cleanly_;
    }

    pid_t child_pid() const override { return child_; }

private:
    pid_t child_;
    std::uint16_t port_;
    std::string token_;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started<rest_export> start_rest_export() {
    caplets::secret_key key;
    if (!crypto::random_bytes(key.bytes))
        return {nullptr, "no randomness for the origin key"};
    std::string token = mint_token(key);
    if (token.empty())
        return {nullptr, "cannot mint the token"};
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0)
        return {nullptr, "pipe failed"};
    const pid_t child = ipc_anchors::fork_serving([&] {
        ::close(report[0]);
        return serve(key, report[1]);
    });
    ::close(report[1]);
    if (child < 0) {
        ::close(report[0]);
        return {nullptr, "fork failed"};
    }
    std::uint16_t port = 0;
    const bool reported =
        ipc_anchors::read_exact(report[0], {reinterpret_cast<std::uint8_t*>(&port), sizeof port});
    ::close(report[0]);
    auto fixture = std::make_unique<rest_fixture>(child, port, std::move(token));
    if (!reported)
        return {nullptr, "the HTTP export did not start"};
    auto answer = http_post(port, "/adder/add", fixture->token(), R"({"a": 2, "b": 3})");
    if (!answer || answer->status != 200 || answer->body != R"({"result":5})")
        return {nullptr, "POST /adder/add was not answered 200 {\"result\":5}"};
    return {std::move(fixture), {}};
}

std::optional<http_answer> http_post(std::uint16_t port, std::string_view path,
                                     std::string_view bearer_token, std::string_view json) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return std::nullopt;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string request = "POST " + std::string(path) +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                          "Content-Type: application/json\r\nAuthorization: Bearer " +
                          std::string(bearer_token) +
                          "\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" +
                          std::string(json);
    std::string response;
    bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
              ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                  static_cast<ssize_t>(request.size());
    while (ok) {
        char buffer[4096];
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            ok = got == 0;
            break;
        }
        response.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    const std::size_t head_end = response.find("\r\n\r\n");
    int status = 0;
    if (!ok || head_end == std::string::npos ||
        std::sscanf(response.c_str(), "HTTP/1.%*d %d", &status) != 1)
        return std::nullopt;
    return http_answer{status, response.substr(head_end + 4)};
}

} // namespace amb::deploy_bench
