// The content of benchmark `caplets` built both ways, and libmacaroons behind a plain interface.
#include "macaroons_anchor.hpp"

#include <macaroons.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace amb::caplets_anchors {
namespace {

// Path components the chain narrows through, in order (cycled if a chain is longer).
constexpr std::string_view narrowing[] = {"photos", "2025",  "11", "trip",  "raw",
                                          "best",   "print", "a4", "gloss", "v2"};

constexpr std::uint64_t day = 86400;

// Storage for one token or frame message; generous for 32 frames of this chain.
constexpr std::size_t scratch_words = 8192;

std::span<std::uint8_t> writable(std::vector<std::uint64_t>& storage) {
    return {reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8};
}

const unsigned char* as_unsigned(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

// True when `path` lies within `prefix` (both absolute): equal, below it, or prefix is "/".
bool within(std::string_view path, std::string_view prefix) {
    if (prefix == "/")
        return true;
    if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix)
        return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace

std::vector<chain_step> chain_content(std::size_t steps) {
    std::vector<chain_step> chain;
    chain.reserve(steps);
    std::string prefix = "/home/alice";
    std::size_t narrowed = 0;
    std::uint64_t expiry = first_expiry;
    for (std::size_t i = 0; i < steps; ++i) {
        chain_step step;
        if (i > 0 && i % 3 == 2) {
            step.expires = expiry;
            expiry -= day;
        } else if (i > 0) {
            prefix += '/';
            prefix += narrowing[narrowed++ % std::size(narrowing)];
        }
        step.prefix = prefix;
        chain.push_back(std::move(step));
    }
    return chain;
}

std::string caveat_text(const chain_step& step) {
    if (step.expires != 0)
        return "time < " + std::to_string(step.expires);
    return "path = " + step.prefix;
}

caplets::secret_key bench_secret() {
    caplets::secret_key secret;
    for (std::size_t i = 0; i < secret.bytes.size(); ++i)
        secret.bytes[i] = static_cast<std::uint8_t>(0xa5 ^ (i * 29));
    return secret;
}

// --- CAPLets ----------------------------------------------------------------------------------

std::optional<caplets_token> build_caplets_token(const caplets::secret_key& secret,
                                                 std::span<const chain_step> steps) {
    if (steps.empty())
        return std::nullopt;
    std::vector<std::uint64_t> frame_storage(scratch_words);
    std::vector<std::uint64_t> token_storage[2] = {std::vector<std::uint64_t>(scratch_words),
                                                   std::vector<std::uint64_t>(scratch_words)};
    caplets::byte_view token_bytes;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        caplets::frame_spec spec;
        spec.add_path(steps[i].prefix, caplets::rights::all);
        std::optional<caplets::token_view> parent;
        if (i > 0) {
            auto parsed = caplets::token_view::parse(token_bytes);
            if (!parsed)
                return std::nullopt;
            parent = *parsed;
            if (!spec.inherit_constraints(parent->leaf()))
                return std::nullopt;
        }
        if (steps[i].expires != 0 && !spec.add_expires(steps[i].expires))
            return std::nullopt;
        lidl::builder frame_out(writable(frame_storage));
        auto frame = spec.write(frame_out);
        if (!frame)
            return std::nullopt;
        // Alternate buffers: the parent's bytes stay readable while the child is written.
        lidl::builder token_out(writable(token_storage[i % 2]));
        auto written = i == 0 ? caplets::mint(secret, *frame, token_out)
                              : caplets::derive(*parent, *frame, token_out);
        if (!written)
            return std::nullopt;
        token_bytes = *written;
    }
    caplets_token token;
    token.size_ = token_bytes.size();
    token.storage_.resize((token_bytes.size() + 7) / 8);
    std::memcpy(token.storage_.data(), token_bytes.data(), token_bytes.size());
    return token;
}

std::size_t caplets_text_size(std::size_t token_bytes) {
    constexpr std::size_t prefix = sizeof("cap1_") - 1;
    return prefix + (4 * token_bytes + 2) / 3;  // base64 without padding: ceil(4n / 3)
}

// --- libmacaroons -------------------------------------------------------------------------------

std::optional<std::string> mint_macaroon_v1(const caplets::secret_key& secret,
                                            std::string_view location, std::string_view identifier,
                                            std::span<const chain_step> steps) {
    macaroon_returncode error = MACAROON_SUCCESS;
    macaroon* current =
        macaroon_create(as_unsigned(location), location.size(), secret.bytes.data(),
                        secret.bytes.size(), as_unsigned(identifier), identifier.size(), &error);
    if (current == nullptr)
        return std::nullopt;
    for (const chain_step& step : steps) {
        const std::string predicate = caveat_text(step);
        macaroon* next = macaroon_add_first_party_caveat(current, as_unsigned(predicate),
                                                         predicate.size(), &error);
        macaroon_destroy(current);
        if (next == nullptr)
            return std::nullopt;
        current = next;
    }
    std::string text(macaroon_serialize_size_hint(current), '\0');
    const int status = macaroon_serialize(current, text.data(), text.size(), &error);
    macaroon_destroy(current);
    if (status < 0)
        return std::nullopt;
    text.resize(std::strlen(text.c_str()));
    return text;
}

std::optional<deserialized_macaroon> deserialized_macaroon::parse(const std::string& text) {
    macaroon_returncode error = MACAROON_SUCCESS;
    macaroon* handle = macaroon_deserialize(text.c_str(), &error);
    if (handle == nullptr)
        return std::nullopt;
    return deserialized_macaroon(handle);
}

deserialized_macaroon::~deserialized_macaroon() {
    macaroon_destroy(handle_);
}

deserialized_macaroon::deserialized_macaroon(deserialized_macaroon&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

deserialized_macaroon& deserialized_macaroon::operator=(deserialized_macaroon&& other) noexcept {
    if (this != &other) {
        macaroon_destroy(handle_);
        handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
}

struct macaroon_checker::state {
    std::string requested_path;
    std::uint64_t now = 0;
    macaroon_verifier* verifier = nullptr;

    // libmacaroons' general check: 0 when the caveat holds, anything else when it does not.
    static int check(void* context, const unsigned char* predicate, size_t size) {
        const state& self = *static_cast<const state*>(context);
        const std::string_view text(reinterpret_cast<const char*>(predicate), size);
        constexpr std::string_view path_key = "path = ";
        constexpr std::string_view time_key = "time < ";
        if (text.starts_with(path_key)) {
            const std::string_view prefix = text.substr(path_key.size());
            const bool holds =
                caplets::is_normalised_path(prefix) && within(self.requested_path, prefix);
            return holds ? 0 : -1;
        }
        if (text.starts_with(time_key)) {
            const std::string_view digits = text.substr(time_key.size());
            std::uint64_t expires = 0;
            auto [end, parse_error] =
                std::from_chars(digits.data(), digits.data() + digits.size(), expires);
            if (parse_error != std::errc{} || end != digits.data() + digits.size())
                return -1;
            return self.now < expires ? 0 : -1;
        }
        return -1;
    }
};

macaroon_checker::macaroon_checker(std::string requested_path, std::uint64_t now)
    : state_(std::make_unique<state>()) {
    state_->requested_path = std::move(requested_path);
    state_->now = now;
    state_->verifier = macaroon_verifier_create();
    macaroon_returncode error = MACAROON_SUCCESS;
    if (state_->verifier != nullptr)
        macaroon_verifier_satisfy_general(state_->verifier, &state::check, state_.get(), &error);
}

macaroon_checker::~macaroon_checker() {
    if (state_->verifier != nullptr)
        macaroon_verifier_destroy(state_->verifier);
}

bool macaroon_checker::verify(const deserialized_macaroon& token,
                              const caplets::secret_key& secret) const {
    if (state_->verifier == nullptr || token.handle_ == nullptr)
        return false;
    macaroon_returncode error = MACAROON_SUCCESS;
    return macaroon_verify(state_->verifier, token.handle_, secret.bytes.data(),
                           secret.bytes.size(), nullptr, 0, &error) == 0;
}

bool macaroon_checker::verify_text(const std::string& text,
                                   const caplets::secret_key& secret) const {
    auto token = deserialized_macaroon::parse(text);
    return token && verify(*token, secret);
}

// --- libmacaroons' HMAC floor ---------------------------------------------------------------

sodium_hmac_chain::sodium_hmac_chain(const caplets::secret_key& secret,
                                     std::vector<std::string> messages)
    : messages_(std::move(messages)) {
    static_assert(crypto_auth_hmacsha256_KEYBYTES == 32 && crypto_auth_hmacsha256_BYTES == 32);
    // What a libsodium user does first (SHA-256 has no per-CPU variant to pick in 1.0.18, so the
    // floor is the same code libmacaroons runs).
    if (sodium_init() < 0)
        throw std::runtime_error("sodium_init failed");
    std::copy(secret.bytes.begin(), secret.bytes.end(), key_.begin());
}

std::array<std::uint8_t, 32> sodium_hmac_chain::run() const {
    std::array<std::uint8_t, 32> tag{};
    std::array<std::uint8_t, 32> key = key_;
    for (const std::string& message : messages_) {
        crypto_auth_hmacsha256(tag.data(), as_unsigned(message), message.size(), key.data());
        key = tag;
    }
    return tag;
}

}  // namespace amb::caplets_anchors
