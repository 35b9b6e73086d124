// The five CMSDK APB UARTs of the MPS2 FPGA images we run (AN386: Cortex-M4, AN500: Cortex-M7),
// by UART number: register base and NVIC lines. UART0 is the console (mps2.cc); a serial
// network endpoint whose port is N uses UART N.
//
// Source: QEMU hw/arm/mps2.c, mps2_common_init(), the branch shared by FPGA_AN385, FPGA_AN386
// and FPGA_AN500: uartbase[] = {0x40004000, 0x40005000, 0x40006000, 0x40007000, 0x40009000},
// uartirq[] = {0, 2, 4, 18, 20} is the RX line and "TX irq is always one greater"; serial_hd(i)
// (the i-th -serial argument) is connected to UART i. Checked on both boards, every UART (base,
// RX and TX line), by //runtime/cortex_m:uart_link_test_<board>_qemu.
#pragma once

#include <cstdint>

namespace ambience::board {

struct UartLines {
  std::uintptr_t base;
  unsigned rx_irq;
  unsigned tx_irq;
};

inline constexpr unsigned kMps2UartCount = 5;
inline constexpr UartLines kMps2Uarts[kMps2UartCount] = {
    {0x40004000, 0, 1},    // UART0: console
    {0x40005000, 2, 3},    // UART1
    {0x40006000, 4, 5},    // UART2
    {0x40007000, 18, 19},  // UART3
    {0x40009000, 20, 21},  // UART4
};

}  // namespace ambience::board
