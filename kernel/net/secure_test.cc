// Authenticated envelopes: round trips (MAC only and encrypted, requests, replies, errors), every
// byte of a sealed message tampered with is refused, another key is refused, and the replay
// window and challenge logic of both ends of a pair, including reboots of either side.
#include "kernel/net/secure.hpp"

#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::as_bytes;
using ambience::net::testing::equal;
using Verdict = ReceiverSession::Verdict;

constexpr PairKey key_of(std::uint8_t seed) {
  PairKey k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return k;
}
constexpr PairKey kKey = key_of(1);
constexpr PairKey kOtherKey = key_of(2);

Envelope sample_request() {
  Envelope e;
  e.kind = EnvelopeKind::request;
  e.flags = kFlagIdempotent;
  e.call_id = (std::uint64_t{0xA1B2C3D4} << 32) | 5u;
  e.sender_incarnation = 0xA1B2C3D4u;
  e.source_node = 3;
  e.destination_node = 7;
  e.caller_instance = 0xFFFF;
  e.target_instance = 13;
  e.procedure = 2;
  return e;
}

alignas(8) std::byte g_msg[512];
alignas(8) std::byte g_copy[512];
alignas(8) std::byte g_plain[512];

// Seals `body` as `e` into g_msg; returns the message's size (0 on failure).
std::size_t seal_sample(const Envelope& e, std::span<const std::byte> body, bool encrypt,
                        SecurityBlock block = {9, 0x1122334455667788u}, const PairKey& key = kKey) {
  for (std::size_t i = 0; i < body.size(); ++i) g_msg[kSecureBodyAt + i] = body[i];
  Result<std::size_t> n = seal(e, block, encrypt, key, g_msg, body.size());
  return n.ok() ? n.value() : 0;
}

// Decodes and opens `m` into g_plain; the error (decode failures are reported as bad_tag).
OpenError open_bytes(std::span<const std::byte> m, const PairKey& key, OpenedMessage& out) {
  DecodedEnvelope d;
  if (decode_envelope(m, d) != EnvelopeError::none) return OpenError::bad_tag;
  return open(d, m, key, g_plain, out);
}

AMBIENCE_TEST(the_layout_is_what_the_spec_says) {
  const std::size_t n = seal_sample(sample_request(), as_bytes("hello"), false);
  CHECK_EQ(n, kEnvelopeSize + 16 + 5 + 16);
  CHECK(g_msg[6] == std::byte{kFlagIdempotent | kFlagAuthenticated} && g_msg[31] == std::byte{16});
  CHECK(g_msg[32] == std::byte{21});                             // payload length: block + body
  CHECK(g_msg[36] == std::byte{9} && g_msg[44] == std::byte{0x88});  // seq, challenge (LE)
  CHECK(equal({g_msg + kSecureBodyAt, 5}, as_bytes("hello")));    // MAC only: the body in clear
  const std::size_t e = seal_sample(sample_request(), as_bytes("hello"), true);
  CHECK_EQ(e, n);
  CHECK(g_msg[6] == std::byte{kFlagIdempotent | kFlagAuthenticated | kFlagEncrypted});
  CHECK(!equal({g_msg + kSecureBodyAt, 5}, as_bytes("hello")));
}

AMBIENCE_TEST(round_trips_mac_only_and_encrypted) {
  for (bool encrypt : {false, true}) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{64}, std::size_t{300}}) {
      std::byte body[300];
      ambience::net::testing::Rng rng(size + 1);
      rng.fill({body, size});
      const std::size_t n = seal_sample(sample_request(), {body, size}, encrypt);
      CHECK_EQ(n, sealed_message_size(size));
      OpenedMessage o;
      CHECK(open_bytes({g_msg, n}, kKey, o) == OpenError::none);
      CHECK(equal(o.body, {body, size}));
      CHECK(o.block.seq == 9 && o.block.challenge == 0x1122334455667788u);
      // A reply to it, with the callee's incarnation and its own numbering.
      const Envelope r = reply_to(sample_request(), Status::ok, 0x0BADCAFE);
      const std::size_t m = seal_sample(r, {body, size}, encrypt, {1, 42});
      CHECK(open_bytes({g_msg, m}, kKey, o) == OpenError::none);
      CHECK(equal(o.body, {body, size}) && o.block.challenge == 42);
    }
  }
}

