// The pipe anchor of benchmark `ipc`: the same calls as the shared-memory floor, serialised as
// length-prefixed bytes through two pipes. A request is an 8-byte header (operation, body length,
// both 32-bit in host order) and its body: the payload of an echo, or a and b (64-bit each) of an
// add. An answer is a 4-byte body length and its body: the echoed payload, or the 64-bit sum.
// The child reads through a buffer, so calls written back to back cost it one read between them.
#include "anchors.hpp"

#include "child_process.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace amb::ipc_anchors {
namespace {

enum class operation : std::uint32_t { echo, add, stop };

struct request_header {
    operation op;
    std::uint32_t length;
};

struct add_request {
    request_header header;
    std::uint64_t a;
    std::uint64_t b;
};

// An add's answer as it lies in the pipe: length, then the sum (unaligned, hence bytes).
inline constexpr std::size_t add_answer_size = sizeof(std::uint32_t) + sizeof(std::uint64_t);

std::span<const std::uint8_t> bytes_of(const auto& value) {
    return {reinterpret_cast<const std::uint8_t*>(&value), sizeof value};
}

// The child's side of the request pipe: whole reads served from a buffer, bodies larger than the
// buffer read straight into their destination.
class buffered_reader {
public:
    explicit buffered_reader(int fd) : fd_(fd), buffer_(64 * 1024) {}

    bool read_exact(std::span<std::uint8_t> out) {
        const std::size_t buffered = std::min(out.size(), end_ - begin_);
        std::memcpy(out.data(), buffer_.data() + begin_, buffered);
        begin_ += buffered;
        out = out.subspan(buffered);
        if (out.empty())
            return true;
        if (out.size() >= buffer_.size())
            return ipc_anchors::read_exact(fd_, out);
        while (end_ - begin_ < out.size()) {
            if (begin_ == end_)
                begin_ = end_ = 0;
            const ssize_t got = read(fd_, buffer_.data() + end_, buffer_.size() - end_);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return false;
            end_ += static_cast<std::size_t>(got);
        }
        std::memcpy(out.data(), buffer_.data() + begin_, out.size());
        begin_ += out.size();
        return true;
    }

private:
    int fd_;
    std::vector<std::uint8_t> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

int serve(int request_fd, int response_fd) {
    buffered_reader in(request_fd);
    std::vector<std::uint8_t> body(max_payload_bytes);
    for (;;) {
        request_header header;
        if (!in.read_exact({reinterpret_cast<std::uint8_t*>(&header), sizeof header}))
            return 1;
        if (header.op == operation::stop)
            return 0;
        // Input from another process: checked, not trusted.
        if (header.length > max_payload_bytes)
            return 1;
        std::span<std::uint8_t> request_body(body.data(), header.length);
        if (!in.read_exact(request_body))
            return 1;
        if (header.op == operation::echo) {
            const std::array<std::span<const std::uint8_t>, 2> answer{bytes_of(header.length),
                                                                      request_body};
            if (!write_all(response_fd, answer))
                return 1;
            continue;
        }
        if (header.op != operation::add || header.length != 2 * sizeof(std::uint64_t))
            return 1;
        std::uint64_t a;
        std::uint64_t b;
        std::memcpy(&a, body.data(), sizeof a);
        std::memcpy(&b, body.data() + sizeof a, sizeof b);
        const std::uint64_t sum = a + b;
        const std::uint32_t length = sizeof sum;
        const std::array<std::span<const std::uint8_t>, 2> answer{bytes_of(length), bytes_of(sum)};
        if (!write_all(response_fd, answer))
            return 1;
    }
}

class pipe_anchor final : public anchor {
public:
    pipe_anchor(int request_fd, int response_fd, pid_t child)
        : request_fd_(request_fd), response_fd_(response_fd), child_(child) {}

    ~pipe_anchor() override { stop(); }

    std::string_view name() const override { return "pipe"; }

    bool round_trip(std::span<const std::uint8_t> payload, std::span<std::uint8_t> echo) override {
        if (broken_ || payload.size() > max_payload_bytes || echo.size() != payload.size())
            return fail();
        const request_header header{operation::echo, static_cast<std::uint32_t>(payload.size())};
        const std::array<std::span<const std::uint8_t>, 2> request{bytes_of(header), payload};
        if (!write_all(request_fd_, request))
            return fail();
        std::uint32_t length = 0;
        if (!read_exact(response_fd_, {reinterpret_cast<std::uint8_t*>(&length), sizeof length}) ||
            length != payload.size() || !read_exact(response_fd_, echo))
            return fail();
        return true;
    }

    std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) override {
        std::uint64_t sum = 0;
        const add_operands call{a, b};
        if (!add_in_flight({&call, 1}, {&sum, 1}))
            return std::nullopt;
        return sum;
    }

    bool add_in_flight(std::span<const add_operands> calls,
                       std::span<std::uint64_t> sums) override {
        if (broken_ || calls.size() > max_in_flight || sums.size() != calls.size())
            return fail();
        // All requests in one write, all answers in one read (when the kernel hands them over
        // together): what a client batching its calls would do.
        std::array<add_request, max_in_flight> requests;
        for (std::size_t i = 0; i < calls.size(); ++i)
            requests[i] = {{operation::add, 2 * sizeof(std::uint64_t)}, calls[i].a, calls[i].b};
        const std::array<std::span<const std::uint8_t>, 1> request{
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(requests.data()),
                                          calls.size() * sizeof(add_request))};
        if (!write_all(request_fd_, request))
            return fail();
        std::array<std::uint8_t, max_in_flight * add_answer_size> answers;
        if (!read_exact(response_fd_, {answers.data(), calls.size() * add_answer_size}))
            return fail();
        for (std::size_t i = 0; i < calls.size(); ++i) {
            const std::uint8_t* answer = answers.data() + i * add_answer_size;
            std::uint32_t length;
            std::memcpy(&length, answer, sizeof length);
            if (length != sizeof(std::uint64_t))
                return fail();
            std::memcpy(&sums[i], answer + sizeof length, sizeof sums[i]);
        }
        return true;
    }

    bool stop() override {
        if (stopped_)
            return stopped_cleanly_;
        stopped_ = true;
        broken_ = true;
        const request_header header{operation::stop, 0};
        const std::array<std::span<const std::uint8_t>, 1> request{bytes_of(header)};
        write_all(request_fd_, request);
        // Closing first also ends a child that missed the stop: it reads end of file.
        close(request_fd_);
        close(response_fd_);
        stopped_cleanly_ = reap(child_);
        return stopped_cleanly_;
    }

    int child_pid() const override { return child_; }

private:
    bool fail() {
        broken_ = true;
        return false;
    }

    int request_fd_;
    int response_fd_;
    pid_t child_;
    bool broken_ = false;
    bool stopped_ = false;
    bool stopped_cleanly_ = false;
};

} // namespace

started start_pipe() {
    int requests[2];
    int responses[2];
    if (pipe2(requests, O_CLOEXEC) != 0)
        return {nullptr, "pipe2 failed"};
    if (pipe2(responses, O_CLOEXEC) != 0) {
        close(requests[0]);
        close(requests[1]);
        return {nullptr, "pipe2 failed"};
    }
    const pid_t child = fork_serving([&] {
        close(requests[1]);
        close(responses[0]);
        return serve(requests[0], responses[1]);
    });
    close(requests[0]);
    close(responses[1]);
    if (child < 0) {
        close(requests[1]);
        close(responses[0]);
        return {nullptr, "fork failed"};
    }
    return {std::make_unique<pipe_anchor>(requests[1], responses[0], child), {}};
}

} // namespace amb::ipc_anchors
