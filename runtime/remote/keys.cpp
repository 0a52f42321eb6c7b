#include <remote/keys.hpp>

#include <remote/envelope.hpp>

namespace amb::remote {

const char* describe(credential_error error) {
    switch (error) {
    case credential_error::bad_name:
        return "invalid node name";
    case credential_error::too_many_services:
        return "more than 15 services in one credential";
    case credential_error::buffer_too_small:
        return "buffer too small for the credential";
    }
    return "unknown credential error";
}

caplets::secret_key node_verification_key(const caplets::secret_key& deployment_root,
                                          std::string_view node_name) {
    caplets::secret_key key;
    auto derived = crypto::hkdf(crypto::as_bytes("AMB-REMOTE-NODE-KEY-v1"), deployment_root.bytes,
                                crypto::as_bytes(node_name), key.bytes);
    // 32 bytes from a 32-byte key cannot fail; a failure would leave an all-zero key.
    AMB_ASSERT(derived.has_value(), "HKDF of a node key failed");
    return key;
}

result<caplets::byte_view, credential_error>
mint_credential(const caplets::secret_key& deployment_root, std::string_view caller,
                std::string_view callee, std::span<const import_rights> rights,
                std::uint64_t expires_unix_seconds, lidl::builder& out) {
    if (!valid_node_name(caller) || !valid_node_name(callee))
        return failure{credential_error::bad_name};
    if (rights.size() + 1 > caplets::frame_spec::capacity)
        return failure{credential_error::too_many_services};
    caplets::frame_spec spec;
    spec.add_identity(caller);
    for (const import_rights& import : rights)
        spec.add_service(import.service, import.procedures, import.procedures.empty());
    if (expires_unix_seconds != 0)
        spec.add_expires(expires_unix_seconds);
    // Names and procedure lists are short; 4 KiB holds any frame_spec of 16 entries of them.
    alignas(8) std::uint8_t frame_storage[4096];
    lidl::builder frame_out(frame_storage);
    auto frame = spec.write(frame_out);
    if (!frame)
        return failure{credential_error::buffer_too_small};
    const caplets::secret_key key = node_verification_key(deployment_root, callee);
    auto token = caplets::mint(key, *frame, out);
    if (!token)
        return failure{credential_error::buffer_too_small};
    return *token;
}

} // namespace amb::remote
