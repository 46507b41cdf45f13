// Tests for the migration protocol's encoding and strict parsing (wire.h).
#include "migrate-tool/wire.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

// A refusal is kInvalidArgument and its message says what is wrong.
template <typename T>
void ExpectRefused(const Result<T>& r, std::string_view what, std::string_view detail) {
  ASSERT_FALSE(r.ok()) << "accepted; expected: " << detail;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(detail), std::string::npos) << r.status().message();
}

OfferEntry Entry(uint64_t page, Generation gen) {
  OfferEntry e{page, gen, 0x0123456789abcdefull ^ page, {}};
  for (size_t i = 0; i < e.sha256.size(); ++i) e.sha256[i] = static_cast<uint8_t>(page * 31 + i);
  return e;
}

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
  for (uint8_t t = 1; t <= static_cast<uint8_t>(FrameType::kNeed); ++t) {
    const FrameType type = static_cast<FrameType>(t);
    EXPECT_NE(FrameTypeName(type), "?") << int{t};
    Result<FrameHeader> p = ParseFrameHeader(EncodeFrameHeader(type, 0));
    ASSERT_TRUE(p.ok()) << int{t};
    EXPECT_EQ(p->type, type);
  }
  EXPECT_EQ(FrameTypeName(FrameType::kPlan), "PLAN");
  EXPECT_EQ(FrameTypeName(FrameType::kOffer), "OFFER");
  EXPECT_EQ(FrameTypeName(FrameType::kNeed), "NEED");
  EXPECT_EQ(static_cast<int>(FrameType::kOffer), 23);
  EXPECT_EQ(static_cast<int>(FrameType::kNeed), 24);
  std::string next = EncodeFrameHeader(FrameType::kNeed, 0);
  next[5] = static_cast<char>(static_cast<uint8_t>(FrameType::kNeed) + 1);
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
  EXPECT_TRUE(p->offers);
  EXPECT_EQ(EncodeHello(h).find("offers"), std::string::npos) << "as before reuse by content";
  h.offers = false;
  p = ParseHello(EncodeHello(h));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->offers);
  std::string text = EncodeHello(h);
  text.replace(text.find("false"), 5, "0");
  EXPECT_FALSE(ParseHello(text).ok()) << "offers is a boolean";
  text.replace(text.find("\"offers\""), 8, "\"offer\"");
  EXPECT_FALSE(ParseHello(text).ok()) << "no other field";
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

TEST(WireTest, OfferRoundTrip) {
  const std::vector<uint64_t> blocks = {100, 8};
  const std::vector<OfferEntry> entries = {Entry(0, 1), Entry(7, 9), Entry(99, kGenInvalid - 1)};
  const std::string bytes = EncodeOffer(0, entries);
  EXPECT_EQ(bytes.size(), 8 + entries.size() * kOfferEntrySize);
  Result<OfferFrame> o = ParseOffer(bytes, blocks);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->block, 0u);
  EXPECT_EQ(o->entries, entries);
  // The second block, and a full frame, which a destination's default frame limit takes.
  Result<OfferFrame> other = ParseOffer(EncodeOffer(1, {Entry(7, 2)}), blocks);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->block, 1u);
  std::vector<OfferEntry> full;
  for (uint64_t p = 0; p < kMaxOfferPages; ++p) full.push_back(Entry(p, 5));
  const std::string full_bytes = EncodeOffer(0, full);
  Result<OfferFrame> f = ParseOffer(full_bytes, {kMaxOfferPages});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->entries, full);
  EXPECT_LE(full_bytes.size(), kMaxSourceFramePayload);
  EXPECT_TRUE(CheckFrameLength({FrameType::kOffer, static_cast<uint32_t>(full_bytes.size())},
                               kMaxSourceFramePayload, "host-c")
                  .ok());
}

TEST(WireTest, OfferRefusesTruncatedAndTrailingBytes) {
  const std::vector<uint64_t> blocks = {100};
  const std::string bytes = EncodeOffer(0, {Entry(1, 3), Entry(2, 3)});
  ExpectRefused(ParseOffer(bytes.substr(0, 7), blocks), "OFFER frame", "truncated");
  ExpectRefused(ParseOffer("", blocks), "OFFER frame", "truncated");
  ExpectRefused(ParseOffer(bytes.substr(0, bytes.size() - 1), blocks), "OFFER frame",
                "length mismatch");
  ExpectRefused(ParseOffer(bytes.substr(0, 8 + kOfferEntrySize), blocks), "OFFER frame",
                "length mismatch");
  ExpectRefused(ParseOffer(bytes + "x", blocks), "OFFER frame", "length mismatch");
}

