// A firmware image that faults on purpose (integer division by zero, trapped via CCR.DIV_0_TRP):
// the board must print a fault report with the registers and exit with status 99.
#include "kernel/core/console.hpp"

volatile int g_zero = 0;

int main() {
  ambience::println("about to divide by zero");
  volatile int x = 42 / g_zero;
  ambience::println("not reached ", x);
  return 0;
}
