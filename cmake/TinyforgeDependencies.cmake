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
add_library(tf_httplib INTERFACE)
target_link_libraries(tf_httplib INTERFACE PkgConfig::HTTPLIB Threads::Threads)

find_path(RAPIDJSON_INCLUDE_DIR NAMES rapidjson/document.h)
if(NOT RAPIDJSON_INCLUDE_DIR)
  message(FATAL_ERROR "RapidJSON not found: run .ci/setup (apt package rapidjson-dev)")
endif()
add_library(tf_rapidjson INTERFACE)
target_include_directories(tf_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIR})

find_path(CLI11_INCLUDE_DIR NAMES CLI/CLI.hpp)
if(NOT CLI11_INCLUDE_DIR)
  message(FATAL_ERROR "CLI11 not found: run .ci/setup (apt package libcli11-dev)")
endif()
add_library(tf_cli11 INTERFACE)
target_include_directories(tf_cli11 SYSTEM INTERFACE ${CLI11_INCLUDE_DIR})

find_package(doctest REQUIRED)
