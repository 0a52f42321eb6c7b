// Loading a schema: reads the main file and, transitively, every file it imports, parsing each
// once. The result is what the checker works on.
//
// `import "path";` is resolved relative to the importing file's directory first, then against
// each include directory in order. A file reached through different spellings of its path is
// loaded once (files are identified by their canonical path); it is named in messages by the
// first spelling that reached it. Import cycles, missing and unreadable files are reported at
// the import that names them; the loader then carries on with the other imports, so one run
// shows every loading and syntax error.
#pragma once

#include "diagnostics.hpp"
#include "parser.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace lidl::compiler {

struct load_options {
    std::vector<std::string> include_directories;
};

struct loaded_file {
    parsed_file parsed;
    std::vector<std::size_t> imports;  // indexes in `loaded_schema::files` of the direct imports
};

struct loaded_schema {
    /// In load order: every file after all the files it imports; the main file is last.
    std::vector<loaded_file> files;
    /// False if a file could not be read, an import could not be resolved or formed a cycle, or
    /// a file had a syntax error: checking such a schema would only produce follow-on errors.
    bool complete = true;
};

/// Loads `main_file` (named in messages as given) and its imports, reporting to `diag`.
loaded_schema load(const std::string& main_file, const load_options& options,
                   diagnostics& diag);

}  // namespace lidl::compiler
