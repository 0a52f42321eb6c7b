// lidlc, the lidl compiler: checks a schema and writes what was asked for (a C++ header, a
// JSON description, a depfile for the build). `lidlc --help` lists the options.
//
// Exit status: 0 when the schema is valid and every output was written; 1 when the schema has
// errors (reported on stderr as file:line:column: error: ...) or an output cannot be written;
// 2 for a bad command line. Outputs are only written for a valid schema, and each one replaces
// its file atomically, so a failed run never leaves a half-written header behind.
#include "checker.hpp"
#include "cpp_generator.hpp"
#include "diagnostics.hpp"
#include "json_output.hpp"
#include "loader.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace lidl::compiler;

constexpr std::string_view usage_text =
    R"(usage: lidlc [options] file.lidl

Checks a lidl schema (the file and everything it imports) and writes the requested outputs.
With no output option, only checks: the exit status says whether the schema is valid.

options:
  -I DIR              also look for imported files in DIR (repeatable; -IDIR works too);
                      imports are first looked for next to the importing file
  --json              print a JSON description of the schema on standard output
                      (the format is described in docs/lidlc-json.md)
  --cpp OUT_DIR       write the C++ headers OUT_DIR/<stem>.lidl.hpp (types and services)
                      and OUT_DIR/<stem>.lidl.json.hpp (their JSON mapping)
  --deps FILE         write a make-style depfile listing every schema file read, so a build
                      reruns lidlc when an imported file changes
  --deps-target NAME  the target named in the depfile (default: the C++ header when --cpp is
                      given, otherwise the depfile itself)
  -h, --help          show this help and exit

exit status: 0 valid schema, 1 errors in the schema or an output could not be written,
2 bad command line
)";

struct options {
    std::string input;
    load_options load;
    bool json = false;
    std::optional<std::string> cpp_directory;
    std::optional<std::string> depfile;
    std::optional<std::string> depfile_target;
};

int usage_error(const std::string& message) {
    std::cerr << "lidlc: error: " << message << "\n(run 'lidlc --help' for usage)\n";
    return 2;
}

/// Parses the command line into `out`; returns an exit status when the program should stop.
std::optional<int> parse_arguments(int argc, char** argv, options& out) {
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        // The value of an option: "--opt VALUE", "--opt=VALUE", or "-IVALUE" for -I.
        const auto value = [&](std::string_view name, std::string& target) -> bool {
            if (arg == name) {
                if (i + 1 >= argc)
                    return false;
                target = argv[++i];
                return true;
            }
            const std::string_view rest = arg.substr(name.size());
            target = std::string(!rest.empty() && rest.front() == '=' ? rest.substr(1) : rest);
            return !target.empty();
        };
        const auto matches = [&](std::string_view name) {
            return arg == name || (arg.substr(0, name.size()) == name &&
                                   (name == "-I" || arg[name.size()] == '='));
        };

        std::string text;
        if (options_done || arg.empty() || arg.front() != '-' || arg == "-") {
            if (!out.input.empty())
                return usage_error("more than one input file ('" + out.input + "' and '" +
                                   std::string(arg) + "'); lidlc compiles one file per run");
            out.input = arg;
        } else if (arg == "--") {
            options_done = true;
        } else if (arg == "-h" || arg == "--help") {
            std::cout << usage_text;
            return 0;
        } else if (arg == "--json") {
            out.json = true;
        } else if (matches("-I")) {
            if (!value("-I", text))
                return usage_error("-I needs a directory");
            out.load.include_directories.push_back(text);
        } else if (matches("--cpp")) {
            if (!value("--cpp", text))
                return usage_error("--cpp needs an output directory");
            out.cpp_directory = text;
        } else if (matches("--deps-target")) {
            if (!value("--deps-target", text))
                return usage_error("--deps-target needs a target name");
            out.depfile_target = text;
        } else if (matches("--deps")) {
            if (!value("--deps", text))
                return usage_error("--deps needs a file name");
            out.depfile = text;
        } else {
            return usage_error("unknown option '" + std::string(arg) + "'");
        }
    }
    if (out.input.empty())
        return usage_error("no input file");
    return std::nullopt;
}

/// Writes `content` to `path` through a temporary file renamed over it. Reports failures.
bool write_file(const fs::path& path, std::string_view content) {
    const fs::path temporary = path.string() + ".tmp";
    std::error_code ec;
    const auto fail = [&](const std::string& reason) {
        fs::remove(temporary, ec);
        std::cerr << "lidlc: error: cannot write '" << path.string() << "': " << reason << '\n';
        return false;
    };
    std::FILE* file = std::fopen(temporary.c_str(), "wb");
    if (file == nullptr)
        return fail(std::strerror(errno));
    const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size();
    const int write_errno = errno;
    if (std::fclose(file) != 0 || !written)
        return fail(std::strerror(written ? errno : write_errno));
    fs::rename(temporary, path, ec);
    if (ec)
        return fail(ec.message());
    return true;
}

/// A path as make reads it: spaces, '#' and '$' escaped.
std::string make_escaped(const std::string& path) {
    std::string out;
    for (const char c : path) {
        if (c == ' ' || c == '#')
            out += '\\';
        if (c == '$')
            out += '$';
        out += c;
    }
    return out;
}

std::string absolute(const std::string& path) {
    std::error_code ec;
    const fs::path result = fs::absolute(path, ec);
    return (ec ? fs::path(path) : result).lexically_normal().string();
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    if (const std::optional<int> status = parse_arguments(argc, argv, opts))
        return *status;

    diagnostics diag(std::cerr);
    const std::optional<schema> checked = compile(opts.input, opts.load, diag);
    if (!checked)
        return 1;

    bool ok = true;
    if (opts.json) {
        std::cout << to_json(*checked);
        std::cout.flush();
        if (!std::cout) {
            std::cerr << "lidlc: error: cannot write the JSON description to standard output\n";
            ok = false;
        }
    }

    std::optional<fs::path> header;
    if (opts.cpp_directory) {
        const fs::path directory(*opts.cpp_directory);
        const std::string stem = fs::path(opts.input).stem().string();
        header = directory / (stem + ".lidl.hpp");
        std::error_code ec;
        fs::create_directories(directory, ec);
        if (ec) {
            std::cerr << "lidlc: error: cannot create directory '" << directory.string()
                      << "': " << ec.message() << '\n';
            ok = false;
        } else {
            ok = write_file(*header, generate_cpp(*checked)) && ok;
            ok = write_file(directory / (stem + ".lidl.json.hpp"), generate_cpp_json(*checked)) &&
                 ok;
        }
    }

    if (opts.depfile) {
        std::string target = opts.depfile_target ? *opts.depfile_target
                             : header             ? absolute(header->string())
                                                  : absolute(*opts.depfile);
        std::string content = make_escaped(target) + ":";
        content += " \\\n  " + make_escaped(absolute(checked->main_file));
        for (const std::string& file : checked->imported_files)
            content += " \\\n  " + make_escaped(absolute(file));
        content += "\n";
        ok = write_file(*opts.depfile, content) && ok;
    }
    return ok ? 0 : 1;
}
