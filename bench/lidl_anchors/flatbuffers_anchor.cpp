// The FlatBuffers anchor of benchmark `lidl` (see anchors.hpp): building a sample with a reused
// FlatBufferBuilder, and verifying it with the generated VerifySampleBuffer before reading it.
//
// The bytes are the finished buffer exactly as the builder holds it (GetBufferPointer/GetSize):
// FlatBuffers builds back to front into one contiguous block, so there is nothing to copy.
#include "anchors.hpp"

#include "sample_generated.h"

#include <flatbuffers/flatbuffers.h>

namespace amb::lidl_anchors {
namespace {

using flatbuffers_schema::Sample;
using flatbuffers_schema::TextMessage;

std::span<const std::uint8_t> buffer_of(const flatbuffers::FlatBufferBuilder& builder) {
    return {builder.GetBufferPointer(), builder.GetSize()};
}

}  // namespace

struct flatbuffers_builder::state {
    flatbuffers::FlatBufferBuilder builder;

    explicit state(std::size_t initial_bytes) : builder(initial_bytes) {}
};

flatbuffers_builder::flatbuffers_builder(std::size_t initial_bytes)
    : state_(std::make_unique<state>(initial_bytes)) {}

flatbuffers_builder::~flatbuffers_builder() = default;

std::span<const std::uint8_t> flatbuffers_builder::build(const sample_values& sample) {
    flatbuffers::FlatBufferBuilder& builder = state_->builder;
    builder.Clear();
    // Strings and vectors first: a table may only refer to objects that are already built.
    flatbuffers::Offset<flatbuffers::String> label = builder.CreateString(sample.label);
    flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> payload =
        builder.CreateVector(sample.payload.data(), sample.payload.size());
    // The iterator form keeps the tag offsets in the builder's scratch space: no allocation.
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> tags =
        builder.CreateVectorOfStrings(sample.tags.begin(), sample.tags.end());
    flatbuffers_schema::SampleBuilder root(builder);
    root.add_id(sample.id);
    root.add_timestamp(sample.timestamp);
    root.add_temperature(sample.temperature);
    root.add_humidity(sample.humidity);
    root.add_sequence(sample.sequence);
    root.add_flags(sample.flags);
    root.add_kind(sample.kind);
    root.add_active(sample.active);
    root.add_label(label);
    root.add_payload(payload);
    root.add_tags(tags);
    flatbuffers_schema::FinishSampleBuffer(builder, root.Finish());
    return buffer_of(builder);
}

std::optional<std::uint64_t> flatbuffers_verify_read(std::span<const std::uint8_t> bytes) {
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    if (!flatbuffers_schema::VerifySampleBuffer(verifier))
        return std::nullopt;
    const Sample* sample = flatbuffers_schema::GetSample(bytes.data());
    std::uint64_t sum = sample->id() + sample->timestamp() +
                        std::bit_cast<std::uint32_t>(sample->temperature()) +
                        std::bit_cast<std::uint32_t>(sample->humidity()) + sample->sequence() +
                        sample->flags() + sample->kind() + (sample->active() ? 1U : 0U);
    // Absent fields read as null: they count as empty, as their defaults would.
    if (const flatbuffers::String* label = sample->label(); label != nullptr) {
        sum += label->size();
        if (label->size() != 0)
            sum += static_cast<std::uint8_t>(label->Get(0));
    }
    if (const flatbuffers::Vector<std::uint8_t>* payload = sample->payload(); payload != nullptr) {
        for (std::uint8_t byte : *payload)
            sum += byte;
    }
    if (const auto* tags = sample->tags(); tags != nullptr) {
        for (const flatbuffers::String* tag : *tags)
            sum += tag->size();
    }
    return sum;
}

std::vector<std::uint8_t> flatbuffers_build_text(std::string_view text) {
    flatbuffers::FlatBufferBuilder builder(text.size() + 64);
    flatbuffers::Offset<flatbuffers::String> field = builder.CreateString(text.data(), text.size());
    builder.Finish(flatbuffers_schema::CreateTextMessage(builder, field));
    std::span<const std::uint8_t> bytes = buffer_of(builder);
    return {bytes.begin(), bytes.end()};
}

std::optional<text_summary> flatbuffers_read_text(std::span<const std::uint8_t> bytes) {
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    if (!verifier.VerifyBuffer<TextMessage>(nullptr))
        return std::nullopt;
    const flatbuffers::String* text = flatbuffers::GetRoot<TextMessage>(bytes.data())->text();
    text_summary summary;
    if (text == nullptr)
        return summary;
    summary.length = text->size();
    if (text->size() != 0)
        summary.first_byte = static_cast<std::uint8_t>(text->Get(0));
    return summary;
}

}  // namespace amb::lidl_anchors
