# hook.cmake -- brings tests/fuzz into a configure of the top-level project
# without touching the top-level CMakeLists.txt (the fuzz build is clang-only
# and is not part of the normal gcc build). run.sh passes
#   -DCMAKE_PROJECT_promstore_INCLUDE=<this file>
# CMake includes it at the end of project(promstore), before any target
# exists, so tests/fuzz/CMakeLists.txt is included at the end of the
# top-level directory instead, once promstore_static and its usage
# requirements are defined. (A deferred call may not add_subdirectory, so
# the fuzz targets live in the top-level directory scope.)
# The arguments of a deferred call are expanded when it runs, so the path is
# put in a variable now.
set(PS_FUZZ_LISTS ${CMAKE_CURRENT_LIST_DIR}/CMakeLists.txt)
cmake_language(DEFER CALL include ${PS_FUZZ_LISTS})
