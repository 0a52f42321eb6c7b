// sensor_server: the pipeline example's temperature sensor behind the HTTP exporter, as the
// external service the imported_sensor deployment imports (deploy/synth/e2e_test.py).
//
//     sensor_server [PORT]      (default 0: a free port)
//
// Prints `url http://127.0.0.1:PORT/sensor` and `token cap1_...` (a capability token for every
// procedure of the export, minted with a random origin key, valid for an hour), then serves
// until SIGTERM or SIGINT.
#include <http_export/exporter.hpp>

#include "sensor.lidl.json.hpp"
#include "sensor_impl.hpp"

#include <caplets/caplets.hpp>
#include <crypto/crypto.hpp>
#include <text.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace {

using namespace amb;

volatile std::sig_atomic_t interrupted = 0;

std::string mint_token(const caplets::secret_key& key) {
    caplets::frame_spec spec;
    spec.add_service("sensor", {}, true);
    spec.add_expires(static_cast<std::uint64_t>(std::time(nullptr)) + 3600);
    std::vector<std::uint64_t> frame_storage(128), token_storage(256);
    lidl::builder frame_out({reinterpret_cast<std::uint8_t*>(frame_storage.data()), 1024});
    lidl::builder token_out({reinterpret_cast<std::uint8_t*>(token_storage.data()), 2048});
    auto frame = spec.write(frame_out);
    if (!frame)
        return {};
    auto token = caplets::mint(key, *frame, token_out);
    return token ? caplets::text::token_to_text(*token) : std::string();
}

} // namespace

int main(int argc, char** argv) {
    long port = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 0;
    if (argc > 2 || port < 0 || port > 65535) {
        std::fprintf(stderr, "usage: sensor_server [PORT]\n");
        return 2;
    }
    caplets::secret_key key;
    if (!crypto::random_bytes(key.bytes)) {
        std::fprintf(stderr, "sensor_server: no randomness for the origin key\n");
        return 1;
    }
    auto driver = http_export::io_driver::create();
    if (!driver) {
        std::fprintf(stderr, "sensor_server: cannot create the event loop driver\n");
        return 1;
    }
    event_loop loop(**driver);
    // The probe of examples/pipeline/services.py, so that the import answers as a sensor
    // instance would.
    demo::pipeline::sensor_impl sensor(demo::pipeline::sensor_config{20.0, 0.5, 5});
    http_export::local_target<demo::pipeline::temperature_sensor> target(sensor);
    http_export::options settings;
    settings.port = static_cast<std::uint16_t>(port);
    http_export::exporter server(loop, **driver, key, settings);
    if (auto added = server.add("sensor",
                                http_export::interface_of<demo::pipeline::temperature_sensor>(),
                                target);
        !added) {
        std::fprintf(stderr, "sensor_server: %s\n", http_export::describe(added.error()));
        return 1;
    }
    if (auto started = server.start(); !started) {
        std::fprintf(stderr, "sensor_server: %s\n", started.error().c_str());
        return 1;
    }
    std::printf("url http://127.0.0.1:%u/sensor\ntoken %s\n", server.port(),
                mint_token(key).c_str());
    std::fflush(stdout);

    std::signal(SIGINT, [](int) { interrupted = 1; });
    std::signal(SIGTERM, [](int) { interrupted = 1; });
    // The driver retries epoll_wait on EINTR: a timer wakes the loop to look at the flag.
    struct tick : loop_work {
        explicit tick(event_loop& l) : loop_work(&run), loop(l) {}
        static void run(loop_work& work) noexcept {
            auto& self = static_cast<tick&>(work);
            if (interrupted == 0)
                self.loop.run_at(self, self.loop.now() + std::chrono::milliseconds(100));
        }
        event_loop& loop;
    } ticker(loop);
    loop.run_at(ticker, loop.now() + std::chrono::milliseconds(100));
    while (interrupted == 0)
        loop.run_once();
    loop.cancel(ticker);
    server.stop();
    return 0;
}
