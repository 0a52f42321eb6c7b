// Error reporting for lidlc: every stage (loader, lexer, parser, checker) reports problems in a
// schema through one `diagnostics` object, which prints them the way gcc does:
//
//     camera.lidl:12:9: error: unknown type 'u33'; did you mean 'u32'?
//        12 |     size: u33;
//           |           ^~~
//
// followed by notes that point at related places ("first declared here"). The object keeps the
// text of every file registered with `add_source`, so a message can quote the offending line;
// the lexer reads the text from there (the returned view lives as long as the diagnostics).
//
// Errors are found in several passes (parsing, names, types, layouts), but a reader wants them
// in the order of the text: they are held back and printed by `flush()` (or the destructor)
// sorted by file (in the order the files were registered), line and column, each error with its
// notes. Errors without a location come first.
//
// Not thread-safe. At most `max_errors` errors are printed so garbage input cannot flood the
// terminal; `error_count()` still counts every error.
#pragma once

#include "ast.hpp"

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace lidl::compiler {

class diagnostics {
public:
    static constexpr int max_errors = 100;

    /// Reports to `out` (std::cerr in lidlc, a string stream in tests).
    explicit diagnostics(std::ostream& out) : out_(out) {}
    ~diagnostics() { flush(); }
    diagnostics(const diagnostics&) = delete;
    diagnostics& operator=(const diagnostics&) = delete;

    /// Keeps `text` as the contents of `file` for quoting and returns a view of the kept copy,
    /// valid as long as this object. Registering a file twice replaces nothing: the first text
    /// stays.
    std::string_view add_source(const std::string& file, std::string text);

    /// An error at `loc`; `length` bytes from there are underlined (at least the caret).
    void error(const source_location& loc, std::string_view message, std::size_t length = 1);
    /// A note attached to the previous error, printed after it.
    void note(const source_location& loc, std::string_view message, std::size_t length = 1);
    /// An error with no place in a schema (a file that cannot be read, a bad option).
    void error(std::string_view message);

    /// Prints the errors reported so far, in source order, and forgets them.
    void flush();

    int error_count() const { return error_count_; }
    bool has_errors() const { return error_count_ > 0; }

private:
    struct source_file {
        std::size_t order = 0;  // registration order, the first sort key
        std::string text;
        std::vector<std::size_t> line_starts;  // computed on first quote
    };
    /// An error or a note, formatted only if printed: quoting a line costs its length, and
    /// garbage input can produce many errors on one very long line.
    struct message_part {
        source_location loc;  // line 0: no location
        std::string message;
        std::size_t length = 1;
    };
    struct pending_error {
        std::size_t file_order = 0;  // 0: no location; otherwise source_file::order
        message_part error;
        std::vector<message_part> notes;
    };

    void print(const message_part& part, std::string_view severity);
    void quote(const source_location& loc, std::size_t length);

    std::ostream& out_;
    // std::map: the strings' buffers never move once inserted, so views handed out stay valid.
    std::map<std::string, source_file, std::less<>> sources_;
    std::vector<pending_error> pending_;
    int error_count_ = 0;
    int printed_ = 0;
};

/// The number of single-character edits (insertion, deletion, substitution, swap of two
/// neighbours) that turn `a` into `b`, or `limit + 1` if it is more than `limit`. Cost is
/// O(size(a) * size(b)) at most, and O(1) when the sizes differ by more than `limit`.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit);

/// The candidate closest to `word` that is a plausible typo of it (at most two edits, and fewer
/// edits than `word` has characters), or an empty view. Ties go to the earliest candidate.
std::string_view closest_match(std::string_view word,
                               const std::vector<std::string_view>& candidates);

}  // namespace lidl::compiler
