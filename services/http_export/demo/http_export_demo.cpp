// http_export_demo: exports an averager over HTTP for trying the exporter by hand.
//
//     http_export_demo [PORT [KEYFILE]]   (default 8080; 0 picks a free port)
//
// Prints the URL, a freshly minted token and curl commands, then serves until interrupted
// (Ctrl-C). The origin key is random for each run (tokens of earlier runs are dead), or read
// from KEYFILE (64 hex characters, as `caplets keygen` writes), so that more tokens, request
// tokens among them, can be made with the `caplets` command (docs/http-export.md).
#include <http_export/exporter.hpp>

#include "averager.lidl.description.hpp"
#include "averager.lidl.json.hpp"

#include <caplets/caplets.hpp>
#include <crypto/crypto.hpp>
#include <text.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace amb;

class averager_service final : public demo::averager {
public:
    lidl::completion<std::uint64_t> add(std::span<const double> samples) override {
        for (double sample : samples)
            sum_ += sample;
        count_ += samples.size();
        co_return count_;
    }
    lidl::completion<double> average() override {
        co_return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
    }
    lidl::completion<void> reset() override {
        sum_ = 0;
        count_ = 0;
        co_return {};
    }

private:
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

volatile std::sig_atomic_t interrupted = 0;

// A token for every procedure of the export, valid for a day.
std::string mint_token(const caplets::secret_key& key) {
    caplets::frame_spec spec;
    spec.add_service("averager", {}, true);
    spec.add_expires(static_cast<std::uint64_t>(std::time(nullptr)) + 24 * 3600);
    std::vector<std::uint64_t> frame_storage(128), token_storage(256);
    lidl::builder frame_out({reinterpret_cast<std::uint8_t*>(frame_storage.data()), 1024});
    lidl::builder token_out({reinterpret_cast<std::uint8_t*>(token_storage.data()), 2048});
    auto frame = spec.write(frame_out);
    if (!frame)
        return {};
    auto token = caplets::mint(key, *frame, token_out);
    return token ? caplets::text::token_to_text(*token) : std::string();
}

// Reads a key file written by `caplets keygen`.
bool read_key(const char* path, caplets::secret_key& key) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    std::string hex = text.str();
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back())))
        hex.pop_back();
    auto bytes = caplets::text::from_hex(hex);
    if (!file || !bytes || bytes->size() != key.bytes.size())
        return false;
    std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
    return true;
}

} // namespace

int main(int argc, char** argv) {
    long port = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 8080;
    if (argc > 3 || port < 0 || port > 65535) {
        std::fprintf(stderr, "usage: http_export_demo [PORT [KEYFILE]]\n");
        return 2;
    }
    caplets::secret_key key;
    if (argc == 3 && !read_key(argv[2], key)) {
        std::fprintf(stderr, "http_export_demo: %s does not hold a key (64 hex characters)\n",
                     argv[2]);
        return 1;
    }
    if (argc < 3 && !crypto::random_bytes(key.bytes)) {
        std::fprintf(stderr, "http_export_demo: no randomness for the origin key\n");
        return 1;
    }
    auto driver = http_export::io_driver::create();
    if (!driver) {
        std::fprintf(stderr, "http_export_demo: cannot create the event loop driver\n");
        return 1;
    }
    event_loop loop(**driver);
    averager_service averager;
    http_export::options settings;
    settings.port = static_cast<std::uint16_t>(port);
    http_export::exporter server(loop, **driver, key, settings);
    if (auto added = server.add_local("averager", averager, lidl_descriptions::averager); !added) {
        std::fprintf(stderr, "http_export_demo: %s\n", http_export::describe(added.error()));
        return 1;
    }
    if (auto started = server.start(); !started) {
        std::fprintf(stderr, "http_export_demo: %s\n", started.error().c_str());
        return 1;
    }
    std::string url = "http://127.0.0.1:" + std::to_string(server.port());
    std::string token = mint_token(key);
    std::printf("serving %s/averager\ntoken (all procedures, 24 h): %s\n\n", url.c_str(),
                token.c_str());
    std::printf("  curl -H 'Authorization: Bearer %s' %s/averager\n", token.c_str(), url.c_str());
    std::printf("  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
                "-d '{\"samples\": [1, 2, 4.5]}' %s/averager/add\n",
                token.c_str(), url.c_str());
    std::printf("  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
                "-d '{}' %s/averager/average\n\n",
                token.c_str(), url.c_str());
    std::fflush(stdout);

    std::signal(SIGINT, [](int) { interrupted = 1; });
    std::signal(SIGTERM, [](int) { interrupted = 1; });
    // A signal interrupts epoll_wait, but the driver retries on EINTR; a timer wakes the loop
    // to look at the flag. TODO(port): a signalfd watched by the loop instead of polling.
    struct tick : loop_work {
        explicit tick(event_loop& l) : loop_work(&run), loop(l) {}
        static void run(loop_work& work) noexcept {
            auto& self = static_cast<tick&>(work);
            if (interrupted == 0)
                self.loop.run_at(self, self.loop.now() + std::chrono::milliseconds(200));
        }
        event_loop& loop;
    } ticker(loop);
    loop.run_at(ticker, loop.now() + std::chrono::milliseconds(200));
    while (interrupted == 0)
        loop.run_once();
    loop.cancel(ticker);
    server.stop();
    std::printf("stopped\n");
    return 0;
}
