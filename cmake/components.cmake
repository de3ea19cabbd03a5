# cmake/components.cmake -- components with walls the compiler enforces.
#
# A component is one folder of plugin/ or backends/, built as an object
# library. It is given the include folders it may use and no others, so that
# an #include "x.h" of a component it must not see does not compile:
#
#   ps_component(NAME
#     SOURCES  files...
#     SEES     folders whose headers it may include (its own folder first)
#     HIDES    headers of those folders it may not include after all: the
#              inside of a component it sees only through one header...
#     FACE     ...which is this one, named in the message
#     USES     third-party headers it may include: lmdb sqlite3 pcre2
#              protobuf-c snappy microhttpd yaml
#     LIBS     what it links)
#
# System headers live in /usr/include, which every compile sees, so for them
# the wall is a decoy: for each third-party library the component does not
# USE, a folder holding a header of the same name that stops the compiler
# with #error comes first on its include path. `#include <lmdb.h>` in
# plugin/engine/ then fails with "lmdb.h belongs to backends/lmdb/".
#
# ps_walls(TARGET USES ...) puts the same decoys in front of any other target
# (the server, the benchmark programs).
#
# HIDES works the same way for headers of a folder the component does see:
# each hidden header gets a decoy in the component's own walls folder, first
# on its include path, so `#include "store.h"` in plugin/protocol/ fails with
# "store.h is the inside of plugin/engine/: use engine.h". It holds only
# against includes from other folders -- #include "x.h" looks next to the
# including file first -- so the face itself must not include what is hidden.

set(PS_WALLS_DIR ${CMAKE_BINARY_DIR}/walls)
# library name | header path under the include root | the only place allowed
set(PS_WALL_HEADERS
  "lmdb|lmdb.h|backends/lmdb/"
  "sqlite3|sqlite3.h|backends/sqlite/"
  "pcre2|pcre2.h|plugin/index/ (matcher.c)"
  "protobuf-c|protobuf-c/protobuf-c.h|plugin/protocol/"
  "snappy|snappy-c.h|plugin/protocol/"
  "microhttpd|microhttpd.h|server/"
  "yaml|yaml.h|server/")
set(PS_WALL_LIBS)
foreach(entry ${PS_WALL_HEADERS})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 lib)
  list(GET parts 1 header)
  list(GET parts 2 owner)
  list(APPEND PS_WALL_LIBS ${lib})
  file(WRITE ${PS_WALLS_DIR}/${lib}/${header}
       "#error \"${header} belongs to ${owner}: this component may not include it (cmake/components.cmake)\"\n")
endforeach()

function(ps_walls target)
  cmake_parse_arguments(W "" "" "USES" ${ARGN})
  foreach(lib ${PS_WALL_LIBS})
    if(NOT lib IN_LIST W_USES)
      target_include_directories(${target} BEFORE PRIVATE ${PS_WALLS_DIR}/${lib})
    endif()
  endforeach()
endfunction()

# Decoys for the headers `hidden` of the folders `sees`, in front of target.
function(ps_hide target face sees hidden)
  set(dir ${PS_WALLS_DIR}/hides/${target})
  file(REMOVE_RECURSE ${dir}) # a header no longer hidden leaves no decoy behind
  foreach(header ${hidden})
    set(owner "")
    foreach(folder ${sees})
      if(EXISTS ${folder}/${header})
        file(RELATIVE_PATH owner ${CMAKE_SOURCE_DIR} ${folder})
        break()
      endif()
    endforeach()
    if(owner STREQUAL "")
      message(FATAL_ERROR "${target} HIDES ${header}, which no folder it SEES holds")
    endif()
    file(WRITE ${dir}/${header}
         "#error \"${header} is the inside of ${owner}/: use ${face} (cmake/components.cmake)\"\n")
  endforeach()
  target_include_directories(${target} BEFORE PRIVATE ${dir})
endfunction()

function(ps_component name)
  cmake_parse_arguments(C "" "FACE" "SOURCES;SEES;HIDES;USES;LIBS" ${ARGN})
  add_library(${name} OBJECT ${C_SOURCES})
  target_include_directories(${name} PRIVATE ${PS_ABI_DIR} ${C_SEES})
  if(C_HIDES)
    ps_hide(${name} "${C_FACE}" "${C_SEES}" "${C_HIDES}")
  endif()
  target_compile_definitions(${name} PRIVATE PROMSTORE_BUILDING)
  ps_walls(${name} USES ${C_USES})
  if(C_LIBS)
    target_link_libraries(${name} PUBLIC ${C_LIBS})
  endif()
endfunction()
