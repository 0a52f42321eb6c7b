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

bytes data_datagram(std::uint32_t sequence, std::uint16_t index, std::uint16_t count,
                    std::uint32_t length, const bytes& payload) {
    using namespace amb::net;
    bytes out(data_header_size + payload.size() + datagram_trailer_size);
    out[0] = datagram_magic;
    out[1] = datagram_version;
    out[2] = static_cast<std::uint8_t>(datagram_kind::data);
    write_u32(out, 4, 7);
    write_u32(out, 8, sequence);
    write_u32(out, 12, length);
    write_u16(out, 16, index);
    write_u16(out, 18, count);
    write_u16(out, 20, 16);
    std::copy(payload.begin(), payload.end(), out.begin() + data_header_size);
    std::size_t body = out.size() - datagram_trailer_size;
    write_u32(out, body, crc32(std::span<const std::uint8_t>(out).first(body)));
    return out;
}

bytes ack_datagram(std::uint8_t status, std::uint16_t count, std::uint8_t bits) {
    using namespace amb::net;
    bytes out(ack_header_size + (status == 0 ? 1 : 0) + datagram_trailer_size);
    out[0] = datagram_magic;
    out[1] = datagram_version;
    out[2] = static_cast<std::uint8_t>(datagram_kind::ack);
    write_u32(out, 4, 0x2222);
    write_u32(out, 8, 1);
    out[12] = status;
    write_u16(out, 13, count);
    if (status == 0)
        out[15] = bits;
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
    for (const bytes& datagram : {data_datagram(1, 0, 2, 20, bytes(16, 1)),
                                  data_datagram(1, 1, 2, 20, bytes(4, 2)), ack_datagram(0, 7, 0x05),
                                  ack_datagram(1, 0, 0), data_datagram(1, 1, 2, 20, bytes(4, 2))}) {
        joined.insert(joined.end(), datagram.begin(), datagram.end());
        joined.push_back(0xff);
        joined.push_back(0xfe);
    }
    write_file(directory / "datagrams", joined);
    return 0;
}
