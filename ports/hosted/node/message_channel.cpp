#include <hosted/node/message_channel.hpp>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace amb::hosted::node {

const char* describe(call_error e) {
    switch (e) {
    case call_error::too_large:
        return "the call does not fit: too large for a ring element and for the caller's "
               "shareable heap";
    case call_error::ring: return "the ring region rejected the call";
    case call_error::rejected: return "the serving group rejected the request";
    case call_error::bad_reply: return "the reply from the serving group is malformed";
    case call_error::peer_exited: return "the serving group exited before it replied";
    case call_error::timed_out: return "no reply from the serving group in time";
    case call_error::wait_failed: return "waiting for the reply failed";
    }
    return "unknown call error";
}

result<void, int> signal_event(int event) noexcept {
    const std::uint64_t one = 1;
    for (;;) {
        if (::write(event, &one, sizeof one) == static_cast<ssize_t>(sizeof one))
            return {};
        if (errno == EAGAIN)  // the counter is saturated: the peer is woken anyway
            return {};
        if (errno != EINTR)
            return failure{errno};
    }
}

namespace {

// Resets a non-blocking eventfd (a wake-up that is already pending is enough).
void drain_event(int event) noexcept {
    std::uint64_t count = 0;
    while (::read(event, &count, sizeof count) < 0 && errno == EINTR) {
    }
}

}  // namespace

result<void, int> wait_event(int event) noexcept {
    pollfd watched{event, POLLIN, 0};
    for (;;) {
        int ready = ::poll(&watched, 1, -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return failure{errno};
        drain_event(event);
        return {};
    }
}

result<message_caller, rings::error> message_caller::attach(const message_link& link,
                                                            std::chrono::milliseconds timeout) {
    auto region = rings::ring_region::attach(link.region);
    if (!region)
        return failure{region.error()};
    return message_caller(region->kernel(), link, timeout, region->sizes().payload_size);
}

message_caller::message_caller(rings::endpoint endpoint, const message_link& link,
                               std::chrono::milliseconds timeout, std::size_t payload_size)
    : endpoint_(endpoint),
      link_(link),
      timeout_(timeout),
      payload_size_(payload_size),
      request_(new std::uint64_t[payload_size / 8 + 1]()),
      reply_(new std::uint64_t[payload_size / 8 + 1]()) {}

result<std::span<const std::uint8_t>, call_error> message_caller::exchange(
    std::uint32_t procedure, std::span<const std::uint8_t> request) {
    if (broken_)
        return failure{broken_by_};
    if (request.size() > payload_size_)
        return failure{call_error::too_large};
    auto index = endpoint_.allocate();
    if (!index)  // one call at a time: an empty pool means the peer corrupted it
        return break_with(call_error::ring);
    auto element = endpoint_.element(*index);
    if (!element)
        return break_with(call_error::ring);
    const std::uint64_t cookie = next_cookie_++;
    element->header->kind = static_cast<std::uint16_t>(rings::element_kind::request);
    element->header->status = 0;
    element->header->procedure = procedure;
    element->header->payload_length = static_cast<std::uint32_t>(request.size());
    element->header->cookie = cookie;
    if (!request.empty())
        std::memcpy(element->payload.data(), request.data(), request.size());
    if (!endpoint_.submit(*index)) {
        (void)endpoint_.release(*index);
        return break_with(call_error::ring);
    }
    if (!signal_event(link_.request_event))
        return break_with(call_error::wait_failed);
    return wait_reply(*index, cookie);
}

result<std::span<const std::uint8_t>, call_error> message_caller::wait_reply(
    rings::element_index sent, std::uint64_t cookie) {
    bool peer_gone = false;
    for (;;) {
        auto polled = endpoint_.poll();
        if (!polled)
            return break_with(call_error::bad_reply);
        if (polled.value()) {
            if (**polled != sent)  // only one call is ever in flight
                return break_with(call_error::bad_reply);
            auto element = endpoint_.element(sent);
            if (!element)
                return break_with(call_error::bad_reply);
            // Copy the header fields out once; the peer may still write them.
            const std::uint16_t kind = element->header->kind;
            const std::uint16_t status = element->header->status;
            const std::uint32_t length = element->header->payload_length;
            const std::uint64_t reply_cookie = element->header->cookie;
            if (kind != static_cast<std::uint16_t>(rings::element_kind::response) ||
                reply_cookie != cookie || length > payload_size_)
                return break_with(call_error::bad_reply);
            std::memcpy(reply_.get(), element->payload.data(), length);
            if (!endpoint_.release(sent))
                return break_with(call_error::ring);
            if (status != 0)
                return failure{call_error::rejected};
            return std::span<const std::uint8_t>(reply_buffer().data(), length);
        }
        if (peer_gone)  // exited, and nothing was left in the ring
            return break_with(call_error::peer_exited);

        pollfd watched[2] = {{link_.reply_event, POLLIN, 0}, {link_.peer_exit, POLLIN, 0}};
        const nfds_t count = link_.peer_exit >= 0 ? 2 : 1;
        int ready = ::poll(watched, count, static_cast<int>(timeout_.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return break_with(call_error::wait_failed);
        if (ready == 0)
            return break_with(call_error::timed_out);
        if (watched[0].revents & (POLLERR | POLLNVAL))
            return break_with(call_error::wait_failed);
        if (watched[0].revents & POLLIN)
            drain_event(link_.reply_event);
        if (count == 2 && watched[1].revents != 0)
            peer_gone = true;  // look at the ring once more: the reply may have come first
    }
}

}  // namespace amb::hosted::node
