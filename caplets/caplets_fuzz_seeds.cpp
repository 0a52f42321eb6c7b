// Writes valid tokens (binary and text) as the seed corpus of the CAPLets fuzzer.
#include <caplets/caplets.hpp>

#include "text.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

bool write(const std::string& path, const void* data, std::size_t size) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr)
        return false;
    bool ok = std::fwrite(data, 1, size, file) == size;
    return std::fclose(file) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: caplets_fuzz_seeds DIRECTORY\n");
        return 2;
    }
    std::string dir = argv[1];
    if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0)
        return 1;
    caplets::secret_key key;
    key.bytes.fill(7);
    std::vector<std::uint64_t> a(4096), b(4096), c(4096);
    auto span_of = [](std::vector<std::uint64_t>& v) {
        return std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(v.data()), v.size() * 8);
    };
    caplets::frame_spec root;
    root.add_root();
    lidl::builder frame_out(span_of(a));
    lidl::builder token_out(span_of(b));
    auto minted = caplets::mint(key, *root.write(frame_out), token_out);
    auto parent = caplets::token_view::parse(*minted);
    caplets::frame_spec child;
    child.add_path("/home/alice", caplets::rights::read);
    child.add_expires(5000);
    const std::uint8_t net[4] = {10, 0, 0, 0};
    child.add_endpoint(net, 8);
    child.add_sequence(3);
    lidl::builder child_frame(span_of(a));
    lidl::builder derived_out(span_of(c));
    auto derived = caplets::derive(*parent, *child.write(child_frame), derived_out);
    bool ok = minted && derived && write(dir + "/root", minted->data(), minted->size()) &&
              write(dir + "/derived", derived->data(), derived->size());
    std::string text = caplets::text::token_to_text(*derived);
    ok = ok && write(dir + "/derived.txt", text.data(), text.size());
    std::fprintf(stderr, "caplets_fuzz_seeds: %s\n", ok ? "wrote 3 seeds" : "failed");
    return ok ? 0 : 1;
}
