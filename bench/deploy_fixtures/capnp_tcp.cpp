// The Cap'n Proto anchor of benchmark `deploy`: adder.capnp's Adder served by a forked child
// over one TCP connection on 127.0.0.1, capnp's two-party RPC on kj async io, as a Cap'n Proto
// user would set it up. The listening socket is made (and the connection accepted and connected)
// with plain sockets before either process has a KJ event loop; both ends set TCP_NODELAY, as
// KJ does for the connections it makes itself. Calls in flight are pipelined promises: all sent,
// then all awaited. The child stops when the parent's end of the connection closes.
#include "fixtures.hpp"

#include "adder.capnp.h"
#include "child_process.hpp"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/vector.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace amb::deploy_bench {
namespace {

class adder_server final : public Adder::Server {
protected:
    kj::Promise<void> add(AddContext context) override {
        auto params = context.getParams();
        context.getResults().setSum(params.getA() + params.getB());
        return kj::READY_NOW;
    }
};

bool no_delay(int fd) {
    int one = 1;
    return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// The child: accepts one connection and serves it until the parent closes it.
int serve(int listener) {
    int fd;
    do {
        fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    ::close(listener);
    if (fd < 0 || !no_delay(fd))
        return 3;
    kj::AsyncIoContext io = kj::setupAsyncIo();
    kj::Own<kj::AsyncIoStream> stream =
        io.lowLevelProvider->wrapSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    capnp::TwoPartyServer server(kj::heap<adder_server>());
    try {
        server.accept(*stream).wait(io.waitScope);
    } catch (const kj::Exception& exception) {
        if (exception.getType() != kj::Exception::Type::DISCONNECTED)
            return 1;
    }
    return 0;
}

class capnp_fixture final : public small_call {
public:
    capnp_fixture(int fd, pid_t child)
        : io_(kj::setupAsyncIo()), shutdown_fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)),
          connection_(kj::heap<connection>(io_, fd)), child_(child) {}

    ~capnp_fixture() noexcept override { stop(); }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        if (broken_)
            return std::nullopt;
        try {
            auto request = connection_->adder.addRequest();
            request.setA(a);
            request.setB(b);
            return request.send().wait(io_.waitScope).getSum();
        } catch (const kj::Exception&) {
            broken_ = true;
            return std::nullopt;
        }
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        try {
            kj::Vector<capnp::RemotePromise<Adder::AddResults>> answers(calls.size());
            for (const add_operands& operands : calls) {
                auto request = connection_->adder.addRequest();
                request.setA(operands.a);
                request.setB(operands.b);
                answers.add(request.send());
            }
            for (std::size_t i = 0; i < calls.size(); ++i)
                sums[i] = answers[i].wait(io_.waitScope).getSum();
            return true;
        } catch (const kj::Exception&) {
            return fail();
        }
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        broken_ = true;
        connection_ = nullptr;
        if (shutdown_fd_ >= 0) {
            ::shutdown(shutdown_fd_, SHUT_RDWR);
            ::close(shutdown_fd_);
        }
        stopped_cleanly_ = ipc_anchors::reap(child_);
        return stopped_cleanly_;
    }

    pid_t child_pid() const override { return child_; }

private:
    struct connection {
        connection(kj::AsyncIoContext& io, int fd)
            : stream(io.lowLevelProvider->wrapSocketFd(
                  fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP)),
              client(*stream), adder(client.bootstrap().castAs<Adder>()) {}

        kj::Own<kj::AsyncIoStream> stream;
        capnp::TwoPartyClient client;
        Adder::Client adder;
    };

    bool fail() {
        broken_ = true;
        return false;
    }

    kj::AsyncIoContext io_;
    int shutdown_fd_;
    kj::Own<connection> connection_;
    pid_t child_;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started<small_call> start_capnp_tcp() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0)
        return {nullptr, "socket failed"};
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(listener);
        return {nullptr, "cannot listen on 127.0.0.1"};
    }
    // Fork before this process sets up its own KJ event loop, which the child must not inherit.
    const pid_t child = ipc_anchors::fork_serving([&] { return serve(listener); });
    ::close(listener);
    if (child < 0)
        return {nullptr, "fork failed"};
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in server = loopback(ntohs(address.sin_port));
    int connected = -1;
    if (fd >= 0) {
        do {
            connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server);
        } while (connected != 0 && errno == EINTR);
    }
    if (connected != 0 || !no_delay(fd)) {
        if (fd >= 0)
            ::close(fd);
        ::kill(child, SIGKILL);
        ipc_anchors::reap(child);
        return {nullptr, "cannot connect to the child over TCP"};
    }
    try {
        auto fixture = std::make_unique<capnp_fixture>(fd, child);
        if (fixture->add(2, 3) != std::optional<std::uint64_t>(5))
            return {nullptr, "the first call was not answered with 5"};
        return {std::move(fixture), {}};
    } catch (const kj::Exception& exception) {
        ::shutdown(fd, SHUT_RDWR);
        ipc_anchors::reap(child);
        return {nullptr,
                std::string("Cap'n Proto setup failed: ") + exception.getDescription().cStr()};
    }
}

} // namespace amb::deploy_bench
