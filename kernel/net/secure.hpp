// Authenticated RPC envelopes: sealing and opening with a pair key, and the replay protection of
// both ends of a pair (docs/SECURITY.md is the product documentation; the bytes are fixed here
// and in the Python twin, net.py).
//
//   0  envelope header (36; flags authenticated [+ encrypted], tag length 16,
//      payload_length = security block + body)
//  36  security block (16): u64 seq, u64 challenge (little-endian)
//  52  body: the lidl message in clear, or its ciphertext (kFlagEncrypted); errors have none
//  ..  tag (16): Poly1305 of Monocypher's crypto_aead_lock
//
// Nonce (24): u8 direction (1 request, 2 reply or error), 3 zero bytes, u32 sender incarnation,
// u64 seq, u64 challenge, all taken from the message, so the receiver rebuilds it. Encrypted: the
// additional data is bytes 0..52 and the body is the plain text; MAC only: the additional data is
// bytes 0..52 + body and the plain text is empty. Either way every byte before the tag is covered.
//
// Why nonces do not repeat with different bytes under one key:
// - Requests. seq is per pair and never repeats within a boot of the caller; across boots the
//   incarnation differs, except on the QEMU boards (no entropy: two identical boots have the same
//   incarnation and seqs). So a request without a challenge (challenge 0: the caller has had no
//   verified answer from the callee this boot) is a PROBE: seal() refuses it a body, it carries
//   the request's header (call id, procedure, ...) and payload_length 16 (the block alone). The
//   callee answers it resync and never runs it (ReceiverSession::check: challenge 0 is always
//   resync, inside a session or not); the caller then seals the real request, with its body,
//   under the challenge the resync brought, which the callee drew. Two identical boots may still
//   send two probes under one nonce with different headers (one Poly1305 key over two messages):
//   at worst a forged probe, which is answered resync like any probe.
// - Answers (replies and errors). seq is the callee's answer counter for the pair (never repeated
//   within its boot) and the challenge is the one the callee drew for the caller's next session
//   (RpcNode: from getrandom on hosted nodes; on boards from the timer and a counter, hashed with
//   the pair key and the tag of the request that asked for it, so a caller that differs between
//   two identical boots of a board, e.g. a hosted node, makes them differ).
// A twin (net.py and its callers) follows the same rules: seal refuses a request with challenge
// 0 and a body; check answers resync to challenge 0 before anything else; a caller whose
// challenge is 0 sends the probe (seq from its counter as usual) and keeps the body, and on the
// resync seals header + body again under a new seq and the resync's challenge; after 2 re-seals
// the next resync ends the call (unavailable). Answers and their nonces are unchanged.
//
// Replay protection is a session per pair anchored on a challenge the callee issued:
// ReceiverSession (callee) accepts a verified request whose seq is new within the session, or
// one carrying its current challenge (a new session: the caller's incarnation becomes the epoch);
// a probe, or anything outside a session, is answered with a `resync` error carrying that
// challenge. CallerSession numbers the caller's requests and remembers the last challenge the
// callee sent. A caller re-seals a call at most twice on resync; the next resync ends the call
// with from_wire(resync) = unavailable.
//
// Portable (host and both boards), no heap; secrets on the stack are wiped (crypto_wipe).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/status.hpp"
#include "kernel/net/envelope.hpp"

