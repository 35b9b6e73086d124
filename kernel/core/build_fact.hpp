// AMBIENCE_FACT(name, value): exports one of the kernel's compile-time constants to the build.
//
// A facts translation unit (kernel/arch/<target>/facts.cc) calls it inside a function that is
// compiled for the target and never linked into an image. Each call places the text
// `ambience-fact <name>=<value>;` in the object's `.ambience_facts` section; the value is what the
// target compiler computes from the kernel's own headers (asm-offsets style), so nothing is retyped.
// tools/facts/extract_facts.py reads these records out of the compiled library.
#pragma once

#include <concepts>

namespace ambience::facts {

// Not constexpr: reaching it in the consteval check below makes the build fail.
void fact_out_of_range();

// A fact is a non-negative integer below 2^31 (an `i` operand on every target we build for).
consteval long checked(std::integral auto value) {
  if (value < 0 || static_cast<unsigned long long>(value) > 0x7FFFFFFFull) fact_out_of_range();
  return static_cast<long>(value);
}

}  // namespace ambience::facts

// %c0 prints the immediate without the target's `#`/`$` prefix; %%progbits is spelled with `%`
// because `@` starts a comment in ARM assembly.
#define AMBIENCE_FACT(name, value)                     \
  asm volatile(                                        \
      ".pushsection .ambience_facts,\"\",%%progbits\n" \
      ".ascii \"ambience-fact " name                   \
      "=%c0;\"\n"                                      \
      ".popsection" ::"i"(::ambience::facts::checked(value)))
