// The `caplets` command: make, derive, inspect, verify and revoke CAPLets tokens from a shell.
// Exit status: 0 success, 1 rejected or invalid input (reason on stderr), 2 usage error.
#include "store.hpp"
#include "text.hpp"

#include <caplets/caplets.hpp>
#include <caplets/capvm_constraints.hpp>
#include <capvm/host.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace caplets;

constexpr const char* usage_text = R"(usage:
  caplets keygen
  caplets mint    --key KEYFILE [--cap CAP]... [--constraint CON]...
  caplets derive  --token TOKFILE --cap CAP... [--constraint CON]... [--force [--drop-inherited]]
  caplets request --token TOKFILE --op OP [--constraint CON]... [--force]
  caplets inspect --token TOKFILE [--json]
  caplets verify  --key KEYFILE --token TOKFILE [--aux TOKFILE]... [--now TIME]
                  [--endpoint ADDR] [--revoked LISTFILE] [--seq-state STATEFILE]
                  [--battery PERCENT] [--sensor N=VALUE]...
  caplets revoke  --token TOKFILE --list LISTFILE [--now TIME]

CAP: root | path:/p:RIGHTS (RIGHTS ⊆ rwxcd) | service:NAME:proc,... | service:NAME:* |
     identity:ID | encrypt | ext:TYPE:HEX
OP:  read:/p | write:/p | exec:/p | create:/p | delete:/p | call:SERVICE.PROCEDURE[:HEXARGS]
CON: expires:TIME | not-before:TIME | endpoint:ADDR[/N] | signature:HEXTAG | identity:ID |
     seq:N | capvm:BASE64 | policy:"EXPR" (a CapVM policy, e.g. "battery() >= 20")
TIME: RFC 3339 UTC (2026-01-01T00:00:00Z) or Unix seconds. A file argument may be - (stdin).
Derived frames keep every constraint of the parent frame; --drop-inherited (with --force)
writes a frame without them, which verifiers must reject.
)";

struct usage_error {
    std::string message;
};

int usage(const std::string& message) {
    std::fprintf(stderr, "caplets: %s\n%s", message.c_str(), usage_text);
    return 2;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "caplets: %s\n", message.c_str());
    return 1;
}

// Command-line options: repeated flags keep every value.
struct options {
    std::vector<std::pair<std::string, std::string>> values;
    std::vector<std::string> flags;

    std::vector<std::string> all(const std::string& name) const {
        std::vector<std::string> out;
        for (const auto& [key, value] : values)
            if (key == name)
                out.push_back(value);
        return out;
    }
    const std::string* one(const std::string& name) const {
        const std::string* found = nullptr;
        for (const auto& [key, value] : values)
            if (key == name)
                found = &value;
        return found;
    }
    bool has(const std::string& flag) const {
        for (const std::string& f : flags)
            if (f == flag)
                return true;
        return false;
    }
};

bool parse_options(int argc, char** argv, const std::vector<std::string>& valued,
                   const std::vector<std::string>& boolean, options& out, std::string& error) {
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        bool known = false;
        for (const std::string& name : valued) {
            if (arg == name) {
                if (i + 1 >= argc) {
                    error = arg + " needs a value";
                    return false;
                }
                out.values.emplace_back(name, argv[++i]);
                known = true;
            }
        }
        for (const std::string& name : boolean) {
            if (arg == name) {
                out.flags.push_back(name);
                known = true;
            }
        }
        if (!known) {
            error = "unknown argument '" + arg + "'";
            return false;
        }
    }
    return true;
}

