// The transport of the pipe baseline (lidl_pipe.hpp): pipes, the framing and the child's reads.
#include "lidl_pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace amb::ipc_anchors {

namespace {

std::span<const std::uint8_t> bytes_of(const auto& value) {
    return {reinterpret_cast<const std::uint8_t*>(&value), sizeof value};
}

} // namespace

lidl_pipe::lidl_pipe(int requests, int replies, pid_t child)
    : requests_(requests), replies_(replies), child_(child), send_(max_message_bytes / 8 + 1),
      receive_(max_message_bytes / 8 + 1) {}

lidl_pipe::~lidl_pipe() {
    stop();
}

bool lidl_pipe::open_pipes(int (&requests)[2], int (&replies)[2]) {
    if (pipe2(requests, O_CLOEXEC) != 0)
        return false;
    if (pipe2(replies, O_CLOEXEC) != 0) {
        close(requests[0]);
        close(requests[1]);
        return false;
    }
    if (fcntl(requests[1], F_SETPIPE_SZ, pipe_bytes) < pipe_bytes ||
        fcntl(replies[1], F_SETPIPE_SZ, pipe_bytes) < pipe_bytes) {
        for (int fd : {requests[0], requests[1], replies[0], replies[1]})
            close(fd);
        return false;
    }
    return true;
}

void lidl_pipe::close_descriptor(int fd) {
    close(fd);
}

std::pair<int, int> lidl_pipe::pipe_capacities() const {
    if (stopped_)
        return {-1, -1};
    return {fcntl(requests_, F_GETPIPE_SZ), fcntl(replies_, F_GETPIPE_SZ)};
}

bool lidl_pipe::receive(int requests, std::vector<std::uint64_t>& request, request_header& header,
                        bool& stop) {
    if (!read_exact(requests, {reinterpret_cast<std::uint8_t*>(&header), sizeof header}))
        return false;
    if (header.procedure == stop_procedure) {
        stop = true;
        return false;
    }
    if (header.length > max_message_bytes)
        return false;
    return read_exact(requests, words(request).first(header.length));
}

bool lidl_pipe::send_reply(int replies, std::span<const std::uint8_t> reply) {
    const auto length = static_cast<std::uint32_t>(reply.size());
    const std::span<const std::uint8_t> parts[] = {bytes_of(length), reply};
    return write_all(replies, parts);
}

bool lidl_pipe::exchange(std::uint32_t procedure, std::span<const std::uint8_t> message,
                         std::span<const std::uint8_t>& reply) {
    const request_header header{procedure, static_cast<std::uint32_t>(message.size())};
    const std::span<const std::uint8_t> parts[] = {bytes_of(header), message};
    if (!write_all(requests_, parts))
        return fail();
    std::uint32_t length = 0;
    if (!read_exact(replies_, {reinterpret_cast<std::uint8_t*>(&length), sizeof length}) ||
        length == 0 || length > max_message_bytes)
        return fail();
    std::span<std::uint8_t> in = words(receive_).first(length);
    if (!read_exact(replies_, in))
        return fail();
    reply = in;
    return true;
}

bool lidl_pipe::fail() {
    broken_ = true;
    return false;
}

bool lidl_pipe::stop() {
    if (stopped_)
        return stopped_cleanly_;
    stopped_ = true;
    const request_header header{stop_procedure, 0};
    const std::span<const std::uint8_t> parts[] = {bytes_of(header)};
    (void)write_all(requests_, parts);
    close(requests_);
    stopped_cleanly_ = reap(child_);
    close(replies_);
    broken_ = true;
    return stopped_cleanly_;
}

} // namespace amb::ipc_anchors
