// The RPC envelope: field positions, round trips of all three kinds, one test per rejection
// reason, every truncation, and every value of every header byte (accepted only if it
// re-encodes to the same bytes).
#include "kernel/net/envelope.hpp"

#include <string_view>

#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::as_bytes;
using ambience::net::testing::equal;

Envelope sample_request() {
  Envelope e;
  e.kind = EnvelopeKind::request;
  e.flags = kFlagIdempotent;
  e.call_id = (std::uint64_t{0xA1B2C3D4} << 32) | 0x01020304u;
  e.sender_incarnation = 0xA1B2C3D4u;
  e.source_node = 3;
  e.destination_node = 7;
  e.caller_instance = 11;
  e.target_instance = 13;
  e.procedure = 0x0102;
  return e;
}

std::byte g_buf[256];

AMBIENCE_TEST(fields_are_where_the_layout_says) {
  Result<std::size_t> n = encode_envelope(sample_request(), as_bytes("hello"), g_buf);
  CHECK(n.ok() && *n == kEnvelopeSize + 5);
  CHECK(g_buf[0] == std::byte{'A'} && g_buf[1] == std::byte{'M'} && g_buf[2] == std::byte{'B'} &&
        g_buf[3] == std::byte{'R'});
  CHECK(g_buf[4] == std::byte{1} && g_buf[5] == std::byte{1} && g_buf[6] == std::byte{1});
  CHECK(g_buf[8] == std::byte{0x04} && g_buf[15] == std::byte{0xA1});
  CHECK(g_buf[20] == std::byte{3} && g_buf[22] == std::byte{7} && g_buf[24] == std::byte{11} &&
        g_buf[26] == std::byte{13});
  CHECK(g_buf[28] == std::byte{0x02} && g_buf[29] == std::byte{0x01});
  CHECK(g_buf[32] == std::byte{5} && g_buf[36] == std::byte{'h'});
}

AMBIENCE_TEST(round_trips_of_each_kind) {
  const Envelope req = sample_request();
  Result<std::size_t> n = encode_envelope(req, as_bytes("args"), g_buf);
  DecodedEnvelope d;
  CHECK(n.ok() && decode_envelope({g_buf, *n}, d, 7) == EnvelopeError::none);
  CHECK(d.header.call_id == req.call_id && d.header.idempotent() && d.header.procedure == 0x0102);
  CHECK(d.header.source_node == 3 && d.header.caller_instance == 11 && d.header.target_instance == 13);
  CHECK(equal(d.payload, as_bytes("args")));
  CHECK(decode_envelope({g_buf, *n}, d, 8) == EnvelopeError::wrong_destination);

  const Envelope rep = reply_to(req, Status::ok, 0x55);
  n = encode_envelope(rep, as_bytes("result"), g_buf);
  CHECK(n.ok() && decode_envelope({g_buf, *n}, d, 3) == EnvelopeError::none);
  CHECK(d.header.kind == EnvelopeKind::reply && d.header.call_id == req.call_id && !d.header.idempotent());
  CHECK(d.header.sender_incarnation == 0x55u && d.header.destination_node == 3 && d.header.source_node == 7);
  CHECK(equal(d.payload, as_bytes("result")));

  const Envelope err = reply_to(req, Status::unavailable, 0x55);
  n = encode_envelope(err, {}, g_buf);
  CHECK(n.ok() && decode_envelope({g_buf, *n}, d) == EnvelopeError::none);
  CHECK(d.header.kind == EnvelopeKind::error && from_wire(d.header.status) == Status::unavailable);
  CHECK(encode_envelope(err, as_bytes("x"), g_buf).status() == Status::bad_message);
  CHECK(encode_envelope(req, as_bytes("args"), {g_buf, kEnvelopeSize + 3}).status() == Status::no_memory);
}

AMBIENCE_TEST(every_status_survives_the_wire) {
  for (int s = 0; s <= static_cast<int>(Status::internal); ++s) {
    const auto status = static_cast<Status>(s);
    CHECK(from_wire(to_wire(status)) == status);
  }
  CHECK(static_cast<int>(to_wire(Status::not_found)) == 3);  // lidl's unknown_procedure
  CHECK(static_cast<int>(to_wire(Status::would_block)) == 10);
}

// One encoded request, then `mutate` on the bytes; the decoder must name `expected`.
template <class Mutate>
EnvelopeError decode_mutated(Mutate&& mutate, std::size_t payload = 4) {
  Result<std::size_t> n = encode_envelope(sample_request(), as_bytes("argsargsargsargsargs").first(payload), g_buf);
  std::size_t size = n ? *n : 0;
  mutate(g_buf, size);
  DecodedEnvelope d;
  return decode_envelope({g_buf, size}, d, 7);
}

