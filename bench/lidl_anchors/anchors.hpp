// The anchors of benchmark `lidl`: Cap'n Proto and FlatBuffers building, verifying and reading
// the same logical message ("sample") that lidl is measured on, behind a plain C++ interface so
// that bench/lidl_bench.cpp can time them without including either system's headers.
//
// Use: fill a sample_values (make_sample() gives the benchmark's message), build it with a
// capnp_builder or flatbuffers_builder kept across iterations, and hand the bytes to
// capnp_verify_read / flatbuffers_verify_read, which verify them the system's own way, read every
// field and return sample_checksum of what they read, or nothing when the system rejects the
// bytes. The *_build_text / *_read_text pairs do the same for a message holding one string.
//
// Errors: bytes from outside are never trusted. Every failure the systems detect (FlatBuffers'
// Verifier, Cap'n Proto's kj::Exception from its lazy bounds checks) comes back as an empty
// optional; nothing here throws. Not thread-safe per builder; free functions are reentrant.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amb::lidl_anchors {

// The logical message, as the C++ values a producer starts from.
struct sample_values {
    std::uint64_t id = 0;
    std::uint64_t timestamp = 0;
    float temperature = 0;
    float humidity = 0;
    std::uint32_t sequence = 0;
    std::uint16_t flags = 0;
    std::uint8_t kind = 0;
    bool active = false;
    std::string label;
    std::vector<std::uint8_t> payload;
    std::vector<std::string> tags;
};

inline constexpr std::size_t sample_payload_size = 4096;
inline constexpr std::size_t sample_tag_count = 16;

// The benchmark's message. The scalars are all non-zero so that no system can elide a field as a
// default (FlatBuffers omits fields equal to their default).
inline sample_values make_sample() {
    sample_values sample;
    sample.id = 0x0123456789abcdefULL;
    sample.timestamp = 1732536000123456789ULL;  // nanoseconds since the epoch
    sample.temperature = 21.5F;
    sample.humidity = 63.25F;
    sample.sequence = 40017;
    sample.flags = 0x00a5;
    sample.kind = 3;
    sample.active = true;
    sample.label = "camera-trap-17/north-ridge";
    sample.payload.resize(sample_payload_size);
    for (std::size_t i = 0; i < sample.payload.size(); ++i)
        sample.payload[i] = static_cast<std::uint8_t>((i * 7 + 3) % 256);
    sample.tags.reserve(sample_tag_count);
    for (std::size_t i = 0; i < sample_tag_count; ++i) {
        std::string tag = "tag-00";
        tag[4] = static_cast<char>('0' + i / 10);
        tag[5] = static_cast<char>('0' + i % 10);
        sample.tags.push_back(std::move(tag));
    }
    return sample;
}

// What every verify_read computes from the fields it read, so that each system must touch every
// field and the results can be compared across systems: the scalars summed (floats by their bit
// patterns, so no rounding enters), plus the label's length and first byte (0 when empty), plus
// every payload byte, plus the length of every tag. Arithmetic wraps modulo 2^64.
inline std::uint64_t sample_checksum(const sample_values& sample) {
    std::uint64_t sum = sample.id + sample.timestamp +
                        std::bit_cast<std::uint32_t>(sample.temperature) +
                        std::bit_cast<std::uint32_t>(sample.humidity) + sample.sequence +
                        sample.flags + sample.kind + (sample.active ? 1U : 0U);
    sum += sample.label.size();
    if (!sample.label.empty())
        sum += static_cast<std::uint8_t>(sample.label[0]);
    for (std::uint8_t byte : sample.payload)
        sum += byte;
    for (const std::string& tag : sample.tags)
        sum += tag.size();
    return sum;
}

// The read_string benchmark's string of `size` bytes: lowercase letters, so the first byte is
// known ('a') and no byte is zero.
inline std::string make_text(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        text[i] = static_cast<char>('a' + i % 26);
    return text;
}

// What read_text returns: the string's length and first byte (0 when empty).
struct text_summary {
    std::uint64_t length = 0;
    std::uint8_t first_byte = 0;
    friend bool operator==(const text_summary&, const text_summary&) = default;
};

// --- Cap'n Proto -------------------------------------------------------------------------------

// Builds samples into one reused, pre-allocated and zeroed first segment, the fastest way Cap'n
// Proto offers for building many small messages (MallocMessageBuilder over caller scratch). The
// word before the segment is reserved for the standard single-segment table, so the result is
// the exact bytes messageToFlatArray would produce, made in place without a copy. A message that
// outgrows the scratch still works: it falls back to messageToFlatArray (a copy).
class capnp_builder {
public:
    // `first_segment_bytes` is rounded up to whole words; the sample needs about 4.4 KiB.
    explicit capnp_builder(std::size_t first_segment_bytes = 16 * 1024);
    ~capnp_builder();
    capnp_builder(const capnp_builder&) = delete;
    capnp_builder& operator=(const capnp_builder&) = delete;

    // Builds `sample` and returns its bytes (8-byte aligned, in Cap'n Proto's flat-array framing),
    // valid until the next build() or the builder's destruction. The previous message's space is
    // zeroed for reuse at the start of each build, so that cost is counted in build().
    std::span<const std::uint8_t> build(const sample_values& sample);

private:
    struct state;
    std::unique_ptr<state> state_;
};

// Verifies and reads a sample from `bytes` (flat-array framing, must be 8-byte aligned as any
// std::vector's data is). Cap'n Proto checks bounds lazily, as each pointer is followed, so the
// reader's construction plus the read of every field is its verification. Returns
// sample_checksum of the fields read, or nothing when Cap'n Proto rejects the bytes (including a
// misaligned start or a length that is not a whole number of words).
std::optional<std::uint64_t> capnp_verify_read(std::span<const std::uint8_t> bytes);

// A TextMessage holding `text` in one segment, in flat-array framing. Not meant to be timed.
std::vector<std::uint8_t> capnp_build_text(std::string_view text);

// Verifies and reads a TextMessage: its string's length and first byte, or nothing when rejected.
std::optional<text_summary> capnp_read_text(std::span<const std::uint8_t> bytes);

// --- FlatBuffers -------------------------------------------------------------------------------

// Builds samples with one FlatBufferBuilder kept across builds (Clear() between them keeps its
// buffer, so a steady state allocates nothing).
class flatbuffers_builder {
public:
    explicit flatbuffers_builder(std::size_t initial_bytes = 16 * 1024);
    ~flatbuffers_builder();
    flatbuffers_builder(const flatbuffers_builder&) = delete;
    flatbuffers_builder& operator=(const flatbuffers_builder&) = delete;

    // Builds `sample` and returns the finished buffer (GetBufferPointer / GetSize), valid until
    // the next build() or the builder's destruction.
    std::span<const std::uint8_t> build(const sample_values& sample);

private:
    struct state;
    std::unique_ptr<state> state_;
};

// Runs VerifySampleBuffer over `bytes`, then reads every field. Returns sample_checksum of the
// fields read (absent fields read as their defaults), or nothing when the Verifier rejects the
// bytes.
std::optional<std::uint64_t> flatbuffers_verify_read(std::span<const std::uint8_t> bytes);

// A finished TextMessage buffer holding `text`. Not meant to be timed.
std::vector<std::uint8_t> flatbuffers_build_text(std::string_view text);

// Verifies (VerifyBuffer<TextMessage>) and reads a TextMessage: its string's length and first
// byte, or nothing when the Verifier rejects the bytes.
std::optional<text_summary> flatbuffers_read_text(std::span<const std::uint8_t> bytes);

}  // namespace amb::lidl_anchors
