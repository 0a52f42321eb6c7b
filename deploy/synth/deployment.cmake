# amb_add_deployment(DIRECTORY)
#
# Builds the hosted nodes of the deployment in DIRECTORY (a deployment.py manifest, docs/deploy.md)
# as executables of this build: `${CMAKE_BINARY_DIR}/deploy/NAME/bin/NODE`, all built by the
# target `deploy_NAME` (NAME: the directory's name). If DIRECTORY has a CMakeLists.txt it is
# added first (once): it declares the lidl schemas and the service implementation targets the
# manifest names.
#
# At configure time only the manifest is run (`python3 -m synth nodes`: node names and
# implementation targets, no lidlc needed). The C++ of each node is generated at build time by
# `python3 -m synth generate` with this build's lidlc, so a fresh build tree works.
set(AMB_DEPLOY_PYTHONPATH ${CMAKE_CURRENT_LIST_DIR}/..)
set(AMB_DEPLOY_SYNTH_DIR ${CMAKE_CURRENT_LIST_DIR})

function(amb_add_deployment directory)
    get_filename_component(dir ${directory} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    execute_process(
        COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${AMB_DEPLOY_PYTHONPATH}
                PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m synth nodes ${dir}
        OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "deployment ${dir}:\n${errors}")
    endif()
    string(REPLACE "\n" ";" lines "${listing}")
    set(nodes)
    set(targets)
    set(files)
    foreach(line ${lines})
        if(line MATCHES "^name (.*)$")
            set(name ${CMAKE_MATCH_1})
        elseif(line MATCHES "^node (.*)$")
            list(APPEND nodes ${CMAKE_MATCH_1})
        elseif(line MATCHES "^target (.*)$")
            list(APPEND targets ${CMAKE_MATCH_1})
        elseif(line MATCHES "^file (.*)$")
            list(APPEND files ${CMAKE_MATCH_1})
        endif()
    endforeach()
    list(REMOVE_DUPLICATES targets)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${files})

    if(EXISTS ${dir}/CMakeLists.txt)
        get_property(added GLOBAL PROPERTY AMB_DEPLOYMENT_SOURCES)
        if(NOT dir IN_LIST added)
            set_property(GLOBAL APPEND PROPERTY AMB_DEPLOYMENT_SOURCES ${dir})
            add_subdirectory(${dir} ${CMAKE_BINARY_DIR}/deploy/${name}/implementation)
        endif()
    endif()

    # `ambience build` looks here to know whether this build already has the deployment.
    file(WRITE ${CMAKE_BINARY_DIR}/deploy/${name}/source "${dir}\n")
    set(out ${CMAKE_BINARY_DIR}/deploy/${name}/synth)
    set(sources)
    foreach(node ${nodes})
        list(APPEND sources ${out}/${node}.cpp)
    endforeach()
    file(GLOB_RECURSE schemas ${dir}/*.lidl)
    file(GLOB synth_sources ${AMB_DEPLOY_SYNTH_DIR}/*.py ${AMB_DEPLOY_SYNTH_DIR}/../manifest/*.py)
    add_custom_command(
        OUTPUT ${sources} ${out}/deployment.json
        COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${AMB_DEPLOY_PYTHONPATH}
                PYTHONDONTWRITEBYTECODE=1 AMBIENCE_LIDLC=$<TARGET_FILE:lidlc>
                /usr/bin/python3 -m synth generate ${dir} --out ${out}
        DEPENDS lidlc ${files} ${schemas} ${synth_sources}
        COMMENT "Synthesizing the nodes of deployment ${name}"
        VERBATIM)
    add_custom_target(deploy_${name})
    foreach(node ${nodes})
        add_executable(${name}_${node} ${out}/${node}.cpp)
        target_link_libraries(${name}_${node} PRIVATE amb_deploy_glue ${targets})
        set_target_properties(${name}_${node} PROPERTIES
            OUTPUT_NAME ${node}
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/deploy/${name}/bin)
        amb_tool_options(${name}_${node})
        add_dependencies(deploy_${name} ${name}_${node})
    endforeach()
    add_dependencies(deploy_${name} amb-remote-keys caplets)
endfunction()
