#include "loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

namespace lidl::compiler {
namespace {

namespace fs = std::filesystem;

/// Reads the whole file, or returns false with the reason in `error`.
bool read_file(const std::string& path, std::string& text, std::string& error) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        error = "it is a directory";
        return false;
    }
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        error = std::strerror(errno);
        return false;
    }
    char buffer[65536];
    std::size_t count = 0;
    while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0)
        text.append(buffer, count);
    const bool failed = std::ferror(file) != 0;
    const int saved_errno = errno;
    std::fclose(file);
    if (failed) {
        error = std::strerror(saved_errno);
        return false;
    }
    return true;
}

/// The identity of a file, the same for every spelling of its path.
std::string identity(const fs::path& path) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (ec)
        canonical = fs::absolute(path, ec).lexically_normal();
    return canonical.string();
}

class loader {
public:
    loader(const load_options& options, diagnostics& diag) : options_(options), diag_(diag) {}

    loaded_schema run(const std::string& main_file) {
        std::string error;
        std::string text;
        if (!read_file(main_file, text, error)) {
            diag_.error("cannot read '" + main_file + "': " + error);
            result_.complete = false;
            return std::move(result_);
        }
        load(main_file, identity(main_file), std::move(text));
        return std::move(result_);
    }

private:
    struct resolved_import {
        std::string name;  // how messages name the file
        std::string key;   // identity()
    };

    std::size_t load(const std::string& name, const std::string& key, std::string text);
    std::optional<resolved_import> resolve(const std::string& importer,
                                           const import_statement& statement);
    std::optional<std::size_t> load_import(const std::string& importer,
                                           const import_statement& statement);

    const load_options& options_;
    diagnostics& diag_;
    loaded_schema result_;
    std::map<std::string, std::size_t> loaded_;  // identity -> index in result_.files
    // The chain of files being loaded, outermost first: an import of one of them is a cycle.
    std::vector<resolved_import> in_progress_;
};

std::size_t loader::load(const std::string& name, const std::string& key, std::string text) {
    const std::string_view kept = diag_.add_source(name, std::move(text));
    loaded_file file;
    file.parsed = parse(name, kept, diag_);
    if (!file.parsed.complete)
        result_.complete = false;

    in_progress_.push_back(resolved_import{name, key});
    for (const import_statement& statement : file.parsed.imports) {
        const std::optional<std::size_t> index = load_import(name, statement);
        if (!index) {
            result_.complete = false;
            continue;
        }
        if (std::find(file.imports.begin(), file.imports.end(), *index) == file.imports.end())
            file.imports.push_back(*index);
    }
    in_progress_.pop_back();

    result_.files.push_back(std::move(file));
    const std::size_t index = result_.files.size() - 1;
    loaded_.emplace(key, index);
    return index;
}

std::optional<loader::resolved_import> loader::resolve(const std::string& importer,
                                                      const import_statement& statement) {
    const fs::path written(statement.path);
    std::vector<fs::path> candidates;
    if (written.is_absolute()) {
        candidates.push_back(written);
    } else {
        candidates.push_back(fs::path(importer).parent_path() / written);
        for (const std::string& directory : options_.include_directories)
            candidates.push_back(fs::path(directory) / written);
    }
    for (const fs::path& candidate : candidates) {
        std::error_code ec;
        if (fs::exists(candidate, ec)) {
            const fs::path name = candidate.lexically_normal();
            return resolved_import{name.generic_string(), identity(name)};
        }
    }

    std::string message = "cannot find imported file '" + statement.path + "'; looked for ";
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (i > 0)
            message += i + 1 == candidates.size() ? " and " : ", ";
        message += "'" + candidates[i].lexically_normal().generic_string() + "'";
    }
    if (!written.is_absolute() && options_.include_directories.empty())
        message += " (add include directories with -I)";
    diag_.error(statement.loc, message, statement.length);
    return std::nullopt;
}

std::optional<std::size_t> loader::load_import(const std::string& importer,
                                               const import_statement& statement) {
    const std::optional<resolved_import> target = resolve(importer, statement);
    if (!target)
        return std::nullopt;
    if (const auto it = loaded_.find(target->key); it != loaded_.end())
        return it->second;

    const auto cycle_start =
        std::find_if(in_progress_.begin(), in_progress_.end(),
                     [&](const resolved_import& file) { return file.key == target->key; });
    if (cycle_start != in_progress_.end()) {
        std::string chain;
        for (auto it = cycle_start; it != in_progress_.end(); ++it)
            chain += it->name + " -> ";
        chain += cycle_start->name;
        diag_.error(statement.loc, "import cycle: " + chain, statement.length);
        return std::nullopt;
    }

    std::string text;
    std::string error;
    if (!read_file(target->name, text, error)) {
        diag_.error(statement.loc, "cannot read imported file '" + target->name + "': " + error,
                    statement.length);
        return std::nullopt;
    }
    return load(target->name, target->key, std::move(text));
}

}  // namespace

loaded_schema load(const std::string& main_file, const load_options& options,
                   diagnostics& diag) {
    return loader(options, diag).run(main_file);
}

}  // namespace lidl::compiler