namespace ambience::net {

inline constexpr std::size_t kSecureBodyAt = kEnvelopeSize + kSecurityBlockSize;  // 52
// What sealing adds to a plain envelope of the same body: the security block and the tag.
inline constexpr std::size_t kSealOverhead = kSecurityBlockSize + kAuthTagLength;  // 32
inline constexpr std::size_t kNonceSize = 24;

using PairKey = std::array<std::uint8_t, 32>;

struct SecurityBlock {
  std::uint64_t seq = 0;
  std::uint64_t challenge = 0;
};

enum class Direction : std::uint8_t { request = 1, answer = 2 };  // answer: a reply or an error

constexpr Direction direction_of(EnvelopeKind k) {
  return k == EnvelopeKind::request ? Direction::request : Direction::answer;
}

// The bytes of a sealed message with a body of `body` bytes (errors: 0).
constexpr std::size_t sealed_message_size(std::size_t body) { return kSecureBodyAt + body + kAuthTagLength; }

// Seals in place. `message` holds room for header and security block, then the body's
// `body_size` bytes at kSecureBodyAt (put there by the caller, in clear), then room for the tag.
// Writes the header (flags gain authenticated, and encrypted if `encrypt` and e is no error; tag
// length 16), the block, the ciphertext over the body (encrypt) and the tag. Returns the
// message's size. Errors: bad_message (e is not a valid envelope, an error with a body, a request
// with a body and challenge 0, seq 0), no_memory (message too small).
Result<std::size_t> seal(Envelope e, const SecurityBlock& block, bool encrypt, const PairKey& key,
                         std::span<std::byte> message, std::size_t body_size);

// Why open() refused a message: any of them means drop (and count), never an answer.
enum class OpenError : std::uint8_t {
  none = 0,
  not_authenticated,  // a plain envelope
  no_room,            // encrypted, and `plain` is smaller than the body
  bad_tag,            // forged, tampered with, or another key
};

struct OpenedMessage {
  SecurityBlock block;
  std::span<const std::byte> body;  // in clear: in the message (MAC only) or in `plain`
};

// Checks the tag of a decoded authenticated envelope (d from decode_envelope over `message`) in
// constant time. Encrypted bodies are decrypted into `plain` (which may be the body's own bytes
// in `message`, to decrypt in place); nothing is written to it unless the tag verified.
OpenError open(const DecodedEnvelope& d, std::span<const std::byte> message, const PairKey& key,
               std::span<std::byte> plain, OpenedMessage& out);

// The security block of a decoded authenticated envelope, before or without opening it (a seal
// rebuilds its nonce from it). Zeros for a plain envelope.
SecurityBlock security_block(const DecodedEnvelope& d);

// The callee's end of one pair: which requests of the caller are new. Only for requests whose
// tag verified.
//
// A session belongs to one incarnation of the caller (its epoch). A node principal has one
// incarnation at a time, so by default (callers 1) a new session replaces the old one and the
// old incarnation's requests are never run again. The principals of node 0 (the operator's
// consoles, the HTTP doors) are processes, several of which may call at once, each with an
// incarnation of its own: the owner allows them up to kMaxCallers sessions side by side, each
// with its own window, the least recently used one replaced when a new incarnation opens one.
// Either way a session opens only with the challenge this end issued last, which it forgets
// once used: a request of a replaced session can never run.
class ReceiverSession {
 public:
  enum class Verdict : std::uint8_t {
    accept,       // new within an established session
    established,  // it carried the issued challenge: a new session; issue() a fresh challenge now
    replay,       // same or older seq, too old for the window, or from before the session: drop
    resync,       // a probe (challenge 0), or no session with this caller incarnation: answer a
                  // resync error with challenge(), run nothing
  };
  static constexpr std::uint64_t kWindow = 64;  // seqs below the highest one still accepted once
#if defined(__arm__)
  static constexpr std::size_t kMaxCallers = 1;  // RAM: a board keeps one session per pair
#else
  static constexpr std::size_t kMaxCallers = 4;
#endif

  // How many caller incarnations may hold a session at once (1 .. kMaxCallers; clamped).
  void allow_callers(std::size_t n);
  std::size_t callers() const;

  Verdict check(std::uint32_t caller_incarnation, const SecurityBlock& block);

  // The challenge callers must bring to open a session; 0 until the owner issues one (it must
  // before answering resync: 0 never opens a session). Fresh per session (the owner draws it).
  std::uint64_t challenge() const { return challenge_; }
  void issue(std::uint64_t challenge) { challenge_ = challenge; }

  // Numbers this end's replies and errors (their nonces): 1, 2, ... never 0, never repeated.
  std::uint64_t next_answer_seq() { return ++answer_seq_; }

  // The most recently used session (what a single caller's tests look at).
  bool established() const { return recent().used != 0; }
  std::uint32_t epoch() const { return recent().epoch; }
  std::uint64_t top() const { return recent().top; }
  std::size_t sessions() const;  // established ones

 private:
  struct Session {
    std::uint64_t top = 0;
    std::uint64_t seen = 0;    // bit i: seq top - i arrived
    std::uint64_t floor = 0;   // the seq that opened the session ...
    std::uint64_t anchor = 0;  // ... with this challenge
    std::uint32_t epoch = 0;
    std::uint32_t used = 0;  // when last accepted (a use_count() value); 0: no session here
  };
  static Verdict in_window(Session& s, const SecurityBlock& block);
  const Session& recent() const;
  std::uint32_t use_count();  // 1, 2, ... (a wrap only misplaces one eviction)

  std::array<Session, kMaxCallers> sessions_{};
#if !defined(__arm__)  // a board's RAM pays for none of this (one session per pair)
  std::uint32_t uses_ = 0;
  std::uint8_t callers_ = 1;
#endif
  std::uint64_t challenge_ = 0;
  std::uint64_t answer_seq_ = 0;
};

// The caller's end of one pair: request numbers and the last challenge the callee sent.
class CallerSession {
 public:
  // The block of the next request (or re-seal of one): a new seq, the current challenge.
  SecurityBlock next() { return SecurityBlock{++seq_, challenge_}; }
  // A reply or error from the callee whose tag verified: its block carries the challenge.
  void on_verified_answer(const SecurityBlock& block) { challenge_ = block.challenge; }
  std::uint64_t challenge() const { return challenge_; }
  std::uint64_t seq() const { return seq_; }

 private:
  std::uint64_t seq_ = 0;
  std::uint64_t challenge_ = 0;  // 0 at boot: the first request gets a resync
};

}  // namespace ambience::net
