// Writes the seed corpus of the lidl verifier fuzzer into the directory given as argument:
// valid messages of each root type the fuzz target checks, and call messages of `calculator`
// for the generated serve it also runs.
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
    {
        lidl::builder out(buffer.bytes());
        lidl_test::calculator::concat_params concat{"left", "right", nullptr};
        ok = ok && lidl_test::calculator::lidl_codec::encode_call(1, &concat, out) &&
             write(dir + "/concat_call", out.written());
    }
    {
        lidl::builder out(buffer.bytes());
        const std::uint32_t values[] = {1, 2, 3};
        lidl_test::calculator::sum_params sum{values};
        ok = ok && lidl_test::calculator::lidl_codec::encode_call(2, &sum, out) &&
             write(dir + "/sum_call", out.written());
    }
    {
        lidl::builder out(buffer.bytes());
        lidl_test::calculator::make_node_params make{"n", 3, nullptr};
        ok = ok && lidl_test::calculator::lidl_codec::encode_call(5, &make, out) &&
             write(dir + "/make_node_call", out.written());
    }
    std::fprintf(stderr, "lidl_fuzz_seeds: %s\n", ok ? "wrote 7 seeds" : "failed");
    return ok ? 0 : 1;
}
