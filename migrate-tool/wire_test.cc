// Tests for the migration protocol's encoding and strict parsing (wire.h).
#include "migrate-tool/wire.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

TEST(WireTest, FrameHeaderRoundTripAndRefusals) {
  const std::string h = EncodeFrameHeader(FrameType::kPages, 4116);
  ASSERT_EQ(h.size(), kFrameHeaderSize);
  Result<FrameHeader> p = ParseFrameHeader(h);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->type, FrameType::kPages);
  EXPECT_EQ(p->length, 4116u);

  std::string bad = h;
  bad[0] = 'X';
  EXPECT_FALSE(ParseFrameHeader(bad).ok());
  bad = h;
  bad[4] = 2;  // version
  EXPECT_FALSE(ParseFrameHeader(bad).ok());
  bad = h;
  bad[5] = 99;  // type
  EXPECT_FALSE(ParseFrameHeader(bad).ok());
  bad = h;
  bad[6] = 1;  // reserved
  EXPECT_FALSE(ParseFrameHeader(bad).ok());
  EXPECT_FALSE(ParseFrameHeader(EncodeFrameHeader(FrameType::kTable, kMaxFramePayload + 1)).ok());
  EXPECT_FALSE(ParseFrameHeader(h.substr(0, 11)).ok());
}

TEST(WireTest, PagesAreCheckedAgainstTheBlock) {
  const std::vector<uint64_t> blocks = {100};
  std::string f = EncodePagesHeader(0, 98, 2, 7) + std::string(2 * kPageSize, 'x');
  Result<PagesFrame> p = ParsePages(f, false, blocks);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->first, 98u);
  EXPECT_EQ(p->count, 2u);
  EXPECT_EQ(p->gen, 7u);
  EXPECT_EQ(p->data.size(), 2 * kPageSize);
  // Past the end, another block, short content, generation 0 or invalid, no pages.
  EXPECT_FALSE(
      ParsePages(EncodePagesHeader(0, 99, 2, 7) + std::string(2 * kPageSize, 'x'), false, blocks)
          .ok());
  EXPECT_FALSE(
      ParsePages(EncodePagesHeader(1, 0, 1, 7) + std::string(kPageSize, 'x'), false, blocks).ok());
  EXPECT_FALSE(
      ParsePages(EncodePagesHeader(0, 0, 2, 7) + std::string(kPageSize, 'x'), false, blocks).ok());
  EXPECT_FALSE(
      ParsePages(EncodePagesHeader(0, 0, 1, 0) + std::string(kPageSize, 'x'), false, blocks).ok());
  EXPECT_FALSE(ParsePages(EncodePagesHeader(0, 0, 1, kGenInvalid) + std::string(kPageSize, 'x'),
                          false, blocks)
                   .ok());
  EXPECT_FALSE(ParsePages(EncodePagesHeader(0, 0, 0, 7), false, blocks).ok());
  EXPECT_FALSE(ParsePages(EncodePagesHeader(0, UINT64_MAX, 2, 7), true, blocks).ok());
  // Zeros: no content, generation 0 allowed.
  EXPECT_TRUE(ParsePages(EncodePagesHeader(0, 0, 100, 0), true, blocks).ok());
  EXPECT_FALSE(ParsePages(EncodePagesHeader(0, 0, 101, 0), true, blocks).ok());
  EXPECT_FALSE(ParsePages(EncodePagesHeader(0, 0, 1, 0) + "x", true, blocks).ok());
}

TEST(WireTest, HelloRoundTripAndStrictness) {
  Hello h;
  h.vm = Uuid::Random();
  h.lineage = Uuid::Random();
  h.epoch = 3;
  h.blocks = {{"ram", 65536}};
  h.source_host = "h0";
  Result<Hello> p = ParseHello(EncodeHello(h));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->vm, h.vm);
  EXPECT_EQ(p->lineage, h.lineage);
  EXPECT_EQ(p->epoch, 3u);
  ASSERT_EQ(p->blocks.size(), 1u);
  EXPECT_EQ(p->blocks[0].pages, 65536u);
  EXPECT_FALSE(ParseHello("{}").ok());
  EXPECT_FALSE(ParseHello("not json").ok());
  h.epoch = 0;
  EXPECT_FALSE(ParseHello(EncodeHello(h)).ok());
  h.epoch = 1;
  h.blocks = {{"../x", 1}};
  EXPECT_FALSE(ParseHello(EncodeHello(h)).ok());
  h.blocks = {{"ram", 1}, {"ram", 1}};
  EXPECT_FALSE(ParseHello(EncodeHello(h)).ok());
  h.blocks = {{"ram", 0}};
  EXPECT_FALSE(ParseHello(EncodeHello(h)).ok());
}

TEST(WireTest, ResultAbortStreamHello) {
  Result<ResultMsg> r = ParseResult(EncodeResult({false, "no \xff definition"}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(ParseResult("{\"ok\":1,\"message\":\"\"}").ok());
  const Uuid vm = Uuid::Random();
  Result<Uuid> s = ParseStreamHello(EncodeStreamHello(vm));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, vm);
  Result<std::string> a = ParseAbort(EncodeAbort("link down"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "link down");
  Result<BlobFrame> b = ParseBlob(EncodeBlob(0, "abc"), 1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->blob, "abc");
  EXPECT_FALSE(ParseBlob(EncodeBlob(1, "abc"), 1).ok());
  EXPECT_FALSE(ParseBlob("ab", 1).ok());
}

}  // namespace
}  // namespace mkd::migrate
