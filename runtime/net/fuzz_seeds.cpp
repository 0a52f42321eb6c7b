// Writes seed inputs for the net fuzzers (fuzz_xbee, fuzz_datagram) into the directory given
// as the only argument: valid encodings, so that fuzzing starts from deep inside the parsers.
#include <net/byte_order.hpp>
#include <net/crc32.hpp>
#include <net/reliable_datagram.hpp>
#include <net/xbee_message.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using bytes = std::vector<std::uint8_t>;

void write_file(const std::filesystem::path& path, const bytes& content) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()),
               static_cast<std::streamsize>(content.size()));
}

bytes xbee_line(std::size_t message_size) {
    amb::net::xbee::message_sender sender(64);
    bytes message(message_size);
    for (std::size_t i = 0; i < message_size; ++i)
        message[i] = static_cast<std::uint8_t>(i * 31);
    bytes line(8 * amb::net::xbee::max_encoded_size(64) * (message_size / 49 + 1));
    std::size_t at = 0;
    (void)sender.begin(message);
    while (!sender.finished())
        at += *sender.next_frame(std::span<std::uint8_t>(line).subspan(at));
    line.resize(at);
    return line;
}

// A version 2 data datagram (16-byte chunks, session 7), optionally carrying an ack body.
bytes data_datagram(std::uint32_t sequence, std::uint16_t index, std::uint16_t count,
                    std::uint32_t length, const bytes& payload, std::uint32_t base,
                    const bytes& ack = {}) {
    using namespace amb::net;
    data_fields fields;
    fields.session = 7;
    fields.sequence = sequence;
    fields.length = length;
    fields.index = index;
    fields.count = count;
    fields.chunk = 16;
    fields.base = base;
    bytes out(data_overhead + payload.size() + ack.size());
    out.resize(encode_data_datagram(fields, payload, out, ack));
    return out;
}

// An ack body for the fuzz target's session 0x2222: expected sequence, then (delta, status)
// entries; a partial entry for 7 fragments with bitmap `bits` when `partial`.
bytes ack_body(std::uint32_t expected, std::uint8_t status, std::int16_t delta, bool partial,
               std::uint8_t bits) {
    using namespace amb::net;
    bytes out(ack_body_header_size + 3 + (partial ? 3 : 0));
    write_u32(out, 0, 0x2222);
    write_u32(out, 4, expected);
    out[8] = 1;
    write_u16(out, 9, static_cast<std::uint16_t>(delta));
    out[11] = status;
    if (partial) {
        write_u16(out, 12, 7);
        out[14] = bits;
    }
    return out;
}

bytes ack_datagram(const bytes& ack) {
    using namespace amb::net;
    bytes out{datagram_magic, datagram_version, static_cast<std::uint8_t>(datagram_kind::ack), 0};
    out.insert(out.end(), ack.begin(), ack.end());
    out.resize(out.size() + datagram_trailer_size);
    std::size_t body = out.size() - datagram_trailer_size;
    write_u32(out, body, crc32(std::span<const std::uint8_t>(out).first(body)));
    return out;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIRECTORY\n", argv[0]);
        return 2;
    }
    std::filesystem::path directory(argv[1]);
    std::filesystem::create_directories(directory);
    // Seeds for both targets share one corpus directory (amb_add_fuzzer gives each target its
    // own directory named after it; the seeds writer fills whichever it is given).
    write_file(directory / "xbee_empty", xbee_line(0));
    write_file(directory / "xbee_one", xbee_line(40));
    write_file(directory / "xbee_three", xbee_line(130));
    // Datagrams are joined with 0xff 0xfe separators (see fuzz_datagram.cpp).
    bytes joined;
    for (const bytes& datagram :
         {data_datagram(2, 0, 1, 3, bytes(3, 3), 1), data_datagram(1, 0, 2, 20, bytes(16, 1), 1),
          data_datagram(1, 1, 2, 20, bytes(4, 2), 1), ack_datagram(ack_body(1, 0, 0, true, 0x05)),
          data_datagram(3, 0, 1, 1, bytes(1, 4), 2, ack_body(1, 1, 1, false, 0)),
          ack_datagram(ack_body(2, 2, -1, false, 0)), data_datagram(1, 1, 2, 20, bytes(4, 2), 1),
          data_datagram(9, 0, 1, 1, bytes(1, 5), 5)}) {
        joined.insert(joined.end(), datagram.begin(), datagram.end());
        joined.push_back(0xff);
        joined.push_back(0xfe);
    }
    write_file(directory / "datagrams", joined);
    // Issue 12, hole 8: a message, then one whose base is 2^31 - 1 past the next expected
    // sequence number. It once cost 2^31 loop steps (minutes in this build); every fuzz run
    // replays it under libFuzzer's per-input -timeout, so a regression fails the run.
    bytes far_base;
    for (std::uint32_t sequence : {1u, 2u + 0x7fffffffu}) {
        amb::net::data_fields fields;
        fields.session = 7;
        fields.sequence = fields.base = sequence;
        fields.length = fields.count = fields.chunk = 1; // one fragment of one byte
        bytes datagram(amb::net::data_overhead + 1);
        datagram.resize(amb::net::encode_data_datagram(fields, bytes{6}, datagram));
        far_base.insert(far_base.end(), datagram.begin(), datagram.end());
        far_base.push_back(0xff);
        far_base.push_back(0xfe);
    }
    write_file(directory / "datagrams_far_base", far_base);
    return 0;
}
