# What `cmake --install` puts under the prefix (included by the top-level CMakeLists.txt):
#
#   lib/libconnpool.so.0.1.0, .so.0, .so      the library (runtime: the first two)
#   include/connpool/connpool.h, connpool.hpp the C header and the header-only C++17 wrapper
#   lib/pkgconfig/connpool.pc                 pkg-config, relocatable (paths from ${pcfiledir})
#   lib/cmake/connpool/                       find_package(connpool CONFIG): connpool::connpool
#
# Every path is relative to the prefix, so any `cmake --install build --prefix DIR` works, and
# the installed tree may be moved afterwards. `--strip` removes the debug information of the
# build type (RelWithDebInfo keeps it in the build tree for tests and debuggers); the release
# preset builds without it in the first place. tests/packaging checks all of it.
include(CMakePackageConfigHelpers)

set_target_properties(connpool PROPERTIES
  PUBLIC_HEADER "include/connpool/connpool.h;include/connpool/connpool.hpp")
install(TARGETS connpool EXPORT connpoolTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/connpool COMPONENT development)

# ---- pkg-config: the prefix is found from the .pc file's own directory ----------------------------
# libdir/pkgconfig -> the prefix: "../.." for lib, "../../.." for lib/x86_64-linux-gnu. Absolute
# install directories (a -DCMAKE_INSTALL_LIBDIR=/... given by hand) cannot move: they stay absolute.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(CONNPOOL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(CONNPOOL_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(CONNPOOL_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _connpool_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _connpool_pc_up "${_connpool_pc_up}")
  set(CONNPOOL_PC_PREFIX "\${pcfiledir}/${_connpool_pc_up}")
  set(CONNPOOL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(CONNPOOL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(cmake/connpool.pc.in ${PROJECT_BINARY_DIR}/connpool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/connpool.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)

# ---- CMake package: find_package(connpool 0.1 CONFIG REQUIRED) -> connpool::connpool --------------
set(CONNPOOL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/connpool)
install(EXPORT connpoolTargets NAMESPACE connpool:: FILE connpoolTargets.cmake
  DESTINATION ${CONNPOOL_CMAKE_DIR} COMPONENT development)
configure_package_config_file(cmake/connpoolConfig.cmake.in
  ${PROJECT_BINARY_DIR}/connpoolConfig.cmake INSTALL_DESTINATION ${CONNPOOL_CMAKE_DIR})
# The SONAME carries the major version and the ABI only grows within it (CHANGELOG.md).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/connpoolConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/connpoolConfig.cmake
              ${PROJECT_BINARY_DIR}/connpoolConfigVersion.cmake
  DESTINATION ${CONNPOOL_CMAKE_DIR} COMPONENT development)
