// Writes the seed corpus of http_export.fuzz into the directory given as argument: one file per
// seed of json_call_check.hpp (byte 0 the procedure id, then the body).
#include "json_call_check.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: http_export_fuzz_seeds DIRECTORY\n");
        return 2;
    }
    std::error_code error;
    std::filesystem::create_directories(argv[1], error);
    if (error) {
        std::fprintf(stderr, "http_export_fuzz_seeds: %s\n", error.message().c_str());
        return 1;
    }
    int written = 0;
    for (const auto& [id, body] : http_export_fuzz::seeds()) {
        std::string path = std::string(argv[1]) + "/seed" + std::to_string(written);
        std::FILE* file = std::fopen(path.c_str(), "wb");
        if (file == nullptr)
            return 1;
        bool ok = std::fputc(id, file) != EOF &&
                  std::fwrite(body.data(), 1, body.size(), file) == body.size();
        if (std::fclose(file) != 0 || !ok)
            return 1;
        ++written;
    }
    std::fprintf(stderr, "http_export_fuzz_seeds: wrote %d seeds\n", written);
    return 0;
}
