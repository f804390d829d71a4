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
  # Where tests find the source tree (vectors, examples) and the built binaries. Compiled in,
  # so a test binary run by hand behaves as under ctest.
  target_compile_definitions(${T_NAME} PRIVATE
    TASKMILL_SOURCE_DIR="${CMAKE_SOURCE_DIR}" TASKMILL_BUILD_DIR="${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 30)
endfunction()
