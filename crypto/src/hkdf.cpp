// HKDF-SHA256 (RFC 5869) composed over HMAC-SHA256.
#include <crypto/crypto.hpp>

#include <algorithm>

namespace amb::crypto {

sha256_digest hkdf_extract(byte_view salt, byte_view input_key_material) {
    static constexpr std::uint8_t zero_salt[sha256_size] = {};
    if (salt.empty())
        salt = zero_salt;
    return hmac_sha256::mac(salt, input_key_material);
}

result<void, error> hkdf_expand(byte_view pseudorandom_key, byte_view info, byte_span out) {
    if (out.empty() || out.size() > hkdf_max_output)
        return failure{error::bad_output_size};
    if (pseudorandom_key.size() < sha256_size)
        return failure{error::bad_key_size};

    sha256_digest block{};
    std::size_t produced = 0;
    for (std::uint8_t counter = 1; produced < out.size(); ++counter) {
        hmac_sha256 mac(pseudorandom_key);
        if (counter > 1)
            mac.update(block);
        mac.update(info);
        mac.update(byte_view(&counter, 1));
        block = mac.finish();
        std::size_t take = std::min(block.size(), out.size() - produced);
        std::copy_n(block.begin(), take, out.begin() + static_cast<std::ptrdiff_t>(produced));
        produced += take;
    }
    secure_zero(block);
    return {};
}

result<void, error> hkdf(byte_view salt, byte_view input_key_material, byte_view info,
                         byte_span out) {
    sha256_digest pseudorandom_key = hkdf_extract(salt, input_key_material);
    result<void, error> expanded = hkdf_expand(pseudorandom_key, info, out);
    secure_zero(pseudorandom_key);
    return expanded;
}

}  // namespace amb::crypto
