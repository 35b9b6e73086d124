// The board's LAN9118 as an EthernetDevice for EthUdpLink; its receive interrupt wakes the
// kernel loop (arch::wake), whose next poll() reads the frames.
#pragma once

#include "kernel/core/arch.hpp"
#include "platforms/boards/lan9118.hpp"
#include "runtime/cortex_m/eth_udp_link.hpp"

namespace ambience::node {

class Lan9118Ethernet final : public EthernetDevice {
 public:
  explicit Lan9118Ethernet(board::Lan9118& nic) : nic_(nic) {}

  board::Lan9118::Result start(const net::ip::MacAddress& mac) {
    const std::uint8_t bytes[6] = {mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]};
    return nic_.start(bytes, [] { arch::wake(); });
  }
  Status transmit(std::span<const std::byte> frame) override {
    switch (nic_.transmit(frame)) {
      case board::Lan9118::Result::ok: return Status::ok;
      case board::Lan9118::Result::tx_full: return Status::would_block;
      case board::Lan9118::Result::too_large: return Status::bad_message;
      default: return Status::unavailable;
    }
  }
  std::size_t receive(std::span<std::byte> out) override { return nic_.receive(out); }
  bool link_up() override { return nic_.link_up(); }

 private:
  board::Lan9118& nic_;
};

}  // namespace ambience::node
