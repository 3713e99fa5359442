# ONNX export checked by the onnx checker and ONNX Runtime (issue 19). onnx_ref
# writes shendu's own outputs; the test (tests/onnx/onnx_export.sh) needs
# Debian's python3-onnx and onnxruntime-node in SHENDU_ONNX_NODE_MODULES, which
# the onnx stage of ./scripts/test installs and passes with -DSHENDU_ONNX=ON.
add_executable(onnx_ref ${PROJECT_SOURCE_DIR}/tests/onnx/onnx_ref.c)
target_include_directories(onnx_ref PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(onnx_ref PRIVATE shendu_static)
option(SHENDU_ONNX "Register the ONNX Runtime test (python3-onnx, onnxruntime-node in SHENDU_ONNX_NODE_MODULES)" OFF)
set(SHENDU_ONNX_NODE_MODULES "${PROJECT_SOURCE_DIR}/build-onnx/node_modules" CACHE PATH
    "node_modules directory holding onnxruntime-node")
if(SHENDU_ONNX)
  if(NOT EXISTS "${SHENDU_ONNX_NODE_MODULES}/onnxruntime-node/package.json")
    message(FATAL_ERROR "SHENDU_ONNX=ON but ${SHENDU_ONNX_NODE_MODULES} has no onnxruntime-node: "
                        "run SHENDU_TEST_STAGES=onnx ./scripts/test (it installs it)")
  endif()
  add_test(NAME onnx_export COMMAND bash ${PROJECT_SOURCE_DIR}/tests/onnx/onnx_export.sh)
  set_tests_properties(onnx_export PROPERTIES
    ENVIRONMENT "SHENDU_BIN=$<TARGET_FILE:shendu>;SHENDU_ONNX_REF=$<TARGET_FILE:onnx_ref>;SHENDU_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp;SHENDU_SOURCE=${PROJECT_SOURCE_DIR};NODE_PATH=${SHENDU_ONNX_NODE_MODULES}"
    TIMEOUT 600)
endif()
