# fpscope_add_test(NAME SOURCES... [LIBS ...] [LABELS ...] [TIMEOUT s]): a GoogleTest
# program registered with ctest. Labels: unit (default), exhaustive, fuzz, gpu, python, browser.
find_package(GTest REQUIRED)
include(GoogleTest)

function(fpscope_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} fpscope::warnings GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
      # A GTEST_SKIP (no CUDA device, missing CPU feature) shows as skipped, never passed.
      SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
    DISCOVERY_TIMEOUT 60)
endfunction()