AMBIENCE_TEST(decrypting_in_place) {
  const std::size_t n = seal_sample(sample_request(), as_bytes("in place please"), true);
  DecodedEnvelope d;
  CHECK(decode_envelope({g_msg, n}, d) == EnvelopeError::none);
  OpenedMessage o;
  CHECK(open(d, {g_msg, n}, kKey, {g_msg + kSecureBodyAt, 15}, o) == OpenError::none);
  CHECK(equal(o.body, as_bytes("in place please")) && o.body.data() == g_msg + kSecureBodyAt);
  // Too small a buffer is refused before anything is written.
  const std::size_t m = seal_sample(sample_request(), as_bytes("in place please"), true);
  CHECK(decode_envelope({g_msg, m}, d) == EnvelopeError::none);
  CHECK(open(d, {g_msg, m}, kKey, {g_plain, 14}, o) == OpenError::no_room);
}

AMBIENCE_TEST(errors_carry_the_block_and_no_body) {
  const Envelope err = reply_to(sample_request(), Status::unavailable, 0x55);
  Envelope resync = err;
  resync.status = WireStatus::resync;
  const std::size_t n = seal_sample(resync, {}, true, {3, 0xC0FFEE});
  CHECK_EQ(n, kSecureBodyAt + 16);
  CHECK((g_msg[6] & std::byte{kFlagEncrypted}) == std::byte{0});  // nothing to encrypt
  OpenedMessage o;
  CHECK(open_bytes({g_msg, n}, kKey, o) == OpenError::none);
  CHECK(o.body.empty() && o.block.challenge == 0xC0FFEE && o.block.seq == 3);
  CHECK(seal(err, {1, 0}, false, kKey, g_msg, 4).status() == Status::bad_message);
}

AMBIENCE_TEST(sealing_refuses_what_it_must) {
  // A request without a challenge is a probe: its nonce may repeat across identical boots, so it
  // carries no body (nothing encrypted or MACed twice under one nonce).
  CHECK(seal(sample_request(), {1, 0}, true, kKey, g_msg, 4).status() == Status::bad_message);
  CHECK(seal(sample_request(), {1, 0}, false, kKey, g_msg, 4).status() == Status::bad_message);
  CHECK_EQ(seal_sample(sample_request(), {}, true, {1, 0}), sealed_message_size(0));
  CHECK_EQ(seal_sample(reply_to(sample_request(), Status::ok, 0x55), as_bytes("ok"), true, {1, 0}),
           sealed_message_size(2));  // answers are the callee's: its own numbering
  CHECK(seal(sample_request(), {0, 5}, false, kKey, g_msg, 4).status() == Status::bad_message);  // seq 0
  CHECK(seal(sample_request(), {1, 5}, false, kKey, {g_msg, sealed_message_size(4) - 1}, 4).status() ==
        Status::no_memory);
  Envelope bad = sample_request();
  bad.call_id = 0;
  CHECK(seal(bad, {1, 5}, false, kKey, {g_msg, 8}, 4).status() == Status::bad_message);  // invalid first
  const std::size_t n = seal_sample(sample_request(), as_bytes("x"), false);
  DecodedEnvelope d;
  CHECK(decode_envelope({g_msg, n}, d) == EnvelopeError::none);
  OpenedMessage o;
  CHECK(open(d, {g_msg, n - 1}, kKey, g_plain, o) == OpenError::bad_tag);  // not d's bytes
  std::size_t plain_size = encode_envelope(sample_request(), as_bytes("x"), g_copy).value();
  CHECK(decode_envelope({g_copy, plain_size}, d) == EnvelopeError::none);
  CHECK(open(d, {g_copy, plain_size}, kKey, g_plain, o) == OpenError::not_authenticated);
}

