// Register layout and bits as the SMSC LAN9118 datasheet names them (system control and status
// registers, MAC CSRs reached through MAC_CSR_CMD/DATA, PHY registers through MII_ACC/DATA, TX
// command A/B and RX status formats), checked against QEMU's model (hw/net/lan9118.c), which
// the tests run on.
#include "platforms/boards/lan9118.hpp"

#include <cstring>

#include "platforms/boards/armv7m.hpp"
#include "platforms/boards/board.hpp"

namespace ambience::board {
namespace {

constexpr std::uint32_t kByteTestValue = 0x87654321;
constexpr std::uint32_t kHwCfgSrst = 1u << 0;
constexpr std::uint32_t kPmtCtrlReady = 1u << 0;
constexpr std::uint32_t kMacCsrBusy = 1u << 31;
constexpr std::uint32_t kMacCsrRead = 1u << 30;
constexpr std::uint8_t kMacCr = 1, kMacAddrH = 2, kMacAddrL = 3, kMacMiiAcc = 6, kMacMiiData = 7;
constexpr std::uint32_t kMacCrTxEn = 1u << 3, kMacCrRxEn = 1u << 2, kMacCrFullDuplex = 1u << 20;
constexpr std::uint32_t kMiiBusy = 1u << 0, kMiiWrite = 1u << 1;
constexpr std::uint32_t kInternalPhy = 1;  // MII address of the integrated PHY
constexpr std::uint8_t kPhyBasicControl = 0, kPhyBasicStatus = 1;
constexpr std::uint16_t kPhyAutoNegEnable = 1u << 12, kPhyAutoNegRestart = 1u << 9, kPhyLinkUp = 1u << 2;
constexpr std::uint32_t kTxCfgTxOn = 1u << 1, kTxCfgStatusOverrunAllowed = 1u << 2;
constexpr std::uint32_t kTxCmdAFirst = 1u << 13, kTxCmdALast = 1u << 12;
constexpr std::uint32_t kStatusErrorSummary = 1u << 15;
constexpr std::uint32_t kRxDpFastForward = 1u << 31;
// Push-pull, active high, enabled: QEMU's model drives the line active low otherwise.
constexpr std::uint32_t kIrqCfgEnable = 1u << 8, kIrqCfgActiveHigh = 1u << 4, kIrqCfgPushPull = 1u << 0;
constexpr std::uint32_t kIntRxStatusLevel = 1u << 3;  // RSFL: more statuses than FIFO_INT[7:0]
constexpr std::uint32_t kIntRxError = 1u << 14;
constexpr std::uint32_t kIntSoftware = 1u << 31;
// FIFO_INT: TX data available level at its reset value, RX status level 0 (interrupt per frame).
constexpr std::uint32_t kFifoIntLevels = 0x48000000;
constexpr int kSpins = 100000;

Lan9118* g_irq_owner = nullptr;
void lan9118_irq() {
  if (g_irq_owner != nullptr) g_irq_owner->on_interrupt();
}

}  // namespace

bool Lan9118::mac_read(std::uint8_t index, std::uint32_t& value) {
  reg(kMacCsrCmd) = kMacCsrBusy | kMacCsrRead | index;
  for (int i = 0; i < kSpins; ++i) {
    if ((reg(kMacCsrCmd) & kMacCsrBusy) == 0) {
      value = reg(kMacCsrData);
      return true;
    }
  }
  return false;
}

bool Lan9118::mac_write(std::uint8_t index, std::uint32_t value) {
  reg(kMacCsrData) = value;
  reg(kMacCsrCmd) = kMacCsrBusy | index;
  for (int i = 0; i < kSpins; ++i) {
    if ((reg(kMacCsrCmd) & kMacCsrBusy) == 0) return true;
  }
  return false;
}

bool Lan9118::phy_read(std::uint8_t index, std::uint16_t& value) {
  if (!mac_write(kMacMiiAcc, kInternalPhy << 11 | std::uint32_t{index} << 6 | kMiiBusy)) return false;
  for (int i = 0; i < kSpins; ++i) {
    std::uint32_t acc = 0;
    if (!mac_read(kMacMiiAcc, acc)) return false;
    if ((acc & kMiiBusy) == 0) {
      std::uint32_t data = 0;
      if (!mac_read(kMacMiiData, data)) return false;
      value = static_cast<std::uint16_t>(data);
      return true;
    }
  }
  return false;
}

bool Lan9118::phy_write(std::uint8_t index, std::uint16_t value) {
  if (!mac_write(kMacMiiData, value)) return false;
  if (!mac_write(kMacMiiAcc, kInternalPhy << 11 | std::uint32_t{index} << 6 | kMiiWrite | kMiiBusy)) return false;
  for (int i = 0; i < kSpins; ++i) {
    std::uint32_t acc = 0;
    if (!mac_read(kMacMiiAcc, acc)) return false;
    if ((acc & kMiiBusy) == 0) return true;
  }
  return false;
}

Lan9118::Result Lan9118::start(const std::uint8_t (&mac)[6], void (*on_receive)()) {
  // BYTE_TEST reads a fixed pattern whatever the device's state: the bus and the part are there.
  if (reg(kByteTest) != kByteTestValue || (reg(kIdRev) >> 16) != 0x0118) return Result::no_device;
  reg(kHwCfg) = kHwCfgSrst;
  int spins = 0;
  while ((reg(kHwCfg) & kHwCfgSrst) != 0 || (reg(kPmtCtrl) & kPmtCtrlReady) == 0) {
    if (++spins == kSpins) return Result::reset_timeout;
  }
  const std::uint32_t low =
      std::uint32_t{mac[0]} | std::uint32_t{mac[1]} << 8 | std::uint32_t{mac[2]} << 16 | std::uint32_t{mac[3]} << 24;
  const std::uint32_t high = std::uint32_t{mac[4]} | std::uint32_t{mac[5]} << 8;
  if (!mac_write(kMacAddrL, low) || !mac_write(kMacAddrH, high)) return Result::busy_timeout;
  if (!phy_write(kPhyBasicControl, kPhyAutoNegEnable | kPhyAutoNegRestart)) return Result::busy_timeout;
  // Perfect filtering on our address plus broadcast (ARP); not promiscuous.
  if (!mac_write(kMacCr, kMacCrTxEn | kMacCrRxEn | kMacCrFullDuplex)) return Result::busy_timeout;
  // We never read TX statuses in the send path, so let their FIFO overrun instead of stalling.
  reg(kTxCfg) = kTxCfgTxOn | kTxCfgStatusOverrunAllowed;
  reg(kRxCfg) = 0;  // no data offset, 4-byte end alignment
  reg(kFifoInt) = kFifoIntLevels;

  // Which NVIC line does the controller drive? Raise its software interrupt with the line
  // disabled in the NVIC (so it only pends) and look.
  armv7m::nvic::disable(irq_);
  reg(kIntSts) = 0xffffffffu;
  reg(kIrqCfg) = kIrqCfgEnable | kIrqCfgActiveHigh | kIrqCfgPushPull;
  armv7m::nvic::clear_pending(irq_);
  std::uint32_t before[2];
  for (unsigned w = 0; w < 2; ++w) before[w] = armv7m::reg32(armv7m::nvic::kIspr + 4 * w);
  reg(kIntEn) = kIntSoftware;
  for (int i = 0; i < 100 && (reg(kIntSts) & kIntSoftware) == 0; ++i) {
  }
  for (unsigned w = 0; w < 2; ++w) probed_[w] = armv7m::reg32(armv7m::nvic::kIspr + 4 * w) & ~before[w];
  reg(kIntEn) = 0;
  reg(kIntSts) = kIntSoftware;
  for (unsigned w = 0; w < 2; ++w) armv7m::reg32(armv7m::nvic::kIcpr + 4 * w) = probed_[w];
  if ((probed_[irq_ / 32] & (1u << (irq_ % 32))) == 0) return Result::irq_mismatch;

  on_receive_ = on_receive;
  g_irq_owner = this;
  set_irq_handler(irq_, lan9118_irq);
  reg(kIntSts) = 0xffffffffu;
  reg(kIntEn) = kIntRxStatusLevel | kIntRxError;
  armv7m::nvic::clear_pending(irq_);
  armv7m::nvic::enable(irq_);
  return Result::ok;
}

void Lan9118::on_interrupt() {
  ++counters_.interrupts;
  // Acknowledge first (write 1 to clear): a frame arriving after this re-raises the line, so a
  // frame is never left waiting without a wake-up.
  reg(kIntSts) = reg(kIntSts) & (kIntRxStatusLevel | kIntRxError);
  if (on_receive_ != nullptr) on_receive_();
}

void Lan9118::mac_address(std::uint8_t (&out)[6]) {
  std::uint32_t low = 0, high = 0;
  (void)mac_read(kMacAddrL, low);
  (void)mac_read(kMacAddrH, high);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(low >> (8 * i));
  out[4] = static_cast<std::uint8_t>(high);
  out[5] = static_cast<std::uint8_t>(high >> 8);
}

bool Lan9118::link_up() {
  std::uint16_t status = 0;
  return phy_read(kPhyBasicStatus, status) && (status & kPhyLinkUp) != 0;
}

Lan9118::Result Lan9118::transmit(std::span<const std::byte> frame) {
  if (frame.size() > kMaxFrame || frame.empty()) return Result::too_large;
  // Collect finished TX statuses (only to count errors; their FIFO may overrun otherwise).
  for (std::uint32_t n = (reg(kTxFifoInf) >> 16) & 0xff; n > 0; --n) {
    if ((reg(kTxStatusFifo) & kStatusErrorSummary) != 0) ++counters_.tx_errors;
  }
  const std::uint32_t words = (static_cast<std::uint32_t>(frame.size()) + 3) / 4;
  if ((reg(kTxFifoInf) & 0xffff) < 4 * words + 8) {
    ++counters_.tx_full;
    return Result::tx_full;
  }
  const auto length = static_cast<std::uint32_t>(frame.size());
  // Command A: one buffer that is both the first and last segment, no data offset.
  reg(kTxDataFifo) = kTxCmdAFirst | kTxCmdALast | length;
  // Command B: a tag (returned in the TX status) and the whole packet's length.
  reg(kTxDataFifo) = std::uint32_t{++tx_tag_} << 16 | length;
  for (std::uint32_t i = 0; i < words; ++i) {
    std::uint32_t w = 0;
    const std::size_t at = 4 * i;
    std::memcpy(&w, frame.data() + at, frame.size() - at < 4 ? frame.size() - at : 4);  // FIFO is little-endian
    reg(kTxDataFifo) = w;
  }
  ++counters_.tx_frames;
  return Result::ok;
}

void Lan9118::discard(std::uint32_t words) {
  if (words >= 4) {
    // Fast-forward needs at least 4 words to skip; below that the datasheet says read them.
    reg(kRxDpCtrl) = kRxDpFastForward;
    for (int i = 0; i < kSpins && (reg(kRxDpCtrl) & kRxDpFastForward) != 0; ++i) {
    }
  } else {
    for (std::uint32_t i = 0; i < words; ++i) {
      [[maybe_unused]] const std::uint32_t drained = reg(kRxDataFifo);
    }
  }
}

std::size_t Lan9118::receive(std::span<std::byte> out) {
  while (rx_pending() > 0) {
    const std::uint32_t status = reg(kRxStatusFifo);
    const std::uint32_t length = (status >> 16) & 0x3fff;  // includes the 4-byte FCS
    const std::uint32_t words = (length + 3) / 4;
    if ((status & kStatusErrorSummary) != 0 || length < 4 + 14) {
      ++counters_.rx_errors;
      discard(words);
      continue;
    }
    const std::size_t size = length - 4;
    if (size > out.size()) {
      ++counters_.rx_too_large;
      discard(words);
      continue;
    }
    for (std::uint32_t i = 0; i < words; ++i) {
      const std::uint32_t w = reg(kRxDataFifo);
      const std::size_t at = 4 * i;
      if (at < size) std::memcpy(out.data() + at, &w, size - at < 4 ? size - at : 4);
    }
    ++counters_.rx_frames;
    return size;
  }
  return 0;
}

}  // namespace ambience::board
