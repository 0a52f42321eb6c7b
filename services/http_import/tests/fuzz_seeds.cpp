// Writes the seed corpus of http_import.fuzz into the directory given as argument (byte 0 the
// procedure id, then the body), after checking the property on each seed and on every
// truncation of it, so that every preset runs the property too.
#include "answer_check.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: http_import_fuzz_seeds DIRECTORY\n");
        return 2;
    }
    std::error_code error;
    std::filesystem::create_directories(argv[1], error);
    if (error) {
        std::fprintf(stderr, "http_import_fuzz_seeds: %s\n", error.message().c_str());
        return 1;
    }
    int written = 0;
    for (const auto& [id, body] : http_import_fuzz::seeds()) {
        std::string input = std::string(1, static_cast<char>(id)) + body;
        for (std::size_t length = 1; length <= input.size(); ++length)
            http_import_fuzz::check_answer(
                {reinterpret_cast<const std::uint8_t*>(input.data()), length});
        std::string path = std::string(argv[1]) + "/seed" + std::to_string(written);
        std::FILE* file = std::fopen(path.c_str(), "wb");
        if (file == nullptr)
            return 1;
        bool ok = std::fwrite(input.data(), 1, input.size(), file) == input.size();
        if (std::fclose(file) != 0 || !ok)
            return 1;
        ++written;
    }
    std::fprintf(stderr, "http_import_fuzz_seeds: wrote %d seeds\n", written);
    return 0;
}
