// Cortex-M4 smoke image: CAPLets on the microcontroller. Mints a root token, derives a path
// capability with constraints and a request, verifies the request (granted) and a widened,
// an expired and a tampered one (each refused with the expected check), all with the mbedTLS
// backend and no heap, then reports over UART0 and exits through semihosting.
#include <base/platform.hpp>
#include <caplets/caplets.hpp>
#include <ports/cortex_m/semihosting.hpp>

#include <cstdio>
#include <cstring>
#include <optional>

namespace {

alignas(8) std::uint8_t frame_buffer[1024];
alignas(8) std::uint8_t tokens[4][2048];

int failures = 0;

void report(bool passed, const char* what) {
    char line[160];
    std::snprintf(line, sizeof line, "%s %s\n", passed ? "PASS" : "FAIL", what);
    amb::port::write_console(line);
    failures += passed ? 0 : 1;
}

// Writes `spec` as a frame and mints (parent == nullptr) or derives it into tokens[slot].
std::optional<caplets::token_view> make(int slot, const caplets::secret_key* secret,
                                        const caplets::token_view* parent,
                                        const caplets::frame_spec& spec) {
    lidl::builder frame_out(frame_buffer);
    auto frame = spec.write(frame_out);
    if (!frame)
        return std::nullopt;
    lidl::builder token_out(tokens[slot]);
    auto token = parent == nullptr ? caplets::mint(*secret, *frame, token_out)
                                   : caplets::derive(*parent, *frame, token_out);
    if (!token)
        return std::nullopt;
    auto view = caplets::token_view::parse(*token);
    if (!view)
        return std::nullopt;
    return *view;
}

bool rejected_with(const caplets::secret_key& secret, const caplets::token_view& token,
                   std::uint64_t now, caplets::check expected) {
    caplets::verify_context context;
    context.now = now;
    auto result = caplets::verify(secret, token, context);
    return !result && result.error().what == expected;
}

}  // namespace

int main() {
    amb::port::write_console("ambience cortex-m4 CAPLets (mbedTLS backend)\n");
    caplets::secret_key secret;
    if (!amb::crypto::random_bytes(secret.bytes)) {
        report(false, "secret from the entropy source");
        amb::ports::cortex_m::semihosting::exit(1);
    }
    caplets::frame_spec root_spec;
    root_spec.add_root();
    caplets::frame_spec alice_spec;
    alice_spec.add_path("/home/alice", caplets::rights::read | caplets::rights::write);
    alice_spec.add_expires(2000);
    auto root = make(0, &secret, nullptr, root_spec);
    auto alice = root ? make(1, nullptr, &*root, alice_spec) : std::nullopt;
    caplets::frame_spec request_spec;
    request_spec.add_path_request(caplets::rights::read, "/home/alice/notes");
    if (alice)
        request_spec.inherit_constraints(alice->leaf());
    auto request_token = alice ? make(2, nullptr, &*alice, request_spec) : std::nullopt;
    report(request_token.has_value(), "mint, derive and request into static buffers");
    if (!request_token)
        amb::ports::cortex_m::semihosting::exit(1);
    const caplets::token_view& request = *request_token;

    caplets::verify_context context;
    context.now = 1000;
    auto granted = caplets::verify_request(secret, request, context);
    report(granted.has_value() && (*granted)->path_request() != nullptr, "request granted");
    report(rejected_with(secret, request, 2000, caplets::check::expired), "expired request refused");

    caplets::frame_spec wide;
    wide.add_path("/home", caplets::rights::read);
    wide.inherit_constraints(alice->leaf());
    auto widened = make(3, nullptr, &*alice, wide);
    report(widened && rejected_with(secret, *widened, 1000, caplets::check::not_a_subset),
           "widened path refused (not_a_subset)");

    // Flip one byte inside the request frame: the tag chain no longer matches.
    std::uint8_t* bytes = tokens[2];
    std::size_t frame_offset =
        static_cast<std::size_t>(request.frame_bytes(2).data() - request.bytes().data());
    bytes[frame_offset + request.frame_bytes(2).size() - 3] ^= 0x20;
    auto tampered = caplets::token_view::parse(request.bytes());
    report(!tampered || rejected_with(secret, *tampered, 1000, caplets::check::bad_tag),
           "tampered request refused (bad_tag)");

    char summary[64];
    std::snprintf(summary, sizeof summary, "%d failures\n", failures);
    amb::port::write_console(summary);
    amb::ports::cortex_m::semihosting::exit(failures == 0 ? 0 : 1);
}
