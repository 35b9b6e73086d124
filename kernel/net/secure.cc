#include "kernel/net/secure.hpp"

#include "kernel/net/bytes.hpp"
#include "monocypher.h"

namespace ambience::net {
namespace {

using detail::load_le;
using detail::store_le;

// Nonces never repeat under one key within one boot of the sender: seq is per pair and per
// direction, and the incarnation differs between boots.
void build_nonce(std::uint8_t (&nonce)[kNonceSize], EnvelopeKind kind, std::uint32_t incarnation,
                 const SecurityBlock& block) {
  auto* n = reinterpret_cast<std::byte*>(nonce);
  n[0] = static_cast<std::byte>(direction_of(kind));
  n[1] = n[2] = n[3] = std::byte{0};
  store_le<std::uint32_t>(n + 4, incarnation);
  store_le<std::uint64_t>(n + 8, block.seq);
  store_le<std::uint64_t>(n + 16, block.challenge);
}

std::uint8_t* u8(std::byte* p) { return reinterpret_cast<std::uint8_t*>(p); }
const std::uint8_t* u8(const std::byte* p) { return reinterpret_cast<const std::uint8_t*>(p); }

}  // namespace

Result<std::size_t> seal(Envelope e, const SecurityBlock& block, bool encrypt, const PairKey& key,
                         std::span<std::byte> message, std::size_t body_size) {
  if (block.seq == 0) return Status::bad_message;  // 0 is never sent: a session's seqs start at 1
  // Without a challenge the nonce has nothing fresh in it (a board's incarnation and seqs repeat
  // across identical boots): such a request is a probe and must not encrypt or MAC a body.
  if (e.kind == EnvelopeKind::request && block.challenge == 0 && body_size != 0) return Status::bad_message;
  if (e.kind == EnvelopeKind::error) {
    if (body_size != 0) return Status::bad_message;
    encrypt = false;  // nothing to hide: the block is in clear anyway
  }
  e.flags = static_cast<std::uint16_t>((e.flags & ~(kFlagAuthenticated | kFlagEncrypted)) | kFlagAuthenticated |
                                       (encrypt ? kFlagEncrypted : 0));
  e.auth_tag_length = kAuthTagLength;
  const std::size_t size = sealed_message_size(body_size);
  // An invalid envelope is refused first (bad_message), then too small a buffer (no_memory).
  Result<std::size_t> head =
      encode_envelope_header(e, kSecurityBlockSize + body_size, message.size() >= size ? message : message.first(0));
  if (!head.ok()) return head.status();
  std::byte* p = message.data();
  store_le<std::uint64_t>(p + kEnvelopeSize, block.seq);
  store_le<std::uint64_t>(p + kEnvelopeSize + 8, block.challenge);
  std::uint8_t nonce[kNonceSize];
  build_nonce(nonce, e.kind, e.sender_incarnation, block);
  std::byte* body = p + kSecureBodyAt;
  std::byte* tag = body + body_size;
  if (encrypt) {
    crypto_aead_lock(u8(body), u8(tag), key.data(), nonce, u8(p), kSecureBodyAt, u8(body), body_size);
  } else {
    crypto_aead_lock(u8(tag), u8(tag), key.data(), nonce, u8(p), kSecureBodyAt + body_size, u8(tag), 0);
  }
  return size;
}

SecurityBlock security_block(const DecodedEnvelope& d) {
  if (!d.header.authenticated() || d.payload.size() < kSecurityBlockSize) return {};
  return SecurityBlock{load_le<std::uint64_t>(d.payload.data()), load_le<std::uint64_t>(d.payload.data() + 8)};
}

OpenError open(const DecodedEnvelope& d, std::span<const std::byte> message, const PairKey& key,
               std::span<std::byte> plain, OpenedMessage& out) {
  if (!d.header.authenticated()) return OpenError::not_authenticated;
  // decode_envelope guaranteed the layout: the block, the body and exactly one tag after it.
  const std::size_t body_size = d.payload.size() - kSecurityBlockSize;
  if (message.size() != sealed_message_size(body_size) || d.payload.data() != message.data() + kEnvelopeSize)
    return OpenError::bad_tag;  // not the bytes d was decoded from: nothing to verify against
  const SecurityBlock block = security_block(d);
  std::uint8_t nonce[kNonceSize];
  build_nonce(nonce, d.header.kind, d.header.sender_incarnation, block);
  const std::byte* p = message.data();
  const std::byte* body = p + kSecureBodyAt;
  const std::byte* tag = body + body_size;
  int rc;
  if (d.header.encrypted()) {
    if (plain.size() < body_size) return OpenError::no_room;
    rc = crypto_aead_unlock(u8(plain.data()), u8(tag), key.data(), nonce, u8(p), kSecureBodyAt, u8(body), body_size);
    out.body = plain.first(body_size);
  } else {
    std::uint8_t none = 0;
    rc = crypto_aead_unlock(&none, u8(tag), key.data(), nonce, u8(p), kSecureBodyAt + body_size, &none, 0);
    out.body = std::span<const std::byte>(body, body_size);
  }
  if (rc != 0) {
    out.body = {};
    return OpenError::bad_tag;
  }
  out.block = block;
  return OpenError::none;
}

ReceiverSession::Verdict ReceiverSession::in_window(Session& s, const SecurityBlock& block) {
  if (block.seq > s.top) {
    const std::uint64_t shift = block.seq - s.top;
    s.seen = (shift >= kWindow ? 0 : s.seen << shift) | 1u;
    s.top = block.seq;
    return Verdict::accept;
  }
  const std::uint64_t age = s.top - block.seq;
  if (block.seq == 0 || age >= kWindow) return Verdict::replay;
  if (block.seq <= s.floor && block.challenge != s.anchor) return Verdict::replay;  // an older session's
  const std::uint64_t bit = std::uint64_t{1} << age;
  if (s.seen & bit) return Verdict::replay;
  s.seen |= bit;
  return Verdict::accept;
}

ReceiverSession::Verdict ReceiverSession::check(std::uint32_t caller_incarnation, const SecurityBlock& block) {
  // A probe (no challenge) is never a request to run, whatever its seq and the session: its
  // nonce may have been used before, so neither its body (there should be none) nor its seq
  // means anything. It is answered resync, which carries the challenge to re-seal with.
  if (block.challenge == 0) return Verdict::resync;
  for (std::size_t i = 0; i < callers(); ++i) {
    Session& s = sessions_[i];
    if (s.used != 0 && s.epoch == caller_incarnation) {
      const Verdict v = in_window(s, block);
      if (v == Verdict::accept) s.used = use_count();
      return v;
    }
  }
  // The challenge is no secret (resync errors carry it in clear): what makes it an anchor is that
  // the callee picked it for this session and forgets it once used.
  if (block.challenge != 0 && block.challenge == challenge_ && block.seq != 0) {
    // A free place, else the session used least recently: its caller resyncs if it calls again.
    Session* into = &sessions_[0];
    for (std::size_t i = 0; i < callers(); ++i) {
      Session& s = sessions_[i];
      if (s.used == 0) {
        into = &s;
        break;
      }
      if (s.used < into->used) into = &s;
    }
    *into = Session{block.seq, 1, block.seq, block.challenge, caller_incarnation, use_count()};
    challenge_ = 0;  // the owner issues the next one
    return Verdict::established;
  }
  return Verdict::resync;
}

const ReceiverSession::Session& ReceiverSession::recent() const {
  const Session* best = &sessions_[0];
  for (std::size_t i = 1; i < callers(); ++i) {
    if (sessions_[i].used > best->used) best = &sessions_[i];
  }
  return *best;
}

#if defined(__arm__)
void ReceiverSession::allow_callers(std::size_t) {}
std::size_t ReceiverSession::callers() const { return 1; }
std::uint32_t ReceiverSession::use_count() { return 1; }
#else
void ReceiverSession::allow_callers(std::size_t n) {
  callers_ = static_cast<std::uint8_t>(n < 1 ? 1 : n > kMaxCallers ? kMaxCallers : n);
}
std::size_t ReceiverSession::callers() const { return callers_; }
std::uint32_t ReceiverSession::use_count() {
  if (++uses_ == 0) uses_ = 1;
  return uses_;
}
#endif

std::size_t ReceiverSession::sessions() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < callers(); ++i) n += sessions_[i].used != 0 ? 1 : 0;
  return n;
}

}  // namespace ambience::net
