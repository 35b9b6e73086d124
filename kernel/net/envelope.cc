#include "kernel/net/envelope.hpp"

#include "kernel/net/bytes.hpp"

namespace ambience::net {

using detail::load_le;
using detail::store_le;

WireStatus to_wire(Status s) {
  switch (s) {
    case Status::ok: return WireStatus::ok;
    case Status::timeout: return WireStatus::timeout;
    case Status::peer_restarted: return WireStatus::peer_restarted;
    case Status::no_memory: return WireStatus::no_memory;
    case Status::bad_message: return WireStatus::bad_message;
    case Status::access_denied: return WireStatus::access_denied;
    case Status::unavailable: return WireStatus::unavailable;
    case Status::would_block: return WireStatus::would_block;
    case Status::cancelled: return WireStatus::cancelled;
    case Status::schema_mismatch: return WireStatus::schema_mismatch;
    case Status::not_found: return WireStatus::not_found;
    case Status::internal: return WireStatus::internal;
  }
  return WireStatus::internal;
}

Status from_wire(WireStatus s) {
  switch (s) {
    case WireStatus::ok: return Status::ok;
    case WireStatus::bad_message: return Status::bad_message;
    case WireStatus::schema_mismatch: return Status::schema_mismatch;
    case WireStatus::not_found: return Status::not_found;
    case WireStatus::no_memory: return Status::no_memory;
    case WireStatus::unavailable: return Status::unavailable;
    case WireStatus::timeout: return Status::timeout;
    case WireStatus::peer_restarted: return Status::peer_restarted;
    case WireStatus::access_denied: return Status::access_denied;
    case WireStatus::internal: return Status::internal;
    case WireStatus::would_block: return Status::would_block;
    case WireStatus::cancelled: return Status::cancelled;
    // The caller re-seals on resync; one that arrives after its last re-seal ends the call
    // (runtime/rpc): the callee is up but served it no session, and nothing ran. Status has no
    // closer code than unavailable ("nothing serves the target").
    case WireStatus::resync: return Status::unavailable;
  }
  return Status::bad_message;
}

const char* to_string(EnvelopeError e) {
  switch (e) {
    case EnvelopeError::none: return "none";
    case EnvelopeError::too_short: return "too_short";
    case EnvelopeError::bad_magic: return "bad_magic";
    case EnvelopeError::bad_version: return "bad_version";
    case EnvelopeError::bad_kind: return "bad_kind";
    case EnvelopeError::unknown_flags: return "unknown_flags";
    case EnvelopeError::flag_not_allowed: return "flag_not_allowed";
    case EnvelopeError::auth_not_supported: return "auth_not_supported";
    case EnvelopeError::zero_call_id: return "zero_call_id";
    case EnvelopeError::status_not_allowed: return "status_not_allowed";
    case EnvelopeError::missing_status: return "missing_status";
    case EnvelopeError::unknown_status: return "unknown_status";
    case EnvelopeError::payload_not_allowed: return "payload_not_allowed";
    case EnvelopeError::length_mismatch: return "length_mismatch";
    case EnvelopeError::wrong_destination: return "wrong_destination";
    case EnvelopeError::missing_security_block: return "missing_security_block";
  }
  return "unknown";
}

EnvelopeError check_envelope(const Envelope& e) {
  const auto kind = static_cast<std::uint8_t>(e.kind);
  if (kind < 1 || kind > 3) return EnvelopeError::bad_kind;
  if (e.flags & ~kKnownFlags) return EnvelopeError::unknown_flags;
  if ((e.flags & kFlagIdempotent) && e.kind != EnvelopeKind::request) return EnvelopeError::flag_not_allowed;
  const bool authenticated = e.authenticated();
  if (e.encrypted() && (!authenticated || e.kind == EnvelopeKind::error)) return EnvelopeError::flag_not_allowed;
  if (e.auth_tag_length != (authenticated ? kAuthTagLength : 0)) return EnvelopeError::auth_not_supported;
  if (e.call_id == 0) return EnvelopeError::zero_call_id;
  if (static_cast<std::uint8_t>(e.status) > kMaxWireStatus) return EnvelopeError::unknown_status;
  switch (e.kind) {
    case EnvelopeKind::request:
    case EnvelopeKind::reply:
      if (e.status != WireStatus::ok) return EnvelopeError::status_not_allowed;
      break;
    case EnvelopeKind::error:
      if (e.status == WireStatus::ok) return EnvelopeError::missing_status;
      // An authenticated error carries its security block (the challenge of a resync), no body.
      if (e.payload_length != (authenticated ? kSecurityBlockSize : 0)) return EnvelopeError::payload_not_allowed;
      break;
  }
  if (authenticated && e.payload_length < kSecurityBlockSize) return EnvelopeError::missing_security_block;
  return EnvelopeError::none;
}

EnvelopeError decode_envelope(std::span<const std::byte> m, DecodedEnvelope& out, std::uint16_t expected_destination) {
  if (m.size() < kEnvelopeSize) return EnvelopeError::too_short;
  const std::byte* p = m.data();
  if (load_le<std::uint32_t>(p) != kEnvelopeMagic) return EnvelopeError::bad_magic;
  if (std::to_integer<std::uint8_t>(p[4]) != kEnvelopeVersion) return EnvelopeError::bad_version;
  const auto kind = std::to_integer<std::uint8_t>(p[5]);
  if (kind < 1 || kind > 3) return EnvelopeError::bad_kind;
  Envelope e;
  e.kind = static_cast<EnvelopeKind>(kind);
  e.flags = load_le<std::uint16_t>(p + 6);
  e.call_id = load_le<std::uint64_t>(p + 8);
  e.sender_incarnation = load_le<std::uint32_t>(p + 16);
  e.source_node = load_le<std::uint16_t>(p + 20);
  e.destination_node = load_le<std::uint16_t>(p + 22);
  e.caller_instance = load_le<std::uint16_t>(p + 24);
  e.target_instance = load_le<std::uint16_t>(p + 26);
  e.procedure = load_le<std::uint16_t>(p + 28);
  e.status = static_cast<WireStatus>(std::to_integer<std::uint8_t>(p[30]));
  e.auth_tag_length = std::to_integer<std::uint8_t>(p[31]);
  e.payload_length = load_le<std::uint32_t>(p + 32);
  if (const EnvelopeError err = check_envelope(e); err != EnvelopeError::none) return err;
  if (std::uint64_t{e.payload_length} + e.auth_tag_length != m.size() - kEnvelopeSize)
    return EnvelopeError::length_mismatch;
  if (expected_destination != kAnyNode && e.destination_node != expected_destination)
    return EnvelopeError::wrong_destination;
  out.header = e;
  out.payload = m.subspan(kEnvelopeSize, e.payload_length);
  return EnvelopeError::none;
}

Result<std::size_t> encode_envelope_header(Envelope e, std::size_t payload_length, std::span<std::byte> out) {
  if (payload_length > 0xFFFFFFFFu) return Status::bad_message;
  e.payload_length = static_cast<std::uint32_t>(payload_length);
  if (check_envelope(e) != EnvelopeError::none) return Status::bad_message;
  if (out.size() < kEnvelopeSize) return Status::no_memory;
  std::byte* p = out.data();
  store_le<std::uint32_t>(p, kEnvelopeMagic);
  p[4] = std::byte{kEnvelopeVersion};
  p[5] = static_cast<std::byte>(e.kind);
  store_le<std::uint16_t>(p + 6, e.flags);
  store_le<std::uint64_t>(p + 8, e.call_id);
  store_le<std::uint32_t>(p + 16, e.sender_incarnation);
  store_le<std::uint16_t>(p + 20, e.source_node);
  store_le<std::uint16_t>(p + 22, e.destination_node);
  store_le<std::uint16_t>(p + 24, e.caller_instance);
  store_le<std::uint16_t>(p + 26, e.target_instance);
  store_le<std::uint16_t>(p + 28, e.procedure);
  p[30] = static_cast<std::byte>(e.status);
  p[31] = std::byte{e.auth_tag_length};
  store_le<std::uint32_t>(p + 32, e.payload_length);
  return kEnvelopeSize;
}

Result<std::size_t> encode_envelope(Envelope e, std::span<const std::byte> payload, std::span<std::byte> out) {
  // Too small an `out` is no_memory, but an invalid envelope is refused first (bad_message).
  if (out.size() < envelope_message_size(payload.size())) return encode_envelope_header(e, payload.size(), {}).status();
  Result<std::size_t> header = encode_envelope_header(e, payload.size(), out);
  if (!header.ok()) return header.status();
  std::byte* p = out.data();
  for (std::size_t i = 0; i < payload.size(); ++i) p[kEnvelopeSize + i] = payload[i];
  return envelope_message_size(payload.size());
}

Envelope reply_to(const Envelope& request, Status status, std::uint32_t local_incarnation) {
  Envelope r;
  r.kind = status == Status::ok ? EnvelopeKind::reply : EnvelopeKind::error;
  r.call_id = request.call_id;
  r.sender_incarnation = local_incarnation;
  r.source_node = request.destination_node;
  r.destination_node = request.source_node;
  r.caller_instance = request.caller_instance;
  r.target_instance = request.target_instance;
  r.procedure = request.procedure;
  r.status = to_wire(status);
  return r;
}

}  // namespace ambience::net
