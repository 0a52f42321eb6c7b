# http_export_description(TARGET SCHEMAS a.lidl [b.lidl ...] [INCLUDE_DIRS dir ...])
#
# Embeds lidlc's JSON description of each schema (docs/lidlc-json.md) in a generated header
# <stem>.lidl.description.hpp, so that an HTTP export can answer `GET /<export>` with the
# interface's procedures, types and doc comments:
#
#     #include "camera.lidl.description.hpp"
#     exporter.add_local("camera", implementation, lidl_descriptions::camera);
#
# TARGET becomes an INTERFACE library that provides the headers. The description is produced
# at build time by the same lidlc that generates the code, so the two cannot disagree.
set(HTTP_EXPORT_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_description.cmake)

function(http_export_description target)
    cmake_parse_arguments(ARG "" "" "SCHEMAS;INCLUDE_DIRS" ${ARGN})
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_description)
    file(MAKE_DIRECTORY ${out_dir})
    set(include_flags)
    foreach(dir ${ARG_INCLUDE_DIRS})
        get_filename_component(abs_dir ${dir} ABSOLUTE)
        list(APPEND include_flags -I ${abs_dir})
    endforeach()
    string(REPLACE ";" "|" include_flags_arg "${include_flags}")
    set(outputs)
    foreach(schema ${ARG_SCHEMAS})
        get_filename_component(abs ${schema} ABSOLUTE)
        get_filename_component(name ${schema} NAME)
        string(REGEX REPLACE "\\.lidl$" "" stem ${name})
        set(header ${out_dir}/${stem}.lidl.description.hpp)
        add_custom_command(
            OUTPUT ${header}
            COMMAND ${CMAKE_COMMAND} -DLIDLC=$<TARGET_FILE:lidlc> -DSCHEMA=${abs}
                    -DSTEM=${stem} -DOUTPUT=${header} "-DINCLUDE_FLAGS=${include_flags_arg}"
                    -P ${HTTP_EXPORT_EMBED_SCRIPT}
            DEPENDS $<TARGET_FILE:lidlc> ${abs} ${HTTP_EXPORT_EMBED_SCRIPT}
            COMMENT "lidlc --json ${name} (embedded description)"
            VERBATIM)
        list(APPEND outputs ${header})
    endforeach()
    add_custom_target(${target}_generate DEPENDS ${outputs})
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${out_dir})
    add_dependencies(${target} ${target}_generate)
endfunction()
