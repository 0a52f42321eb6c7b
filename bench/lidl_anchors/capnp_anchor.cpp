// The Cap'n Proto anchor of benchmark `lidl` (see anchors.hpp): building a sample into reused
// scratch, and verifying plus reading it with FlatArrayMessageReader.
//
// Bytes are in Cap'n Proto's standard flat-array framing (a segment table, then the segments), the
// form any Cap'n Proto reader accepts. The builder writes a single segment after one reserved
// word and fills that word with the one-segment table itself, so build() hands out the finished
// bytes in place: no messageToFlatArray copy unless the message outgrows the scratch.
#include "anchors.hpp"

#include "sample.capnp.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

namespace amb::lidl_anchors {
namespace {

using capnp_schema::Sample;
using capnp_schema::TextMessage;

// The segment table is written in host order; Cap'n Proto's wire order is little-endian.
static_assert(std::endian::native == std::endian::little, "segment table written in host order");

constexpr std::size_t word_bytes = sizeof(capnp::word);

std::span<const std::uint8_t> as_bytes(kj::ArrayPtr<const capnp::word> words) {
    return {reinterpret_cast<const std::uint8_t*>(words.begin()), words.size() * word_bytes};
}

// The words of `bytes`, or nothing when they cannot be a Cap'n Proto message: the reader requires
// word alignment (anything else is undefined behaviour in its accessors) and whole words.
std::optional<kj::ArrayPtr<const capnp::word>> as_words(std::span<const std::uint8_t> bytes) {
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) != 0)
        return std::nullopt;
    if (bytes.size() % word_bytes != 0)
        return std::nullopt;
    return kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()),
                        bytes.size() / word_bytes);
}

kj::ArrayPtr<const capnp::byte> to_data(const std::vector<std::uint8_t>& bytes) {
    return kj::arrayPtr(bytes.data(), bytes.size());
}

// std::string is NUL-terminated, as capnp::Text::Reader requires.
capnp::Text::Reader to_text(const std::string& text) {
    return capnp::Text::Reader(text.data(), text.size());
}

}  // namespace

struct capnp_builder::state {
    std::size_t segment_words;
    // Word 0: the segment table; words 1..: the first segment, zeroed as the builder requires.
    std::unique_ptr<capnp::word[]> scratch;
    // Destroying a MallocMessageBuilder built over scratch zeroes the part it used, so the
    // previous message is kept alive until the next build (its bytes are what build() returned).
    // Declared after scratch, so it is destroyed first.
    std::optional<capnp::MallocMessageBuilder> message;
    // Only for a message that outgrew the scratch.
    kj::Array<capnp::word> overflow;

    explicit state(std::size_t words)
        : segment_words(words), scratch(new capnp::word[words + 1]()) {}
};

capnp_builder::capnp_builder(std::size_t first_segment_bytes)
    : state_(std::make_unique<state>((first_segment_bytes + word_bytes - 1) / word_bytes)) {}

capnp_builder::~capnp_builder() = default;

std::span<const std::uint8_t> capnp_builder::build(const sample_values& sample) {
    state& s = *state_;
    s.message.reset();
    capnp::word* segment = s.scratch.get() + 1;
    s.message.emplace(kj::arrayPtr(segment, s.segment_words));

    Sample::Builder root = s.message->initRoot<Sample>();
    root.setId(sample.id);
    root.setTimestamp(sample.timestamp);
    root.setTemperature(sample.temperature);
    root.setHumidity(sample.humidity);
    root.setSequence(sample.sequence);
    root.setFlags(sample.flags);
    root.setKind(sample.kind);
    root.setActive(sample.active);
    root.setLabel(to_text(sample.label));
    root.setPayload(to_data(sample.payload));
    capnp::List<capnp::Text>::Builder tags =
        root.initTags(static_cast<unsigned>(sample.tags.size()));
    for (unsigned i = 0; i < sample.tags.size(); ++i)
        tags.set(i, to_text(sample.tags[i]));

    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments =
        s.message->getSegmentsForOutput();
    if (segments.size() != 1) {
        s.overflow = capnp::messageToFlatArray(segments);
        return as_bytes(s.overflow);
    }
    // The one-segment table: (segment count - 1, size of segment 0 in words).
    const std::uint32_t table[2] = {0, static_cast<std::uint32_t>(segments[0].size())};
    std::memcpy(s.scratch.get(), table, sizeof table);
    return as_bytes(kj::arrayPtr(s.scratch.get(), segments[0].size() + 1));
}

std::optional<std::uint64_t> capnp_verify_read(std::span<const std::uint8_t> bytes) {
    std::optional<kj::ArrayPtr<const capnp::word>> words = as_words(bytes);
    if (!words)
        return std::nullopt;
    try {
        // Checks the segment table against the array; each get* below checks its pointer.
        capnp::FlatArrayMessageReader reader(*words);
        Sample::Reader sample = reader.getRoot<Sample>();
        std::uint64_t sum = sample.getId() + sample.getTimestamp() +
                            std::bit_cast<std::uint32_t>(sample.getTemperature()) +
                            std::bit_cast<std::uint32_t>(sample.getHumidity()) +
                            sample.getSequence() + sample.getFlags() + sample.getKind() +
                            (sample.getActive() ? 1U : 0U);
        capnp::Text::Reader label = sample.getLabel();
        sum += label.size();
        if (label.size() != 0)
            sum += static_cast<std::uint8_t>(label[0]);
        for (capnp::byte byte : sample.getPayload())
            sum += byte;
        for (capnp::Text::Reader tag : sample.getTags())
            sum += tag.size();
        return sum;
    } catch (const kj::Exception&) {
        return std::nullopt;
    }
}

std::vector<std::uint8_t> capnp_build_text(std::string_view text) {
    // A first segment big enough for the whole message keeps it in one segment, as in the sample.
    const std::size_t words = (text.size() + 1 + word_bytes - 1) / word_bytes + 8;
    capnp::MallocMessageBuilder message(static_cast<unsigned>(words));
    capnp::Text::Builder field =
        message.initRoot<TextMessage>().initText(static_cast<unsigned>(text.size()));
    std::memcpy(field.begin(), text.data(), text.size());
    kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
    std::span<const std::uint8_t> bytes = as_bytes(flat);
    return {bytes.begin(), bytes.end()};
}

std::optional<text_summary> capnp_read_text(std::span<const std::uint8_t> bytes) {
    std::optional<kj::ArrayPtr<const capnp::word>> words = as_words(bytes);
    if (!words)
        return std::nullopt;
    try {
        capnp::FlatArrayMessageReader reader(*words);
        capnp::Text::Reader text = reader.getRoot<TextMessage>().getText();
        text_summary summary;
        summary.length = text.size();
        if (text.size() != 0)
            summary.first_byte = static_cast<std::uint8_t>(text[0]);
        return summary;
    } catch (const kj::Exception&) {
        return std::nullopt;
    }
}

}  // namespace amb::lidl_anchors
