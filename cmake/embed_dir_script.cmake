# Called by tinyforge_web_ui(): writes OUT with one byte array per file under DIR (named by
# its path relative to DIR), plus the files of EXTRA (NAME=PATH pairs joined by '|'), as the
# tf::web asset table. Globbed when it runs, after the UI's build, so new hashed file names
# need no reconfigure.
file(GLOB_RECURSE files RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(pairs "")
foreach(f IN LISTS files)
  list(APPEND pairs "${f}=${DIR}/${f}")
endforeach()
if(EXTRA)
  string(REPLACE "|" ";" extra "${EXTRA}")
  list(APPEND pairs ${extra})
endif()
list(JOIN pairs "|" PAIRS)
include(${CMAKE_CURRENT_LIST_DIR}/embed_files_script.cmake)
