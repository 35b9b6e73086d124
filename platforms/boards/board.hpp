// The contract between the kernel and a board support package (BSP). The kernel's Cortex-M arch
// layer and the test runner only use these functions, so adding a board never touches the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::board {

// Board name as QEMU knows the machine, e.g. "mps2-an386".
const char* name();

// Core clock in Hz (SysTick counts this clock).
std::uint32_t cpu_hz();

// Blocking console output on the board's debug UART.
void console_write(const char* data, std::size_t size);

// Ends the program: under QEMU the exit status reaches the host (semihosting); on hardware the
// board parks the core. Used by test images and by a fatal kernel error.
[[noreturn]] void exit(int status);

// Interrupt handler table (external IRQs, not system exceptions); drivers install handlers here.
using IrqHandler = void (*)();
void set_irq_handler(unsigned irq, IrqHandler handler);
constexpr unsigned kIrqCount = 48;

// Registers pushed by the core on exception entry, plus what the fault handler read.
struct FaultFrame {
  std::uint32_t r0, r1, r2, r3, r12, lr, pc, xpsr;
};

struct FaultInfo {
  const FaultFrame* frame;
  std::uint32_t exception;  // 3 HardFault, 4 MemManage, 5 BusFault, 6 UsageFault
  std::uint32_t exc_return; // EXC_RETURN in LR on entry: tells thread/handler, MSP/PSP
  std::uint32_t cfsr, hfsr, mmfar, bfar;
};

}  // namespace ambience::board

// Weak hook, called on a fault after the default report is printed. The kernel overrides it
// (e.g. to restart a faulting group); returning means "resume at exc_return", the default
// exits with status 99.
extern "C" void ambience_fault_hook(const ambience::board::FaultInfo& info);
