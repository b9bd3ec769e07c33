// SHA-256: the FIPS 180-4 / NIST example vectors, streaming equals one call, and the committed
// CLIP vocabulary's digest equals data/clip/SHA256SUMS (computed there by sha256sum).
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "test_util.hpp"
#include "xclip/core/sha256.hpp"

using xclip::Sha256;
using xclip::sha256_hex;

TEST_CASE("sha256: NIST example vectors", "[sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: fed in pieces of any size, the digest is that of the whole", "[sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += char(i * 37 + 11);
  const std::string whole = sha256_hex(data);
  for (size_t piece : {1, 3, 55, 56, 63, 64, 65, 128, 999}) {
    Sha256 h;
    for (size_t at = 0; at < data.size(); at += piece) h.update(std::string_view(data).substr(at, piece));
    CHECK(h.hex_digest() == whole);
  }
  Sha256 done;
  done.hex_digest();
  CHECK_THROWS(done.update("x"));
}

TEST_CASE("sha256: the committed CLIP vocabulary matches data/clip/SHA256SUMS", "[sha256]") {
  const auto dir = xclip::test::source_root() / "data" / "clip";
  std::ifstream sums(dir / "SHA256SUMS");
  REQUIRE(sums.good());
  std::string digest, name;
  sums >> digest >> name;
  REQUIRE(name == "bpe_simple_vocab_16e6.txt.gz");
  std::ifstream file(dir / name, std::ios::binary);
  REQUIRE(file.good());
  std::ostringstream bytes;
  bytes << file.rdbuf();
  CHECK(bytes.str().size() > 1000000);
  CHECK(sha256_hex(bytes.str()) == digest);
}
