# embed_files(<var> <namespace> <name> <path> [<name> <path>...])
# Generates a C++ source holding each file's bytes, so the daemon ships as one binary.
# Sets <var>_SOURCES. Lookup at run time: tf::web::find_asset(name) (see web/assets.hpp).
function(embed_files var ns)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${var}.cpp")
  set(args ${ARGN})
  set(deps "")
  set(pairs "")
  list(LENGTH args n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET args ${i} name)
    list(GET args ${j} path)
    list(APPEND deps ${path})
    list(APPEND pairs "${name}=${path}")
  endforeach()
  # A ';' would split the -D argument into several: the pairs travel joined by '|'.
  list(JOIN pairs "|" joined)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNS=${ns} "-DPAIRS=${joined}"
            -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_files_script.cmake
    DEPENDS ${deps} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_files_script.cmake
    COMMENT "Embedding ${var}"
    VERBATIM)
  set(${var}_SOURCES ${out} PARENT_SCOPE)
endfunction()
