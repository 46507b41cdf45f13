// Tests of the user.mkd.receive frame: round trips, and a refusal for every field.
#include "memfs-protocol/receive_frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace mkd::memfs_protocol {
namespace {

std::string Pages(uint32_t count, char c) { return std::string(size_t{count} * kPageSize, c); }

// Overwrites the bytes at `offset` of `frame` with `v`.
template <typename T>
std::string With(std::string frame, size_t offset, T v) {
  std::memcpy(frame.data() + offset, &v, sizeof(T));
  return frame;
}

void ExpectRefused(const std::string& bytes, const std::string& what) {
  Result<ReceiveFrame> f = ParseReceiveFrame(bytes);
  ASSERT_FALSE(f.ok()) << what;
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument) << what;
  EXPECT_EQ(f.status().message().rfind("user.mkd.receive: ", 0), 0u) << f.status().message();
  EXPECT_NE(f.status().message().find(what), std::string::npos) << f.status().message();
}

TEST(ReceiveFrameTest, PagesRoundTrip) {
  for (uint32_t count : {1u, 7u, kMaxReceivePages}) {
    const std::string data = Pages(count, 'x');
    const std::string bytes = EncodeReceiveFrame(ReceiveKind::kPages, 1000, count, 5, data);
    ASSERT_EQ(bytes.size(), kReceiveHeaderSize + data.size());
    EXPECT_EQ(bytes.substr(0, 4), "MKDR");
    Result<ReceiveFrame> f = ParseReceiveFrame(bytes);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->kind, ReceiveKind::kPages);
    EXPECT_EQ(f->first, 1000u);
    EXPECT_EQ(f->count, count);
    EXPECT_EQ(f->gen, 5u);
    EXPECT_EQ(f->data, data);
    EXPECT_EQ(f->data.data(), bytes.data() + kReceiveHeaderSize) << "data is not copied";
    EXPECT_EQ(EncodeReceiveFrame(f->kind, f->first, f->count, f->gen, f->data), bytes);
  }
  EXPECT_LE(kReceiveHeaderSize + kMaxReceivePages * kPageSize, kMaxReceiveFrameSize);
  EXPECT_GT(kReceiveHeaderSize + (kMaxReceivePages + 1) * kPageSize, kMaxReceiveFrameSize);
}

TEST(ReceiveFrameTest, ZeroPagesRoundTripWithGenerationZeroOrAnEpoch) {
  for (Generation gen : {kGenNeverWritten, Generation{5}, kMaxEpoch}) {
    const std::string bytes =
        EncodeReceiveFrame(ReceiveKind::kZero, 3, kMaxReceiveZeroPages, gen, "");
    ASSERT_EQ(bytes.size(), kReceiveHeaderSize);
    Result<ReceiveFrame> f = ParseReceiveFrame(bytes);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->kind, ReceiveKind::kZero);
    EXPECT_EQ(f->count, kMaxReceiveZeroPages);
    EXPECT_EQ(f->gen, gen);
    EXPECT_TRUE(f->data.empty());
    EXPECT_EQ(EncodeReceiveFrame(f->kind, f->first, f->count, f->gen, f->data), bytes);
  }
}

TEST(ReceiveFrameTest, LaterRunsRoundTrip) {
  const std::vector<LaterRun> runs = {{7, 300, 9}, {1000, 1, 4}, {5000, 2, 9}};
  const std::string bytes = EncodeLaterFrame(runs);
  Result<ReceiveFrame> f = ParseReceiveFrame(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->kind, ReceiveKind::kLater);
  EXPECT_EQ(f->count, 3u);
  EXPECT_EQ(f->runs, runs);
  EXPECT_EQ(EncodeReceiveFrame(f->kind, f->first, f->count, f->gen, f->data), bytes);
  EXPECT_TRUE(
      ParseReceiveFrame(EncodeLaterFrame(std::vector<LaterRun>(kMaxLaterRuns, {1, 1, 2}))).ok())
      << "the most that fits one xattr value";
}

TEST(ReceiveFrameTest, RefusesMalformedLaterRuns) {
  const std::string good = EncodeLaterFrame({{7, 3, 9}, {20, 1, 4}});
  ExpectRefused(good + "x", "expected exactly 56");
  ExpectRefused(good.substr(0, good.size() - 1), "expected exactly 56");
  ExpectRefused(With<uint64_t>(good, 8, 1), "first page and generation must be 0");
  ExpectRefused(With<uint32_t>(good, 20, 3), "first page and generation must be 0");
  ExpectRefused(With<uint32_t>(good, 16, 0), "run count 0");
  ExpectRefused(EncodeLaterFrame(std::vector<LaterRun>(kMaxLaterRuns + 1, {1, 1, 2})),
                "more than one xattr value");
  ExpectRefused(EncodeLaterFrame({{7, 0, 9}}), "later run 0: bad page count");
  ExpectRefused(EncodeLaterFrame({{7, 3, 9}, {8, 1, 0}}), "later run 1: generation 0");
  ExpectRefused(EncodeLaterFrame({{7, 3, kGenInvalid}}), "later run 0: generation 0");
  ExpectRefused(EncodeLaterFrame({{std::numeric_limits<uint64_t>::max(), 1, 9}}), "overflows");
}

