// Never exits: the QEMU harness must report it as hung (after its timeout), not hang CI.
#include "kernel/core/console.hpp"

int main() {
  ambience::println("spinning forever");
  for (;;) asm volatile("" ::: "memory");
}