// Every bit of every byte of a sealed message (header, block, body, tag) flipped: the decoder or
// the tag refuses it, never opens it. Both modes, a request and an error.
AMBIENCE_TEST(every_tampered_byte_is_refused) {
  int opened = 0, tried = 0;
  for (bool encrypt : {false, true}) {
    for (int which = 0; which < 2; ++which) {
      Envelope e = sample_request();
      if (which == 1) {
        e = reply_to(e, Status::not_found, 9);
      }
      const std::size_t n =
          seal_sample(e, which == 1 ? std::span<const std::byte>{} : as_bytes("args of a call"), encrypt);
      for (std::size_t i = 0; i < n; ++i) g_copy[i] = g_msg[i];
      for (std::size_t pos = 0; pos < n; ++pos) {
        for (int bit = 0; bit < 8; ++bit) {
          for (std::size_t i = 0; i < n; ++i) g_msg[i] = g_copy[i];
          g_msg[pos] ^= static_cast<std::byte>(1u << bit);
          OpenedMessage o;
          ++tried;
          opened += open_bytes({g_msg, n}, kKey, o) == OpenError::none;
        }
      }
      for (std::size_t i = 0; i < n; ++i) g_msg[i] = g_copy[i];
      OpenedMessage o;
      CHECK(open_bytes({g_msg, n}, kKey, o) == OpenError::none);  // untouched, it opens
    }
  }
  CHECK_EQ(opened, 0);
  CHECK(tried > 4 * 8 * 68);
}

AMBIENCE_TEST(another_key_or_another_nonce_is_refused) {
  OpenedMessage o;
  std::size_t n = seal_sample(sample_request(), as_bytes("args"), true);
  CHECK(open_bytes({g_msg, n}, kOtherKey, o) == OpenError::bad_tag);
  n = seal_sample(sample_request(), as_bytes("args"), false, {9, 1}, kOtherKey);
  CHECK(open_bytes({g_msg, n}, kKey, o) == OpenError::bad_tag);
  CHECK(open_bytes({g_msg, n}, kOtherKey, o) == OpenError::none);
  // The direction is in the nonce: a request's bytes relabelled as a reply do not verify even
  // where every other field would allow it.
  n = seal_sample(sample_request(), as_bytes("args"), false);
  g_msg[5] = std::byte{2};
  g_msg[6] = std::byte{kFlagAuthenticated};
  CHECK(open_bytes({g_msg, n}, kKey, o) == OpenError::bad_tag);
}

// ---------------------------------------------------------------- replay window and challenge

AMBIENCE_TEST(a_fresh_callee_asks_for_resync_then_a_session_opens) {
  ReceiverSession r;
  CallerSession c;
  CHECK(r.check(100, c.next()) == Verdict::resync);  // boot: challenge 0, nothing issued
  r.issue(0xAAAA);
  CHECK(r.check(100, c.next()) == Verdict::resync);  // the caller has not heard the challenge yet
  c.on_verified_answer({1, r.challenge()});
  const SecurityBlock first = c.next();
  CHECK(r.check(100, first) == Verdict::established);
  CHECK(r.established() && r.epoch() == 100 && r.top() == first.seq);
  CHECK_EQ(r.challenge(), 0u);  // used up; the owner issues the next one
  r.issue(0xBBBB);
  CHECK(r.check(100, c.next()) == Verdict::accept);
  CHECK(r.check(100, first) == Verdict::replay);  // the establishing request again
}

AMBIENCE_TEST(same_and_old_seqs_are_replays_and_the_window_shifts) {
  ReceiverSession r;
  r.issue(7);
  CHECK(r.check(1, {10, 7}) == Verdict::established);
  r.issue(8);  // what the session's answers carry: the caller's next requests bring it
  CHECK(r.check(1, {10, 8}) == Verdict::replay);
  CHECK(r.check(1, {12, 8}) == Verdict::accept);
  CHECK(r.check(1, {11, 8}) == Verdict::accept);  // late but new: inside the window
  CHECK(r.check(1, {11, 8}) == Verdict::replay);
  CHECK(r.check(1, {12, 8}) == Verdict::replay);
  CHECK(r.check(1, {12 + 63, 8}) == Verdict::accept);
  CHECK(r.check(1, {13, 8}) == Verdict::accept);  // top - 62: still inside, never seen
  CHECK(r.check(1, {12, 8}) == Verdict::replay);  // top - 63: inside, seen
  CHECK(r.check(1, {11, 8}) == Verdict::replay);  // top - 64: fell out of the window
  CHECK(r.check(1, {1000, 8}) == Verdict::accept);  // a jump clears the window
  CHECK(r.check(1, {999, 8}) == Verdict::accept);
  CHECK(r.check(1, {1000 - 64, 8}) == Verdict::replay);
  CHECK(r.check(1, {1000 - 63, 8}) == Verdict::accept);
  CHECK(r.check(1, {0, 8}) == Verdict::replay);
  CHECK_EQ(r.top(), 1000u);
}

