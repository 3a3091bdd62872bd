# tinyforge_web_ui(<var> EXTRA <name> <path> [<name> <path>...])
#
# The web UI (web/, SvelteKit) built with npm and embedded with the EXTRA files as the tf::web
# asset table; sets <var>_SOURCES to the generated source. `npm ci` runs when
# package-lock.json changed (web/node_modules is shared by the build directories, under a
# lock), the build when a file of web/ changed (under the same lock: SvelteKit's generated
# files are web/.svelte-kit); the output stays in this build directory. With TINYFORGE_WEB_UI=OFF, or no npm, web/placeholder.html
# is the index instead (the daemon then says the UI is not built).
option(TINYFORGE_WEB_UI "Build the web UI with npm and compile it into the daemon" ON)

function(tinyforge_web_ui var)
  cmake_parse_arguments(W "" "" "EXTRA" ${ARGN})
  set(web ${PROJECT_SOURCE_DIR}/web)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/web-ui)
  set(src ${CMAKE_CURRENT_BINARY_DIR}/tinyforge_web_ui.cpp)
  set(extra_pairs "")
  set(extra_deps "")
  list(LENGTH W_EXTRA n)
  if(n GREATER 0)
    math(EXPR last "${n} - 1")
    foreach(i RANGE 0 ${last} 2)
      math(EXPR j "${i} + 1")
      list(GET W_EXTRA ${i} name)
      list(GET W_EXTRA ${j} path)
      list(APPEND extra_pairs "${name}=${path}")
      list(APPEND extra_deps ${path})
    endforeach()
  endif()
  find_program(TF_NPM npm)
  find_program(TF_FLOCK flock)
  if(NOT TINYFORGE_WEB_UI OR NOT TF_NPM)
    if(TINYFORGE_WEB_UI)
      message(WARNING "npm not found: the daemon is built with a placeholder instead of the web UI")
    endif()
    embed_files(${var} tf::web index.html ${web}/placeholder.html ${W_EXTRA})
    set(${var}_SOURCES ${${var}_SOURCES} PARENT_SCOPE)
    return()
  endif()
  list(JOIN extra_pairs "|" extra_joined)
  set(lock "")
  if(TF_FLOCK)
    set(lock ${TF_FLOCK} ${web}/.npm-ci.lock)
  endif()
  # One node_modules for every build directory: installed once per lock file.
  set(installed ${web}/node_modules/.package-lock.json)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/web-npm-ci.stamp
    COMMAND ${lock} ${TF_NPM} ci --no-audit --no-fund --loglevel=error
    COMMAND ${CMAKE_COMMAND} -E touch ${CMAKE_CURRENT_BINARY_DIR}/web-npm-ci.stamp
    WORKING_DIRECTORY ${web}
    DEPENDS ${web}/package.json ${web}/package-lock.json
    COMMENT "web: npm ci"
    VERBATIM)
  file(GLOB_RECURSE ui_sources CONFIGURE_DEPENDS ${web}/src/* ${web}/static/*)
  add_custom_command(
    OUTPUT ${src}
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${out}
    COMMAND ${CMAKE_COMMAND} -E env TF_WEB_OUT=${out} ${lock} ${TF_NPM} run build --silent
    COMMAND ${CMAKE_COMMAND} -DOUT=${src} -DNS=tf::web -DDIR=${out} "-DEXTRA=${extra_joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_dir_script.cmake
    WORKING_DIRECTORY ${web}
    DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/web-npm-ci.stamp ${ui_sources} ${extra_deps}
            ${web}/svelte.config.js ${web}/vite.config.ts ${web}/tsconfig.json
            ${PROJECT_SOURCE_DIR}/cmake/embed_dir_script.cmake
            ${PROJECT_SOURCE_DIR}/cmake/embed_files_script.cmake
    COMMENT "web: building the UI and embedding it"
    VERBATIM)
  set(${var}_SOURCES ${src} PARENT_SCOPE)
endfunction()
