// The pipe baseline of benchmark `ipc` (parts 1 and 2): lidl calls serialised exactly as
// Ambience's *user* strategy serialises them (the generated codec's encode_call, decode_call,
// encode_reply, decode_reply), carried over two pipes to a forked child instead of through a
// channel. So the difference between this and the user strategy is the transport alone.
//
//     auto pipe = lidl_pipe::start<ipc_bench::calls, calls_service>();   // forks the child
//     ipc_bench::calls::add_params params{40, 2};
//     lidl::slot<std::uint64_t> result;
//     if (pipe->call<ipc_bench::calls, add_id>(params, result)) use(result.take().value());
//     pipe->stop();                                                       // or the destructor
//
// Wire: a request is an 8-byte header (procedure id, message length; host order) and the call
// message; a reply is a 4-byte length (0: the child could not answer) and the reply message.
// The child copies each message into an 8-byte aligned private buffer, decodes (verifies) it,
// runs the implementation (which must complete without suspending: the child has no event loop)
// and encodes the reply. Messages up to max_message_bytes. Both pipes are enlarged to
// pipe_bytes (1 MiB, fcntl F_SETPIPE_SZ) as a pipe user moving 1 MiB messages would: with the
// default 64 KiB a 1 MiB message takes sixteen wake-ups of the reader.
//
// Errors: start gives nullptr when pipe2, the enlargement or fork fails. A call that cannot be encoded, a broken
// pipe, a child that died or a reply that does not decode makes call return false; the pipe is
// then broken (every later call fails). Benchmark code: one thread, exceptions allowed inside.
#pragma once

#include "child_process.hpp"

#include <lidl/builder.hpp>
#include <lidl/service.hpp>

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace amb::ipc_anchors {

class lidl_pipe {
public:
    // The largest call or reply message (a 1 MiB buffer and its framing).
    static constexpr std::size_t max_message_bytes = (std::size_t{1} << 20) + 4096;
    static constexpr std::uint32_t stop_procedure = UINT32_MAX;
    // Capacity of each pipe (Linux's default /proc/sys/fs/pipe-max-size for unprivileged users).
    static constexpr int pipe_bytes = 1 << 20;

    struct request_header {
        std::uint32_t procedure;
        std::uint32_t length;
    };

    // Forks a child that serves S on a default-constructed Implementation.
    template <class S, class Implementation>
    static std::unique_ptr<lidl_pipe> start() {
        return start_child([](int requests, int replies) {
            Implementation implementation;
            return serve<S>(implementation, requests, replies);
        });
    }

    lidl_pipe(const lidl_pipe&) = delete;
    lidl_pipe& operator=(const lidl_pipe&) = delete;
    ~lidl_pipe();

    // Calls procedure Id with `params`; on success `result` holds the answer.
    template <class S, std::uint32_t Id>
    bool call(const typename S::template lidl_procedure<Id>::params& params,
              lidl::slot<typename S::template lidl_procedure<Id>::result>& result) {
        if (broken_)
            return false;
        lidl::builder message(words(send_));
        if (!S::lidl_codec::encode_call(Id, &params, message) || message.failed())
            return fail();
        std::span<const std::uint8_t> reply;
        if (!exchange(Id, message.written(), reply))
            return false;
        if (!S::lidl_codec::decode_reply(Id, reply, &params, result.address()))
            return fail();
        return true;
    }

    // Tells the child to stop and reaps it; true when it exited with status 0. Idempotent.
    bool stop();
    pid_t child_pid() const { return child_; }
    // Capacity in bytes of the request and the reply pipe (F_GETPIPE_SZ; -1 once stopped).
    std::pair<int, int> pipe_capacities() const;

private:
    lidl_pipe(int requests, int replies, pid_t child);

    template <class Serve>
    static std::unique_ptr<lidl_pipe> start_child(Serve serve_function) {
        int requests[2];
        int replies[2];
        if (!open_pipes(requests, replies))
            return nullptr;
        const pid_t child = fork_serving([&] {
            close_descriptor(requests[1]);
            close_descriptor(replies[0]);
            return serve_function(requests[0], replies[1]);
        });
        close_descriptor(requests[0]);
        close_descriptor(replies[1]);
        if (child < 0) {
            close_descriptor(requests[1]);
            close_descriptor(replies[0]);
            return nullptr;
        }
        return std::unique_ptr<lidl_pipe>(new lidl_pipe(requests[1], replies[0], child));
    }

    static bool open_pipes(int (&requests)[2], int (&replies)[2]);
    static void close_descriptor(int fd);
    static std::span<std::uint8_t> words(std::vector<std::uint64_t>& buffer) {
        return {reinterpret_cast<std::uint8_t*>(buffer.data()), buffer.size() * 8};
    }

    // The child's side: reads one request into `request`; false at the stop request (stop set)
    // or on error.
    static bool receive(int requests, std::vector<std::uint64_t>& request,
                        request_header& header, bool& stop);
    static bool send_reply(int replies, std::span<const std::uint8_t> reply);

    template <class S, std::uint32_t Id>
    static std::span<const std::uint8_t> answer(S& implementation,
                                                std::span<const std::uint8_t> message,
                                                lidl::builder& response, lidl::builder& spare) {
        using procedure = typename S::template lidl_procedure<Id>;
        typename procedure::params params{};
        lidl::slot<typename procedure::result> result;
        if (!S::lidl_codec::decode_call(Id, message, &params, &response))
            return {};
        auto work = S::lidl_dispatch::execute(implementation, Id, &params, result.address());
        work.start();
        if (!work.done() || result.failed())
            return {};
        return S::lidl_codec::encode_reply(Id, result.address(), response, spare);
    }

    template <class S, std::uint32_t... Ids>
    static std::span<const std::uint8_t> dispatch(S& implementation, std::uint32_t procedure,
                                                  std::span<const std::uint8_t> message,
                                                  lidl::builder& response, lidl::builder& spare,
                                                  std::integer_sequence<std::uint32_t, Ids...>) {
        std::span<const std::uint8_t> reply;
        (void)((procedure == Ids &&
                (reply = answer<S, Ids>(implementation, message, response, spare), true)) ||
               ...);
        return reply;
    }

    template <class S>
    static int serve(S& implementation, int requests, int replies) {
        const std::size_t words_needed = max_message_bytes / 8 + 1;
        std::vector<std::uint64_t> request(words_needed), response(words_needed),
            spare(words_needed);
        for (;;) {
            request_header header{};
            bool stop = false;
            if (!receive(requests, request, header, stop))
                return stop ? 0 : 1;
            lidl::builder response_builder(words(response));
            lidl::builder spare_builder(words(spare));
            auto reply = dispatch(implementation, header.procedure,
                                  words(request).first(header.length), response_builder,
                                  spare_builder,
                                  std::make_integer_sequence<std::uint32_t,
                                                             S::lidl_procedure_count>{});
            if (!send_reply(replies, reply))
                return 1;
        }
    }

    bool exchange(std::uint32_t procedure, std::span<const std::uint8_t> message,
                  std::span<const std::uint8_t>& reply);
    bool fail();

    int requests_;
    int replies_;
    pid_t child_;
    std::vector<std::uint64_t> send_;
    std::vector<std::uint64_t> receive_;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

}  // namespace amb::ipc_anchors
