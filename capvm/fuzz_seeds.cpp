// Writes the seed corpus of capvm_fuzz_evaluate: compiled example policies and hand-written
// programs, each prefixed with the 16 context bytes the fuzz target reads first.
// Usage: capvm_fuzz_seeds DIRECTORY
#include <capvm/assembler.hpp>
#include <capvm/policy.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fputs("usage: capvm_fuzz_seeds DIRECTORY\n", stderr);
        return 2;
    }
    std::filesystem::create_directories(argv[1]);
    const char* policies[] = {
        "now() < 1767225600",
        "now() >= 1735689600 && now() < 1767225600 && endpoint() in 10.0.0.0/8 && battery() >= 20",
        "weekday(now()) < 5 && hour(now()) >= 9 || sensor(2) > 10",
        "size(frame(-1)) > 4 && u32(capability(0, 0), 0) == 7 && capabilities(0) >= frames()",
    };
    const char* programs[] = {
        "lis r1, 5\nloop: subi r1, 1\nbnz r1, loop\ncall sub\naccept\nsub: ret",
        "lis r1, 0\ntsel frame, r1, r1\nli r2, 8\nlis r3, 0\ntcpy r3, r3, r2\nld64 r4, r3, 0\nhalt r4",
        "li r1, 63\nst8 r1, r1, 0\nld8 r2, r1, 0\nvcallx r3, sensor, r2, 1\nhalt r3",
    };
    int written = 0;
    auto write = [&](const std::vector<std::uint8_t>& code) {
        // A time in 2025, battery 50, endpoint 10.0.0.1, a token of one frame (fuzz_evaluate.cpp).
        std::vector<std::uint8_t> input = {0x68, 0x4b, 0x4e, 0, 0, 0, 0, 50, 10, 0, 0, 1, 0, 0, 0, 1};
        for (std::uint8_t byte : code)
            input.push_back(byte);
        std::ofstream out(std::string(argv[1]) + "/seed" + std::to_string(written++), std::ios::binary);
        out.write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
    };
    for (const char* policy : policies)
        write(*amb::capvm::compile_policy(policy));
    for (const char* program : programs)
        write(*amb::capvm::assemble(program));
    std::printf("%d seeds\n", written);
    return 0;
}
