# lidl_generate(TARGET SCHEMAS a.lidl [b.lidl ...] [INCLUDE_DIRS dir ...])
#
# Runs lidlc at build time on each schema and makes TARGET an INTERFACE library that provides
# the generated headers (<stem>.lidl.hpp and <stem>.lidl.json.hpp) and links the lidl runtime.
# A schema's imports must be listed too (each generated header includes those of its imports).
# lidlc writes a depfile, so editing an imported schema regenerates its importers.
function(lidl_generate target)
    cmake_parse_arguments(ARG "" "" "SCHEMAS;INCLUDE_DIRS" ${ARGN})
    if(NOT TARGET lidlc)
        message(FATAL_ERROR "lidl_generate(${target}) needs lidlc: build the default preset first "
                            "(cross builds run its lidlc; see AMB_HOST_LIDLC)")
    endif()
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_lidl)
    file(MAKE_DIRECTORY ${out_dir})
    set(include_flags)
    foreach(dir ${ARG_INCLUDE_DIRS})
        get_filename_component(abs_dir ${dir} ABSOLUTE)
        list(APPEND include_flags -I ${abs_dir})
    endforeach()
    set(outputs)
    foreach(schema ${ARG_SCHEMAS})
        get_filename_component(abs ${schema} ABSOLUTE)
        get_filename_component(name ${schema} NAME)
        string(REGEX REPLACE "\\.lidl$" "" stem ${name})
        set(header ${out_dir}/${stem}.lidl.hpp)
        set(json_header ${out_dir}/${stem}.lidl.json.hpp)
        add_custom_command(
            OUTPUT ${header} ${json_header}
            COMMAND lidlc ${include_flags} --cpp ${out_dir} --deps ${out_dir}/${stem}.lidl.d ${abs}
            DEPENDS $<TARGET_FILE:lidlc> ${abs}
            DEPFILE ${out_dir}/${stem}.lidl.d
            COMMENT "lidlc ${name}"
            VERBATIM)
        list(APPEND outputs ${header} ${json_header})
    endforeach()
    add_custom_target(${target}_generate DEPENDS ${outputs})
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${out_dir})
    target_link_libraries(${target} INTERFACE lidl_runtime)
    add_dependencies(${target} ${target}_generate)
endfunction()
