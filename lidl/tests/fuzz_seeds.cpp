// Writes the seed corpus of the lidl verifier fuzzer into the directory given as argument:
// valid messages of each root type the fuzz target checks.
#include "test_messages.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

bool write(const std::string& path, std::span<const std::uint8_t> bytes) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr)
        return false;
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    return std::fclose(file) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: lidl_fuzz_seeds DIRECTORY\n");
        return 2;
    }
    std::string dir = argv[1];
    std::string make = "mkdir -p '" + dir + "'";
    if (std::system(make.c_str()) != 0)
        return 1;
    lidl_test::aligned_buffer buffer(1 << 16);
    bool ok = true;
    {
        lidl::builder out(buffer.bytes());
        ok = ok && lidl_test::build_everything(out) != nullptr && write(dir + "/everything", out.written());
    }
    {
        lidl::builder out(buffer.bytes());
        ok = ok && out.create_root<lidl_test::everything>() != nullptr && write(dir + "/empty", out.written());
    }
    {
        lidl::builder out(buffer.bytes());
        ok = ok && lidl_test::build_chain(out, 10) != nullptr && write(dir + "/chain", out.written());
    }
    {
        lidl::builder out(buffer.bytes());
        lidl_test::shape* s = out.create_root<lidl_test::shape>();
        lidl_test::node* tree = s != nullptr ? s->set_tree(out) : nullptr;
        ok = ok && tree != nullptr && out.set(tree->name, "t") && write(dir + "/shape", out.written());
    }
    std::fprintf(stderr, "lidl_fuzz_seeds: %s\n", ok ? "wrote 4 seeds" : "failed");
    return ok ? 0 : 1;
}
