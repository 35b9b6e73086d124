"""The ctypes binding computes what the C library and the published vectors say."""
from __future__ import annotations

import hashlib
import unittest

from third_party.monocypher import monocypher as mc

# draft-irtf-cfrg-xchacha-03, A.3.1 (XChaCha20-Poly1305).
KEY = bytes(range(0x80, 0xA0))
NONCE = bytes(range(0x40, 0x58))
AD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
PLAIN = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
         b"sunscreen would be it.")
CIPHER = bytes.fromhex(
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39"
    "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e")
TAG = bytes.fromhex("c0875924c1c7987947deafd8780acf49")


class AeadTest(unittest.TestCase):
    def test_published_vector(self) -> None:
        self.assertEqual(mc.aead_lock(KEY, NONCE, AD, PLAIN), (TAG, CIPHER))
        self.assertEqual(mc.aead_unlock(KEY, NONCE, TAG, AD, CIPHER), PLAIN)

    def test_any_flipped_bit_is_refused(self) -> None:
        for i in range(0, len(CIPHER), 7):
            bad = bytearray(CIPHER)
            bad[i] ^= 0x01
            self.assertIsNone(mc.aead_unlock(KEY, NONCE, TAG, AD, bytes(bad)))
        self.assertIsNone(mc.aead_unlock(KEY, NONCE, TAG, AD[:-1] + b"\0", CIPHER))
        self.assertIsNone(mc.aead_unlock(KEY, NONCE, bytes(16), AD, CIPHER))
        self.assertIsNone(mc.aead_unlock(bytes(32), NONCE, TAG, AD, CIPHER))

    def test_mac_only_is_an_empty_message(self) -> None:
        tag, cipher = mc.aead_lock(KEY, NONCE, b"header and payload", b"")
        self.assertEqual(cipher, b"")
        self.assertEqual(mc.aead_unlock(KEY, NONCE, tag, b"header and payload", b""), b"")
        self.assertIsNone(mc.aead_unlock(KEY, NONCE, tag, b"header and paYload", b""))

    def test_bad_sizes_are_errors(self) -> None:
        with self.assertRaises(ValueError):
            mc.aead_lock(KEY[:31], NONCE, b"", b"")


class EddsaTest(unittest.TestCase):
    def test_sign_and_check(self) -> None:
        secret, public = mc.eddsa_key_pair(hashlib.blake2b(b"seed", digest_size=32).digest())
        sig = mc.eddsa_sign(secret, b"a token")
        self.assertTrue(mc.eddsa_check(sig, public, b"a token"))
        self.assertFalse(mc.eddsa_check(sig, public, b"a tokeN"))
        bad = bytearray(sig)
        bad[5] ^= 0x80
        self.assertFalse(mc.eddsa_check(bytes(bad), public, b"a token"))
        _, other = mc.eddsa_key_pair(bytes(32))
        self.assertFalse(mc.eddsa_check(sig, other, b"a token"))
        self.assertFalse(mc.eddsa_check(sig[:63], public, b"a token"))

    def test_deterministic_from_seed(self) -> None:
        self.assertEqual(mc.eddsa_key_pair(bytes(range(32))), mc.eddsa_key_pair(bytes(range(32))))


class CompareTest(unittest.TestCase):
    def test_verify(self) -> None:
        self.assertTrue(mc.verify16(TAG, TAG))
        self.assertFalse(mc.verify16(TAG, bytes(16)))
        self.assertTrue(mc.verify32(KEY, KEY))
        self.assertFalse(mc.verify32(KEY, bytes(32)))


if __name__ == "__main__":
    unittest.main()
