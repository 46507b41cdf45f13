// Tests of the destination's post-copy loop (postcopy_serve.h) against fakes: wanted pages go to
// the source as WANT frames, arriving pages into memfs, the loop keeps polling memfs's wanted
// pages (its lease) while the source is silent, and every way it fails (docs/postcopy.md "When
// something fails") returns an error with whether the VM ran. Each within a few hundred ms.
#include "migrate-tool/postcopy_serve.h"

#include <gtest/gtest.h>

#include "migrate-tool/incoming_fakes.h"

namespace mkd::migrate {
namespace {

using namespace std::chrono_literals;
using testing::FakeLink;
using testing::FakeMemfs;
using testing::FakeMemfsDir;
using testing::FakeMonitor;
using testing::FakeQemu;
using testing::PagesPayload;

constexpr uint64_t kPages = 4096;
constexpr auto kTimeout = 100ms;

class PostcopyServeTest : public ::testing::Test {
 protected:
  PostcopyServeTest() {
    qemu_.alive = true;
    qemu_.statuses = {"inmigrate", "running"};
    link_.set_silent(true);
  }
  Status Run(std::chrono::milliseconds timeout = kTimeout) {
    FakeMemfsDir dir(memfs_);
    FakeMonitor monitor(qemu_);
    return RunPostcopyReceiver(link_, dir, kPages, monitor, timeout, &result_);
  }
  // The pages of every WANT frame sent, in order.
  std::vector<uint64_t> Wanted() {
    std::vector<uint64_t> pages;
    for (const Frame& f : link_.sent()) {
      if (f.type != FrameType::kWant) continue;
      Result<WantFrame> w = ParseWant(f.payload, {kPages});
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      if (w.ok()) pages.insert(pages.end(), w->pages.begin(), w->pages.end());
    }
    return pages;
  }

  FakeLink link_{"host-a"};
  FakeMemfs memfs_;
  FakeQemu qemu_;
  PostcopyReceiveResult result_;
};

TEST_F(PostcopyServeTest, WantedPagesGoToTheSourceAndItsPagesIntoMemfs) {
  memfs_.wanted = {{7, 3}};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kWant) {
      link_.Push(FrameType::kPages, PagesPayload(7, 1));
      link_.Push(FrameType::kPages, PagesPayload(3, 1));
      link_.Push(FrameType::kPostcopyEnd);
    }
  };
  memfs_.postcopy.done.fetched = 2;
  ASSERT_TRUE(Run().ok());
  EXPECT_TRUE(result_.ran);
  EXPECT_EQ(Wanted(), (std::vector<uint64_t>{7, 3}));
  EXPECT_EQ(memfs_.pages_received, 2u);
  // The source hears that the VM runs here, and the statistics at the end.
  std::vector<Frame> sent = link_.sent();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().type, FrameType::kPostcopyDone);
  EXPECT_EQ(ParsePostcopyDone(sent.back().payload)->fetched, 2u);
  EXPECT_EQ(link_.results().size(), 1u);
  EXPECT_EQ(link_.results()[0].message, "running");
}

TEST_F(PostcopyServeTest, ManyWantedPagesGoInWantFramesOfAtMost1024) {
  std::vector<uint64_t> many;
  for (uint64_t p = 0; p < 2500; ++p) many.push_back(p);
  memfs_.wanted = {many};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kWant && ParseWant(f.payload, {kPages})->pages.size() < 1024) {
      link_.Push(FrameType::kPostcopyEnd);
    }
  };
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(Wanted(), many);
  std::vector<FrameType> t = link_.sent_types();
  EXPECT_EQ(std::count(t.begin(), t.end(), FrameType::kWant), 3);
}

// The lease (docs/postcopy.md: "serve polls user.mkd.wanted at least every 0.5 s; after 5 s of
// silence memfs fails the post-copy"): while the source sends nothing, the poller keeps asking
// memfs, and a page wanted late still reaches the source.
TEST_F(PostcopyServeTest, KeepsPollingWantedPagesWhileTheSourceIsSilent) {
  std::atomic<bool> asked{false};
  link_.on_send = [&](const Frame& f) {
    if (f.type == FrameType::kWant) {
      asked = true;
      link_.Push(FrameType::kPostcopyEnd);
    }
  };
  std::thread late([this] {
    std::this_thread::sleep_for(50ms);
    std::lock_guard lock(memfs_.mu);
    memfs_.wanted.push_back({42});
  });
  Status s = Run(2s);  // the source's silence is not what this test is about
  late.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(asked);
  EXPECT_EQ(Wanted(), std::vector<uint64_t>{42});
  EXPECT_GE(memfs_.take_wanted_calls, 5u) << "polled all along the 50 ms";
}

// "the source's mkd-migrate (killed)": the connection ends after the VM ran: the VM is lost.
TEST_F(PostcopyServeTest, TheSourceGoneAfterTheVmRanIsAnErrorWithTheVmRun) {
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kResult) link_.set_silent(false);  // then the connection ends
  };
  Status s = Run();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the peer closed the connection"), std::string::npos) << s.ToString();
  EXPECT_TRUE(result_.ran);
}

// "the link": no frame within the timeout while pages are missing.
TEST_F(PostcopyServeTest, ASilentSourceFailsWithinTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  Status s = Run();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.code(), ErrorCode::kIo) << s.ToString();
  EXPECT_NE(s.message().find("the source sent nothing for 100 ms"), std::string::npos);
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, 5 * kTimeout);
}

TEST_F(PostcopyServeTest, TheSourceGivingUpIsAnError) {
  link_.Push(FrameType::kAbort, EncodeAbort("reading the RAM file failed"));
  Status s = Run();
  EXPECT_NE(s.message().find("the source gave up: reading the RAM file failed"), std::string::npos)
      << s.ToString();
}

TEST_F(PostcopyServeTest, AFrameOtherThanPagesOrTheEndIsRefused) {
  link_.Push(FrameType::kCommit);
  Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("post-copy: unexpected COMMIT"), std::string::npos) << s.ToString();
}

// A QEMU that stops instead of running: the VM never ran here, it may resume at the source.
TEST_F(PostcopyServeTest, AQemuThatDoesNotRunIsAnErrorBeforeTheVmRan) {
  qemu_.statuses = {"shutdown"};
  Status s = Run();
  EXPECT_NE(s.message().find("the destination QEMU is shutdown, not running"), std::string::npos)
      << s.ToString();
  EXPECT_FALSE(result_.ran);
  qemu_.SetStatuses({"gone"});
  qemu_.alive = true;
  result_ = {};
  EXPECT_FALSE(Run().ok());
  EXPECT_FALSE(result_.ran);
}

TEST_F(PostcopyServeTest, PagesStillMissingAtTheEndAreCorruption) {
  link_.Push(FrameType::kPostcopyEnd);
  memfs_.postcopy = {"active", "", 3, {}};
  Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("3 pages are still missing"), std::string::npos);
}

// "the destination's memfs": waiting for wanted pages fails.
TEST_F(PostcopyServeTest, PollingWantedPagesFailingIsAnError) {
  memfs_.errors["wanted"] = Status::Io("getxattr user.mkd.wanted: ENOTCONN");
  Status s = Run();
  EXPECT_NE(s.message().find("waiting for wanted pages"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("ENOTCONN"), std::string::npos);
}

}  // namespace
}  // namespace mkd::migrate
