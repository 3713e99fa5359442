# Each tests/test_*.c is one ctest executable. Tests find data through env vars
# set below; the data directory defaults to the Debian package's.
file(GLOB SHENDU_TESTS_SRC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/test_*.c)
foreach(src ${SHENDU_TESTS_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE shendu_static)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "SHENDU_BIN=$<TARGET_FILE:shendu>;SHENDU_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp;SHENDU_SOURCE=${PROJECT_SOURCE_DIR}"
    TIMEOUT 600)
endforeach()
# Shell-level CLI tests: tests/cli_*.sh
file(GLOB SHENDU_CLI_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/cli_*.sh)
if(SHENDU_SANITIZE)
  # links the installed static library into a plain program: not meaningful
  # for an instrumented build (the main build runs it)
  list(FILTER SHENDU_CLI_TESTS EXCLUDE REGEX "cli_install")
  # bounds peak resident memory: a sanitizer's shadow memory and quarantine
  # multiply it, so the bound means something only in the main build
  list(FILTER SHENDU_CLI_TESTS EXCLUDE REGEX "cli_memory")
  message(STATUS "cli_memory: not registered in a sanitizer build (its RSS bounds are for the main build)")
endif()
if(NOT SHENDU_MPI OR NOT MPIEXEC_EXECUTABLE)
  list(FILTER SHENDU_CLI_TESTS EXCLUDE REGEX "cli_mpi")   # data parallel: needs an MPI build and mpirun
  message(STATUS "cli_mpi, cli_mpi_lm, cli_mpi_gan, cli_mpi_diffusion: not registered (no MPI in this build, or no mpirun): "
                 "data-parallel training is not tested here")
endif()
foreach(src ${SHENDU_CLI_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME ${name} COMMAND bash ${src})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "SHENDU_BIN=$<TARGET_FILE:shendu>;SHENDU_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp;SHENDU_SOURCE=${PROJECT_SOURCE_DIR};SHENDU_BUILD=${PROJECT_BINARY_DIR};SHENDU_MPIRUN=${MPIEXEC_EXECUTABLE}"
    TIMEOUT 900)
endforeach()
# The examples run as tests too: each must finish and print its result.
add_test(NAME example_xor COMMAND example_xor)
set_tests_properties(example_xor PROPERTIES PASS_REGULAR_EXPRESSION "1 xor 1 -> 0")
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/test-tmp)

# valgrind over the CLI: only in a portable build (valgrind cannot decode AVX-512)
if(SHENDU_VALGRIND)
  add_test(NAME valgrind_cli COMMAND bash ${PROJECT_SOURCE_DIR}/tests/valgrind_cli.sh)
  set_tests_properties(valgrind_cli PROPERTIES
    ENVIRONMENT "SHENDU_BIN=$<TARGET_FILE:shendu>;SHENDU_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp"
    TIMEOUT 1500)
endif()
include(${PROJECT_SOURCE_DIR}/tests/onnx/onnx.cmake)
include(${PROJECT_SOURCE_DIR}/tests/python/python.cmake)
