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

TEST(WireTest, EveryFrameTypeHasANameAndTheOneAfterTheLastIsRefused) {
  for (uint8_t t = 1; t <= static_cast<uint8_t>(FrameType::kPagesZ); ++t) {
    const FrameType type = static_cast<FrameType>(t);
    EXPECT_NE(FrameTypeName(type), "?") << int{t};
    Result<FrameHeader> p = ParseFrameHeader(EncodeFrameHeader(type, 0));
    ASSERT_TRUE(p.ok()) << int{t};
    EXPECT_EQ(p->type, type);
  }
  EXPECT_EQ(FrameTypeName(FrameType::kPlan), "PLAN");
  std::string next = EncodeFrameHeader(FrameType::kPagesZ, 0);
  next[5] = static_cast<char>(static_cast<uint8_t>(FrameType::kPagesZ) + 1);
  EXPECT_FALSE(ParseFrameHeader(next).ok());
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

TEST(WireTest, FrameLengthLimitRefusesBeforeReading) {
  // The largest frame a source sends passes the default limit; one byte more does not.
  const FrameHeader pages{FrameType::kPages, kMaxSourceFramePayload};
  EXPECT_TRUE(CheckFrameLength(pages, kMaxSourceFramePayload, "host-c").ok());
  EXPECT_EQ(kMaxSourceFramePayload, 20u + 256u * 4096u);
  const FrameHeader over{FrameType::kPages, kMaxSourceFramePayload + 1};
  Status s = CheckFrameLength(over, kMaxSourceFramePayload, "host-c");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("host-c"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--max-frame-bytes"), std::string::npos) << s.message();
  // A header claiming 64 MiB parses (it is within the protocol's own cap) but a serve limit
  // refuses it.
  Result<FrameHeader> huge = ParseFrameHeader(EncodeFrameHeader(FrameType::kPages, 64u << 20));
  ASSERT_TRUE(huge.ok());
  EXPECT_FALSE(CheckFrameLength(*huge, kMaxSourceFramePayload, "host-c").ok());
  EXPECT_TRUE(CheckFrameLength({FrameType::kCommit, 0}, 0, "host-c").ok());
  EXPECT_FALSE(CheckFrameLength({FrameType::kHello, 1}, 0, "host-c").ok());
}

TEST(WireTest, ResultAbortStreamHello) {
  Result<ResultMsg> r = ParseResult(EncodeResult({false, "no \xff definition"}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(ParseResult("{\"ok\":1,\"message\":\"\"}").ok());
  EXPECT_FALSE(r->receive.has_value());
  // A COMMIT's RESULT carries the destination's receive statistics.
  const ReceiveStats st{12, 40, 0.25, 1.5};
  Result<ResultMsg> c = ParseResult(EncodeResult({true, "committed", st}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->receive.has_value());
  EXPECT_EQ(*c->receive, st);
  for (const char* bad : {
           R"({"ok":true,"message":"","receive":{}})",
           R"({"ok":true,"message":"","receive":{"frames":1,"writes":1,"wait_seconds":-1,"write_seconds":0}})",
           R"({"ok":true,"message":"","receive":{"frames":-1,"writes":1,"wait_seconds":0,"write_seconds":0}})",
           R"({"ok":true,"message":"","receive":{"frames":1,"writes":1,"wait_seconds":0,"x":0}})",
           R"({"ok":true,"message":"","other":1})",
           R"({"ok":true,"message":"","receive":1})"}) {
    EXPECT_FALSE(ParseResult(bad).ok()) << bad;
  }
  const Uuid vm = Uuid::Random();
  Result<StreamHello> s = ParseStreamHello(EncodeStreamHello({vm, "host-a"}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->vm, vm);
  EXPECT_EQ(s->source_host, "host-a");
  // The source host is required: a STREAM_HELLO naming only the VM is refused.
  EXPECT_FALSE(ParseStreamHello("{\"vm\":\"" + vm.ToString() + "\"}").ok());
  EXPECT_FALSE(ParseStreamHello(EncodeStreamHello({vm, ""})).ok());
  EXPECT_FALSE(ParseStreamHello(EncodeStreamHello({vm, std::string(254, 'h')})).ok());
  Result<std::string> a = ParseAbort(EncodeAbort("link down"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "link down");
  Result<BlobFrame> b = ParseBlob(EncodeBlob(0, "abc"), 1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->blob, "abc");
  EXPECT_FALSE(ParseBlob(EncodeBlob(1, "abc"), 1).ok());
  EXPECT_FALSE(ParseBlob("ab", 1).ok());
}

TEST(WireTest, PostcopyFrames) {
  const std::vector<uint64_t> blocks = {100};
  const std::vector<GenRun> runs = {{10, 5, 7}, {50, 1, 3}};
  Result<LaterFrame> l = ParseLater(EncodeLater(0, runs), blocks);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->runs, runs);
  EXPECT_FALSE(ParseLater(EncodeLater(0, {{10, 5, kGenNeverWritten}}), blocks).ok());
  EXPECT_FALSE(ParseLater(EncodeLater(0, {{10, 5, kGenInvalid}}), blocks).ok());
  EXPECT_FALSE(ParseLater(EncodeLater(0, {{99, 2, 7}}), blocks).ok()) << "past the end";
  EXPECT_FALSE(ParseLater(EncodeLater(0, {{9, 0, 7}}), blocks).ok()) << "no pages";
  EXPECT_FALSE(ParseLater(EncodeLater(0, {}), blocks).ok()) << "no runs";
  EXPECT_FALSE(
      ParseLater(EncodeLater(0, std::vector<GenRun>(kMaxLaterRuns + 1, {1, 1, 2})), blocks).ok());
  std::string later_cut = EncodeLater(0, runs);
  later_cut.pop_back();
  EXPECT_FALSE(ParseLater(later_cut, blocks).ok());

  Result<WantFrame> w = ParseWant(EncodeWant(0, {3, 99, 4}), blocks);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->pages, (std::vector<uint64_t>{3, 99, 4}));
  EXPECT_FALSE(ParseWant(EncodeWant(0, {100}), blocks).ok()) << "outside the block";
  EXPECT_FALSE(ParseWant(EncodeWant(0, {}), blocks).ok()) << "empty";
  EXPECT_FALSE(ParseWant(EncodeWant(1, {1}), blocks).ok()) << "no block 1";
  EXPECT_FALSE(ParseWant(EncodeWant(0, std::vector<uint64_t>(kMaxWantPages + 1, 1)), blocks).ok());
  std::string cut = EncodeWant(0, {1, 2});
  cut.pop_back();
  EXPECT_FALSE(ParseWant(cut, blocks).ok());

  PostcopyDone d;
  d.fetched = 12;
  d.pushed = 30;
  d.fault_p99_ms = 2.5;
  d.seconds = 1.25;
  Result<PostcopyDone> back = ParsePostcopyDone(EncodePostcopyDone(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->fetched, 12u);
  EXPECT_EQ(back->pushed, 30u);
  EXPECT_DOUBLE_EQ(back->fault_p99_ms, 2.5);
  EXPECT_DOUBLE_EQ(back->seconds, 1.25);
  std::string neg = EncodePostcopyDone(d);
  neg.replace(neg.find("1.25"), 4, "-1.0");
  EXPECT_FALSE(ParsePostcopyDone(neg).ok());
  EXPECT_FALSE(ParsePostcopyDone("{\"fetched\":1}").ok()) << "fields missing";
}

}  // namespace
}  // namespace mkd::migrate