TEST(WireTest, OfferRefusesCountsOutOfRangeAndUnknownBlocks) {
  const std::vector<uint64_t> blocks = {100};
  ExpectRefused(ParseOffer(EncodeOffer(0, {}), blocks), "OFFER frame", "page count 0 is not in");
  std::vector<OfferEntry> over;
  for (uint64_t p = 0; p <= kMaxOfferPages; ++p) over.push_back(Entry(p, 5));
  ExpectRefused(ParseOffer(EncodeOffer(0, over), {kMaxOfferPages + 1}), "OFFER frame",
                "page count 1025 is not in 1..1024");
  ExpectRefused(ParseOffer(EncodeOffer(1, {Entry(1, 3)}), blocks), "OFFER frame", "no block 1");
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(1, 3)}), {}), "OFFER frame", "no block 0");
}

TEST(WireTest, OfferRefusesPagesOutOfOrderOrOutsideTheBlock) {
  const std::vector<uint64_t> blocks = {100};
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(4, 3), Entry(4, 3)}), blocks), "OFFER frame",
                "page 4 follows page 4: pages are not strictly increasing");
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(5, 3), Entry(6, 3), Entry(2, 3)}), blocks),
                "OFFER frame", "page 2 follows page 6: pages are not strictly increasing");
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(3, 3), Entry(100, 3)}), blocks), "OFFER frame",
                "page 100 is outside the block of 100 pages");
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(UINT64_MAX, 3)}), blocks), "OFFER frame",
                "is outside the block");
}

TEST(WireTest, OfferRefusesGenerationZeroOrInvalidAndReservedBytes) {
  const std::vector<uint64_t> blocks = {100};
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(1, 3), Entry(2, kGenNeverWritten)}), blocks),
                "OFFER frame", "page 2 has generation 0 or invalid");
  ExpectRefused(ParseOffer(EncodeOffer(0, {Entry(1, kGenInvalid)}), blocks), "OFFER frame",
                "page 1 has generation 0 or invalid");
  // The reserved u32 of the second entry: after block, count, the first entry, page and gen.
  std::string bytes = EncodeOffer(0, {Entry(1, 3), Entry(2, 3)});
  bytes[8 + kOfferEntrySize + 12 + 3] = 1;
  ExpectRefused(ParseOffer(bytes, blocks), "OFFER frame", "page 2: reserved bytes are not zero");
}

TEST(WireTest, NeedRoundTrip) {
  const std::vector<uint64_t> blocks = {100, 8};
  Result<NeedFrame> n = ParseNeed(EncodeNeed(0, 5, {1, 50, 99}), blocks);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->block, 0u);
  EXPECT_EQ(n->offered, 5u);
  EXPECT_EQ(n->pages, (std::vector<uint64_t>{1, 50, 99}));
  // Every page taken locally: nothing to send.
  Result<NeedFrame> none = ParseNeed(EncodeNeed(1, kMaxOfferPages, {}), blocks);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->block, 1u);
  EXPECT_EQ(none->offered, kMaxOfferPages);
  EXPECT_TRUE(none->pages.empty());
  // Every page needed.
  Result<NeedFrame> all = ParseNeed(EncodeNeed(1, 2, {0, 7}), blocks);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->pages, (std::vector<uint64_t>{0, 7}));
}

TEST(WireTest, NeedRefusals) {
  const std::vector<uint64_t> blocks = {100};
  const std::string bytes = EncodeNeed(0, 3, {1, 2});
  ExpectRefused(ParseNeed(bytes.substr(0, 11), blocks), "NEED frame", "truncated");
  ExpectRefused(ParseNeed(bytes.substr(0, bytes.size() - 1), blocks), "NEED frame",
                "length mismatch");
  ExpectRefused(ParseNeed(bytes + "x", blocks), "NEED frame", "length mismatch");
  ExpectRefused(ParseNeed(EncodeNeed(0, 0, {}), blocks), "NEED frame",
                "offered count 0 is not in 1..1024");
  ExpectRefused(ParseNeed(EncodeNeed(0, kMaxOfferPages + 1, {}), blocks), "NEED frame",
                "offered count 1025 is not in 1..1024");
  ExpectRefused(ParseNeed(EncodeNeed(0, 2, {1, 2, 3}), blocks), "NEED frame",
                "3 pages needed of 2 offered");
  ExpectRefused(ParseNeed(EncodeNeed(1, 1, {1}), blocks), "NEED frame", "no block 1");
  ExpectRefused(ParseNeed(EncodeNeed(0, 3, {1, 100}), blocks), "NEED frame",
                "page 100 is outside the block of 100 pages");
  ExpectRefused(ParseNeed(EncodeNeed(0, 3, {2, 2}), blocks), "NEED frame",
                "page 2 follows page 2: pages are not strictly increasing");
  ExpectRefused(ParseNeed(EncodeNeed(0, 3, {5, 4}), blocks), "NEED frame",
                "page 4 follows page 5: pages are not strictly increasing");
}

}  // namespace
}  // namespace mkd::migrate
