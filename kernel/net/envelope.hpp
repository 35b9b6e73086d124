// The RPC envelope: a fixed 36-byte header in front of every cross-node request and reply. It
// says who calls whom (nodes, instances, procedure) and which call a reply belongs to; the
// payload is the lidl message (lidl/WIRE.md) untouched. Carried as one message over a link
// (fragment.hpp), so it may be larger than a frame.
//
//   0  u32 magic 'A' 'M' 'B' 'R'        20 u16 source node
//   4  u8  version (kEnvelopeVersion)   22 u16 destination node
//   5  u8  kind: 1 request, 2 reply,    24 u16 caller instance
//             3 error                   26 u16 target instance (object id on the destination)
//   6  u16 flags: bit 0 idempotent      28 u16 procedure (lidl procedure id)
//             (requests only), bit 1    30 u8  status (WireStatus; requests 0, replies ok,
//             authenticated, bit 2                 errors anything but ok)
//             encrypted                 31 u8  authentication tag length (0, or 16 if authenticated)
//   8  u64 call id (caller's            32 u32 payload length
//             incarnation << 32 | n)    36 payload, then the authentication tag (if any)
//  16  u32 sender incarnation
// All fields little-endian. An authenticated envelope's payload starts with a 16-byte security
// block (secure.hpp); decoding checks only the layout, secure.hpp checks the tag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/status.hpp"

namespace ambience::net {

inline constexpr std::uint32_t kEnvelopeMagic = 0x52424D41u;  // "AMBR" in memory order
inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kEnvelopeSize = 36;
inline constexpr std::uint16_t kAnyNode = 0xFFFF;  // decode_envelope: accept any destination

enum class EnvelopeKind : std::uint8_t { request = 1, reply = 2, error = 3 };

inline constexpr std::uint16_t kFlagIdempotent = 1u << 0;
// Set, the payload is a security block + body and a kAuthTagLength-byte tag follows it
// (secure.hpp: the layout, the nonce and the checks).
inline constexpr std::uint16_t kFlagAuthenticated = 1u << 1;
// Only with kFlagAuthenticated, never on an error (it has no body): the body is ciphertext.
inline constexpr std::uint16_t kFlagEncrypted = 1u << 2;
inline constexpr std::uint16_t kKnownFlags = kFlagIdempotent | kFlagAuthenticated | kFlagEncrypted;
inline constexpr std::uint8_t kAuthTagLength = 16;         // Poly1305
inline constexpr std::size_t kSecurityBlockSize = 16;       // u64 seq, u64 challenge

// Status numbers on the wire: stable, independent of the order of ambience::Status. 0..9 are
// the numbers of lidl's WireStatus for the same conditions (unknown procedure = not_found).
enum class WireStatus : std::uint8_t {
  ok = 0,
  bad_message = 1,
  schema_mismatch = 2,
  not_found = 3,
  no_memory = 4,
  unavailable = 5,
  timeout = 6,
  peer_restarted = 7,
  access_denied = 8,
  internal = 9,
  would_block = 10,
  cancelled = 11,
  resync = 12,  // authenticated errors only: the caller re-seals with the challenge in the block
};
inline constexpr std::uint8_t kMaxWireStatus = 12;

WireStatus to_wire(Status s);
Status from_wire(WireStatus s);

struct Envelope {
  EnvelopeKind kind = EnvelopeKind::request;
  std::uint16_t flags = 0;
  std::uint64_t call_id = 0;
  std::uint32_t sender_incarnation = 0;
  std::uint16_t source_node = 0;
  std::uint16_t destination_node = 0;
  std::uint16_t caller_instance = 0;
  std::uint16_t target_instance = 0;
  std::uint16_t procedure = 0;
  WireStatus status = WireStatus::ok;
  std::uint8_t auth_tag_length = 0;
  std::uint32_t payload_length = 0;

  bool idempotent() const { return (flags & kFlagIdempotent) != 0; }
  bool authenticated() const { return (flags & kFlagAuthenticated) != 0; }
  bool encrypted() const { return (flags & kFlagEncrypted) != 0; }
};

// Why an envelope was rejected; every malformed input maps to exactly one reason.
enum class EnvelopeError : std::uint8_t {
  none = 0,
  too_short,            // fewer than kEnvelopeSize bytes
  bad_magic,            // not an envelope at all
  bad_version,          // another version of this layout
  bad_kind,             // kind not request/reply/error
  unknown_flags,        // a flag this version does not define
  flag_not_allowed,     // idempotent on a reply or error; encrypted without authenticated or on an error
  auth_not_supported,   // a tag length other than 16 with authenticated, other than 0 without
  zero_call_id,         // call id 0 is never allocated
  status_not_allowed,   // a request with a status, or a reply with a status other than ok
  missing_status,       // an error with status ok
  unknown_status,       // a status number this version does not define
  payload_not_allowed,  // an error carrying a payload (authenticated: anything but the security block)
  length_mismatch,      // payload length (+ tag) != the bytes present
  wrong_destination,    // addressed to another node
  missing_security_block,  // authenticated with a payload shorter than the security block
};

const char* to_string(EnvelopeError e);

// Field rules shared by the encoder and the decoder (an encoder never writes what a decoder
// rejects).
EnvelopeError check_envelope(const Envelope& e);

struct DecodedEnvelope {
  Envelope header;
  std::span<const std::byte> payload;  // points into the decoded bytes (authenticated: block + body)
};

// Validates one received message (any bytes: a fuzzing entry point). expected_destination:
// this node's id, or kAnyNode (a forwarder looks at the destination itself).
EnvelopeError decode_envelope(std::span<const std::byte> message, DecodedEnvelope& out,
                              std::uint16_t expected_destination = kAnyNode);

constexpr std::size_t envelope_message_size(std::size_t payload) { return kEnvelopeSize + payload; }

// Writes header + payload. e.payload_length is taken from payload.size(). Errors: bad_message
// (check_envelope fails), no_memory (out too small).
Result<std::size_t> encode_envelope(Envelope e, std::span<const std::byte> payload, std::span<std::byte> out);
// The envelope header alone, for a payload of `payload_length` bytes the caller has already put
// right after it (a reply built in place). Same rules as encode_envelope; kEnvelopeSize bytes.
Result<std::size_t> encode_envelope_header(Envelope e, std::size_t payload_length, std::span<std::byte> out);

// The header of the reply (status ok) or error (status != ok) to `request`, from `local_incarnation`.
Envelope reply_to(const Envelope& request, Status status, std::uint32_t local_incarnation);

}  // namespace ambience::net
