// Keys of a deployment (docs/remote.md, "Keys"): one 32-byte root key per deployment, held only
// by the deployment tool; from it, per serving node, a verification key (the CAPLets origin
// secret of that node), and per (calling node, serving node) pair a credential: a CAPLets token
// minted with the serving node's key whose root frame names the caller (`identity{caller}`) and
// grants exactly the procedures the caller imports from that node (`service{name, procedures}`).
//
// A serving node therefore holds only its own key: a node that is taken over can mint tokens for
// its own services and nothing else. These functions are pure computation (portable); the hosted
// tool `amb-remote-keys` (hosted/remote) writes them to files with mode 0600.
#pragma once

#include <base/result.hpp>
#include <caplets/caplets.hpp>

#include <cstdint>
#include <span>
#include <string_view>

namespace amb::remote {

/// The key `node_name` verifies requests with:
/// HKDF-SHA256(salt "AMB-REMOTE-NODE-KEY-v1", ikm root, info node_name, 32 bytes).
caplets::secret_key node_verification_key(const caplets::secret_key& deployment_root,
                                          std::string_view node_name);

/// The procedures of one service that a caller may call (empty `procedures`: every procedure).
struct import_rights {
    std::string_view service;
    std::span<const std::string_view> procedures;
};

enum class credential_error : std::uint8_t {
    bad_name = 1,      ///< a node name is not valid (remote::valid_node_name)
    too_many_services, ///< more than 15 services in one credential
    buffer_too_small,
};
const char* describe(credential_error error);

/// Mints the credential of `caller` for calls to `callee` into `out` (8-byte aligned builder):
/// one frame holding identity{caller} and one service capability per entry of `rights`, and an
/// `expires` constraint when `expires_unix_seconds` is not 0 (every request inherits it).
result<caplets::byte_view, credential_error>
mint_credential(const caplets::secret_key& deployment_root, std::string_view caller,
                std::string_view callee, std::span<const import_rights> rights,
                std::uint64_t expires_unix_seconds, lidl::builder& out);

} // namespace amb::remote
