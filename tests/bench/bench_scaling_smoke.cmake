# Runs scripts/bench_scaling.sh --short at toy sizes and checks that every point of the
# three curves made it into the CSV and that the chart is a PNG. Figures are not judged.
file(REMOVE_RECURSE ${OUT})
execute_process(
  COMMAND env BUILD_DIR=${BUILD} OUT_DIR=${OUT} PNG=${OUT}/scaling.png TASKS=300
          PAYLOAD_BUDGET=30000000 BACKLOGS=300,1500 WORKER_COUNTS=1,2 TIMEOUT_S=40
          bash ${SCRIPT} --short
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 170)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_scaling.sh exited with ${rc}\n${out}\n${err}")
endif()
file(STRINGS ${OUT}/scaling.csv lines)
list(LENGTH lines count)
# header + workers 1,2 + payloads 100,10240,102400 + backlogs 300,1500
if(NOT count EQUAL 8)
  message(FATAL_ERROR "scaling.csv has ${count} lines, expected 8:\n${lines}")
endif()
foreach(want "workers,1," "workers,2," "payload,100," "payload,10240," "payload,102400,"
             "backlog,300," "backlog,1500,")
  string(FIND "${lines}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "scaling.csv lacks the point ${want}\n${lines}")
  endif()
endforeach()
file(READ ${OUT}/scaling.png magic LIMIT 4 HEX)
if(NOT magic STREQUAL "89504e47")
  message(FATAL_ERROR "scaling.png is not a PNG (starts with ${magic})")
endif()
file(READ ${OUT}/scaling.json report)
string(JSON mode GET "${report}" mode)
if(NOT mode STREQUAL "short")
  message(FATAL_ERROR "scaling.json mode is '${mode}', expected short")
endif()
message(STATUS "bench scaling smoke:\n${out}")
