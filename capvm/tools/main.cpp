// The `capvm` command: assemble, disassemble, verify, compile and run CapVM constraints.
//
//   capvm asm FILE.s [-o OUT] [--base64]       bytecode as hex (or base64), or raw bytes to OUT
//   capvm disasm INPUT [--listing]             reassemblable text (or offsets and encodings)
//   capvm verify INPUT                         static checks
//   capvm compile "EXPR" [--base64] [--listing]
//   capvm run INPUT [context...] [--budget N] [--verified]
//
// INPUT is a file (FILE.s is assembled, anything else read as raw bytecode), --hex HEX,
// --base64 TEXT or --policy "EXPR". Context: --time SECONDS|YYYY-MM-DD[THH:MM:SS]|now,
// --endpoint IPV4|IPV6, --battery PERCENT, --sensor N=VALUE, --call ID=VALUE.
// Exit status: 0 accepted (or success), 1 rejected or faulted, 2 bad usage or input.
#include <capvm/assembler.hpp>
#include <capvm/capvm.hpp>
#include <capvm/host.hpp>
#include <capvm/policy.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace amb::capvm;

int usage() {
    std::fputs("usage: capvm asm FILE.s [-o OUT] [--base64]\n"
               "       capvm disasm INPUT [--listing]\n"
               "       capvm verify INPUT\n"
               "       capvm compile \"EXPR\" [--base64] [--listing]\n"
               "       capvm run INPUT [--time T] [--endpoint ADDR] [--battery N] [--sensor N=V]\n"
               "                       [--call ID=V] [--budget N] [--verified]\n"
               "INPUT: FILE (FILE.s is assembled) | --hex HEX | --base64 TEXT | --policy \"EXPR\"\n",
               stderr);
    return 2;
}

int input_error(const std::string& message) {
    std::fprintf(stderr, "capvm: %s\n", message.c_str());
    return 2;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<std::int64_t> parse_int(const std::string& text) {
    if (text.empty())
        return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), &end, 0);
    if (errno != 0 || *end != '\0')
        return std::nullopt;
    return value;
}

std::optional<std::int64_t> parse_time(const std::string& text) {
    if (text == "now")
        return static_cast<std::int64_t>(std::time(nullptr));
    if (auto seconds = parse_int(text))
        return seconds;
    std::tm tm{};
    int consumed = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3)
        return std::nullopt;
    std::string rest = text.substr(static_cast<std::size_t>(consumed));
    if (!rest.empty()) {
        int more = 0;
        if (std::sscanf(rest.c_str(), "T%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &more) != 3)
            return std::nullopt;
        rest = rest.substr(static_cast<std::size_t>(more));
        if (!rest.empty() && rest != "Z")
            return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm));
}


/// Reads the bytecode named by args[i] (and args[i + 1] for --hex/--base64/--policy), advancing i.
std::optional<std::vector<std::uint8_t>> read_input(const std::vector<std::string>& args, std::size_t& i,
                                                    std::string& error) {
    if (i >= args.size()) {
        error = "missing input";
        return std::nullopt;
    }
    const std::string& first = args[i++];
    if (first == "--hex" || first == "--base64" || first == "--policy") {
        if (i >= args.size()) {
            error = first + " needs a value";
            return std::nullopt;
        }
        const std::string& value = args[i++];
        if (first == "--hex") {
            auto bytes = from_hex(value);
            if (!bytes)
                error = "bad hex";
            return bytes;
        }
        if (first == "--base64") {
            auto bytes = from_base64(value);
            if (!bytes)
                error = "bad base64";
            return bytes;
        }
        auto compiled = compile_policy(value);
        if (!compiled) {
            error = "policy:" + format_tool_error(compiled.error());
            return std::nullopt;
        }
        return std::move(*compiled);
    }
    auto text = read_file(first);
    if (!text) {
        error = "cannot read " + first;
        return std::nullopt;
    }
    if (first.size() > 2 && first.compare(first.size() - 2, 2, ".s") == 0) {
        auto assembled = assemble(*text);
        if (!assembled) {
            error = first + ":" + format_tool_error(assembled.error());
            return std::nullopt;
        }
        return std::move(*assembled);
    }
    return std::vector<std::uint8_t>(text->begin(), text->end());
}

void print_bytecode(const std::vector<std::uint8_t>& code, bool base64) {
    std::printf("%s\n", base64 ? to_base64(code).c_str() : to_hex(code).c_str());
}

int command_asm(const std::vector<std::string>& args) {
    std::optional<std::string> path, out;
    bool base64 = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "-o" && i + 1 < args.size())
            out = args[++i];
        else if (args[i] == "--base64")
            base64 = true;
        else if (!path && args[i][0] != '-')
            path = args[i];
        else
            return usage();
    }
    if (!path)
        return usage();
    auto text = read_file(*path);
    if (!text)
        return input_error("cannot read " + *path);
    auto code = assemble(*text);
    if (!code) {
        std::fprintf(stderr, "%s:%s\n", path->c_str(), format_tool_error(code.error()).c_str());
        return 2;
    }
    if (out) {
        std::ofstream file(*out, std::ios::binary);
        file.write(reinterpret_cast<const char*>(code->data()), static_cast<std::streamsize>(code->size()));
        if (!file)
            return input_error("cannot write " + *out);
        std::printf("%zu bytes\n", code->size());
        return 0;
    }
    print_bytecode(*code, base64);
    return 0;
}

