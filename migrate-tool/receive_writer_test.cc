// Tests for ReceiveWriter: writes in the order submitted, on its own thread, at most `depth`
// waiting; the first failed write stops the writes and is returned; destruction drops what waits.
#include "migrate-tool/receive_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace mkd::migrate {
namespace {

using memfs_protocol::LaterRun;

// A writer that records the first page of each write and can be held at a gate.
struct Recorder {
  std::mutex mu;
  std::vector<uint64_t> written;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  bool hold = false;
  uint64_t fail_at = UINT64_MAX;  // the write of this first page fails

  ReceiveWriter::Writer Fn() {
    return [this](const std::vector<LaterRun>& runs, std::string_view data) {
      EXPECT_EQ(data.size(), runs[0].count * kPageSize);
      if (hold) opened.wait();
      if (runs[0].first == fail_at) return Status::Io("memfs gone");
      std::lock_guard<std::mutex> lock(mu);
      written.push_back(runs[0].first);
      return Status::Ok();
    };
  }
};

std::vector<LaterRun> OnePage(uint64_t first) { return {LaterRun{first, 1, 7}}; }
std::string Page() { return std::string(kPageSize, 'x'); }

TEST(ReceiveWriterTest, WritesEverythingInTheOrderSubmitted) {
  Recorder r;
  ReceiveWriter w(r.Fn(), 4);
  for (uint64_t p = 0; p < 100; ++p) ASSERT_TRUE(w.Submit(OnePage(p), Page()).ok());
  ASSERT_TRUE(w.Drain().ok());
  ASSERT_EQ(r.written.size(), 100u);
  for (uint64_t p = 0; p < 100; ++p) EXPECT_EQ(r.written[p], p);
  EXPECT_GE(w.write_seconds(), 0.0);
}

TEST(ReceiveWriterTest, AtMostDepthBatchesWaitAndSubmitBlocksBeyond) {
  Recorder r;
  r.hold = true;
  ReceiveWriter w(r.Fn(), 2);
  ASSERT_TRUE(w.Submit(OnePage(0), Page()).ok());  // taken by the writer, held at the gate
  // The writer may not have taken page 0 yet: then it waits with 1 and 2 beyond the depth, and
  // the submitter of 3 blocks all the same (3 batches > depth 2 either way).
  ASSERT_TRUE(w.Submit(OnePage(1), Page()).ok());
  std::atomic<int> submitted{0};
  std::thread more([&] {
    EXPECT_TRUE(w.Submit(OnePage(2), Page()).ok());
    submitted = 1;
    EXPECT_TRUE(w.Submit(OnePage(3), Page()).ok());
    submitted = 2;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_LT(submitted.load(), 2) << "a fourth batch was queued while the writer was held";
  EXPECT_TRUE(r.written.empty());
  r.gate.set_value();
  more.join();
  ASSERT_TRUE(w.Drain().ok());
  EXPECT_EQ(r.written, (std::vector<uint64_t>{0, 1, 2, 3}));
}

TEST(ReceiveWriterTest, TheFirstFailedWriteStopsTheWritesAndIsReturned) {
  Recorder r;
  r.fail_at = 3;
  ReceiveWriter w(r.Fn(), 4);
  Status last;
  for (uint64_t p = 0; p < 50 && last.ok(); ++p) last = w.Submit(OnePage(p), Page());
  EXPECT_EQ(w.Drain().code(), ErrorCode::kIo);
  EXPECT_EQ(w.Submit(OnePage(99), Page()).code(), ErrorCode::kIo);
  EXPECT_EQ(w.Drain().code(), ErrorCode::kIo);
  EXPECT_EQ(r.written, (std::vector<uint64_t>{0, 1, 2})) << "nothing written after the failure";
}

TEST(ReceiveWriterTest, DestructionWaitsForTheWriteInProgressAndDropsTheRest) {
  Recorder r;
  r.hold = true;
  std::thread opener;
  {
    ReceiveWriter w(r.Fn(), 4);
    ASSERT_TRUE(w.Submit(OnePage(0), Page()).ok());
    ASSERT_TRUE(w.Submit(OnePage(1), Page()).ok());
    ASSERT_TRUE(w.Submit(OnePage(2), Page()).ok());
    // The writer holds page 0's write at the gate until it opens, during the destruction.
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      r.gate.set_value();
    });
  }
  opener.join();
  EXPECT_LE(r.written.size(), 1u) << "batches still waiting were written after destruction";
}

}  // namespace
}  // namespace mkd::migrate