TEST(ReceiveFrameTest, RunsRoundTrip) {
  const std::vector<LaterRun> runs = {{7, 3, 9}, {1000, 1, 4}, {5000, 11, 9}};
  const std::string data(15 * kPageSize, 'q');
  const std::string bytes = EncodeRunsFrame(runs, data);
  Result<ReceiveFrame> f = ParseReceiveFrame(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->kind, ReceiveKind::kRuns);
  EXPECT_EQ(f->runs, runs);
  EXPECT_EQ(f->data, data);
  EXPECT_EQ(EncodeRunsFrame(f->runs, f->data), bytes);
  EXPECT_LE(bytes.size(), kMaxReceiveFrameSize) << "15 runs of one page fit one xattr value";
  EXPECT_TRUE(ParseReceiveFrame(EncodeRunsFrame(std::vector<LaterRun>(15, {1, 1, 2}), data)).ok());
}

TEST(ReceiveFrameTest, RefusesMalformedRuns) {
  const std::string page(kPageSize, 'p');
  const std::string good = EncodeRunsFrame({{7, 1, 9}, {20, 1, 4}}, page + page);
  ExpectRefused(good + "x", "expected exactly");
  ExpectRefused(good.substr(0, good.size() - 1), "expected exactly");
  ExpectRefused(With<uint64_t>(good, 8, 1), "first page and generation must be 0");
  ExpectRefused(With<uint32_t>(good, 20, 3), "first page and generation must be 0");
  ExpectRefused(With<uint32_t>(good, 16, 0), "run count 0");
  ExpectRefused(With<uint32_t>(good, 16, 16), "run count 16");
  ExpectRefused(EncodeRunsFrame({{7, 0, 9}}, ""), "run 0: bad page count");
  ExpectRefused(EncodeRunsFrame({{7, 1, 9}, {8, 1, 0}}, page + page), "run 1: generation 0");
  ExpectRefused(EncodeRunsFrame({{7, 1, kGenInvalid}}, page), "run 0: generation 0");
  ExpectRefused(EncodeRunsFrame({{std::numeric_limits<uint64_t>::max(), 1, 9}}, page), "overflows");
  ExpectRefused(EncodeRunsFrame({{7, 10, 9}, {30, 6, 9}}, std::string(15 * kPageSize, 'p')),
                "16 pages in all");
  ExpectRefused(EncodeRunsFrame({{7, 2, 9}}, page), "expected exactly");
}

TEST(ReceiveFrameTest, LastPagesBeforeOverflowAreAccepted) {
  // Range against the block is the Block's check; the parser only refuses overflow.
  const uint64_t first = std::numeric_limits<uint64_t>::max() - 2;
  EXPECT_TRUE(ParseReceiveFrame(EncodeReceiveFrame(ReceiveKind::kZero, first, 2, 0, "")).ok());
}

TEST(ReceiveFrameTest, RefusesEveryMalformedField) {
  const std::string one = EncodeReceiveFrame(ReceiveKind::kPages, 10, 1, 4, Pages(1, 'a'));
  const std::string zero = EncodeReceiveFrame(ReceiveKind::kZero, 10, 8, 4, "");
  ExpectRefused("", "truncated");
  ExpectRefused(one.substr(0, kReceiveHeaderSize - 1), "truncated");
  ExpectRefused(one.substr(0, kReceiveHeaderSize), "expected exactly 4120");
  ExpectRefused(one.substr(0, one.size() - 1), "expected exactly 4120");
  ExpectRefused(one + "x", "expected exactly 4120");
  ExpectRefused(zero + "x", "pages without data");

  ExpectRefused(std::string(kMaxReceiveFrameSize + 1, 'M'), "more than one xattr value");
  ExpectRefused(With<char>(one, 0, 'X'), "bad magic");
  ExpectRefused(With<uint8_t>(one, 4, 2), "version 2");
  ExpectRefused(With<uint8_t>(one, 4, 0), "version 0");
  ExpectRefused(With<uint8_t>(one, 5, 4), "kind 4");
  ExpectRefused(With<uint16_t>(one, 6, 1), "reserved");
  ExpectRefused(With<uint32_t>(one, 16, 0), "page count 0");
  ExpectRefused(With<uint32_t>(zero, 16, 0), "page count 0");
  ExpectRefused(EncodeReceiveFrame(ReceiveKind::kPages, 0, kMaxReceivePages + 1, 4, Pages(15, 'a')),
                "page count 16 is not in 1..15");
  ExpectRefused(With<uint32_t>(zero, 16, kMaxReceiveZeroPages + 1), "page count 2147483649");
  ExpectRefused(With<uint32_t>(one, 20, kGenInvalid), "generation 0xFFFFFFFF");
  ExpectRefused(With<uint32_t>(zero, 20, kGenInvalid), "generation 0xFFFFFFFF");
  ExpectRefused(With<uint32_t>(one, 20, kGenNeverWritten), "generation 0");
  ExpectRefused(With<uint64_t>(zero, 8, std::numeric_limits<uint64_t>::max() - 7), "overflows");
  ExpectRefused(With<uint64_t>(one, 8, std::numeric_limits<uint64_t>::max()), "overflows");
}

}  // namespace
}  // namespace mkd::memfs_protocol
