# Compiles through ccache (Debian's `ccache`, scripts/setup.sh) when it is installed, so that a second build of the
# same sources with the same flags in another folder -- the wheel that `pip install .` builds, next to build/ --
# reuses the first one's objects instead of compiling again. CCACHE_BASEDIR makes the paths under the source tree
# relative (hence equal for build/ and build-wheel/, folders at the same depth); CCACHE_NOHASHDIR leaves the
# working folder out of the hash (it only reaches the debug information's compilation directory).
# Off with -DSHARDLM_CCACHE=OFF; a launcher given on the command line (CMAKE_CXX_COMPILER_LAUNCHER) wins.
option(SHARDLM_CCACHE "Compile through ccache when it is installed" ${PROJECT_IS_TOP_LEVEL})
if(SHARDLM_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(SHARDLM_CCACHE_PROGRAM ccache)
  if(SHARDLM_CCACHE_PROGRAM)
    set(SHARDLM_CCACHE_LAUNCHER ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_NOHASHDIR=1
        ${SHARDLM_CCACHE_PROGRAM})
    foreach(lang C CXX CUDA)
      set(CMAKE_${lang}_COMPILER_LAUNCHER ${SHARDLM_CCACHE_LAUNCHER})
    endforeach()
    message(STATUS "shardlm: compiler cache ${SHARDLM_CCACHE_PROGRAM}")
  else()
    message(STATUS "shardlm: compiler cache off (ccache not found)")
  endif()
endif()
