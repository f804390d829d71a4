# test_paths.h (TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR) for the few test files that need
# them; a generated header rather than -D flags, so the checkout's path reaches only those
# objects and ccache serves the rest in a clone at any path.
set(TASKMILL_TEST_PATHS_DIR "${CMAKE_BINARY_DIR}/generated/test_paths")
configure_file(${CMAKE_CURRENT_LIST_DIR}/test_paths.h.in
  ${TASKMILL_TEST_PATHS_DIR}/test_paths.h @ONLY)

# taskmill_add_test(NAME name LABEL label SOURCES ... LIBS ...)
# One gtest executable, registered with ctest under one label (unit, integration, ...).
function(taskmill_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT TASKMILL_BUILD_TESTS)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  # test_paths.h: where tests find the source tree and the built binaries (below).
  target_include_directories(${T_NAME} PRIVATE ${TASKMILL_TEST_PATHS_DIR})
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 30)
endfunction()
