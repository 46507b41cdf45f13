// Tests for the PAGES_Z content codec (page_codec.h): a round trip, incompressible content left
// alone, and every kind of bad input refused without writing past the frame's pages.
#include "migrate-tool/page_codec.h"

#include <gtest/gtest.h>

#include <random>

#include "genstore/generation.h"

namespace mkd::migrate {
namespace {

std::string Compressible(size_t pages) {
  std::string s(pages * kPageSize, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>("kernel text "[i % 12]);
  return s;
}

std::string Random(size_t pages) {
  std::mt19937_64 rng(7);
  std::string s(pages * kPageSize, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(PageCodecTest, CompressibleContentRoundTrips) {
  PageCompressor c;
  PageDecompressor d;
  const std::string raw = Compressible(15);
  std::string z, back;
  ASSERT_TRUE(c.Compress(raw, &z));
  EXPECT_LT(z.size(), raw.size() / 10);
  ASSERT_TRUE(d.Expand(z, raw.size(), &back).ok());
  EXPECT_EQ(back, raw);
  // The same contexts serve the next frame.
  const std::string one = Compressible(1);
  ASSERT_TRUE(c.Compress(one, &z));
  ASSERT_TRUE(d.Expand(z, one.size(), &back).ok());
  EXPECT_EQ(back, one);
}

TEST(PageCodecTest, IncompressibleContentIsNotCompressed) {
  PageCompressor c;
  std::string z;
  EXPECT_FALSE(c.Compress(Random(4), &z));
}

TEST(PageCodecTest, BadInputIsRefused) {
  PageCompressor c;
  PageDecompressor d;
  const std::string raw = Compressible(2);
  std::string z, out;
  ASSERT_TRUE(c.Compress(raw, &z));
  // Another size than the frame's pages, either way.
  EXPECT_FALSE(d.Expand(z, raw.size() - kPageSize, &out).ok());
  EXPECT_FALSE(d.Expand(z, raw.size() + kPageSize, &out).ok());
  // Bytes after the frame, a truncated frame, garbage, nothing.
  EXPECT_FALSE(d.Expand(z + "x", raw.size(), &out).ok());
  EXPECT_FALSE(d.Expand(std::string_view(z).substr(0, z.size() - 1), raw.size(), &out).ok());
  EXPECT_FALSE(d.Expand("not zstd at all", raw.size(), &out).ok());
  EXPECT_FALSE(d.Expand("", raw.size(), &out).ok());
  // A corrupted body: refused or, if zstd cannot tell, still exactly the frame's size.
  std::string bent = z;
  bent[bent.size() / 2] ^= 0x5a;
  const Status s = d.Expand(bent, raw.size(), &out);
  if (s.ok()) {
    EXPECT_EQ(out.size(), raw.size());
  }
  const Status e = d.Expand("junk", raw.size(), &out);
  EXPECT_NE(e.message().find("PAGES_Z"), std::string::npos) << e.ToString();
}

}  // namespace
}  // namespace mkd::migrate
