// The Cap'n Proto anchor of benchmark `ipc`: echo.capnp's Echo served by a forked child over a
// Unix socketpair with capnp's two-party RPC on kj async io, as a Cap'n Proto user would set it
// up. Calls in flight are pipelined promises: all sent, then all awaited. The child stops when
// the parent's end of the connection goes away.
#include "anchors.hpp"

#include "child_process.hpp"

#include "echo.capnp.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/vector.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace amb::ipc_anchors {
namespace {

class echo_server final : public Echo::Server {
protected:
    kj::Promise<void> echo(EchoContext context) override {
        capnp::Data::Reader data = context.getParams().getData();
        context.getResults().setData(data);
        return kj::READY_NOW;
    }

    kj::Promise<void> add(AddContext context) override {
        auto params = context.getParams();
        context.getResults().setSum(params.getA() + params.getB());
        return kj::READY_NOW;
    }
};

// The child: serves one connection until the parent's end closes. Runs in a freshly forked
// process, which has no KJ event loop yet (see anchors.hpp on threading).
int serve(int fd) {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    kj::Own<kj::AsyncIoStream> stream =
        io.lowLevelProvider->wrapSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    capnp::TwoPartyServer server(kj::heap<echo_server>());
    try {
        server.accept(*stream).wait(io.waitScope);
    } catch (const kj::Exception& exception) {
        // The parent closing its end is the stop signal, however the transport reports it.
        if (exception.getType() != kj::Exception::Type::DISCONNECTED)
            return 1;
    }
    return 0;
}

class capnp_anchor final : public anchor {
public:
    capnp_anchor(int fd, pid_t child)
        : io_(kj::setupAsyncIo()), shutdown_fd_(fcntl(fd, F_DUPFD_CLOEXEC, 0)),
          connection_(kj::heap<connection>(io_, fd)), child_(child) {}

    // noexcept although KJ destructors are not: an exception here would be a KJ bug.
    ~capnp_anchor() noexcept override { stop(); }

    std::string_view name() const override { return "capnp"; }

    bool round_trip(std::span<const std::uint8_t> payload, std::span<std::uint8_t> echo) override {
        if (broken_ || payload.size() > max_payload_bytes || echo.size() != payload.size())
            return fail();
        try {
            auto request = connection_->echo.echoRequest();
            request.setData(kj::arrayPtr(payload.data(), payload.size()));
            auto response = request.send().wait(io_.waitScope);
            capnp::Data::Reader data = response.getData();
            if (data.size() != echo.size())
                return fail();
            std::memcpy(echo.data(), data.begin(), data.size());
            return true;
        } catch (const kj::Exception&) {
            return fail();
        }
    }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        if (broken_)
            return std::nullopt;
        try {
            auto request = connection_->echo.addRequest();
            request.setA(a);
            request.setB(b);
            return request.send().wait(io_.waitScope).getSum();
        } catch (const kj::Exception&) {
            fail();
            return std::nullopt;
        }
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        try {
            kj::Vector<capnp::RemotePromise<Echo::AddResults>> answers(calls.size());
            for (const add_operands& operands : calls) {
                auto request = connection_->echo.addRequest();
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
        // Dropping the connection closes this process's descriptor; shutting the socket down
        // through the duplicate also reaches a child when another forked process holds a copy.
        connection_ = nullptr;
        if (shutdown_fd_ >= 0) {
            shutdown(shutdown_fd_, SHUT_RDWR);
            close(shutdown_fd_);
        }
        stopped_cleanly_ = reap(child_);
        return stopped_cleanly_;
    }

    int child_pid() const override { return child_; }

private:
    // This end of the RPC connection; destroyed before the event loop it runs on.
    struct connection {
        connection(kj::AsyncIoContext& io, int fd)
            : stream(io.lowLevelProvider->wrapSocketFd(
                  fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP)),
              client(*stream), echo(client.bootstrap().castAs<Echo>()) {}

        kj::Own<kj::AsyncIoStream> stream;
        capnp::TwoPartyClient client;
        Echo::Client echo;
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

started start_capnp_rpc() {
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        return {nullptr, "socketpair failed"};
    // Fork before this process sets up its own KJ event loop, which the child must not inherit.
    const pid_t child = fork_serving([&] {
        close(ends[0]);
        return serve(ends[1]);
    });
    close(ends[1]);
    if (child < 0) {
        close(ends[0]);
        return {nullptr, "fork failed"};
    }
    try {
        return {std::make_unique<capnp_anchor>(ends[0], child), {}};
    } catch (const kj::Exception& exception) {
        // Shut down rather than closed: the failed constructor may already have closed the
        // descriptor it took. Either way the child sees its connection end.
        shutdown(ends[0], SHUT_RDWR);
        reap(child);
        return {nullptr,
                std::string("Cap'n Proto setup failed: ") + exception.getDescription().cStr()};
    }
}

} // namespace amb::ipc_anchors
