// Benchmark `crypto`: the cost of one HMAC-SHA256 with a fresh 32-byte key, the unit CAPLets
// verification is measured in, side by side with its anchors in the same run:
//   hmac_ours/N        amb::crypto::hmac_sha256::mac (OpenSSL backend), N-byte message
//   hmac_openssl/N     OpenSSL's one-shot HMAC()
//   hmac_mbedtls/N     mbedTLS's mbedtls_md_hmac() (Debian libmbedcrypto)
//   sha256_compress/K  K SHA-256 compressions (OpenSSL SHA256_Transform): the physical floor
// Every HMAC is keyed with the previous result, as in a tag chain, so the key is fresh each
// time and successive calls cannot overlap.
#define OPENSSL_API_COMPAT 0x10101000L  // SHA256_Transform for the compression floor

#include <crypto/crypto.hpp>

#include <benchmark/benchmark.h>
#include <mbedtls/md.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <vector>

namespace {

std::vector<std::uint8_t> message(std::int64_t size) {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return out;
}

void hmac_ours(benchmark::State& state) {
    std::vector<std::uint8_t> data = message(state.range(0));
    amb::crypto::sha256_digest tag{};
    for (auto _ : state) {
        tag = amb::crypto::hmac_sha256::mac(tag, data);
        benchmark::DoNotOptimize(tag);
    }
}

void hmac_openssl(benchmark::State& state) {
    std::vector<std::uint8_t> data = message(state.range(0));
    std::array<unsigned char, 32> tag{};
    for (auto _ : state) {
        unsigned int length = 0;
        HMAC(EVP_sha256(), tag.data(), static_cast<int>(tag.size()), data.data(), data.size(),
             tag.data(), &length);
        benchmark::DoNotOptimize(tag);
    }
}

void hmac_mbedtls(benchmark::State& state) {
    std::vector<std::uint8_t> data = message(state.range(0));
    std::array<unsigned char, 32> tag{};
    const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    for (auto _ : state) {
        mbedtls_md_hmac(info, tag.data(), tag.size(), data.data(), data.size(), tag.data());
        benchmark::DoNotOptimize(tag);
    }
}

void sha256_compress(benchmark::State& state) {
    SHA256_CTX context;
    SHA256_Init(&context);
    std::vector<std::uint8_t> block = message(64);
    const std::int64_t count = state.range(0);
    for (auto _ : state) {
        for (std::int64_t i = 0; i < count; ++i)
            SHA256_Transform(&context, block.data());
        benchmark::DoNotOptimize(context);
    }
}

void message_sizes(benchmark::internal::Benchmark* b) {
    for (int size : {16, 32, 48, 55, 64, 96, 128, 256, 512, 1024})
        b->Arg(size);
}

BENCHMARK(hmac_ours)->Apply(message_sizes);
BENCHMARK(hmac_openssl)->Apply(message_sizes);
BENCHMARK(hmac_mbedtls)->Apply(message_sizes);
BENCHMARK(sha256_compress)->Arg(1)->Arg(4)->Arg(5)->Arg(16);

}  // namespace

BENCHMARK_MAIN();
