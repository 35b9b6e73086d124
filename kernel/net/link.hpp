// The link frame shared by serial streams and UDP datagrams: a fixed 18-byte header, the payload
// (one fragment of a message), and a CRC-32 over both. Serial links COBS-encode this body between
// 0x00 delimiters (stream_framer.hpp); a UDP datagram carries it as is (datagram.hpp).
//
//   0  u8  version (kLinkVersion)
//   1  u8  flags (none defined yet; must be 0)
//   2  u16 sequence          per sender and link, +1 per frame (gaps = lost frames)
//   4  u16 message id        per sender, +1 per message; the fragments of a message share it
//   6  u8  fragment index    0 .. count-1
//   7  u8  fragment count    1 .. 255
//   8  u32 offset            of this fragment in the message
//  12  u32 message length    of the whole message
//  16  u16 payload length    of this fragment (= body size - 22)
//  18  payload
//  ..  u32 CRC-32/ISO-HDLC of bytes 0 .. 18+payload length
// All fields little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ambience::net {

inline constexpr std::uint8_t kLinkVersion = 1;
inline constexpr std::size_t kLinkHeaderSize = 18;
inline constexpr std::size_t kLinkCrcSize = 4;
inline constexpr std::size_t kLinkOverhead = kLinkHeaderSize + kLinkCrcSize;
inline constexpr std::size_t kMaxFragments = 255;

struct LinkHeader {
  std::uint8_t flags = 0;
  std::uint16_t sequence = 0;
  std::uint16_t message_id = 0;
  std::uint8_t fragment_index = 0;
  std::uint8_t fragment_count = 1;
  std::uint32_t offset = 0;
  std::uint32_t message_length = 0;
  std::uint16_t payload_length = 0;
};

// One validated frame; payload points into the buffer it was decoded from.
struct LinkFrame {
  LinkHeader header;
  std::span<const std::byte> payload;
};

// Why a frame body was rejected. Every malformed input maps to exactly one reason.
enum class LinkError : std::uint8_t {
  none = 0,
  too_short,           // fewer bytes than header + CRC
  crc_mismatch,        // corrupted on the way (checked before anything else is trusted)
  bad_version,         // another version of this layout
  unknown_flags,       // a flag this version does not define
  bad_fragment,        // count 0, or index >= count
  length_mismatch,     // payload length field != the bytes actually present
  bad_offset,          // fragment outside the message, or a single/last fragment not ending it
  payload_too_large,   // encoder: payload longer than a u16 length field
};

constexpr const char* to_string(LinkError e) {
  switch (e) {
    case LinkError::none: return "none";
    case LinkError::too_short: return "too_short";
    case LinkError::crc_mismatch: return "crc_mismatch";
    case LinkError::bad_version: return "bad_version";
    case LinkError::unknown_flags: return "unknown_flags";
    case LinkError::bad_fragment: return "bad_fragment";
    case LinkError::length_mismatch: return "length_mismatch";
    case LinkError::bad_offset: return "bad_offset";
    case LinkError::payload_too_large: return "payload_too_large";
  }
  return "unknown";
}

// Loss accounting from sequence numbers, per sender: the stream decoder keeps one; a datagram
// receiver keeps one per peer. Diagnostic only: lost messages are found by the reassembly
// timeout and the callers' deadlines, not here.
struct SequenceTracker {
  std::uint32_t frames_missed = 0;   // sum of forward gaps
  std::uint32_t sequence_jumps = 0;  // backwards or more than half the range ahead: the sender restarted
  bool seen = false;
  std::uint16_t last = 0;

  void observe(std::uint16_t sequence) {
    if (seen) {
      const auto gap = static_cast<std::uint16_t>(sequence - last - 1);
      if (gap < 0x8000) {
        frames_missed += gap;
      } else {
        ++sequence_jumps;
      }
    }
    seen = true;
    last = sequence;
  }
};

// Checks the header fields against each other (not the CRC, not the body size).
LinkError check_link_header(const LinkHeader& h);

void write_link_header(const LinkHeader& h, std::byte* out);  // kLinkHeaderSize bytes
LinkHeader read_link_header(const std::byte* in);

// Validates a whole frame body (header + payload + CRC), the entry point a fuzzer feeds with
// arbitrary bytes. On success fills `out` (payload points into `body`).
LinkError decode_link_body(std::span<const std::byte> body, LinkFrame& out);

}  // namespace ambience::net
