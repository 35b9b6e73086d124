// Monocypher on every target: published vectors for XChaCha20-Poly1305 and keyed BLAKE2b (the two
// the RPC layer's keys and tags rest on), EdDSA sign/check round trips, and refusals.
#include <array>
#include <cstdint>
#include <cstring>

#include "kernel/testing/test.hpp"
#include "monocypher.h"

namespace {

// draft-irtf-cfrg-xchacha-03, A.3.1.
constexpr char kPlain[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
constexpr std::size_t kPlainSize = sizeof(kPlain) - 1;
constexpr std::uint8_t kAd[] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
constexpr std::uint8_t kTag[16] = {0xc0, 0x87, 0x59, 0x24, 0xc1, 0xc7, 0x98, 0x79,
                                   0x47, 0xde, 0xaf, 0xd8, 0x78, 0x0a, 0xcf, 0x49};
constexpr std::uint8_t kCipherStart[8] = {0xbd, 0x6d, 0x17, 0x9d, 0x3e, 0x83, 0xd4, 0x3b};
constexpr std::uint8_t kCipherEnd[7] = {0xf6, 0x15, 0xc6, 0x8b, 0x13, 0xb5, 0x2e};  // the last bytes

std::array<std::uint8_t, 32> vector_key() {
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(0x80 + i);
  return k;
}

std::array<std::uint8_t, 24> vector_nonce() {
  std::array<std::uint8_t, 24> n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(0x40 + i);
  return n;
}

AMBIENCE_TEST(xchacha20_poly1305_published_vector) {
  const auto key = vector_key();
  const auto nonce = vector_nonce();
  std::uint8_t cipher[kPlainSize];
  std::uint8_t tag[16];
  crypto_aead_lock(cipher, tag, key.data(), nonce.data(), kAd, sizeof kAd,
                   reinterpret_cast<const std::uint8_t*>(kPlain), kPlainSize);
  CHECK(std::memcmp(tag, kTag, 16) == 0);
  CHECK(std::memcmp(cipher, kCipherStart, 8) == 0);
  CHECK(std::memcmp(cipher + kPlainSize - 7, kCipherEnd, 7) == 0);
  std::uint8_t plain[kPlainSize];
  CHECK_EQ(crypto_aead_unlock(plain, tag, key.data(), nonce.data(), kAd, sizeof kAd, cipher, kPlainSize), 0);
  CHECK(std::memcmp(plain, kPlain, kPlainSize) == 0);
  // Any change to the ciphertext, the associated data or the tag is refused.
  cipher[17] ^= 1;
  CHECK_EQ(crypto_aead_unlock(plain, tag, key.data(), nonce.data(), kAd, sizeof kAd, cipher, kPlainSize), -1);
  cipher[17] ^= 1;
  tag[0] ^= 0x80;
  CHECK_EQ(crypto_aead_unlock(plain, tag, key.data(), nonce.data(), kAd, sizeof kAd, cipher, kPlainSize), -1);
  tag[0] ^= 0x80;
  CHECK_EQ(crypto_aead_unlock(plain, tag, key.data(), nonce.data(), kAd, sizeof kAd - 1, cipher, kPlainSize), -1);
}

// BLAKE2b keyed, 64-byte key 00..3f, message 00 01 02 (the reference implementation's KAT).
AMBIENCE_TEST(blake2b_keyed_known_answer) {
  std::uint8_t key[64];
  for (std::size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<std::uint8_t>(i);
  const std::uint8_t message[3] = {0, 1, 2};
  std::uint8_t hash[64];
  crypto_blake2b_keyed(hash, sizeof hash, key, sizeof key, message, sizeof message);
  constexpr std::uint8_t kStart[8] = {0x33, 0xd0, 0x82, 0x5d, 0xdd, 0xf7, 0xad, 0xa9};
  constexpr std::uint8_t kEnd[4] = {0x99, 0x8f, 0x5f, 0xc1};
  CHECK(std::memcmp(hash, kStart, 8) == 0);
  CHECK(std::memcmp(hash + 60, kEnd, 4) == 0);
}

AMBIENCE_TEST(eddsa_sign_and_check) {
  std::uint8_t seed[32];
  for (std::size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<std::uint8_t>(3 * i + 1);
  std::uint8_t secret[64];
  std::uint8_t public_key[32];
  crypto_eddsa_key_pair(secret, public_key, seed);
  for (std::uint8_t b : seed) CHECK_EQ(b, 0);  // the seed is wiped
  const std::uint8_t message[] = {'t', 'o', 'k', 'e', 'n'};
  std::uint8_t sig[64];
  crypto_eddsa_sign(sig, secret, message, sizeof message);
  CHECK_EQ(crypto_eddsa_check(sig, public_key, message, sizeof message), 0);
  sig[40] ^= 4;
  CHECK_EQ(crypto_eddsa_check(sig, public_key, message, sizeof message), -1);
  sig[40] ^= 4;
  const std::uint8_t other[] = {'t', 'o', 'k', 'e', 'N'};
  CHECK_EQ(crypto_eddsa_check(sig, public_key, other, sizeof other), -1);
  crypto_wipe(secret, sizeof secret);
}

}  // namespace
