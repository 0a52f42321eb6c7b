// File-backed verification state for the hosted port: the revocation list and the sequence
// store. Each file is rewritten atomically (write a temporary file, fsync it, rename it over the
// old one, fsync the directory), so a crash in the middle of an update leaves either the old or
// the new state, never a mix, and an accepted request's sequence number is on disk before the
// request is reported as accepted.
//
// Formats (text, one entry per line): revocations "HEXTAG EXPIRY" (EXPIRY: Unix seconds, 0 =
// never); sequences "HEXHOLDER NUMBER".
#pragma once

#include <caplets/caplets.hpp>

#include <map>
#include <string>

namespace caplets::store {

/// Writes `content` to `path` atomically. False with `error` set on failure.
bool atomic_write(const std::string& path, const std::string& content, std::string& error);

/// Loads a revocation list; a missing file is an empty list.
bool load_revocations(const std::string& path, revocation_list& out, std::string& error);
bool save_revocations(const std::string& path, const revocation_list& list, std::string& error);

class file_sequence_store final : public sequence_store {
public:
    /// Loads `path` (a missing file is empty state). Check `ok()` and `error()`.
    explicit file_sequence_store(std::string path);
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    std::uint64_t last(const tag_bytes& holder) override;
    bool record(const tag_bytes& holder, std::uint64_t number) override;

private:
    std::string path_;
    std::map<tag_bytes, std::uint64_t> numbers_;
    std::string error_;
};

}  // namespace caplets::store
