# What `cmake --install` puts besides the binary (src/CMakeLists.txt): the
# man pages and the systemd user units.
include(GNUInstallDirs)

install(FILES ${PROJECT_SOURCE_DIR}/docs/man/roam.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/roam.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

# The user units go to <prefix>/lib/systemd/user, not to
# ${CMAKE_INSTALL_LIBDIR}/systemd/user: systemd's user manager searches
# /usr/lib/systemd/user and /usr/local/lib/systemd/user, and LIBDIR is
# lib/x86_64-linux-gnu on Debian with prefix /usr, where systemd never
# looks. A relative value is taken under the prefix; for a prefix of
# ~/.local, use share/systemd/user (~/.local/share/systemd/user is searched,
# ~/.local/lib is not).
set(ROAM_SYSTEMD_USER_UNIT_DIR "lib/systemd/user" CACHE STRING
    "Where cmake --install puts the systemd user units (relative: under the prefix)")
option(ROAM_INSTALL_SYSTEMD_UNITS "Install the systemd user units of contrib/systemd" ON)

if(ROAM_INSTALL_SYSTEMD_UNITS)
  file(GLOB roam_systemd_units CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/contrib/systemd/*@.*)
  # The units name /usr/local/bin/roam, the default install path; the
  # installed copies name where this install puts roam. This runs at install
  # time so that `cmake --install --prefix DIR` is honoured too.
  foreach(unit ${roam_systemd_units})
    get_filename_component(unit_name ${unit} NAME)
    install(CODE "
      set(roam_bindir \"${CMAKE_INSTALL_BINDIR}\")
      if(NOT IS_ABSOLUTE \"\${roam_bindir}\")
        set(roam_bindir \"\${CMAKE_INSTALL_PREFIX}/\${roam_bindir}\")
      endif()
      set(roam_unit_dir \"${ROAM_SYSTEMD_USER_UNIT_DIR}\")
      if(NOT IS_ABSOLUTE \"\${roam_unit_dir}\")
        set(roam_unit_dir \"\${CMAKE_INSTALL_PREFIX}/\${roam_unit_dir}\")
      endif()
      file(READ \"${unit}\" roam_unit_text)
      string(REPLACE \"/usr/local/bin/roam\" \"\${roam_bindir}/roam\" roam_unit_text \"\${roam_unit_text}\")
      file(WRITE \"${CMAKE_BINARY_DIR}/systemd-units/${unit_name}\" \"\${roam_unit_text}\")
      file(INSTALL \"${CMAKE_BINARY_DIR}/systemd-units/${unit_name}\" DESTINATION \"\${roam_unit_dir}\")
    ")
  endforeach()
endif()
