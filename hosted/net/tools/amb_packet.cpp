// amb_packet: crafts and reads the packets of Ambience's links from the real protocol code, so
// that tests in other languages (deploy/synth/e2e_test.py) never carry a copy of a wire format.
// Bytes go in and out as lowercase hex, one packet per line.
//
//     amb_packet datagram SESSION MESSAGE_HEX   a reliable datagram (docs/net.md, "Datagram
//                                               links") holding MESSAGE as the first and only
//                                               message (sequence 1) of session SESSION
//     amb_packet decode                         reads hex datagrams from standard input, one per
//                                               line, and writes one JSON object per line: the
//                                               fields and payload of a data datagram, or
//                                               {"error": REASON} for what an endpoint drops
//     amb_packet hello FROM TO                  the first message of a TCP link from node FROM
//                                               to node TO, length-prefixed (docs/deploy.md)
//     amb_packet frame MESSAGE_HEX              MESSAGE length-prefixed for a TCP link
//     amb_packet prefix LENGTH                  a length prefix announcing LENGTH bytes alone
//
// Exit status: 0, or 2 for a usage error or bad hex.
#include <hosted/net/tcp_transport.hpp>
#include <net/length_prefixed.hpp>
#include <net/reliable_datagram.hpp>

#include <nlohmann/json.hpp>
#include <text.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using bytes = std::vector<std::uint8_t>;
using caplets::text::from_hex;
using caplets::text::to_hex;

int usage() {
    std::fputs("usage: amb_packet datagram SESSION MESSAGE_HEX | decode | hello FROM TO |"
               " frame MESSAGE_HEX | prefix LENGTH\n",
               stderr);
    return 2;
}

std::optional<unsigned long long> number(const char* text) {
    char* end = nullptr;
    unsigned long long value = std::strtoull(text, &end, 0);
    if (*text == '\0' || *end != '\0')
        return std::nullopt;
    return value;
}

bytes framed(std::span<const std::uint8_t> message) {
    const auto prefix = amb::net::encode_length_prefix(message.size());
    bytes out(prefix.size() + message.size());
    std::copy(prefix.begin(), prefix.end(), out.begin());
    std::copy(message.begin(), message.end(), out.begin() + prefix.size());
    return out;
}

int datagram(const char* session_text, const char* message_hex) {
    auto session = number(session_text);
    auto message = from_hex(message_hex);
    if (!session || *session > 0xffffffffu || !message || message->size() > 0xffffu)
        return usage();
    amb::net::data_fields fields;
    fields.session = static_cast<std::uint32_t>(*session);
    fields.sequence = 1;
    fields.base = 1; // nothing before the first message
    fields.length = static_cast<std::uint32_t>(message->size());
    fields.count = 1;
    fields.chunk = static_cast<std::uint16_t>(message->empty() ? 1 : message->size());
    bytes out(amb::net::data_overhead + message->size());
    out.resize(amb::net::encode_data_datagram(fields, *message, out));
    std::cout << to_hex(out) << '\n';
    return 0;
}

int decode() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto datagram = from_hex(line);
        if (!datagram)
            return usage();
        nlohmann::ordered_json out;
        auto decoded = amb::net::decode_data_datagram(*datagram);
        if (!decoded) {
            out["error"] = amb::net::to_string(decoded.error());
        } else {
            const amb::net::data_fields& fields = decoded->fields;
            out = {{"session", fields.session}, {"sequence", fields.sequence},
                   {"length", fields.length},   {"index", fields.index},
                   {"count", fields.count},     {"chunk", fields.chunk},
                   {"base", fields.base},       {"payload", to_hex(decoded->payload)},
                   {"ack_body", to_hex(decoded->ack_body)}};
        }
        std::cout << out.dump() << '\n';
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "datagram" && argc == 4)
        return datagram(argv[2], argv[3]);
    if (command == "decode" && argc == 2)
        return decode();
    if (command == "hello" && argc == 4) {
        std::string hello = amb::hosted::net::tcp_hello(argv[2], argv[3]);
        std::cout << to_hex(framed({reinterpret_cast<const std::uint8_t*>(hello.data()),
                                    hello.size()}))
                  << '\n';
        return 0;
    }
    if (command == "frame" && argc == 3) {
        auto message = from_hex(argv[2]);
        if (!message)
            return usage();
        std::cout << to_hex(framed(*message)) << '\n';
        return 0;
    }
    if (command == "prefix" && argc == 3) {
        auto length = number(argv[2]);
        if (!length || *length > 0xffffffffu)
            return usage();
        std::cout << to_hex(amb::net::encode_length_prefix(*length)) << '\n';
        return 0;
    }
    return usage();
}