int command_disasm(const std::vector<std::string>& args) {
    std::size_t i = 0;
    std::string error;
    auto code = read_input(args, i, error);
    if (!code)
        return input_error(error);
    bool listing = false;
    for (; i < args.size(); ++i) {
        if (args[i] != "--listing")
            return usage();
        listing = true;
    }
    std::fputs(disassemble(*code, listing).c_str(), stdout);
    return 0;
}

int command_verify(const std::vector<std::string>& args) {
    std::size_t i = 0;
    std::string error;
    auto code = read_input(args, i, error);
    if (!code)
        return input_error(error);
    if (i != args.size())
        return usage();
    auto verified = verify(*code);
    if (!verified) {
        std::printf("invalid: %s at offset %u\n", describe(verified.error().kind), verified.error().offset);
        return 1;
    }
    std::printf("valid: %zu bytes\n", code->size());
    return 0;
}

int command_compile(const std::vector<std::string>& args) {
    std::optional<std::string> source;
    bool base64 = false, listing = false;
    for (const std::string& arg : args) {
        if (arg == "--base64")
            base64 = true;
        else if (arg == "--listing")
            listing = true;
        else if (!source)
            source = arg;
        else
            return usage();
    }
    if (!source)
        return usage();
    auto code = compile_policy(*source);
    if (!code) {
        std::fprintf(stderr, "policy:%s\n", format_tool_error(code.error()).c_str());
        return 2;
    }
    std::printf("%zu bytes: ", code->size());
    print_bytecode(*code, base64);
    if (listing)
        std::fputs(disassemble(*code, true).c_str(), stdout);
    return 0;
}

int command_run(const std::vector<std::string>& args) {
    std::size_t i = 0;
    std::string error;
    auto code = read_input(args, i, error);
    if (!code)
        return input_error(error);
    fixed_context host;
    limits bounds;
    bool verified = false;
    for (; i < args.size(); ++i) {
        const std::string& option = args[i];
        if (option == "--verified") {
            verified = true;
            continue;
        }
        if (i + 1 >= args.size())
            return usage();
        const std::string& value = args[++i];
        if (option == "--time") {
            host.time = parse_time(value);
            if (!host.time)
                return input_error("bad time '" + value + "' (seconds, YYYY-MM-DD[THH:MM:SS] or now)");
        } else if (option == "--endpoint") {
            if (auto v4 = parse_ipv4(value))
                host.ipv4 = *v4;
            else if (auto v6 = parse_ipv6(value))
                host.ipv6 = *v6;
            else
                return input_error("bad address '" + value + "'");
        } else if (option == "--battery") {
            host.battery = parse_int(value);
            if (!host.battery)
                return input_error("bad battery level '" + value + "'");
        } else if (option == "--sensor" || option == "--call") {
            const std::size_t equals = value.find('=');
            auto key = parse_int(value.substr(0, equals));
            auto number = equals == std::string::npos ? std::nullopt : parse_int(value.substr(equals + 1));
            if (!key || !number || (option == "--call" && (*key < vm_call::first_application || *key > 255)))
                return input_error("bad " + option + " '" + value + "' (N=VALUE" +
                                   (option == "--call" ? ", N in 8..255)" : ")"));
            if (option == "--sensor")
                host.sensors[*key] = *number;
            else
                host.application[static_cast<std::uint8_t>(*key)] = *number;
        } else if (option == "--budget") {
            auto budget = parse_int(value);
            if (!budget || *budget < 0 || *budget > 0xffffffffLL)
                return input_error("bad budget '" + value + "'");
            bounds.instructions = static_cast<std::uint32_t>(*budget);
        } else {
            return usage();
        }
    }
    amb::result<evaluation, fault> outcome = amb::failure{fault{fault_kind::bad_opcode, 0}};
    if (verified) {
        auto program = verify(*code);
        if (!program) {
            std::printf("reject: fault: %s at offset %u (verify)\n", describe(program.error().kind),
                        program.error().offset);
            return 1;
        }
        outcome = evaluate(*program, host, nullptr, bounds);
    } else {
        outcome = evaluate(*code, host, nullptr, bounds);
    }
    if (!outcome) {
        std::printf("reject: fault: %s at offset %u\n", describe(outcome.error().kind), outcome.error().offset);
        return 1;
    }
    std::printf("%s (%u instructions)\n", outcome->accepted ? "accept" : "reject", outcome->executed);
    return outcome->accepted ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage();
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    if (command == "asm")
        return command_asm(args);
    if (command == "disasm")
        return command_disasm(args);
    if (command == "verify")
        return command_verify(args);
    if (command == "compile")
        return command_compile(args);
    if (command == "run")
        return command_run(args);
    return usage();
}
