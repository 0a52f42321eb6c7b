#include <hosted/net/transport.hpp>

#include <time.h>

namespace amb::hosted::net {

std::string ipv4_endpoint::to_string() const {
    return std::to_string(address >> 24) + "." + std::to_string(address >> 16 & 0xff) + "." +
           std::to_string(address >> 8 & 0xff) + "." + std::to_string(address & 0xff) + ":" +
           std::to_string(port);
}

const char* to_string(transport_error error) noexcept {
    switch (error) {
    case transport_error::message_too_large:
        return "message too large";
    case transport_error::queue_full:
        return "send queue full";
    case transport_error::closed:
        return "connection closed";
    case transport_error::too_many_peers:
        return "too many peers";
    }
    return "unknown transport error";
}

loop_clock::time_point monotonic_now() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return loop_clock::time_point(std::chrono::seconds(now.tv_sec) +
                                  std::chrono::nanoseconds(now.tv_nsec));
}

} // namespace amb::hosted::net
