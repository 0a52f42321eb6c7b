// Key and credential files of a deployment (docs/remote.md, "Keys"), as the deployment tool
// writes them at build time and a node reads them at start-up.
//
//     deployment.key           32 random bytes: the deployment root (stays with the tool)
//     NODE.node.key            32 bytes: the key NODE verifies requests with
//     CALLER.to.CALLEE.cred    the CAPLets credential CALLER presents to CALLEE (a token)
//
// Every file is created with mode 0600 (O_EXCL: an existing file is never overwritten), and
// readers refuse a file that group or others can read or write. Nothing here prints a key.
#pragma once

#include <base/result.hpp>
#include <caplets/caplets.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace amb::hosted::remote {

enum class key_file_error : std::uint8_t {
    cannot_open = 1,      ///< see errno
    exists,               ///< refusing to overwrite
    insecure_permissions, ///< readable or writable by group or others
    bad_size,             ///< a key file that is not 32 bytes, or an empty/oversized token
    io_error,
    random_unavailable,
};
const char* describe(key_file_error error);

/// Writes `bytes` to a new file of mode 0600 (fsynced).
result<void, key_file_error> write_private_file(const std::string& path,
                                                std::span<const std::uint8_t> bytes);
/// Reads a file of mode 0600 or stricter, at most `max_size` bytes.
result<std::vector<std::uint8_t>, key_file_error> read_private_file(const std::string& path,
                                                                    std::size_t max_size);

/// A fresh deployment root key (from the system's random source) written to `path`.
result<void, key_file_error> create_deployment_key(const std::string& path);
result<void, key_file_error> read_secret_key(const std::string& path, caplets::secret_key& out);

} // namespace amb::hosted::remote
