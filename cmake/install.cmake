# SPDX-License-Identifier: MIT
# `cmake --install`: what a project that uses lifeguard needs.
#
#   lib/liblifeguard.a, liblifeguard.so   the library, static and shared (linked in)
#   lib/liblifeguard-preload.so           the detectors for unmodified programs (LD_PRELOAD)
#   lib/liblifeguard-access.a             the __tsan_* callbacks `lifeguard cc` links
#   include/lifeguard/                    the public headers
#   bin/lifeguard                         the driver (`lifeguard verify -- PROG`), with its
#                                         Python package in share/lifeguard/python
#   lib/pkgconfig/lifeguard.pc            pkg-config: the shared library
#   lib/cmake/lifeguard/                  find_package(lifeguard): lifeguard::lifeguard (the
#                                         static library linked whole), lifeguard::shared,
#                                         lifeguard::static, lifeguard::preload
#   share/doc/lifeguard/                  README, LICENSE, docs/
include(CMakePackageConfigHelpers)

set(LIFEGUARD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lifeguard)
set(LIFEGUARD_PYTHON_DIR ${CMAKE_INSTALL_DATADIR}/lifeguard/python)

set_target_properties(lifeguard PROPERTIES EXPORT_NAME static)
set_target_properties(lifeguard_linked PROPERTIES EXPORT_NAME lifeguard)
set(_lg_install_targets lifeguard lifeguard_linked)
if(TARGET lifeguard_shared) # (not in a sanitizer build)
  set_target_properties(lifeguard_shared PROPERTIES EXPORT_NAME shared)
  list(APPEND _lg_install_targets lifeguard_shared)
endif()
if(TARGET lifeguard_preload)
  set_target_properties(lifeguard_preload PROPERTIES EXPORT_NAME preload)
  list(APPEND _lg_install_targets lifeguard_preload)
endif()

if(TARGET lifeguard_access_rt)
  set_target_properties(lifeguard_access_rt PROPERTIES EXPORT_NAME access)
  list(APPEND _lg_install_targets lifeguard_access_rt)
endif()

install(TARGETS ${_lg_install_targets} EXPORT lifeguardTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY harness/include/lifeguard DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT lifeguardTargets NAMESPACE lifeguard:: DESTINATION ${LIFEGUARD_CMAKE_DIR})

configure_package_config_file(cmake/lifeguardConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/lifeguardConfig.cmake INSTALL_DESTINATION ${LIFEGUARD_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/lifeguardConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lifeguardConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/lifeguardConfigVersion.cmake
        DESTINATION ${LIFEGUARD_CMAKE_DIR})

configure_file(cmake/lifeguard.pc.in ${CMAKE_CURRENT_BINARY_DIR}/lifeguard.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lifeguard.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The driver: its package, a record of where the install put the preload library (read by
# `lifeguard verify` when there is no source tree beside it), and bin/lifeguard.
install(DIRECTORY scripts/lifeguard_cli DESTINATION ${LIFEGUARD_PYTHON_DIR}
        PATTERN __pycache__ EXCLUDE)
install(CODE "
  set(prefix \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  file(WRITE \"\${prefix}/${LIFEGUARD_PYTHON_DIR}/lifeguard_cli/installed.py\"
\"\\\"\\\"\\\"Written by cmake --install: where this installation keeps its files.\\\"\\\"\\\"
PRELOAD_LIBRARY = \\\"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/liblifeguard-preload.so\\\"
\")
  file(WRITE \"\${prefix}/${CMAKE_INSTALL_BINDIR}/lifeguard\"
\"#!/usr/bin/env -S /usr/bin/python3 -B
\\\"\\\"\\\"lifeguard's command-line driver, as installed. See `lifeguard --help`.\\\"\\\"\\\"
import sys
sys.path.insert(0, \\\"\${CMAKE_INSTALL_PREFIX}/${LIFEGUARD_PYTHON_DIR}\\\")
from lifeguard_cli.cli import main  # noqa: E402
sys.exit(main())
\")
  file(CHMOD \"\${prefix}/${CMAKE_INSTALL_BINDIR}/lifeguard\"
       PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                   WORLD_READ WORLD_EXECUTE)
")

install(FILES README.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
