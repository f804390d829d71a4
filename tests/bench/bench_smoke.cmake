# Runs a small taskmill-bench and checks that it finished and wrote parseable JSON with the
# figures of both scenarios. Figures are not judged: benchmarks are not tests.
file(REMOVE ${OUT})
execute_process(
  COMMAND ${BENCH} --spawn --tasks 2000 --scenarios throughput,latency --latency-samples 200
          --json ${OUT}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "taskmill-bench exited with ${rc}\n${out}\n${err}")
endif()
file(READ ${OUT} report)
string(JSON rate ERROR_VARIABLE json_error GET "${report}" scenarios throughput tasks_per_s)
if(json_error)
  message(FATAL_ERROR "bad JSON from taskmill-bench: ${json_error}\n${report}")
endif()
string(JSON p50 ERROR_VARIABLE json_error GET "${report}" scenarios latency p50_us)
if(json_error)
  message(FATAL_ERROR "bad JSON from taskmill-bench: ${json_error}\n${report}")
endif()
message(STATUS "bench smoke: ${rate} tasks/s, latency p50 ${p50} us")