AMBIENCE_TEST(each_malformation_has_its_reason) {
  using E = EnvelopeError;
  CHECK(decode_mutated([](std::byte*, std::size_t& n) { n = kEnvelopeSize - 1; }) == E::too_short);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[0] = std::byte{'X'}; }) == E::bad_magic);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[4] = std::byte{2}; }) == E::bad_version);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[5] = std::byte{0}; }) == E::bad_kind);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[5] = std::byte{4}; }) == E::bad_kind);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[7] = std::byte{0x80}; }) == E::unknown_flags);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[5] = std::byte{2}; }) == E::flag_not_allowed);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[6] = std::byte{3}; }) == E::auth_not_supported);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[31] = std::byte{16}; }) == E::auth_not_supported);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) {
          for (int i = 8; i < 16; ++i) b[i] = std::byte{0};
        }) == E::zero_call_id);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[30] = std::byte{6}; }) == E::status_not_allowed);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[30] = std::byte{200}; }) == E::unknown_status);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) {
          b[5] = std::byte{3};
          b[6] = std::byte{0};
        }) == E::missing_status);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) {
          b[5] = std::byte{3};
          b[6] = std::byte{0};
          b[30] = std::byte{5};
        }) == E::payload_not_allowed);
  CHECK(decode_mutated([](std::byte*, std::size_t& n) { n -= 1; }) == E::length_mismatch);
  CHECK(decode_mutated([](std::byte*, std::size_t& n) { n += 1; }) == E::length_mismatch);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[35] = std::byte{0x80}; }) == E::length_mismatch);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[22] = std::byte{8}; }) == E::wrong_destination);
  CHECK(decode_mutated([](std::byte*, std::size_t&) {}) == E::none);
  for (int e = 0; e <= static_cast<int>(E::missing_security_block); ++e) {
    CHECK(std::string_view(to_string(static_cast<E>(e))) != "unknown");
  }
}

// Authenticated envelopes: the layout rules (secure.hpp checks the tag itself).
AMBIENCE_TEST(authenticated_layout_rules) {
  using E = EnvelopeError;
  const auto authenticated = [](std::byte* b, std::size_t& n) {
    b[6] = std::byte{kFlagIdempotent | kFlagAuthenticated};
    b[31] = std::byte{kAuthTagLength};
    n += kAuthTagLength;
  };
  // 20 bytes of payload (block + 4), and 16 more for the tag.
  CHECK(decode_mutated(authenticated, 20) == E::none);
  CHECK(decode_mutated(
            [&](std::byte* b, std::size_t& n) {
              authenticated(b, n);
              b[6] |= std::byte{kFlagEncrypted};
            },
            20) == E::none);
  CHECK(decode_mutated(authenticated, 15) == E::missing_security_block);
  CHECK(decode_mutated(
            [&](std::byte* b, std::size_t& n) {
              authenticated(b, n);
              b[31] = std::byte{32};
              n += 16;
            },
            20) == E::auth_not_supported);
  CHECK(decode_mutated(
            [&](std::byte* b, std::size_t& n) {
              authenticated(b, n);
              n -= 1;
            },
            20) == E::length_mismatch);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[6] = std::byte{kFlagEncrypted}; }) == E::flag_not_allowed);
  // An authenticated error: exactly its security block.
  const auto error = [&](std::byte* b, std::size_t& n) {
    authenticated(b, n);
    b[5] = std::byte{3};
    b[6] = std::byte{kFlagAuthenticated};
    b[30] = std::byte{static_cast<std::uint8_t>(WireStatus::resync)};
  };
  CHECK(decode_mutated(error, 0) == E::payload_not_allowed);
  CHECK(decode_mutated(
            [&](std::byte* b, std::size_t& n) {
              error(b, n);
              b[32] = std::byte{16};
              n += 16;
            },
            0) == E::none);
  CHECK(decode_mutated(
            [&](std::byte* b, std::size_t& n) {
              error(b, n);
              b[6] |= std::byte{kFlagEncrypted};
              b[32] = std::byte{16};
              n += 16;
            },
            0) == E::flag_not_allowed);
  CHECK(decode_mutated([](std::byte* b, std::size_t&) { b[30] = std::byte{kMaxWireStatus + 1}; }) == E::unknown_status);
  CHECK(from_wire(WireStatus::resync) == Status::unavailable);
}

AMBIENCE_TEST(every_truncation_is_rejected) {
  Result<std::size_t> n = encode_envelope(sample_request(), as_bytes("some arguments"), g_buf);
  DecodedEnvelope d;
  int accepted = 0;
  for (std::size_t k = 0; k < *n; ++k) accepted += decode_envelope({g_buf, k}, d) == EnvelopeError::none;
  CHECK_EQ(accepted, 0);
}

// Every header byte set to every value: whatever the decoder accepts is canonical (re-encoding
// the decoded header gives the same bytes), so two different byte strings never mean one call.
AMBIENCE_TEST(every_value_of_every_header_byte) {
  static std::byte original[kEnvelopeSize + 4], again[kEnvelopeSize + 4];
  Result<std::size_t> n = encode_envelope(sample_request(), as_bytes("args"), original);
  int wrong = 0, accepted = 0;
  for (std::size_t pos = 0; pos < kEnvelopeSize; ++pos) {
    for (int v = 0; v < 256; ++v) {
      for (std::size_t i = 0; i < *n; ++i) g_buf[i] = original[i];
      g_buf[pos] = static_cast<std::byte>(v);
      DecodedEnvelope d;
      if (decode_envelope({g_buf, *n}, d) != EnvelopeError::none) continue;
      ++accepted;
      Result<std::size_t> m = encode_envelope(d.header, d.payload, again);
      if (!m || !equal({again, *m}, {g_buf, *n})) ++wrong;
    }
  }
  CHECK_EQ(wrong, 0);
  CHECK(accepted > 256 * 16);  // the free fields (call id, nodes, instances, procedure) accept anything
}

}  // namespace
