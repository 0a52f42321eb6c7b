# Build-time script of http_export_description (http_export.cmake): runs `lidlc --json` on
# SCHEMA and writes OUTPUT, a header holding the description as a string literal in which every
# byte is a \x escape (so no text of the schema, doc comments included, can end the literal).
# Variables: LIDLC, SCHEMA, STEM, OUTPUT, INCLUDE_FLAGS ("|"-separated lidlc -I arguments).
string(REPLACE "|" ";" include_flags "${INCLUDE_FLAGS}")
# Run from the schema's directory so that the description names files relative to it (no
# build-machine paths in the binary).
get_filename_component(schema_directory ${SCHEMA} DIRECTORY)
get_filename_component(schema_name ${SCHEMA} NAME)
execute_process(
    COMMAND ${LIDLC} ${include_flags} --json ${schema_name}
    WORKING_DIRECTORY ${schema_directory}
    OUTPUT_VARIABLE description
    ERROR_VARIABLE diagnostics
    RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "lidlc --json ${SCHEMA} failed:\n${diagnostics}")
endif()
file(WRITE ${OUTPUT}.json "${description}")
file(READ ${OUTPUT}.json hex HEX)
file(REMOVE ${OUTPUT}.json)
# 32 bytes per line, joined by adjacent-literal concatenation.
string(LENGTH "${hex}" hex_length)
set(lines "")
set(position 0)
while(position LESS hex_length)
    string(SUBSTRING "${hex}" ${position} 64 piece)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" piece "${piece}")
    string(APPEND lines "    \"${piece}\"\n")
    math(EXPR position "${position} + 64")
endwhile()
if(lines STREQUAL "")
    set(lines "    \"\"\n")
endif()
string(MAKE_C_IDENTIFIER "${STEM}" identifier)
set(content "// Generated from ${STEM}.lidl by `lidlc --json` (services/http_export/http_export.cmake).
// Do not edit: change the schema instead.
#pragma once

#include <string_view>

namespace lidl_descriptions {
/// The JSON description of ${STEM}.lidl (format: docs/lidlc-json.md).
inline constexpr std::string_view ${identifier} =
${lines}    ;
}  // namespace lidl_descriptions
")
file(WRITE ${OUTPUT}.tmp "${content}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
