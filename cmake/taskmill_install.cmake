# `cmake --install build [--prefix P]`: the binaries, the libraries taskmill::shared,
# taskmill::client and taskmill::worker with their headers, a CMake package
# (find_package(taskmill) -> taskmill::client, taskmill::worker) and a pkg-config file
# (taskmill.pc). tests/install proves a separate project builds against the installed tree.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS taskmill-broker taskmill-worker taskmill RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS taskmill_shared taskmill_shared_http taskmill_client taskmill_worker
  EXPORT taskmillTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir shared/include shared/http/include client/include worker/include)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(TASKMILL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/taskmill)
install(EXPORT taskmillTargets NAMESPACE taskmill:: FILE taskmillTargets.cmake
  DESTINATION ${TASKMILL_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/taskmillConfig.cmake.in
  ${PROJECT_BINARY_DIR}/taskmillConfig.cmake INSTALL_DESTINATION ${TASKMILL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/taskmillConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/taskmillConfig.cmake
  ${PROJECT_BINARY_DIR}/taskmillConfigVersion.cmake DESTINATION ${TASKMILL_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/taskmill.pc.in ${PROJECT_BINARY_DIR}/taskmill.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/taskmill.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
