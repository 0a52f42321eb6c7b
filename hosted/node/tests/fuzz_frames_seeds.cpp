// Writes the seed corpus of the frame fuzzer into the directory given as argument: valid frames
// of several probe procedures (inline views and heap views), each prefixed by its procedure id.
#include <groups/marshal.hpp>

#include "probe.lidl.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using namespace amb::groups;
using node_test::probe;

template <std::uint32_t Id>
bool write_seed(const std::string& dir, const typename probe::lidl_procedure<Id>::params& params,
                heap_view heap, int n) {
    std::array<std::uint64_t, 64> storage{};
    frame_writer out{{reinterpret_cast<std::byte*>(storage.data()), sizeof storage}, 0, heap, {}, 0};
    std::size_t length = 0;
    if (!static_marshal<typename probe::lidl_procedure<Id>::fields>::write(params, out, length))
        return false;
    std::string path = dir + "/seed" + std::to_string(n);
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr)
        return false;
    const std::uint8_t id = Id;
    bool ok = std::fwrite(&id, 1, 1, file) == 1 &&
              std::fwrite(storage.data(), 1, length, file) == length;
    return std::fclose(file) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: hosted_node_fuzz_frames_seeds DIRECTORY\n");
        return 2;
    }
    std::string dir = argv[1];
    if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0)
        return 1;
    alignas(64) static std::array<std::uint8_t, 4096> heap_bytes{};
    heap_view heap{reinterpret_cast<const std::byte*>(heap_bytes.data()), heap_bytes.size()};
    const std::uint8_t bytes[] = {1, 2, 3, 4, 5};
    const std::uint32_t values[] = {7, 8};
    node_test::point p{1, 2};
    bool ok = write_seed<0>(dir, {1, -1, true, node_test::mode::doubled, 2.0}, {}, 0) &&
              write_seed<1>(dir, {std::span<const std::uint8_t>(bytes)}, {}, 1) &&
              write_seed<1>(dir, {std::span<const std::uint8_t>(heap_bytes.data() + 64, 512)},
                            heap, 2) &&
              write_seed<3>(dir, {"hello", nullptr}, {}, 3) &&
              write_seed<4>(dir, {&p, 3, 4}, {}, 4) &&
              write_seed<5>(dir, {std::span<const std::uint32_t>(values)}, {}, 5);
    return ok ? 0 : 1;
}
