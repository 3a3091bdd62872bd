# Dependencies come from Debian's packages only (see .ci/setup).
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)

# Debian ships no CMake package for CAF 0.17.6: wrap the library by hand.
find_path(CAF_INCLUDE_DIR NAMES caf/all.hpp)
find_library(CAF_CORE_LIBRARY NAMES caf_core)
if(NOT CAF_INCLUDE_DIR OR NOT CAF_CORE_LIBRARY)
  message(FATAL_ERROR "CAF not found: run .ci/setup (apt package libcaf-dev)")
endif()
add_library(tf_caf INTERFACE)
target_include_directories(tf_caf SYSTEM INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(tf_caf INTERFACE ${CAF_CORE_LIBRARY} Threads::Threads)

pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# libyaml: compose's normalized configuration, read for the stack policy (docker/compose_policy).
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
# libarchive: static sites' .tar.gz uploads, unpacked entry by entry (core/site_archive).
# Linked from Debian's libarchive.a when it is there, as tf_archive: the linker then takes
# only the tar reader and the gzip filter (plus the system zlib), while the shared library
# loads libxml2, ICU, nettle, libacl and five compressors into every daemon at start, for
# about 2 MB of idle RSS that a host without sites would pay (bench/daemon_footprint).
pkg_check_modules(ARCHIVE REQUIRED IMPORTED_TARGET libarchive)
find_package(ZLIB)
find_library(TF_ARCHIVE_STATIC NAMES libarchive.a)
add_library(tf_archive INTERFACE)
if(TF_ARCHIVE_STATIC AND ZLIB_FOUND)
  target_include_directories(tf_archive INTERFACE ${ARCHIVE_INCLUDE_DIRS})
  target_link_libraries(tf_archive INTERFACE ${TF_ARCHIVE_STATIC} ZLIB::ZLIB)
else()
  target_link_libraries(tf_archive INTERFACE PkgConfig::ARCHIVE)
endif()
add_library(tf_httplib INTERFACE)
target_link_libraries(tf_httplib INTERFACE PkgConfig::HTTPLIB Threads::Threads)

# A header-only library as the INTERFACE target `target`: the directory that holds `header`
# (cached in <prefix>_INCLUDE_DIR), or a stop that names the apt package .ci/setup installs.
function(tf_header_library target prefix name header package)
  find_path(${prefix}_INCLUDE_DIR NAMES ${header})
  if(NOT ${prefix}_INCLUDE_DIR)
    message(FATAL_ERROR "${name} not found: run .ci/setup (apt package ${package})")
  endif()
  add_library(${target} INTERFACE)
  target_include_directories(${target} SYSTEM INTERFACE ${${prefix}_INCLUDE_DIR})
endfunction()

tf_header_library(tf_rapidjson RAPIDJSON RapidJSON rapidjson/document.h rapidjson-dev)
tf_header_library(tf_cli11 CLI11 CLI11 CLI/CLI.hpp libcli11-dev)

find_package(doctest REQUIRED)
