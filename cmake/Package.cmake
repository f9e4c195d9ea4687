# CPack: one Debian package with everything `cmake --install` installs, under /usr, stripped.
#   cmake --build build --target package     # or: cd build && cpack -G DEB
# Only when libconnpool is the top-level project (not when added with add_subdirectory).
if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libconnpool)
set(CPACK_PACKAGE_VENDOR "libconnpool")
set(CPACK_PACKAGE_CONTACT "libconnpool maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL connection pool with a stable C ABI and a C++17 wrapper")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# The shared libraries it links (libpq5, libstdc++6, libc6) with the versions dpkg-shlibdeps
# finds; without dpkg-shlibdeps (package dpkg-dev) the names alone.
find_program(CONNPOOL_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(CONNPOOL_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpq5, libstdc++6, libc6")
endif()
include(CPack)