AMBIENCE_TEST(every_seq_in_a_shuffled_burst_is_accepted_exactly_once) {
  ReceiverSession r;
  r.issue(5);
  CHECK(r.check(3, {1, 5}) == Verdict::established);
  ambience::net::testing::Rng rng(77);
  std::uint64_t order[200];
  for (std::uint64_t i = 0; i < 200; ++i) order[i] = i + 2;
  // Shuffled within blocks of 16: every seq arrives well inside the window, in no order.
  for (std::size_t block = 0; block < 200; block += 16) {
    const std::size_t end = block + 16 < 200 ? block + 16 : 200;
    for (std::size_t i = block; i + 1 < end; ++i) {
      const std::size_t j = i + rng.below(static_cast<std::uint32_t>(end - i));
      const std::uint64_t t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  int accepted = 0, replays = 0;
  for (std::uint64_t s : order) {
    accepted += r.check(3, {s, 5}) == Verdict::accept;
    replays += r.check(3, {s, 5}) == Verdict::replay;  // each one duplicated at once
  }
  CHECK_EQ(accepted, 200);
  CHECK_EQ(replays, 200);
}

AMBIENCE_TEST(an_old_epoch_is_never_accepted) {
  ReceiverSession r;
  r.issue(0x1111);
  CHECK(r.check(1, {5, 0x1111}) == Verdict::established);
  r.issue(0x2222);
  // The caller reboots (incarnation 2): its first request resyncs, then opens a session.
  CHECK(r.check(2, {1, 0}) == Verdict::resync);
  CHECK(r.check(2, {2, 0x2222}) == Verdict::established);
  r.issue(0x3333);
  // The old boot's requests, replayed: other epoch, and the challenge they carry is gone.
  CHECK(r.check(1, {6, 0x1111}) == Verdict::resync);
  CHECK(r.check(1, {5, 0x1111}) == Verdict::resync);
  CHECK(r.check(1, {7, 0x2222}) == Verdict::resync);  // a used challenge never opens a session again
  CHECK(r.epoch() == 2u);
  CHECK(r.check(2, {3, 0x3333}) == Verdict::accept);
}

// Node 0's principals: several processes (consoles) of one principal call at once, each with an
// incarnation and a session of its own; none makes another resync, none is replayable.
AMBIENCE_TEST(concurrent_caller_incarnations_keep_sessions_of_their_own) {
  ReceiverSession r;
  r.allow_callers(ReceiverSession::kMaxCallers);
  CHECK_EQ(r.callers(), ReceiverSession::kMaxCallers);
  std::uint64_t challenge = 0x100;
  r.issue(challenge);
  const std::size_t n = ReceiverSession::kMaxCallers;
  for (std::uint32_t who = 0; who < n; ++who) {
    CHECK(r.check(10 + who, {1, 0}) == Verdict::resync);  // a probe
    CHECK(r.check(10 + who, {2, challenge}) == Verdict::established);
    r.issue(++challenge);
  }
  CHECK_EQ(r.sessions(), n);
  for (std::uint64_t seq = 3; seq < 40; ++seq) {
    for (std::uint32_t who = 0; who < n; ++who) {
      CHECK(r.check(10 + who, {seq, challenge}) == Verdict::accept);
      CHECK(r.check(10 + who, {seq, challenge}) == Verdict::replay);
    }
  }
  // One more incarnation takes the place of the one used least recently (10: every other one
  // called after it), whose next request must resync and whose old ones stay dead.
  CHECK(r.check(99, {5, challenge}) == Verdict::established);
  r.issue(++challenge);
  CHECK(r.check(10, {40, challenge - 1}) == Verdict::resync);
  CHECK(r.check(10, {39, challenge - 1}) == Verdict::resync);
  CHECK(r.check(10, {41, challenge}) == Verdict::established);  // it opens again with the new one
  r.issue(++challenge);
  CHECK(r.check(10, {39, challenge}) == Verdict::replay);  // below the session's opening seq
  CHECK_EQ(r.sessions(), n);
  // A node principal (the default): one session, a new incarnation replaces it.
  ReceiverSession single;
  CHECK_EQ(single.callers(), 1u);
  single.issue(7);
  CHECK(single.check(1, {1, 7}) == Verdict::established);
  single.issue(8);
  CHECK(single.check(2, {1, 8}) == Verdict::established);
  single.issue(9);
  CHECK(single.check(1, {2, 8}) == Verdict::resync);  // the replaced incarnation: no session
  CHECK_EQ(single.sessions(), 1u);
}

AMBIENCE_TEST(a_callee_reboot_is_recovered_by_resync) {
  ReceiverSession before;
  CallerSession c;
  before.issue(0x5151);
  c.on_verified_answer({1, before.challenge()});
  CHECK(before.check(9, c.next()) == Verdict::established);
  before.issue(0x6161);
  c.on_verified_answer({2, before.challenge()});
  const SecurityBlock old = c.next();
  CHECK(before.check(9, old) == Verdict::accept);
  ReceiverSession after;  // the callee rebooted: fresh state, a fresh challenge
  after.issue(0x7171);
  CHECK(after.check(9, old) == Verdict::resync);      // a replay of the old request: not run
  CHECK(after.check(9, c.next()) == Verdict::resync);  // the caller's next one: resync first
  c.on_verified_answer({1, after.challenge()});
  CHECK(after.check(9, c.next()) == Verdict::established);
  CHECK(after.check(9, old) == Verdict::replay);  // and the old request stays dead
}

// A probe (no challenge) is never run, inside a session or not, whatever its seq: its nonce
// (direction, incarnation, seq, 0) may be one of an identical earlier boot's. It is answered
// resync and leaves the session as it was.
AMBIENCE_TEST(a_probe_is_never_accepted) {
  ReceiverSession r;
  CHECK(r.check(4, {1, 0}) == Verdict::resync);
  r.issue(0x9999);
  CHECK(r.check(4, {2, 0x9999}) == Verdict::established);
  r.issue(0xAAAA);
  CHECK(r.check(4, {3, 0xAAAA}) == Verdict::accept);
  CHECK(r.check(4, {4, 0}) == Verdict::resync);  // new seq, same epoch: still a probe
  CHECK(r.check(4, {500, 0}) == Verdict::resync);
  CHECK(r.check(5, {1, 0}) == Verdict::resync);  // another boot's
  CHECK_EQ(r.top(), 3u);
  CHECK(r.epoch() == 4u && r.challenge() == 0xAAAAu);
  CHECK(r.check(4, {4, 0xAAAA}) == Verdict::accept);  // the seqs a probe named stay usable
}

// Two calls resynced by the same challenge, re-sealed in order, arrive the other way round: the
// later one opens the session, the earlier one (below it, same challenge) still runs once.
AMBIENCE_TEST(requests_resealed_after_one_resync_may_overtake_each_other) {
  ReceiverSession r;
  CallerSession c;
  r.issue(0x4242);
  CHECK(r.check(8, c.next()) == Verdict::resync);
  CHECK(r.check(8, c.next()) == Verdict::resync);
  c.on_verified_answer({1, 0x4242});
  const SecurityBlock a = c.next(), b = c.next();
  CHECK(r.check(8, b) == Verdict::established);
  r.issue(0x4343);
  CHECK(r.check(8, a) == Verdict::accept);
  CHECK(r.check(8, a) == Verdict::replay);
  CHECK(r.check(8, {a.seq - 1, 0x4242}) == Verdict::accept);  // sealed in this session too
  CHECK(r.check(8, {a.seq - 2, 0x1111}) == Verdict::replay);  // older challenge: an older session
}

}  // namespace
