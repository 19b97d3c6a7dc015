# The OSS-Fuzz build contract (LIFEGUARD_OSSFUZZ=ON; ci/oss-fuzz/build.sh drives it, and any
# engine can reuse it: libFuzzer, AFL++ with CC=afl-clang-fast, honggfuzz). Each target NAME.c
# becomes the executable NAME (no _fuzz suffix, as OSS-Fuzz names them), compiled with the
# caller's CFLAGS only: they carry the sanitizer and the engine's instrumentation, so nothing
# here adds -fsanitize=... . It links LIFEGUARD_FUZZING_ENGINE (OSS-Fuzz's $LIB_FUZZING_ENGINE:
# -fsanitize=fuzzer, /usr/lib/afl/libAFLDriver.a, ...), with $CXX when the top level enabled
# C++ (OSS-Fuzz links with $CXX, even for C). The umbrella target `ossfuzz` builds them all,
# with libdrv.so, which module_unload finds next to its own binary (lgrt_drv_path).
if(NOT LIFEGUARD_OSSFUZZ)
  return()
endif()

set(LIFEGUARD_FUZZING_ENGINE "$ENV{LIB_FUZZING_ENGINE}" CACHE STRING
    "what the fuzz targets link for main() (OSS-Fuzz's LIB_FUZZING_ENGINE)")
if(LIFEGUARD_FUZZING_ENGINE STREQUAL "")
  message(FATAL_ERROR "LIFEGUARD_OSSFUZZ=ON needs LIB_FUZZING_ENGINE in the environment or "
                      "-DLIFEGUARD_FUZZING_ENGINE=... (e.g. -fsanitize=fuzzer)")
endif()
separate_arguments(_lg_engine UNIX_COMMAND "${LIFEGUARD_FUZZING_ENGINE}")

# Only the OSS-Fuzz binaries: no <target>_fuzz (it would add its own -fsanitize=fuzzer).
set(LIFEGUARD_BUILD_LIBFUZZER OFF)
add_custom_target(ossfuzz DEPENDS lgrt_drv)
add_dependencies(ossfuzz lgrt_drv_pinned)

# libdrv.so keeps the sanitizer of CFLAGS but not the engine's coverage, because the targets
# dlclose it. libFuzzer registers every module's inline counters and PC table at load and reads
# them after every input, so it would read the unmapped range (modcheck reports that as a
# use-after-unload in libFuzzer's CollectFeatures); AFL++ aborts when an instrumented library
# is dlopen'ed after its fork server started. The class targets are guided by their runtime
# sources and lg_sched's counters anyway, as in the local libFuzzer build.
if(CMAKE_C_COMPILER MATCHES "afl-")
  set_target_properties(lgrt_drv PROPERTIES C_COMPILER_LAUNCHER "${CMAKE_COMMAND};-E;env;AFL_NOOPT=1")
elseif(CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_options(lgrt_drv PRIVATE
    -fno-sanitize-coverage=inline-8bit-counters,inline-bool-flag,pc-table,trace-pc-guard,trace-pc,trace-cmp,indirect-calls)
endif()

function(lifeguard_ossfuzz_target name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE lifeguard_linked ${_lg_engine})
  get_property(_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("CXX" IN_LIST _languages)
    set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
  endif()
  add_dependencies(ossfuzz ${name})
endfunction()
