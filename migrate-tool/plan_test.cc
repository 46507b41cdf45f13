// Tests for the plan's estimate (plan.h): which pages a migration would reuse and send, and the
// frames and bytes it would put on the wire, grouped as the source groups them.
#include "migrate-tool/plan.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "migrate-tool/wire.h"

namespace mkd::migrate {
namespace {

constexpr uint64_t kFrame = kFrameHeaderSize + kPagesHeaderSize;  // 32 bytes a frame
constexpr uint64_t kFixed = kFrameHeaderSize + kControlEstimateBytes + kDeviceStateEstimateBytes;

GenerationTable Table(std::vector<Generation> gens) {
  return GenerationTable::FromGenerations(std::move(gens));
}

TEST(PlanTest, ReusedNeverWrittenAndSentPagesSplitTheVm) {
  // Epoch 5 here. Pages 0-3 never written; 4-9 of generation 3, which the peer holds for 4-7;
  // 10-11 written in this epoch (invalid: not written back into the table yet).
  std::vector<Generation> vm(12, 3), peer(12, 3);
  for (uint64_t p = 0; p < 4; ++p) vm[p] = peer[p] = kGenNeverWritten;
  peer[8] = peer[9] = 2;
  vm[10] = vm[11] = kGenInvalid;
  const PageBitmap zero(12);
  const HostPlan h = EstimateHost(Table(vm), 5, Table(peer), zero, 100, 1e6);
  EXPECT_EQ(h.reusable, 4u);
  EXPECT_EQ(h.never_written, 4u);
  EXPECT_EQ(h.zero_fill, 0u);
  EXPECT_EQ(h.send_content, 4u);
  EXPECT_EQ(h.send_zero, 0u);
  // One run 8-11 (four neighbouring pages), split where the generation changes: 8-9 of 3,
  // 10-11 of this epoch.
  EXPECT_EQ(h.frames, 2u);
  EXPECT_EQ(h.bytes, 2 * kFrame + 4 * kPageSize + 100 + kFixed);
  EXPECT_DOUBLE_EQ(h.seconds, static_cast<double>(h.bytes) / 1e6);
}

TEST(PlanTest, ZeroPagesGoWithoutContentAndSplitFrames) {
  std::vector<Generation> vm(6, 4), peer(6, kGenNeverWritten);
  PageBitmap zero(6);
  zero.Set(2);
  zero.Set(3);
  const HostPlan h = EstimateHost(Table(vm), 5, Table(peer), zero, 0, 1e6);
  EXPECT_EQ(h.send_content, 4u);
  EXPECT_EQ(h.send_zero, 2u);
  EXPECT_EQ(h.frames, 3u) << "0-1 content, 2-3 zeros, 4-5 content";
  EXPECT_EQ(h.bytes, 3 * kFrame + 4 * kPageSize + kFixed);
}

TEST(PlanTest, AFrameCarriesAtMost256PagesAndZeroFillRunsAreOneFrameEach) {
  // 600 pages of one generation: frames of 256, 256 and 88. Pages 600-609 never written here
  // but held by the peer: one ZEROS frame.
  std::vector<Generation> vm(610, 2), peer(610, kGenNeverWritten);
  for (uint64_t p = 600; p < 610; ++p) {
    vm[p] = kGenNeverWritten;
    peer[p] = 1;
  }
  const HostPlan h = EstimateHost(Table(vm), 3, Table(peer), PageBitmap(610), 0, 1e6);
  EXPECT_EQ(h.send_content, 600u);
  EXPECT_EQ(h.zero_fill, 10u);
  EXPECT_EQ(h.never_written, 10u);
  EXPECT_EQ(h.frames, 3u + 1u);
}

TEST(PlanTest, FramesCarryTheContentBytesTheSenderWouldPutOnTheWire) {
  // Two frames of content (0-1, 4-5) around two zero pages: the callback says what each frame's
  // content takes (compressed); zero frames never ask.
  std::vector<Generation> vm(6, 4), peer(6, kGenNeverWritten);
  PageBitmap zero(6);
  zero.Set(2);
  zero.Set(3);
  std::vector<std::pair<uint64_t, uint64_t>> asked;
  const HostPlan h =
      EstimateHost(Table(vm), 5, Table(peer), zero, 0, 1e6, [&](uint64_t first, uint64_t count) {
        asked.emplace_back(first, count);
        return count * 1000;
      });
  EXPECT_EQ(asked, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 2}, {4, 2}}));
  EXPECT_EQ(h.content_bytes, 4000u);
  EXPECT_EQ(h.bytes, 3 * kFrame + 4000 + kFixed);
}

TEST(PlanTest, PagesTakenByContentAreNotSentAndTheRestGoAsNeighbours) {
  // 300 pages to send; the first pass's ranges are 0-255 and 256-299. The first range was offered:
  // page 2 is zero (a ZEROS frame), the host took 0-1 and 10-19, so 3-9 and 20-255 go as pages.
  // The second range was not offered (offering stopped): it goes as pages, one frame.
  std::vector<Generation> vm(300, 4), peer(300, kGenNeverWritten);
  PageBitmap zero(300);
  zero.Set(2);
  ContentAnswer content;
  content.offered = content.taken = PageBitmap(300);
  content.offered.SetRange(0, 256);
  content.taken.SetRange(0, 2);
  content.taken.SetRange(10, 10);
  content.offered_pages = 255;
  content.offer_bytes = 12345;
  content.stopped = "why";
  std::vector<std::pair<uint64_t, uint64_t>> asked;
  const HostPlan h = EstimateHost(
      Table(vm), 5, Table(peer), zero, 0, 1e6,
      [&](uint64_t first, uint64_t count) {
        asked.emplace_back(first, count);
        return count * kPageSize;
      },
      &content);
  EXPECT_EQ(h.by_content, 12u);
  EXPECT_EQ(h.offered, 255u);
  EXPECT_EQ(h.content_stopped, "why");
  EXPECT_EQ(h.send_zero, 1u);
  EXPECT_EQ(h.send_content, 300u - 12u - 1u);
  EXPECT_EQ(asked, (std::vector<std::pair<uint64_t, uint64_t>>{{3, 7}, {20, 236}, {256, 44}}));
  EXPECT_EQ(h.frames, 4u) << "ZEROS 2, PAGES 3-9, 20-255, 256-299";
  EXPECT_EQ(h.bytes, 4 * kFrame + 287 * kPageSize + 12345 + kFixed);
}

TEST(PlanTest, PagesToSendAreTheWrittenOnesTheHostDoesNotHold) {
  std::vector<Generation> vm = {kGenNeverWritten, 3, 3, kGenInvalid};
  std::vector<Generation> peer = {1, 3, 2, 3};
  const PageBitmap send = PagesToSend(Table(vm), Table(peer));
  EXPECT_FALSE(send.Test(0));
  EXPECT_FALSE(send.Test(1));
  EXPECT_TRUE(send.Test(2));
  EXPECT_TRUE(send.Test(3));
}

TEST(PlanTest, AnUnknownLinkRateIsTakenAs100MBPerSecond) {
  std::vector<Generation> vm(4, 1);
  const HostPlan h =
      EstimateHost(Table(vm), 2, Table(std::vector<Generation>(4, 0)), PageBitmap(4), 0, 0);
  EXPECT_DOUBLE_EQ(h.seconds, static_cast<double>(h.bytes) / 100e6);
}

}  // namespace
}  // namespace mkd::migrate
