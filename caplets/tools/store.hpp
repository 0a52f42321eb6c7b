// File-backed verification state for the hosted port: the revocation list and the sequence
// store. Each file is rewritten atomically (write a temporary file, fsync it, rename it over the
// old one, fsync the directory), so a crash in the middle of an update leaves either the old or
// the new state, never a mix, and an accepted request's sequence number is on disk before the
// request is reported as accepted.
//
// Formats (text, one entry per line): revocations "HEXTAG EXPIRY" (EXPIRY: Unix seconds, 0 =
// never); sequences "HEXROOT HEXHOLDER NUMBER EXPIRY" (the sequence_key, the last accepted
// number, the latest expiry of a token it guards, 0 = never). A sequence file of the format
// before roots ("HEXHOLDER NUMBER") is read as a floor: its largest number, which every holder
// must then exceed, so nothing accepted before is accepted again.
#pragma once

#include <caplets/caplets.hpp>

#include <string>
#include <vector>

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

    std::uint64_t last_accepted(const sequence_key& key) override;
    bool accept(const sequence_key& key, std::uint64_t number, std::uint64_t expires,
                std::uint64_t now) override;

private:
    struct entry {
        sequence_key key;
        std::uint64_t number;
        std::uint64_t expires;
    };
    entry* find(const sequence_key& key);
    std::string serialise() const;

    std::string path_;
    // Looked up linearly, each tag compared in constant time (they are bearer secrets); a
    // command-line verifier keeps few entries.
    std::vector<entry> entries_;
    std::uint64_t floor_ = 0;
    std::string error_;
};

}  // namespace caplets::store
