# project(shardlm VERSION ...) in CMakeLists.txt is the one place the version is written; pyproject.toml must
# repeat it (setuptools reads it there). Included by CMakeLists.txt (checked at every configure) and run by ctest:
#   cmake -DSHARDLM_SOURCE_DIR=DIR -DSHARDLM_VERSION=X.Y.Z -P cmake/check_version.cmake
function(shardlm_check_pyproject_version source_dir version)
  set(pyproject "${source_dir}/pyproject.toml")
  if(NOT EXISTS "${pyproject}")
    return()  # a source tree without the Python package
  endif()
  file(STRINGS "${pyproject}" lines REGEX "^version *= *\"")
  list(LENGTH lines count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "${pyproject}: expected one line 'version = \"${version}\"' (in [project]), found ${count}")
  endif()
  string(REGEX REPLACE "^version *= *\"([^\"]*)\".*$" "\\1" py_version "${lines}")
  if(NOT py_version STREQUAL version)
    message(FATAL_ERROR "${pyproject} says version \"${py_version}\" but CMakeLists.txt says "
                        "project(shardlm VERSION ${version}): the version is written in project(); set "
                        "pyproject.toml's version to \"${version}\"")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  shardlm_check_pyproject_version("${SHARDLM_SOURCE_DIR}" "${SHARDLM_VERSION}")
  message(STATUS "pyproject.toml's version is project()'s: ${SHARDLM_VERSION}")
endif()
