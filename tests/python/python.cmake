# The Python package's tests (unittest), with Debian's python3 (numpy, torch).
# Not in a sanitizer build: its instrumented library does not load into python.
if(NOT SHENDU_SANITIZE)
  add_test(NAME python_shendu COMMAND /usr/bin/python3 -m unittest -v test_shendu
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/python)
  set_tests_properties(python_shendu PROPERTIES
    ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}/python;SHENDU_LIB=$<TARGET_FILE:shendu_shared>;SHENDU_BIN=$<TARGET_FILE:shendu>;SHENDU_BUILD=${PROJECT_BINARY_DIR};SHENDU_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp;SHENDU_SOURCE=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 600)
endif()
