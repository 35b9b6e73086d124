// Console output for kernel, tests and demos: a tiny formatter over the arch's console_write
// (stdout on Linux, the board UART on a microcontroller). No printf, no heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "kernel/core/status.hpp"

namespace ambience {

namespace arch {
void console_write(const char* data, std::size_t size);
}

struct Hex {
  std::uint64_t value;
};

inline void print_one(std::string_view s) { arch::console_write(s.data(), s.size()); }
inline void print_one(const char* s) { print_one(std::string_view(s)); }
inline void print_one(char c) { arch::console_write(&c, 1); }
inline void print_one(bool b) { print_one(b ? "true" : "false"); }
inline void print_one(Status s) { print_one(to_string(s)); }

inline void print_one(Hex h) {
  char text[18] = {'0', 'x'};
  int n = 2;
  bool started = false;
  for (int shift = 60; shift >= 0; shift -= 4) {
    const unsigned digit = (h.value >> shift) & 0xf;
    if (digit || started || shift == 0) {
      text[n++] = "0123456789abcdef"[digit];
      started = true;
    }
  }
  arch::console_write(text, n);
}

template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
void print_one(T value) {
  char text[24];
  int n = 0;
  const bool negative = std::is_signed_v<T> && value < 0;
  std::uint64_t v =
      negative ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(value)) : static_cast<std::uint64_t>(value);
  do {
    text[sizeof(text) - 1 - n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  if (negative) text[sizeof(text) - 1 - n++] = '-';
  arch::console_write(text + sizeof(text) - n, n);
}

template <class... Args>
void print(const Args&... args) {
  (print_one(args), ...);
}

template <class... Args>
void println(const Args&... args) {
  (print_one(args), ...);
  print_one('\n');
}

}  // namespace ambience
