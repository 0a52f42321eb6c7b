// Helpers for the lidlc unit tests: schema files in a scratch directory, compiled with their
// messages captured. Test code only.
#pragma once

#include "checker.hpp"
#include "diagnostics.hpp"
#include "parser.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>

namespace lidl::compiler::testing {

/// A directory of schema files, removed with everything in it when the object goes.
class scratch_directory {
public:
    scratch_directory() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("lidlc_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~scratch_directory() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    scratch_directory(const scratch_directory&) = delete;
    scratch_directory& operator=(const scratch_directory&) = delete;

    /// Writes `text` to `name` (which may contain directories) and returns its path.
    std::string write(const std::string& name, const std::string& text) const {
        const std::filesystem::path file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
        return file.string();
    }
    std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

struct compiled {
    std::optional<schema> result;
    std::string messages;  // everything lidlc would print on stderr

    const schema& operator*() const { return *result; }
    const schema* operator->() const { return &*result; }

    /// The declaration named `qualified` (a test failure and a crash-free null if absent).
    const declaration* find(const std::string& qualified) const {
        if (result)
            for (const auto& d : result->declarations)
                if (d->qualified_name() == qualified)
                    return d.get();
        ADD_FAILURE() << "no declaration " << qualified << "\n" << messages;
        return nullptr;
    }
};

inline compiled compile_file(const std::string& main_file, const load_options& options = {}) {
    std::ostringstream messages;
    compiled out;
    {
        diagnostics diag(messages);
        out.result = compile(main_file, options, diag);
    }
    out.messages = messages.str();
    return out;
}

/// Compiles `text` as a schema file named `name` that imports nothing, without touching the
/// file system, so messages name the file exactly `name`.
inline compiled compile_text(const std::string& text, const std::string& name = "test.lidl") {
    std::ostringstream messages;
    compiled out;
    {
        diagnostics diag(messages);
        loaded_schema loaded;
        loaded.files.emplace_back();
        loaded.files.back().parsed = parse(name, diag.add_source(name, text), diag);
        if (loaded.files.back().parsed.complete) {
            schema checked = check(std::move(loaded), diag);
            if (!diag.has_errors())
                out.result = std::move(checked);
        }
    }
    out.messages = messages.str();
    return out;
}

}  // namespace lidl::compiler::testing
