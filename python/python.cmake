# The Python package (python/shendu, issue 19): `cmake --install` puts it in
# PREFIX/lib/python3/dist-packages (on Debian's sys.path for /usr and
# /usr/local) with _install.py, which names the library and the program it
# installed beside it.
set(SHENDU_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "where cmake --install puts the Python package, relative to the prefix")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/shendu DESTINATION ${SHENDU_PYTHON_DIR}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE PATTERN "_install.py" EXCLUDE)
install(CODE "
  set(_pkg \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${SHENDU_PYTHON_DIR}/shendu\")
  file(WRITE \"\${_pkg}/_install.py\"
       \"# written by cmake --install\\nLIBRARY = '\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libshendu.so.0'\\nBINARY = '\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/shendu'\\n\")
  message(STATUS \"Installing: \${_pkg}/_install.py\")")
