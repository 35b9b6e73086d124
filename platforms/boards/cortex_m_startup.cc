// Startup for every Cortex-M board: vector table, reset handler (FPU on, .data/.bss, static
// constructors, main, exit), fault reporting and external-interrupt dispatch.
#include <cstddef>
#include <cstdint>

#include "platforms/boards/board.hpp"

extern "C" {
// Linker script symbols (platforms/boards/cortex_m.ld.in).
extern std::uint32_t __stack_top;
extern std::uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __ext_ram_start, __ext_ram_end;
extern void (*__preinit_array_start[])();
extern void (*__preinit_array_end[])();
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();

int main();
void Reset_Handler();
void Fault_Handler();
void Irq_Handler();
void Default_Handler();
void SVC_Handler() __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler() __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler() __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler() __attribute__((weak, alias("Default_Handler")));
void NMI_Handler() __attribute__((weak, alias("Default_Handler")));

// libstdc++ refers to it even though we never register destructors at exit.
void* __dso_handle = &__dso_handle;
}

namespace {

using Vector = void (*)();
constexpr unsigned kSystemVectors = 16;

volatile std::uint32_t& reg(std::uintptr_t address) { return *reinterpret_cast<volatile std::uint32_t*>(address); }

constexpr std::uintptr_t kCcr = 0xE000ED14, kShcsr = 0xE000ED24, kCfsr = 0xE000ED28, kHfsr = 0xE000ED2C,
                         kMmfar = 0xE000ED34, kBfar = 0xE000ED38, kCpacr = 0xE000ED88;

ambience::board::IrqHandler g_irq_table[ambience::board::kIrqCount];

}  // namespace

// The table the core reads at reset: initial SP, then handlers by exception number.
extern "C" __attribute__((section(".isr_vector"), used))
const Vector g_vector_table[kSystemVectors + ambience::board::kIrqCount] = {
    reinterpret_cast<Vector>(&__stack_top),
    Reset_Handler,
    NMI_Handler,
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    SVC_Handler,
    DebugMon_Handler,
    nullptr,
    PendSV_Handler,
    SysTick_Handler,
#define AMBIENCE_IRQ8 \
  Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler, Irq_Handler
    AMBIENCE_IRQ8,
    AMBIENCE_IRQ8,
    AMBIENCE_IRQ8,
    AMBIENCE_IRQ8,
    AMBIENCE_IRQ8,
    AMBIENCE_IRQ8,
#undef AMBIENCE_IRQ8
};
static_assert(ambience::board::kIrqCount == 48, "vector table lists 6 x 8 IRQs");

extern "C" void Reset_Handler() {
  // The FPU must be on before any floating-point instruction (hard-float ABI): CP10/CP11 full.
  reg(kCpacr) |= 0xFu << 20;
  asm volatile("dsb\n isb" ::: "memory");

  const std::uint32_t* src = &__data_load;
  for (std::uint32_t* dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (std::uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  for (std::uint32_t* dst = &__ext_ram_start; dst < &__ext_ram_end;) *dst++ = 0;

  // Separate MemManage/BusFault/UsageFault handlers, and trap division by zero and unaligned
  // multi-word access instead of silently returning 0.
  reg(kShcsr) |= (1u << 16) | (1u << 17) | (1u << 18);
  reg(kCcr) |= 1u << 4;

  for (auto* f = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (auto* f = __init_array_start; f < __init_array_end; ++f) (*f)();

  ambience::board::exit(main());
}

namespace {

void put(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  ambience::board::console_write(s, n);
}

void put_hex(const char* label, std::uint32_t value) {
  char text[] = " xxxx=0x00000000";
  std::size_t i = 1;
  for (; label[i - 1] && i < 5; ++i) text[i] = label[i - 1];
  text[i++] = '=';
  text[i++] = '0';
  text[i++] = 'x';
  for (int shift = 28; shift >= 0; shift -= 4) text[i++] = "0123456789abcdef"[(value >> shift) & 0xf];
  ambience::board::console_write(text, i);
}

}  // namespace

extern "C" __attribute__((weak)) void ambience_fault_hook(const ambience::board::FaultInfo&) {
  ambience::board::exit(99);
}

extern "C" __attribute__((used)) void ambience_fault_report(const ambience::board::FaultFrame* frame,
                                                            std::uint32_t exc_return) {
  std::uint32_t ipsr;
  asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  const ambience::board::FaultInfo info{frame,      ipsr & 0x1ff, exc_return, reg(kCfsr),
                                        reg(kHfsr), reg(kMmfar),  reg(kBfar)};
  static const char* const kNames[] = {"?", "?", "?", "HardFault", "MemManage", "BusFault", "UsageFault"};
  put("\r\n*** FAULT: ");
  put(info.exception < 7 ? kNames[info.exception] : "?");
  put_hex("pc", frame->pc);
  put_hex("lr", frame->lr);
  put_hex("psr", frame->xpsr);
  put("\r\n   ");
  put_hex("r0", frame->r0);
  put_hex("r1", frame->r1);
  put_hex("r2", frame->r2);
  put_hex("r3", frame->r3);
  put_hex("r12", frame->r12);
  put("\r\n   ");
  put_hex("cfsr", info.cfsr);
  put_hex("hfsr", info.hfsr);
  put_hex("mmfa", info.mmfar);
  put_hex("bfar", info.bfar);
  put_hex("excr", exc_return);
  put("\r\n");
  ambience_fault_hook(info);
  // The hook handled it (e.g. restarted a group): clear the sticky status and return.
  reg(kCfsr) = info.cfsr;
  reg(kHfsr) = info.hfsr;
}

// Finds the stacked frame (MSP or PSP, from EXC_RETURN bit 2) and reports it.
extern "C" __attribute__((naked)) void Fault_Handler() {
  asm volatile(
      "tst lr, #4\n"
      "ite eq\n"
      "mrseq r0, msp\n"
      "mrsne r0, psp\n"
      "mov r1, lr\n"
      "push {r4, lr}\n"
      "bl ambience_fault_report\n"
      "pop {r4, pc}\n");
}

extern "C" void Irq_Handler() {
  std::uint32_t ipsr;
  asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  const unsigned irq = (ipsr & 0x1ff) - kSystemVectors;
  if (irq < ambience::board::kIrqCount && g_irq_table[irq] != nullptr) {
    g_irq_table[irq]();
  } else {
    Default_Handler();
  }
}

extern "C" void Default_Handler() {
  std::uint32_t ipsr;
  asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  put("\r\n*** unexpected exception");
  put_hex("ipsr", ipsr);
  put("\r\n");
  ambience::board::exit(98);
}

namespace ambience::board {

void set_irq_handler(unsigned irq, IrqHandler handler) {
  if (irq < kIrqCount) g_irq_table[irq] = handler;
}

}  // namespace ambience::board
