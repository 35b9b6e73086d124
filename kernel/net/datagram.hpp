// Datagram framing (UDP): one datagram = one link frame body (link.hpp) as is: header, payload,
// CRC-32. No COBS: the datagram boundary is the frame boundary.
//
// Why a CRC although UDP has a checksum: the UDP checksum is a 16-bit ones' complement sum (it
// misses swapped 16-bit words and many burst errors), it is optional on IPv4 (0 = not computed;
// some embedded stacks and tunnels send 0), and it is checked by NIC offload and drivers we do
// not control. Four bytes per datagram buy one end-to-end check and one code path for every link.
#pragma once

#include <cstddef>
#include <span>

#include "kernel/core/status.hpp"
#include "kernel/net/link.hpp"

namespace ambience::net {

// Conventional UDP payload budget without IP fragmentation on Ethernet (1500 - 20 IPv4 - 8 UDP).
inline constexpr std::size_t kUdpEthernetPayload = 1472;

constexpr std::size_t datagram_size(std::size_t payload) { return kLinkOverhead + payload; }

// Writes header + payload + CRC into `out`. h.payload_length is taken from payload.size().
// Errors: no_memory (out shorter than datagram_size), bad_message (header inconsistent).
Result<std::size_t> encode_datagram(LinkHeader h, std::span<const std::byte> payload, std::span<std::byte> out);

// Validates one received datagram (any bytes: a fuzzing entry point); payload points into it.
inline LinkError decode_datagram(std::span<const std::byte> datagram, LinkFrame& out) {
  return decode_link_body(datagram, out);
}

}  // namespace ambience::net
