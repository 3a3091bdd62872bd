# tinyforge_floor(<folder> SOURCES <files...> BELOW <floors...> [LINK <libraries...>])
#
# One folder of the tree as one static library, tf_<folder>, that links only the floors
# BELOW it. A floor's headers are reachable only through a view of its own folder in the
# build tree (floors/<folder>/<folder> -> the source folder), and a target's include path
# holds only the views of its own floor and of the floors it links: an #include of a higher
# floor ("actors/..." from store/) finds no file and fails the build, instead of compiling
# and quietly turning the layers into a knot.
function(tinyforge_floor folder)
  cmake_parse_arguments(F "" "" "SOURCES;BELOW;LINK" ${ARGN})
  set(view ${PROJECT_BINARY_DIR}/floors/${folder})
  file(MAKE_DIRECTORY ${view})
  if(NOT EXISTS ${view}/${folder})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${view}/${folder} SYMBOLIC)
  endif()
  add_library(tf_${folder} STATIC ${F_SOURCES})
  target_include_directories(tf_${folder} PUBLIC ${view})
  set(below "")
  foreach(floor IN LISTS F_BELOW)
    list(APPEND below tf_${floor})
  endforeach()
  target_link_libraries(tf_${folder} PUBLIC tinyforge_options ${below} ${F_LINK})
endfunction()

# The heavy third-party headers most sources of a floor parse, compiled once per floor.
# With ccache, a precompiled header is cached only when its sloppiness allows it (the
# launcher in the top CMakeLists.txt sets it).
function(tinyforge_precompile target)
  target_precompile_headers(${target} PRIVATE ${ARGN})
endfunction()
