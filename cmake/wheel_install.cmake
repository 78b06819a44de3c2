# What `pip install .` puts in the wheel (scikit-build-core installs into the wheel's platlib folder; the pure
# Python files of python/shardlm and python/_shardlm_cli.py are added by it, pyproject.toml's wheel.packages):
#   shardlm/_shardlm*.so     the extension        RPATH $ORIGIN      -> shardlm/libshardlm.so
#   shardlm/libshardlm.so    the engine (no SOVERSION: a private copy that only this package loads)
#   shardlm/_version.py      __version__, from project(shardlm VERSION ...)
#   shardlm/bin/shardlm      the programs         RPATH $ORIGIN/..   -> shardlm/libshardlm.so; on PATH as
#   shardlm/bin/shardlm-run                       [project.scripts] entry points (python/_shardlm_cli.py)
# Libraries outside the system folders (CUDA's) are found where they were at link time (INSTALL_RPATH_USE_LINK_PATH):
# the wheel is for the machine, or an identical one, that built it.
if(NOT TARGET _shardlm)
  message(FATAL_ERROR "pip install: the _shardlm extension is not configured (see the 'shardlm: Python module' "
                      "message above for what is missing)")
endif()
if(NOT SHARDLM_BUILD_TOOLS)
  message(FATAL_ERROR "pip install: the wheel ships the shardlm and shardlm-run programs: SHARDLM_BUILD_TOOLS=ON")
endif()
install(TARGETS shardlm_lib LIBRARY DESTINATION shardlm)
install(TARGETS _shardlm LIBRARY DESTINATION shardlm)
set_target_properties(_shardlm PROPERTIES INSTALL_RPATH "\$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)
install(FILES ${PROJECT_BINARY_DIR}/python/shardlm/_version.py DESTINATION shardlm)
install(TARGETS ${SHARDLM_TOOLS} RUNTIME DESTINATION shardlm/bin)
set_target_properties(${SHARDLM_TOOLS} PROPERTIES INSTALL_RPATH "\$ORIGIN/..")
