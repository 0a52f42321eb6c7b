// libFuzzer target: arbitrary datagrams into a reliable_endpoint that has messages in flight
// (a window of 4). The input is split into datagrams at 0xff 0xfe marks; CRCs are made valid on
// every other datagram so that the parser behind the CRC check gets exercised. Checks: delivered
// messages are never larger than the maximum, datagrams never exceed the MTU, receive buffers
// stay within their bound, and no invariant assertion fires.
#include <net/byte_order.hpp>
#include <net/crc32.hpp>
#include <net/reliable_datagram.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace amb::net;
    reliable_config config;
    config.mtu = data_overhead + 16;
    config.max_message_size = 256;
    config.session = 0x2222;
    config.window = 4;
    config.buffer_size = 512;
    static std::vector<std::uint8_t> storage(reliable_endpoint::storage_size(config));
    reliable_endpoint endpoint(config, storage);
    amb::loop_clock::time_point now{};
    std::uint8_t message[100] = {};
    (void)endpoint.send(message, now);
    (void)endpoint.send(std::span<const std::uint8_t>(message, 10), now);
    const std::size_t receive_bound = 2 * config.max_message_size + 512 + 4;
    std::vector<std::uint8_t> out(config.mtu);

    std::size_t start = 0;
    std::size_t index = 0;
    for (std::size_t at = 0; at <= size; ++at) {
        bool end = at == size || (at + 1 < size && data[at] == 0xff && data[at + 1] == 0xfe);
        if (!end)
            continue;
        std::vector<std::uint8_t> datagram(data + start, data + at);
        if (index++ % 2 == 1 && datagram.size() >= datagram_trailer_size) {
            std::size_t body = datagram.size() - datagram_trailer_size;
            write_u32(datagram, body, crc32(std::span<const std::uint8_t>(datagram).first(body)));
        }
        (void)endpoint.on_datagram(datagram, now);
        while (auto delivered = endpoint.receive())
            if (delivered->size() > config.max_message_size)
                std::abort();
        if (endpoint.receive_buffer_in_use() > receive_bound)
            std::abort();
        now += std::chrono::milliseconds(50);
        while (true) {
            auto polled = endpoint.poll(now, out);
            if (polled.datagram_size > config.mtu)
                std::abort();
            if (!polled.datagram_size && !polled.completed)
                break;
        }
        start = at + 2;
    }
    return 0;
}
