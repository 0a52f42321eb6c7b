// libFuzzer target: arbitrary line bytes into the XBee frame decoder and message reassembly.
// Every complete message must fit the storage, and counters must account for every frame.
#include <net/xbee_message.hpp>

#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static std::uint8_t frame_storage[255];
    static std::uint8_t message_storage[4096];
    amb::net::xbee::message_receiver receiver(frame_storage, message_storage);
    std::span<const std::uint8_t> input(data, size);
    // The first byte picks a chunk size, so that chunk boundaries are fuzzed too.
    std::size_t chunk = input.empty() ? 1 : 1 + input[0] % 64;
    std::size_t messages = 0;
    while (!input.empty()) {
        std::span<const std::uint8_t> piece =
            input.first(chunk < input.size() ? chunk : input.size());
        input = input.subspan(piece.size());
        while (!piece.empty()) {
            auto step = receiver.feed(piece);
            if (step.consumed == 0 || step.consumed > piece.size())
                std::abort();
            piece = piece.subspan(step.consumed);
            if (step.message) {
                if (step.message->size() > sizeof message_storage)
                    std::abort();
                ++messages;
            }
        }
    }
    if (receiver.counters().messages != messages)
        std::abort();
    return 0;
}
