// Errors reported by the lidl runtime: building into a buffer that is too small, and the
// reasons a verifier rejects an untrusted buffer, with where it happened.
#pragma once

#include <cstdint>

namespace lidl {

enum class error : std::uint8_t {
    buffer_too_small = 1,  ///< builder: the caller's buffer cannot hold the message
    misaligned_buffer,     ///< the buffer does not start on an 8-byte boundary
    truncated,             ///< shorter than the header, or than the root it announces
    bad_header,            ///< unknown format version or flags
    object_too_small,      ///< an object is smaller than the reader's type (older writer)
    bad_offset,            ///< a reference points backwards, outside the buffer, or past its end
    misaligned_reference,  ///< a referenced object is not aligned for its type
    bad_bool,              ///< a bool byte is neither 0 nor 1
    bad_enum,              ///< an enum holds a value its type does not declare
    bad_optional_flag,     ///< an optional's presence byte is neither 0 nor 1
    bad_union_tag,         ///< a union tag names no alternative the reader knows
    too_deep,              ///< nesting deeper than the verifier's limit
    budget_exceeded,       ///< the message references more data than it could hold (sharing)
    bad_procedure,         ///< a call names a procedure the service does not have
};

/// A sentence describing `e`.
constexpr const char* describe(error e) {
    switch (e) {
    case error::buffer_too_small: return "the buffer is too small for the message";
    case error::misaligned_buffer: return "the buffer does not start on an 8-byte boundary";
    case error::truncated: return "the message is truncated";
    case error::bad_header: return "the message header has an unknown version or flags";
    case error::object_too_small: return "an object is smaller than its type";
    case error::bad_offset: return "a reference points outside the message or backwards";
    case error::misaligned_reference: return "a referenced object is misaligned";
    case error::bad_bool: return "a bool is neither 0 nor 1";
    case error::bad_enum: return "an enum has an undeclared value";
    case error::bad_optional_flag: return "an optional's presence flag is neither 0 nor 1";
    case error::bad_union_tag: return "a union tag names no known alternative";
    case error::too_deep: return "the message nests too deeply";
    case error::budget_exceeded: return "the message references more data than it holds";
    case error::bad_procedure: return "the call names an unknown procedure";
    }
    return "unknown lidl error";
}

/// Why a buffer was rejected: what, where (byte offset in the buffer), and in which type and
/// field (static strings from the generated code; empty when not applicable).
struct verify_error {
    error kind = error::truncated;
    std::uint32_t offset = 0;
    const char* type = "";
    const char* field = "";
};

}  // namespace lidl