bool read_file(const std::string& path, std::string& content, std::string& error) {
    if (path == "-") {
        std::ostringstream all;
        all << std::cin.rdbuf();
        content = all.str();
        return true;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream all;
    all << in.rdbuf();
    content = all.str();
    return true;
}

bool load_key(const std::string& path, secret_key& key, std::string& error) {
    std::string content;
    if (!read_file(path, content, error))
        return false;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
        content.pop_back();
    auto bytes = text::from_hex(content);
    if (!bytes || bytes->size() != 32) {
        error = path + ": a secret is 64 hex characters";
        return false;
    }
    std::memcpy(key.bytes.data(), bytes->data(), 32);
    amb::crypto::secure_zero(*bytes);
    return true;
}

// A token read from a file and parsed, with the storage it lives in.
struct loaded_token {
    text::token_bytes bytes;
    std::optional<token_view> view;
};

std::string reason_text(const reason& why) {
    std::string out = std::string(why.token == 0 ? "token" : "auxiliary token " +
                                                                 std::to_string(why.token)) +
                      ", frame " + std::to_string(why.frame) + ": " + describe(why.what);
    if (why.capability >= 0)
        out += " (capability " + std::to_string(why.capability) + ")";
    if (why.constraint >= 0)
        out += " (constraint " + std::to_string(why.constraint) + ")";
    if (why.what == check::sequence_replayed)
        out += "; the last accepted sequence number is " + std::to_string(why.current_sequence);
    if (why.what == check::malformed && why.parse.kind != lidl::error{})
        out += std::string(": ") + lidl::describe(why.parse.kind) + " at byte " +
               std::to_string(why.parse.offset) + " (" + why.parse.type +
               (why.parse.field[0] ? std::string(".") + why.parse.field : "") + ")";
    return out;
}

bool load_token(const std::string& path, loaded_token& out, std::string& error) {
    std::string content;
    if (!read_file(path, content, error))
        return false;
    auto bytes = text::token_from_text(content, error);
    if (!bytes) {
        error = path + ": " + error;
        return false;
    }
    out.bytes = std::move(*bytes);
    auto view = token_view::parse(out.bytes.bytes());
    if (!view) {
        error = path + ": " + reason_text(view.error());
        return false;
    }
    out.view = *view;
    return true;
}

// Storage for a message being built.
struct buffer {
    std::vector<std::uint64_t> storage = std::vector<std::uint64_t>(1 << 16);
    std::span<std::uint8_t> bytes() {
        return {reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8};
    }
};

std::uint64_t now_or(const options& opts, std::string& error, bool& ok) {
    ok = true;
    if (const std::string* now = opts.one("--now")) {
        auto time = text::parse_time(*now);
        if (!time) {
            error = "--now: expected RFC 3339 UTC or Unix seconds";
            ok = false;
            return 0;
        }
        return *time;
    }
    return static_cast<std::uint64_t>(std::time(nullptr));
}

int keygen() {
    secret_key key;
    if (!amb::crypto::random_bytes(key.bytes))
        return fail("no entropy available");
    std::printf("%s\n", text::to_hex(key.bytes).c_str());
    return 0;
}

// Fills `frame` from --cap/--op/--constraint options.
bool fill_frame(const options& opts, text::frame_text& frame, std::string& error) {
    for (const std::string& cap : opts.all("--cap"))
        if (!frame.add_capability(cap, error))
            return false;
    for (const std::string& op : opts.all("--op"))
        if (!frame.add_operation(op, error))
            return false;
    for (const std::string& con : opts.all("--constraint"))
        if (!frame.add_constraint(con, error))
            return false;
    return true;
}

int mint_command(const options& opts) {
    const std::string* key_path = opts.one("--key");
    if (key_path == nullptr)
        return usage("mint needs --key");
    std::string error;
    secret_key key;
    if (!load_key(*key_path, key, error))
        return fail(error);
    text::frame_text frame;
    if (opts.all("--cap").empty())
        frame.spec().add_root();
    if (!fill_frame(opts, frame, error))
        return fail(error);
    buffer frame_buffer;
    lidl::builder frame_out(frame_buffer.bytes());
    auto frame_bytes = frame.spec().write(frame_out);
    if (!frame_bytes)
        return fail("the frame is too large");
    buffer token_buffer;
    lidl::builder out(token_buffer.bytes());
    auto token = mint(key, *frame_bytes, out);
    if (!token)
        return fail(describe(token.error()));
    std::printf("%s\n", text::token_to_text(*token).c_str());
    return 0;
}

// derive and request: a new frame on top of --token.
int derive_command(const options& opts, bool request) {
    const std::string* token_path = opts.one("--token");
    if (token_path == nullptr)
        return usage(std::string(request ? "request" : "derive") + " needs --token");
    if (request ? opts.all("--op").size() != 1 : opts.all("--cap").empty())
        return usage(request ? "request needs exactly one --op" : "derive needs at least one --cap");
    if (opts.has("--drop-inherited") && !opts.has("--force"))
        return usage("--drop-inherited only with --force");
    std::string error;
    loaded_token parent;
    if (!load_token(*token_path, parent, error))
        return fail(error);
    text::frame_text frame;
    if (!fill_frame(opts, frame, error))
        return fail(error);
    if (!opts.has("--drop-inherited") && !frame.spec().inherit_constraints(parent.view->leaf()))
        return fail("too many constraints in one frame (at most 16)");
    buffer frame_buffer;
    lidl::builder frame_out(frame_buffer.bytes());
    auto frame_bytes = frame.spec().write(frame_out);
    if (!frame_bytes)
        return fail("the frame is too large");
    if (!opts.has("--force")) {
        auto new_frame = lidl::verify<caplets::frame>(*frame_bytes);
        auto link = check_derivation(parent.view->leaf(), *new_frame.value());
        if (!link) {
            reason why = link.error();
            why.frame = static_cast<std::uint8_t>(parent.view->frame_count());
            return fail("refusing to derive (use --force to write it anyway): " + reason_text(why));
        }
    }
    buffer token_buffer;
    lidl::builder out(token_buffer.bytes());
    auto token = derive(*parent.view, *frame_bytes, out);
    if (!token)
        return fail(describe(token.error()));
    std::printf("%s\n", text::token_to_text(*token).c_str());
    return 0;
}

int inspect_command(const options& opts) {
    const std::string* token_path = opts.one("--token");
    if (token_path == nullptr)
        return usage("inspect needs --token");
    std::string error;
    loaded_token token;
    if (!load_token(*token_path, token, error))
        return fail(error);
    const token_view& view = *token.view;
    if (opts.has("--json")) {
        // Written by the JSON library: the token's strings are untrusted, and invalid UTF-8 is
        // replaced rather than copied out.
        nlohmann::ordered_json frames = nlohmann::ordered_json::array();
        for (std::size_t i = 0; i < view.frame_count(); ++i) {
            const frame& f = view.frame_at(i);
            nlohmann::ordered_json capabilities = nlohmann::ordered_json::array();
            for (const capability& c : f.capabilities)
                capabilities.push_back(text::capability_to_text(c));
            nlohmann::ordered_json constraints = nlohmann::ordered_json::array();
            for (const constraint& c : f.constraints)
                constraints.push_back(text::constraint_to_text(c));
            frames.push_back({{"bytes", view.frame_bytes(i).size()},
                              {"capabilities", std::move(capabilities)},
                              {"constraints", std::move(constraints)}});
        }
        nlohmann::ordered_json out = {{"size", view.bytes().size()},
                              {"tag", text::to_hex(view.tag())},
                              {"frames", std::move(frames)}};
        std::printf("%s\n",
                    out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
        return 0;
    }
    std::string out = "token: " + std::to_string(view.frame_count()) + " frames, " +
                      std::to_string(view.bytes().size()) + " bytes, tag " +
                      text::to_hex(view.tag()) + "\n";
    for (std::size_t i = 0; i < view.frame_count(); ++i) {
        const frame& f = view.frame_at(i);
        out += "frame " + std::to_string(i) + " (" + std::to_string(view.frame_bytes(i).size()) +
               " bytes)\n";
        for (const capability& c : f.capabilities)
            out += "  capability  " + text::printable(text::capability_to_text(c)) + "\n";
        for (const constraint& c : f.constraints)
            out += "  constraint  " + text::printable(text::constraint_to_text(c)) + "\n";
    }
    std::fputs(out.c_str(), stdout);
    return 0;
}

int verify_command(const options& opts) {
    const std::string* key_path = opts.one("--key");
    const std::string* token_path = opts.one("--token");
    if (key_path == nullptr || token_path == nullptr)
        return usage("verify needs --key and --token");
    std::string error;
    secret_key key;
    if (!load_key(*key_path, key, error))
        return fail(error);
    loaded_token token;
    if (!load_token(*token_path, token, error))
        return fail(error);
    std::vector<loaded_token> aux_tokens(opts.all("--aux").size());
    std::vector<token_view> aux_views;
    for (std::size_t i = 0; i < aux_tokens.size(); ++i) {
        if (!load_token(opts.all("--aux")[i], aux_tokens[i], error))
            return fail(error);
        aux_views.push_back(*aux_tokens[i].view);
    }
    bool ok = true;
    verify_context context;
    context.now = now_or(opts, error, ok);
    if (!ok)
        return usage(error);
    std::vector<std::uint8_t> endpoint;
    if (const std::string* address = opts.one("--endpoint")) {
        auto net = text::parse_network(*address);
        if (!net || net->prefix_length != net->address.size() * 8)
            return usage("--endpoint: expected an IPv4 or IPv6 address");
        endpoint = net->address;
        context.endpoint = endpoint;
    }
    context.auxiliary = aux_views;
    auto revoked = std::make_unique<revocation_list>();
    if (const std::string* list = opts.one("--revoked")) {
        if (!store::load_revocations(*list, *revoked, error))
            return fail(error);
        context.revoked = revoked.get();
    }
    std::unique_ptr<store::file_sequence_store> sequences;
    if (const std::string* state = opts.one("--seq-state")) {
        sequences = std::make_unique<store::file_sequence_store>(*state);
        if (!sequences->ok())
            return fail(sequences->error());
        context.sequences = sequences.get();
    }
    // CapVM constraints see the same context: time, endpoint, battery, sensors.
    amb::capvm::fixed_context vm_context;
    vm_context.time = static_cast<std::int64_t>(context.now);
    if (auto ip = amb::capvm::parse_ipv4(opts.one("--endpoint") ? *opts.one("--endpoint") : ""))
        vm_context.ipv4 = *ip;
    else if (auto ip6 = amb::capvm::parse_ipv6(opts.one("--endpoint") ? *opts.one("--endpoint") : ""))
        vm_context.ipv6 = *ip6;
    if (const std::string* battery = opts.one("--battery")) {
        char* end = nullptr;
        long level = std::strtol(battery->c_str(), &end, 10);
        if (end == battery->c_str() || *end != 0 || level < 0 || level > 100)
            return usage("--battery: expected a percentage 0..100");
        vm_context.battery = level;
    }
    for (const std::string& sensor : opts.all("--sensor")) {
        std::size_t equals = sensor.find('=');
        char* end_id = nullptr;
        char* end_value = nullptr;
        long long id = std::strtoll(sensor.c_str(), &end_id, 10);
        long long value = equals == std::string::npos ? 0 : std::strtoll(sensor.c_str() + equals + 1, &end_value, 10);
        if (equals == std::string::npos || end_id != sensor.c_str() + equals || end_value == nullptr ||
            *end_value != 0 || end_value == sensor.c_str() + equals + 1)
            return usage("--sensor: expected N=VALUE");
        vm_context.sensors[id] = value;
    }
    capvm_evaluator evaluator(vm_context);
    context.dynamic = &evaluator;
    auto result = verify(key, *token.view, context);
    if (!result) {
        std::string message = "rejected: " + reason_text(result.error());
        if (result.error().what == check::dynamic_rejected && evaluator.last_fault())
            message += std::string(" (CapVM fault: ") + amb::capvm::describe(evaluator.last_fault()->kind) +
                       " at byte " + std::to_string(evaluator.last_fault()->offset) + ")";
        return fail(message);
    }
    std::printf("granted:\n");
    for (const capability& c : result->leaf->capabilities)
        std::printf("  %s\n", text::printable(text::capability_to_text(c)).c_str());
    return 0;
}

int revoke_command(const options& opts) {
    const std::string* token_path = opts.one("--token");
    const std::string* list_path = opts.one("--list");
    if (token_path == nullptr || list_path == nullptr)
        return usage("revoke needs --token and --list");
    std::string error;
    loaded_token token;
    if (!load_token(*token_path, token, error))
        return fail(error);
    bool ok = true;
    std::uint64_t now = now_or(opts, error, ok);
    if (!ok)
        return usage(error);
    // The entry can go once the token has expired: its earliest `expires` constraint.
    std::uint64_t expires = 0;
    for (const constraint& c : token.view->leaf().constraints)
        if (const std::uint64_t* t = c.expires())
            expires = expires == 0 ? *t : std::min(expires, *t);
    auto list = std::make_unique<revocation_list>();
    if (!store::load_revocations(*list_path, *list, error))
        return fail(error);
    list->prune(now);
    if (!list->add(token.view->tag(), expires, now))
        return fail("the revocation list is full (" + std::to_string(revocation_list::capacity) +
                    " unexpired entries)");
    if (!store::save_revocations(*list_path, *list, error))
        return fail(error);
    std::printf("revoked %s%s\n", text::to_hex(token.view->tag()).c_str(),
                expires ? (" until " + text::format_time(expires)).c_str() : "");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage("missing command");
    std::string command = argv[1];
    if (command == "--help" || command == "help") {
        std::fputs(usage_text, stdout);
        return 0;
    }
    options opts;
    std::string error;
    auto parse = [&](std::vector<std::string> valued, std::vector<std::string> boolean) {
        return parse_options(argc, argv, valued, boolean, opts, error);
    };
    if (command == "keygen")
        return argc == 2 ? keygen() : usage("keygen takes no arguments");
    if (command == "mint")
        return parse({"--key", "--cap", "--constraint"}, {}) ? mint_command(opts) : usage(error);
    if (command == "derive")
        return parse({"--token", "--cap", "--constraint"}, {"--force", "--drop-inherited"})
                   ? derive_command(opts, false)
                   : usage(error);
    if (command == "request")
        return parse({"--token", "--op", "--constraint"}, {"--force"}) ? derive_command(opts, true)
                                                                       : usage(error);
    if (command == "inspect")
        return parse({"--token"}, {"--json"}) ? inspect_command(opts) : usage(error);
    if (command == "verify")
        return parse({"--key", "--token", "--aux", "--now", "--endpoint", "--revoked", "--seq-state",
                      "--battery", "--sensor"},
                     {})
                   ? verify_command(opts)
                   : usage(error);
    if (command == "revoke")
        return parse({"--token", "--list", "--now"}, {}) ? revoke_command(opts) : usage(error);
    return usage("unknown command '" + command + "'");
}
