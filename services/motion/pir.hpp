// The PIR input of a motion sensor node. On the boards it is UART4 (the stand-in for the PIR's
// interrupt line and its driver): the outside world — the cluster runner, a test — writes one
// record per trigger, a line of three decimal numbers "<sensor> <sequence> <scene>\n": the
// sensor's hardware id, its trigger counter, and which scene the camera will see (the stand-in
// for what walked past). On hosted nodes (tests) records come from push_record().
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kernel/core/task.hpp"

namespace camera_trap::motion {

struct PirRecord {
  std::uint8_t sensor = 0;
  std::uint64_t sequence = 0;  // 48 bits are kept
  std::uint16_t scene = 0;
};

// Parses one record line (without its newline); nullopt for anything else.
std::optional<PirRecord> parse_record(std::string_view line);

// Starts the PIR input (once, from the node's kernel group). False if this board has none.
bool pir_start();

// The next record; lines that are not records are skipped and counted in bad_records().
::ambience::Task<PirRecord> next_record();
std::uint32_t bad_records();

// Hosted nodes and tests: one line as if it arrived on the sensor input.
void push_line(std::string_view line);
// Raw bytes from the sensor input (the boards' UART driver).
void push_bytes(std::string_view bytes);

}  // namespace camera_trap::motion
