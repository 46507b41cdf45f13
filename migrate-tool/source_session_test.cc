// The source side of a migration driven through fakes (source_fakes.h): every source-visible row
// of the failure tables of docs/migrate.md and docs/postcopy.md ("When something fails"), what
// becomes of the VM, what the destination was told, and the report's accounting. Each test runs
// in milliseconds; tests/system/test_migrate*.py and test_postcopy*.py are the end-to-end proof.
#include "migrate-tool/source_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "base/temp_dir_for_test.h"
#include "migrate-tool/source_fakes.h"

namespace mkd::migrate {
namespace {

using fakes::FakeDestination;
using fakes::FakeDomainMigration;
using fakes::FakeMonitor;
using fakes::FakeRam;
using fakes::FakeVm;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The VM: 64 pages in epoch 5. Pages 0-7 were never written (0-3 hold something at the
// destination, so they go as ZEROS), 8-15 are reusable (the destination holds them), 16-19 are
// zero pages, 20-63 hold content and go as PAGES.
constexpr uint64_t kPages = 64;
constexpr Epoch kEpoch = 5;

PageBitmap Pages(uint64_t first, uint64_t count) {
  PageBitmap b(kPages);
  b.SetRange(first, count);
  return b;
}

class SourceSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    def_.uuid = Uuid::Random();
    def_.name = "vm1";
    o_.host_id = "src";
    o_.to_host = "dst";
    o_.timeout = std::chrono::milliseconds(30);
    o_.tunnel_dir = dir_;
    o_.compress = CompressMode::kNever;  // the frames as sent (PAGES); compression: its own test
    o_.content_reuse = false;            // likewise reuse by content (OFFER): tests of its own

    ram_ = std::make_shared<FakeRam>(kPages, kEpoch);
    std::vector<Generation> gens(kPages, kEpoch);
    for (uint64_t p = 0; p < 8; ++p) gens[p] = kGenNeverWritten;
    for (uint64_t p = 8; p < 16; ++p) gens[p] = 3;
    ram_->table = GenerationTable::FromGenerations(gens);
    ram_->reusable = Pages(8, 8);
    for (uint64_t p = 8; p < kPages; ++p) {
      if (p >= 16 && p < 20) continue;  // zero pages
      Fill(&ram_->content, p, static_cast<char>(p + 1));
    }
    ram_->syncs = {Pages(20, 2), Pages(22, 1)};  // round 1's sync, the pause's

    dest_ = std::make_unique<FakeDestination>(def_.uuid, kPages);
    std::vector<Generation> theirs(kPages, 1);
    for (uint64_t p = 0; p < 4; ++p) theirs[p] = 2;
    for (uint64_t p = 4; p < 8; ++p) theirs[p] = kGenNeverWritten;
    for (uint64_t p = 8; p < 16; ++p) theirs[p] = 3;
    dest_->table = GenerationTable::FromGenerations(theirs);
    for (uint64_t p = 0; p < kPages; ++p) {
      if (p >= 4 && p < 8) continue;  // never written there: zeros
      Fill(&dest_->memory, p, p >= 8 && p < 16 ? static_cast<char>(p + 1) : '\x77');
    }
    monitor_ = std::make_shared<FakeMonitor>();
    vm_ = std::make_shared<FakeVm>();
  }

  // The VM is a libvirt domain: libvirt runs QEMU's migration.
  void UseLibvirt() { libvirt_ = std::make_shared<FakeDomainMigration>(monitor_.get(), vm_.get()); }

  static void Fill(std::string* memory, uint64_t page, char byte) {
    memory->replace(page * kPageSize, kPageSize, kPageSize, byte);
  }

  Status Run() {
    SourcePorts ports{
        dest_->Dialer(), ram_, monitor_, vm_, libvirt_, [this] { return clock_.Now(); }};
    return internal::RunSourceWith(o_, def_, std::move(ports), &report_, progress_);
  }

  std::string Marker() const { return dir_ + "/mkd-migrate-" + def_.uuid.ToString() + ".postcopy"; }

  // The frames the destination saw after its COMMIT (nothing but the switchover's may follow).
  std::vector<FrameType> AfterCommit() const {
    std::vector<FrameType> after;
    bool seen = false;
    for (FrameType t : dest_->frames) {
      if (seen) after.push_back(t);
      seen = seen || t == FrameType::kCommit;
    }
    return after;
  }

  void ExpectCapabilitiesCleared() const {
    EXPECT_EQ(monitor_->capabilities.at("x-ignore-shared"), false);
    EXPECT_EQ(monitor_->capabilities.at("pause-before-switchover"), false);
  }

  // Before the commit point: the VM runs here, the destination was told to drop everything (if
  // the link still worked), QEMU is as we found it.
  void ExpectAbortedBeforeTheCommit(bool link_up = true) const {
    EXPECT_TRUE(monitor_->running);
    EXPECT_EQ(monitor_->run_status, "running");
    EXPECT_FALSE(vm_->stopped);
    EXPECT_EQ(dest_->aborted(), link_up);
    ExpectCapabilitiesCleared();
    EXPECT_THAT(report_.outcome,
                StartsWith("failed before the commit point; the VM runs on src with its memory "
                           "unchanged: "));
  }

  // Sent + reused + zero = total, and the report's bytes are the frames the link carried.
  void ExpectAccountingAddsUp() const {
    EXPECT_EQ(report_.pages_sent + report_.pages_reused + report_.pages_zero, kPages);
    uint64_t sent = 0, page_frames = 0, zero_frames = 0, page_bytes = 0;
    for (const Frame& f : dest_->link().sent()) {
      sent += kFrameHeaderSize + f.payload.size();
      if (f.type == FrameType::kPages || f.type == FrameType::kZeros) {
        Result<PagesFrame> p = ParsePages(f.payload, f.type == FrameType::kZeros, {kPages});
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        (f.type == FrameType::kPages ? page_frames : zero_frames) += p->count;
        page_bytes += p->data.size();
      }
    }
    EXPECT_EQ(report_.control_bytes_sent, sent);
    EXPECT_EQ(report_.control_bytes_received, dest_->link().bytes_received());
    EXPECT_EQ(report_.page_transfers, page_frames);
    EXPECT_EQ(report_.zero_transfers, zero_frames);
    EXPECT_EQ(report_.page_bytes, page_bytes);
    EXPECT_EQ(report_.wire_bytes, report_.control_bytes_sent + report_.control_bytes_received +
                                      (vm_->stream_opened ? FakeVm::kStreamWireBytes : 0));
  }

  mkd::testing::TempDirForTest tmp_;
  std::string dir_;
  qemuconfig::VmDefinition def_;
  SourceOptions o_;
  MigrationReport report_;
  std::function<void(const Progress&)> progress_;
  std::shared_ptr<FakeRam> ram_;
  std::unique_ptr<FakeDestination> dest_;
  std::shared_ptr<FakeMonitor> monitor_;
  std::shared_ptr<FakeVm> vm_;
  std::shared_ptr<FakeDomainMigration> libvirt_;  // set by UseLibvirt
  fakes::FakeClock clock_;  // moves only when a test says so
};

// ---- pre-copy that succeeds

TEST_F(SourceSessionTest, PrecopyMovesTheVmAndTheDestinationHoldsItsMemory) {
  o_.verify = true;
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_TRUE(dest_->committed);
  EXPECT_FALSE(dest_->aborted());
  EXPECT_EQ(ram_->advanced_to, kEpoch + 2);
  EXPECT_TRUE(monitor_->Did("migrate-continue"));
  EXPECT_FALSE(monitor_->Did("cont"));
  EXPECT_TRUE(vm_->stopped);         // retired: the VM runs at the destination
  EXPECT_EQ(report_.outcome, "ok");  // the report's default: Fail never ran
  EXPECT_EQ(monitor_->log.front(),
            "migrate-set-capabilities x-ignore-shared=on pause-before-switchover=on");
}

TEST_F(SourceSessionTest, AccountingAddsUpAfterAPrecopy) {
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_EQ(report_.pages_reused, 8u);
  EXPECT_EQ(report_.pages_zero, 12u);  // 8 never written, 4 zero pages
  EXPECT_EQ(report_.pages_sent, 44u);
  EXPECT_EQ(report_.page_transfers, 44u + 2 + 1);  // first pass, round 1, last pages
  EXPECT_EQ(report_.zero_transfers, 4u + 4);
  EXPECT_EQ(report_.qemu_stream_bytes, FakeVm::kStreamBytes);
  ExpectAccountingAddsUp();
}

TEST_F(SourceSessionTest, TheReportSaysWhichSideHeldTheLinkBack) {
  dest_->link().send_times = peer::TcpSendTimes{2.5, 0.75, 0.125};
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_TRUE(report_.pipe.link.has_value());
  const nlohmann::json j = ToJson(report_);
  EXPECT_EQ(j["pipe"]["link"]["busy"], 2.5);
  EXPECT_EQ(j["pipe"]["link"]["receiver_limited"], 0.75);
  EXPECT_EQ(j["pipe"]["link"]["sender_limited"], 0.125);
  EXPECT_NE(FormatReport(report_).find("held back 0.75 s by the destination's receive window"),
            std::string::npos)
      << FormatReport(report_);
}

TEST_F(SourceSessionTest, ALinkWithoutTcpTimesLeavesThemOutOfTheReport) {
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_FALSE(ToJson(report_)["pipe"].contains("link"));
  EXPECT_EQ(FormatReport(report_).find("receive window"), std::string::npos);
}

// ---- --verify's digests

TEST_F(SourceSessionTest, VerifyInThePauseReadsOnlyThePagesWrittenSinceTheDigests) {
  // Default script: the pause's sync has page 22 only. In the pause it is read twice: to send it
  // and to digest it; every other page's digest was taken while the VM still ran.
  o_.verify = true;
  uint64_t read_in_pause = 0;
  const std::thread::id session = std::this_thread::get_id();  // not the digest thread's reads
  ram_->on_read = [&](uint64_t, uint64_t count) {
    if (std::this_thread::get_id() == session && !monitor_->running) read_in_pause += count;
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(read_in_pause, 2u);
}

TEST_F(SourceSessionTest, VerifyTakesThePageStoresDigestsAndRereadsOnlyPagesWrittenBackSince) {
  // The page store's digests come from memfs (no page read for them); page 30's store copy is
  // older than the guest's (not written back when memfs digested it): its write-back comes in
  // the pause's sync, which marks it stale, and it is digested again from the mapping.
  o_.verify = true;
  ram_->store = ram_->content;
  Fill(&*ram_->store, 30, '\x01');
  ram_->syncs = {Pages(20, 2), Pages(30, 1)};
  std::map<uint64_t, int> reads;
  ram_->on_read = [&](uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p) ++reads[p];
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  for (uint64_t p = 8; p < 16; ++p) EXPECT_EQ(reads[p], 0) << "reusable page " << p;
  const std::vector<std::string> calls = ram_->calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "digests"), 1);
}

TEST_F(SourceSessionTest, VerifyFailsWhenThePageStoreHoldsAPageNoSyncReported) {
  // A write-back memfs lost (or a dirty log that missed a page): the page store's copy of
  // reusable page 9 differs from the guest's, and no sync delivers it. --verify must not pass.
  o_.verify = true;
  ram_->store = ram_->content;
  Fill(&*ram_->store, 9, '\x01');
  EXPECT_FALSE(Run().ok());
  EXPECT_FALSE(report_.verified);
  EXPECT_THAT(report_.outcome, HasSubstr("first: page 9"));
}

TEST_F(SourceSessionTest, APageWrittenAfterItsDigestWasTakenIsDigestedAgainInThePause) {
  // The guest rewrites page 22 after the digests were taken (the pause's sync reports it): the
  // destination gets the new content, and so must our digest, or --verify would fail the hop.
  o_.verify = true;
  ram_->on_sync = [this](int n) {
    if (n == 2) Fill(&ram_->content, 22, '\x5a');  // the pause's sync
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(dest_->memory, ram_->content);
}

// ---- the first pass starts on a take (docs/decisions.md "The first pass starts on a take")

TEST_F(SourceSessionTest, TheFirstPageLeavesWhileTheGuestsDirtyPagesAreStillWrittenBack) {
  // A busy guest's dirty pages take 0.5-0.75 s to write back (the lab): pages must not wait for
  // all of them. The dirty log starts with a take; the write-back goes range by range.
  o_.write_back_pages = 16;
  std::atomic<bool> read{false};
  bool read_before_write_back_ended = false;
  ram_->on_read = [&](uint64_t, uint64_t) { read = true; };
  ram_->on_write_back = [&](uint64_t first, uint64_t) {
    if (first != 48) return;  // the last range
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!read && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    read_before_write_back_ended = read;
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(read_before_write_back_ended);
  const std::vector<std::string> calls = ram_->calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0], "take");
  // Four ranges, each taken at once; no sync overlaps them (both take from one view).
  std::vector<std::string> stream;
  size_t first_sync = calls.size();
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i] == "sync" && first_sync == calls.size()) first_sync = i;
    if (calls[i].rfind("write-back", 0) == 0) {
      stream.push_back(calls[i]);
      EXPECT_LT(i, first_sync);
      ASSERT_LT(i + 1, calls.size());
      EXPECT_EQ(calls[i + 1], "take");
    }
  }
  EXPECT_THAT(stream, ::testing::ElementsAre("write-back 0+16", "write-back 16+16",
                                             "write-back 32+16", "write-back 48+16"));
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, PagesWrittenBackDuringTheFirstPassGoInItWithTheVmsEpoch) {
  // The write-back of ranges 0-15 and 16-31 delivers pages 10 and 25, and that of 48-63 pages
  // 50-59: the guest had rewritten them, the kernel had not written them back yet.
  // - Page 10 is reusable by the table (the destination held its old content): the first pass
  //   sends it now, in the VM's epoch (its table generation is the old content's).
  // - Page 25 was sent before its range was written back: it goes again.
  // - Pages 50-59 came before their frame: they go once.
  // (Pages 30 and 40-44 are reusable here, so that the first pass has three frames: 16-29,
  // 31-39, 45-63.)
  o_.write_back_pages = 16;
  for (uint64_t p : {30, 40, 41, 42, 43, 44}) {
    ram_->reusable.Set(p);
    Fill(&dest_->memory, p, static_cast<char>(p + 1));
  }
  ram_->takes = {PageBitmap(kPages), Pages(10, 1), Pages(25, 1), PageBitmap(kPages), Pages(50, 10)};
  std::map<uint64_t, int> reads;  // the session's thread only
  std::atomic<int> read_25{0};
  ram_->on_read = [&](uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p) ++reads[p];
    if (first <= 25 && 25 < first + count) ++read_25;
    if (first == 31) {
      // The second frame: once every range was written back and taken, so that the session
      // has them all before the third.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      auto takes = [&] {
        const std::vector<std::string> c = ram_->calls();
        return std::count(c.begin(), c.end(), "take");
      };
      while (takes() < 5 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  ram_->on_write_back = [&](uint64_t first, uint64_t) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    if (first == 0) Fill(&ram_->content, 10, '\x10');
    if (first == 16) {
      while (read_25 == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      Fill(&ram_->content, 25, '\x25');
    }
    if (first == 48) {
      for (uint64_t p = 50; p < 60; ++p) Fill(&ram_->content, p, '\x50');
    }
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_EQ(reads[10], 1);
  EXPECT_EQ(dest_->received_gen[10], kEpoch);
  EXPECT_EQ(reads[25], 2);
  EXPECT_EQ(dest_->received_gen[25], kEpoch);
  for (uint64_t p = 50; p < 60; ++p) EXPECT_EQ(reads[p], 1) << "page " << p;
  ASSERT_GE(report_.rounds.size(), 2u);
  EXPECT_EQ(report_.rounds[1].pages, 2u);  // round 1: its own sync's pages (20-21) only
}

// ---- when the rounds stop (stop_rule.h)

TEST_F(SourceSessionTest, ARoundWhosePauseWouldExceedTheBudgetIsNotTheLast) {
  // 400 pages/s. Round 1's 40 pages were written in the 1 s between the first two syncs and take
  // 0.1 s to send, within the 300 ms budget on their own. But its sync took 3 s, and the pause
  // would carry all that was written since it started: 40/s x 3.12 s = 125 pages, 0.34 s.
  o_.bandwidth = 400 * kPageSize;
  o_.downtime = std::chrono::milliseconds(300);
  ram_->syncs = {Pages(20, 40), Pages(60, 1)};
  ram_->on_take = [this](int n) { clock_.Advance(n == 2 ? 1.0 : 0.0); };  // the write-back's
  ram_->on_sync = [this](int n) { clock_.Advance(n == 1 ? 3.0 : 0.0); };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_EQ(report_.rounds.size(), 4u);  // first pass, round 1, round 2, the pause's pages
  EXPECT_NEAR(report_.rounds[1].forecast_downtime_ms, 340, 5);
  EXPECT_EQ(report_.rounds[2].pages, 1u);
  EXPECT_LT(report_.rounds[2].forecast_downtime_ms, 300);
  EXPECT_TRUE(report_.converged);
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, RoundOnesSyncStartsAShareOfTheFirstPassEarly) {
  // A 4 pages/s link (--bandwidth); the odd pages from 21 on are reusable, so the first pass
  // reads 26 pages, most in ranges of one, and each page read moves the fake clock a second on.
  // Round 1's sync writes back what the guest dirtied during the whole pass: no round's sync was
  // timed yet, so it starts once what is left would take at most 8 % of the time since the
  // pass's take: after 20 pages (20 s), with 6 left (1.5 s <= 1.6 s; after 19, 7 left: 1.75 s >
  // 1.52 s). The guess of a sync's time alone (0.05 s) would start it after the last page.
  o_.bandwidth = 4 * kPageSize;
  for (uint64_t p = 21; p < kPages; p += 2) {
    ram_->reusable.Set(p);
    Fill(&dest_->memory, p, static_cast<char>(p + 1));
  }
  ram_->syncs = {Pages(20, 1), Pages(22, 1)};
  // The write-back is one range (two takes); no sync starts while it runs.
  o_.write_back_pages = kPages;
  std::atomic<int> takes{0};
  ram_->on_take = [&](int n) { takes = n; };
  std::atomic<uint64_t> read{0};
  std::atomic<bool> synced{false};
  std::optional<uint64_t> read_at_sync;
  auto wait_for = [](const std::function<bool()>& done_waiting) {  // 2 s at most
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done_waiting() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  ram_->on_read = [&](uint64_t, uint64_t count) {
    // The first read waits for the write-back's take; from the 21st page on a read waits for
    // the sync the rule started on its thread, so that the count the sync sees is where it began.
    if (read == 0) wait_for([&] { return takes >= 2; });
    if (read >= 20) wait_for([&] { return synced.load(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the write-back's thread ends
    for (uint64_t i = 0; i < count; ++i) clock_.Advance(1.0);
    read += count;
  };
  ram_->on_sync = [&](int n) {
    if (n != 1) return;
    read_at_sync = read.load();
    synced = true;
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_TRUE(read_at_sync.has_value());
  EXPECT_EQ(*read_at_sync, 20u) << "round 1's sync started with 6 of the 26 pages left";
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, ARoundWhosePauseFitsTheBudgetIsTheLast) {
  o_.bandwidth = 400 * kPageSize;
  o_.downtime = std::chrono::milliseconds(300);
  ram_->syncs = {Pages(20, 40), Pages(60, 1)};
  ram_->on_take = [this](int n) { clock_.Advance(n == 2 ? 1.0 : 0.0); };  // the write-back's
  ram_->on_sync = [this](int) { clock_.Advance(0.1); };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_EQ(report_.rounds.size(), 3u);  // first pass, round 1, the pause's pages
  // 40/s x (0.1 + 0.1 + 0.02) s = 8.8 pages, but never fewer than the round's 40: 100 ms, + 30 ms
  // fixed + the (real) sync time.
  EXPECT_NEAR(report_.rounds[1].forecast_downtime_ms, 130, 5);
  EXPECT_EQ(report_.rounds[2].pages, 1u);  // round 2's set went in the pause
}

TEST_F(SourceSessionTest, ARoundWhoseRateDippedIsForecastAtTheRateOfTheRoundBefore) {
  // 40 pages/s link, 300 ms budget. Round 1: 40 pages written in 1 s. Round 2: one page in the
  // 0.1 s of round 1's sync (10/s), its own sync 0.5 s long. At its own rate the pause after
  // round 2 would carry 10/s x 0.545 s = 5.5 pages (166 ms); at round 1's rate 21.8 (575 ms):
  // round 3 goes too.
  o_.bandwidth = 40 * kPageSize;
  o_.downtime = std::chrono::milliseconds(300);
  ram_->syncs = {Pages(20, 40), Pages(60, 1), Pages(61, 1)};
  ram_->on_take = [this](int n) { clock_.Advance(n == 2 ? 1.0 : 0.0); };  // the write-back's
  ram_->on_sync = [this](int n) { clock_.Advance(n == 1 ? 0.1 : n == 2 ? 0.5 : 0.0); };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_EQ(report_.rounds.size(), 5u);  // first pass, rounds 1-3, the pause's pages
  EXPECT_NEAR(report_.rounds[2].cut_interval_seconds, 0.1, 0.01);
  EXPECT_NEAR(report_.rounds[2].forecast_pages, 40 * 0.545, 0.5);
  EXPECT_GT(report_.rounds[2].forecast_downtime_ms, 300);
  EXPECT_LT(report_.rounds[3].forecast_downtime_ms, 300);
  EXPECT_TRUE(report_.converged);
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, PagesWrittenInTwoRoundsInARowWaitForThePause) {
  // 400 pages/s, 300 ms budget: at most 60 pages (150 ms) are held. The guest writes 30-39 in
  // every round; the syncs of rounds 1 and 2 are slow (3 s, 30 s: forecasts of 307 and 200
  // pages), so the rounds go on until round 3.
  o_.bandwidth = 400 * kPageSize;
  o_.downtime = std::chrono::milliseconds(300);
  ram_->syncs = {Pages(20, 20), Pages(30, 20), Pages(30, 10), Pages(61, 1)};
  ram_->syncs[2].Set(60);
  ram_->on_take = [this](int n) { clock_.Advance(n == 2 ? 0.2 : 0.0); };  // the write-back's
  ram_->on_sync = [this](int n) {
    clock_.Advance(n == 1 ? 3.0 : n == 2 ? 30.0 : 0.0);
    // The guest rewrote a held page: only the pause can bring its last content.
    if (n == 3) Fill(&ram_->content, 35, 'Z');
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_EQ(report_.rounds.size(), 5u);  // first pass, rounds 1-3, the pause's pages
  EXPECT_EQ(report_.rounds[1].held_pages, 0u) << "round 1 has no round before it";
  EXPECT_EQ(report_.rounds[2].held_pages, 10u);
  EXPECT_EQ(report_.rounds[3].held_pages, 10u);
  // Round 3: its 11 pages and the 10 held ones in the pause: 21 pages at 400/s + 30 ms fixed.
  EXPECT_NEAR(report_.rounds[3].forecast_downtime_ms, 82.5, 5);
  EXPECT_EQ(report_.rounds[4].pages, 11u) << "the pause's page 61 and the 10 held";
  std::map<uint64_t, int> sent;
  for (const Frame& f : dest_->link().sent()) {
    if (f.type != FrameType::kPages) continue;
    Result<PagesFrame> p = ParsePages(f.payload, false, {kPages});
    ASSERT_TRUE(p.ok());
    for (uint64_t i = 0; i < p->count; ++i) ++sent[p->first + i];
  }
  EXPECT_EQ(sent[35], 3) << "the first pass, round 1 and the pause; not rounds 2 and 3";
  EXPECT_EQ(sent[45], 2) << "the first pass, round 2";
  EXPECT_EQ(sent[60], 2) << "the first pass, round 3";
  EXPECT_EQ(dest_->memory, ram_->content);
  ExpectAccountingAddsUp();
}

TEST_F(SourceSessionTest, PagesTheWriteBackAndRound1BothDeliveredWaitForThePause) {
  // The first pass's write-back delivers 30-39 (the guest wrote them as the hop began); round 1's
  // sync has them again, and 50. Round 1 sends 50 only; 30-39 go in the pause, where page 35
  // has the content the guest gave it after round 1 (the pause's own sync does not have it: only
  // holding it brings that content).
  ram_->takes = {PageBitmap(kPages), Pages(30, 10)};
  ram_->syncs = {Pages(30, 10), Pages(61, 1)};
  ram_->syncs[0].Set(50);
  ram_->on_sync = [this](int n) {
    if (n == 2) Fill(&ram_->content, 35, 'Z');
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_EQ(report_.rounds.size(), 3u);  // first pass, round 1, the pause's pages
  EXPECT_EQ(report_.rounds[1].held_pages, 10u);
  EXPECT_EQ(report_.rounds[2].pages, 11u) << "the pause's page 61 and the 10 held";
  EXPECT_EQ(dest_->memory, ram_->content);
  ExpectAccountingAddsUp();
}

// ---- docs/migrate.md, "When something fails"

TEST_F(SourceSessionTest, DestinationQemuKilledAfterTheFirstPassRefusesTheCommit) {
  dest_->refuse_commit = "no QEMU waits for the device state (it exited)";
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  ExpectAbortedBeforeTheCommit();
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  EXPECT_TRUE(vm_->stream_cancelled);
  EXPECT_THAT(report_.outcome, HasSubstr("no QEMU waits for the device state"));
}

TEST_F(SourceSessionTest, LinkDownDuringTheRoundsAborts) {
  dest_->down_at = FrameType::kPages;
  dest_->down_at_nth = 2;  // round 1's pages
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  ExpectAbortedBeforeTheCommit(/*link_up=*/false);
  EXPECT_FALSE(monitor_->Did("migrate"));  // QEMU's migration never started
  EXPECT_FALSE(monitor_->Did("migrate_cancel"));
}

TEST_F(SourceSessionTest, SilentDestinationAtPreSwitchoverResumesTheVmPausedMeanwhile) {
  o_.verify = true;
  dest_->silent_at = FrameType::kVerify;  // no digests within the timeout
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  ExpectAbortedBeforeTheCommit();
  EXPECT_FALSE(dest_->Saw(FrameType::kCommit));
}

TEST_F(SourceSessionTest, DestinationMemfsKilledAtPreSwitchoverAborts) {
  dest_->fail_after_pause = "writing pages: Transport endpoint is not connected";
  monitor_->on_command = [this](const std::string& c) {
    if (c.rfind("migrate unix:", 0) == 0) dest_->armed = true;
  };
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("Transport endpoint is not connected"));
  EXPECT_FALSE(dest_->committed);
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  ExpectAbortedBeforeTheCommit();
}

TEST_F(SourceSessionTest, DestinationCommitFailingAborts) {
  dest_->refuse_commit = "commit: setxattr user.mkd.commit: Input/output error";
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  ExpectAbortedBeforeTheCommit();
  // The epoch moved on before the COMMIT: the VM goes on here in e + 2, whatever the
  // destination did with e.
  EXPECT_EQ(ram_->advanced_to, kEpoch + 2);
}

TEST_F(SourceSessionTest, LinkDownDuringTheCommitResumesTheVmHereInTheAdvancedEpoch) {
  dest_->down_at = FrameType::kCommit;
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_EQ(ram_->advanced_to, kEpoch + 2);
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  ExpectAbortedBeforeTheCommit(/*link_up=*/false);
}

TEST_F(SourceSessionTest, AdvanceFailingAbortsBeforeTheCommit) {
  ram_->advance_error = Status::Io("setxattr user.mkd.advance: Input/output error");
  EXPECT_EQ(Run().code(), ErrorCode::kIo);
  EXPECT_FALSE(dest_->Saw(FrameType::kCommit));
  ExpectAbortedBeforeTheCommit();
}

TEST_F(SourceSessionTest, DestinationQemuKilledAfterTheCommitResumesTheVmHere) {
  // QEMU sent everything; the destination says its QEMU did not take over and is stopped.
  dest_->not_running = "its QEMU exited before it ran the VM; it is stopped";
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(monitor_->Did("cont"));
  EXPECT_TRUE(monitor_->running);
  EXPECT_FALSE(vm_->stopped);
  EXPECT_EQ(AfterCommit(), std::vector<FrameType>{FrameType::kWaitRunning});  // no ABORT
  EXPECT_THAT(report_.outcome,
              StartsWith("failed after the commit point (the VM resumed on src): "));
  EXPECT_EQ(ram_->advanced_to, kEpoch + 2);
}

TEST_F(SourceSessionTest, SwitchoverFailingAfterTheCommitLeavesTheVmResumedByQemu) {
  // The destination QEMU died mid-stream: QEMU's migration fails and QEMU resumes the VM itself.
  monitor_->continue_fails = true;
  vm_->stream_join = Status::Io("stream: connection reset");
  dest_->not_running = "its QEMU exited before it ran the VM; it is stopped";
  EXPECT_FALSE(Run().ok());
  EXPECT_TRUE(monitor_->running);
  EXPECT_FALSE(monitor_->Did("cont"));  // QEMU did it
  EXPECT_EQ(AfterCommit(), std::vector<FrameType>{FrameType::kWaitRunning});
  EXPECT_THAT(report_.outcome, HasSubstr("(the VM resumed on src)"));
}

// The commit-point rule: after the commit, without the destination's word that its QEMU is
// stopped, the VM is never resumed here (two copies could run).
TEST_F(SourceSessionTest, LinkDownAfterTheCommitLeavesTheVmPausedAndSaysSo) {
  dest_->down_at = FrameType::kWaitRunning;
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_FALSE(monitor_->Did("cont"));
  EXPECT_FALSE(monitor_->running);
  EXPECT_FALSE(vm_->stopped);
  EXPECT_FALSE(dest_->aborted());
  EXPECT_THAT(report_.outcome,
              HasSubstr("the source QEMU is postmigrate and dst did not confirm that the VM runs "
                        "there: check it; if it does not run the VM, `mkd-migrate recover "
                        "--force` resumes it here"));
}

TEST_F(SourceSessionTest, SilentDestinationAfterTheCommitLeavesTheVmPaused) {
  dest_->silent_at = FrameType::kWaitRunning;
  EXPECT_EQ(Run().code(), ErrorCode::kIo);
  EXPECT_FALSE(monitor_->Did("cont"));
  EXPECT_FALSE(monitor_->running);
  EXPECT_THAT(report_.outcome, StartsWith("failed after the commit point (the source QEMU is "));
}

TEST_F(SourceSessionTest, FailingSyncAbortsAndTheVmRunsHere) {
  ram_->sync_error = Status::FailedPrecondition(
      "dirty log: this consumer's view was replaced (too many consumers): pages may be missing");
  EXPECT_EQ(Run().code(), ErrorCode::kFailedPrecondition);
  ExpectAbortedBeforeTheCommit();
  EXPECT_FALSE(dest_->Saw(FrameType::kPages));
}

TEST_F(SourceSessionTest, VerifyMismatchAbortsAndTheVmStaysHere) {
  o_.verify = true;
  dest_->corrupt_page = 30;
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(s.message(), HasSubstr("1 pages differ between source and destination (first: "
                                     "page 30); the VM stays here"));
  EXPECT_FALSE(dest_->Saw(FrameType::kCommit));
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  ExpectAbortedBeforeTheCommit();
}

// ---- a libvirt domain: libvirt runs QEMU's migration, the device state waits in our tunnel

TEST_F(SourceSessionTest, ALibvirtDomainMovesWithItsDeviceStateHeldUntilTheCommit) {
  UseLibvirt();
  o_.verify = true;
  // When the destination commits, QEMU's device state must still be held here.
  bool released_before_commit = true;
  dest_->on_commit = [&] { released_before_commit = vm_->stream_released; };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_FALSE(released_before_commit);
  EXPECT_TRUE(vm_->stream_held);
  EXPECT_TRUE(vm_->stream_released);
  EXPECT_EQ(libvirt_->log, (std::vector<std::string>{"start unix:///run/miyakodori/vms/" +
                                                         def_.uuid.ToString() + "/migrate.sock",
                                                     "wait"}));
  EXPECT_FALSE(monitor_->Did("migrate unix:///run/miyakodori/vms/" + def_.uuid.ToString() +
                             "/migrate.sock"));
  EXPECT_FALSE(monitor_->Did("migrate-continue"));  // libvirt's to answer
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_TRUE(dest_->committed);
  EXPECT_EQ(ram_->advanced_to, kEpoch + 2);
  EXPECT_TRUE(vm_->stopped);
  EXPECT_EQ(report_.outcome, "ok");
}

TEST_F(SourceSessionTest, ALibvirtDomainThatArrivedByMigrationIsNotTakenForPausedTooEarly) {
  // Its QEMU still says "completed" for the migration it arrived by; libvirt's new one pauses the
  // VM only a few polls later. The last sync must come after that pause.
  UseLibvirt();
  o_.verify = true;
  monitor_->migration = "completed";
  libvirt_->queries_before_pause = 3;
  // The rounds write 20 pages a second (a sync every 0.1 s); libvirt takes so long to start the
  // destination's QEMU (1,000 s a poll) that the pause, should it come then, would carry 20,000
  // pages: a round goes while it starts (the set of sync 2, 22), and the pause carries what the
  // guest wrote since (sync 3, 30-34).
  // (virsh starts during the first pass, which is short: the slow start is made to show only
  // once round 1 is done, as a start that outlasts the rounds.)
  std::vector<bool> running_at_sync;
  libvirt_->while_starting = [&] {
    if (!running_at_sync.empty()) clock_.Advance(1000);
  };
  ram_->syncs.push_back(Pages(30, 5));
  ram_->on_take = [this](int n) { clock_.Advance(n == 2 ? 0.1 : 0.0); };  // the write-back's
  ram_->on_sync = [&](int) {
    clock_.Advance(0.1);
    running_at_sync.push_back(monitor_->running);
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_FALSE(running_at_sync.empty());
  EXPECT_FALSE(running_at_sync.back()) << "the last sync ran while the VM still ran";
  ASSERT_GE(report_.rounds.size(), 2u);
  EXPECT_EQ(report_.rounds[report_.rounds.size() - 2].pages, 1u);  // the round while waiting
  EXPECT_EQ(report_.rounds.back().pages, 5u);                      // the pause's
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, ALibvirtDomainsVirshStartsWithAFirstPassShorterThanTheLead) {
  // libvirt needs about a second to start the destination's QEMU: it does so while the pages go.
  UseLibvirt();
  std::optional<size_t> pages_frames_at_start;
  libvirt_->on_start = [&] { pages_frames_at_start = dest_->Count(FrameType::kPages); };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_TRUE(pages_frames_at_start.has_value());
  EXPECT_EQ(*pages_frames_at_start, 0u)
      << "the first pass (44 pages at 100 MB/s) is within the lead: virsh starts before them";
  EXPECT_EQ(libvirt_->log.size(), 2u);  // start, wait: once
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_EQ(report_.outcome, "ok");
}

TEST_F(SourceSessionTest, ALibvirtDomainsVirshWaitsUntilWhatIsLeftTakesLessThanTheLead) {
  // At 100 KB/s the first pass's 44-page run takes 1.8 s, more than the lead: virsh starts
  // only once it went (libvirt would otherwise pause the VM with pages of it still to send).
  UseLibvirt();
  o_.bandwidth = 100000;
  std::optional<size_t> received_at_start;
  size_t rounds_at_start = 99;
  libvirt_->on_start = [&] {
    received_at_start = dest_->received_gen.size();
    rounds_at_start = report_.rounds.size();
  };
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  ASSERT_TRUE(received_at_start.has_value());
  EXPECT_GE(*received_at_start, 44u) << "virsh started with the long run still to send";
  // Round 1's sync may already run (it overlaps the first pass's end); its round must not be done.
  EXPECT_EQ(rounds_at_start, 1u) << "and then at once, before round 1 (rounds[0]: the first pass)";
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, ALibvirtRefusalFailsAtOnceWithItsMessageAndTheVmStaysHere) {
  UseLibvirt();
  o_.timeout = std::chrono::seconds(20);  // must not be waited for
  libvirt_->ends_early = Status::FailedPrecondition(
      "libvirt's migration of domain vm1 failed: Hook script execution failed");
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = Run();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_THAT(s.message(), HasSubstr("Hook script execution failed"));
  EXPECT_FALSE(dest_->Saw(FrameType::kCommit));
  EXPECT_FALSE(vm_->stream_released);
  EXPECT_TRUE(vm_->stream_cancelled);
  ExpectAbortedBeforeTheCommit();
}

TEST_F(SourceSessionTest, ALibvirtDomainWhoseVerifyFailsIsAbortedAndItsStateNeverLeaves) {
  UseLibvirt();
  o_.verify = true;
  dest_->corrupt_page = 30;
  EXPECT_EQ(Run().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(dest_->Saw(FrameType::kCommit));
  EXPECT_FALSE(vm_->stream_released);
  EXPECT_EQ(libvirt_->log.back(), "abort");
  EXPECT_FALSE(monitor_->Did("migrate_cancel"));
  ExpectAbortedBeforeTheCommit();
}

TEST_F(SourceSessionTest, ALibvirtDomainTheDestinationDidNotTakeOverResumesHere) {
  UseLibvirt();
  libvirt_->outcome = Status::FailedPrecondition("libvirt's migration failed: domain quit");
  dest_->not_running = "its QEMU exited before it ran the VM; it is stopped";
  EXPECT_EQ(Run().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(vm_->stream_released);  // after the commit
  EXPECT_TRUE(monitor_->running);
  EXPECT_FALSE(vm_->stopped);
  EXPECT_EQ(AfterCommit(), std::vector<FrameType>{FrameType::kWaitRunning});
  EXPECT_THAT(report_.outcome, HasSubstr("(the VM resumed on src)"));
}

TEST_F(SourceSessionTest, DestinationUnreachableLeavesQemuAsFound) {
  SourcePorts ports{[]() -> Result<std::shared_ptr<PeerLink>> {
                      return Status::Io("dst:7420: Connection refused");
                    },
                    ram_,
                    monitor_,
                    vm_,
                    nullptr,
                    nullptr};
  EXPECT_EQ(internal::RunSourceWith(o_, def_, std::move(ports), &report_, progress_).code(),
            ErrorCode::kIo);
  ExpectAbortedBeforeTheCommit(/*link_up=*/false);
}

TEST_F(SourceSessionTest, RamFileNotLiveLeavesQemuAlone) {
  ram_->summary.state = "stored";
  monitor_->run_status = "paused";  // e.g. an operator paused it: not ours to resume
  monitor_->running = false;
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("is stored, not live"));
  EXPECT_TRUE(monitor_->log.empty());
  EXPECT_FALSE(monitor_->running);
  EXPECT_FALSE(dest_->Saw(FrameType::kHello));
}

TEST_F(SourceSessionTest, OpeningFailedLeavesEverythingAlone) {
  EXPECT_EQ(internal::RunSourceWith(o_, def_, Status::FailedPrecondition("VM vm1 is not running"),
                                    &report_, progress_)
                .code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_THAT(report_.outcome, HasSubstr("VM vm1 is not running"));
  EXPECT_EQ(report_.from_host, "src");
}

// ---- reuse by content

TEST_F(SourceSessionTest, PagesTheDestinationHoldsElsewhereAreTakenByContentAndVerify) {
  o_.content_reuse = true;
  o_.verify = true;
  // Pages 30 and 31 of the VM hold what the destination's pages 9 and 10 hold (their base:
  // another page index), page 40 what its page 50 holds ('\x77', not ours).
  Fill(&ram_->content, 30, 10);
  Fill(&ram_->content, 31, 11);
  Fill(&ram_->content, 40, '\x77');
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_EQ(report_.pages_content, 3u);
  EXPECT_EQ(report_.content.taken, 3u);
  EXPECT_EQ(report_.content.offered, 44u) << "pages 20-63: what the first pass would send";
  EXPECT_EQ(report_.content.needed, 41u);
  EXPECT_EQ(report_.content.offer_bytes, report_.content.offers * 8 + 44 * kOfferEntrySize);
  EXPECT_EQ(report_.pages_sent + report_.pages_reused + report_.pages_content + report_.pages_zero,
            kPages);
  // Page 22 went again in round 1 (its sync), with content: taken pages have the first pass's
  // generation, the rest too.
  EXPECT_EQ(dest_->received_gen.at(30), kEpoch);
  EXPECT_GT(dest_->Count(FrameType::kOffer), 0u);
  EXPECT_TRUE(dest_->committed);
}

TEST_F(SourceSessionTest, ScatteredPagesAreGatheredIntoOneOffer) {
  o_.content_reuse = true;
  // Every other page of 20-63 is reusable: the first pass's pages are 22 ranges of one page,
  // as a guest's scattered writes make them.
  std::vector<Generation> ours(ram_->table.generations().begin(),
                               ram_->table.generations().end());
  std::vector<Generation> theirs(dest_->table.generations().begin(),
                                 dest_->table.generations().end());
  for (uint64_t p = 21; p < kPages; p += 2) {
    ours[p] = theirs[p] = 3;
    ram_->reusable.Set(p);
    Fill(&dest_->memory, p, static_cast<char>(p + 1));
  }
  ram_->table = GenerationTable::FromGenerations(ours);
  dest_->table = GenerationTable::FromGenerations(theirs);
  Fill(&ram_->content, 40, '\x77');  // one the destination holds elsewhere
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_EQ(report_.content.offered, 22u);
  EXPECT_EQ(report_.content.offers, 1u);
  EXPECT_EQ(dest_->Count(FrameType::kOffer), 1u);
  EXPECT_EQ(report_.content.taken, 1u);
  EXPECT_EQ(report_.content.offer_bytes, 8 + 22 * kOfferEntrySize);
}

TEST_F(SourceSessionTest, WithoutContentReuseNothingIsOffered) {
  o_.content_reuse = true;
  o_.reuse = false;  // --no-reuse turns reuse by content off too
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_FALSE(dest_->Saw(FrameType::kOffer));
  EXPECT_FALSE(report_.content.enabled);
  EXPECT_EQ(dest_->memory, ram_->content);
}

TEST_F(SourceSessionTest, ANeedForAPageNotOfferedFailsTheMigrationBeforeTheCommit) {
  o_.content_reuse = true;
  dest_->need_extra = 3;  // never offered (a page never written)
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(report_.outcome, HasSubstr("asked for page 3"));
  EXPECT_FALSE(dest_->committed);
  ExpectAbortedBeforeTheCommit();
}

TEST_F(SourceSessionTest, ThrottleIsLiftedWhenTheMigrationFails) {
  // Every round the guest dirties 40 pages: the rounds never fit the budget, the throttle rises
  // after two hot rounds and again after the third; the link goes down in round 3.
  o_.downtime = std::chrono::milliseconds(0);
  ram_->syncs = {Pages(24, 40), Pages(24, 40), Pages(24, 40)};
  dest_->down_at = FrameType::kPages;
  dest_->down_at_nth = 4;
  EXPECT_EQ(Run().code(), ErrorCode::kIo);
  EXPECT_EQ(vm_->throttle_percents, (std::vector<uint32_t>{20, 60}));
  EXPECT_TRUE(vm_->throttle_restored);
  EXPECT_EQ(report_.throttle.max_percent, 60u);
  ExpectAbortedBeforeTheCommit(/*link_up=*/false);
}

// ---- mkd-migrate killed: what `recover` does with QEMU as it was left

TEST_F(SourceSessionTest, RecoverAfterAKillDuringTheCommitCancelsAndTheVmRuns) {
  monitor_->migration = "pre-switchover";
  monitor_->run_status = "finish-migrate";
  monitor_->running = false;
  std::string what;
  ASSERT_TRUE(internal::RecoverWithMonitor(*monitor_, o_.timeout, false, "", &what).ok());
  EXPECT_TRUE(monitor_->Did("migrate_cancel"));
  EXPECT_TRUE(monitor_->running);
  EXPECT_THAT(what, StartsWith("cancelled QEMU's migration"));
}

TEST_F(SourceSessionTest, RecoverResumesAPausedVmQemuLeftStopped) {
  monitor_->migration = "cancelled";
  monitor_->run_status = "paused";
  monitor_->running = false;
  std::string what;
  ASSERT_TRUE(internal::RecoverWithMonitor(*monitor_, o_.timeout, false, "released", &what).ok());
  EXPECT_TRUE(monitor_->Did("cont"));
  EXPECT_TRUE(monitor_->running);
  EXPECT_EQ(what, "released; resumed the VM (it was paused)");
}

TEST_F(SourceSessionTest, RecoverAfterAKillAfterACompletedSwitchoverTouchesNothingWithoutForce) {
  monitor_->migration = "completed";
  monitor_->run_status = "postmigrate";
  monitor_->running = false;
  std::string what;
  ASSERT_TRUE(internal::RecoverWithMonitor(*monitor_, o_.timeout, false, "", &what).ok());
  EXPECT_TRUE(monitor_->log.empty());
  EXPECT_FALSE(monitor_->running);
  EXPECT_THAT(what, HasSubstr("the VM should run at the destination"));

  ASSERT_TRUE(internal::RecoverWithMonitor(*monitor_, o_.timeout, true, "", &what).ok());
  EXPECT_TRUE(monitor_->Did("cont"));
  EXPECT_TRUE(monitor_->running);
  EXPECT_EQ(what, "resumed the VM (it was postmigrate)");
}

TEST_F(SourceSessionTest, RecoverWhenNoMigrationRanLeavesTheVmAlone) {
  std::string what;
  ASSERT_TRUE(internal::RecoverWithMonitor(*monitor_, o_.timeout, false, "", &what).ok());
  EXPECT_TRUE(monitor_->log.empty());
  EXPECT_EQ(what, "the VM runs here");
}

// ---- post-copy (docs/postcopy.md)

class PostcopySessionTest : public SourceSessionTest {
 protected:
  void SetUp() override {
    SourceSessionTest::SetUp();
    o_.postcopy = true;
    dest_->postcopy = true;
    ram_->syncs = {Pages(22, 2)};  // the pause's
  }
};

TEST_F(PostcopySessionTest, PostcopyMovesTheVmAndEveryPageArrives) {
  bool marker_at_continue = false;
  monitor_->on_command = [&](const std::string& c) {
    if (c == "migrate-continue") marker_at_continue = std::filesystem::exists(Marker());
  };
  o_.verify = true;
  dest_->write_during_postcopy = 40;  // the VM wrote it there: skipped by --verify
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(marker_at_continue);  // `recover` must never resume this copy from then on
  EXPECT_FALSE(std::filesystem::exists(Marker()));
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(report_.verify_skipped, 1u);
  Fill(&ram_->content, 40, '\x5a');
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_TRUE(vm_->stopped);
  EXPECT_EQ(report_.postcopy_missing, 44u + 4);  // sent pages and zero pages; 22-23 among them
  uint64_t later = 0;
  for (const GenRun& r : dest_->later) later += r.count;
  EXPECT_EQ(later, report_.postcopy_missing);
}

TEST_F(PostcopySessionTest, PagesTheDestinationHoldsElsewhereAreTakenByContentBeforeThePause) {
  o_.content_reuse = true;
  o_.verify = true;
  // As in the pre-copy case: pages 30, 31 and 40 hold what the destination holds elsewhere.
  // Page 31 is written again after its offer (the pause's sync): missing again, pushed.
  Fill(&ram_->content, 30, 10);
  Fill(&ram_->content, 31, 11);
  Fill(&ram_->content, 40, '\x77');
  PageBitmap pause = Pages(22, 2);
  pause.Set(31);
  ram_->syncs = {pause};
  ram_->on_sync = [&](int) { Fill(&ram_->content, 31, '\x31'); };  // the pause's sync
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_TRUE(report_.verified);
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_EQ(report_.content.offered, 44u) << "pages 20-63: the missing pages with content";
  EXPECT_EQ(report_.content.taken, 3u);
  EXPECT_EQ(report_.pages_content, 2u) << "30 and 40; 31 was written again and pushed";
  // Offered before the pause, nothing sent but ZEROS: the zero pages (4) and the taken ones
  // are not missing; the rest and 22-23 (already among them) and 31 are.
  EXPECT_EQ(report_.postcopy_missing, 44u - 3 + 1);
  uint64_t later = 0;
  for (const GenRun& r : dest_->later) later += r.count;
  EXPECT_EQ(later, report_.postcopy_missing);
  EXPECT_EQ(report_.pages_sent + report_.pages_reused + report_.pages_content + report_.pages_zero,
            kPages);
}

TEST_F(PostcopySessionTest, AccountingAddsUpAfterAPostcopy) {
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_EQ(report_.pages_reused, 8u);
  ExpectAccountingAddsUp();
}

TEST_F(PostcopySessionTest, FailureBeforeTheCommitIsHandledAsInPrecopy) {
  dest_->refuse_commit = "commit: setxattr user.mkd.commit: Input/output error";
  EXPECT_EQ(Run().code(), ErrorCode::kFailedPrecondition);
  ExpectAbortedBeforeTheCommit();
  EXPECT_FALSE(std::filesystem::exists(Marker()));
}

TEST_F(PostcopySessionTest, DestinationQemuNotTakingOverResumesTheVmHere) {
  dest_->postcopy_not_running = "its QEMU did not take over; it is stopped";
  EXPECT_EQ(Run().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(monitor_->Did("cont"));
  EXPECT_TRUE(monitor_->running);
  EXPECT_FALSE(vm_->stopped);
  EXPECT_FALSE(std::filesystem::exists(Marker()));  // it never ran there: this copy is the VM
  EXPECT_FALSE(dest_->aborted());
  EXPECT_THAT(report_.outcome, StartsWith("failed after the commit point (the VM resumed on src)"));
}

TEST_F(PostcopySessionTest, LinkDownAfterTheVmRanThereStopsTheSourceQemu) {
  dest_->down_at = FrameType::kPages;  // the first pushed pages
  EXPECT_EQ(Run().code(), ErrorCode::kIo);
  EXPECT_TRUE(vm_->stopped);
  EXPECT_FALSE(monitor_->Did("cont"));
  EXPECT_FALSE(dest_->aborted());
  EXPECT_FALSE(std::filesystem::exists(Marker()));
  EXPECT_THAT(report_.outcome,
              StartsWith("post-copy failed after the VM started on dst (it lacked 48 pages at the "
                         "switchover, not all arrived): the VM is lost"));
}

TEST_F(PostcopySessionTest, SilentDestinationAfterTheLastPageStopsTheSourceQemu) {
  dest_->silent_at = FrameType::kPostcopyEnd;  // serve died: no POSTCOPY_DONE
  EXPECT_EQ(Run().code(), ErrorCode::kIo);
  EXPECT_TRUE(vm_->stopped);
  EXPECT_FALSE(monitor_->Did("cont"));
  EXPECT_THAT(report_.outcome, HasSubstr("the VM is lost"));
}

TEST_F(PostcopySessionTest, VerifyMismatchAfterTheVmRanThereFailsLoudlyAndStopsTheSourceQemu) {
  o_.verify = true;
  dest_->corrupt_page = 30;
  const Status s = Run();
  EXPECT_EQ(s.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(s.message(), HasSubstr("1 pages differ"));
  EXPECT_TRUE(vm_->stopped);
  EXPECT_FALSE(monitor_->Did("cont"));
  // Every page arrived: the VM runs on at the destination, which the outcome says (not "lost").
  EXPECT_THAT(report_.outcome, StartsWith("post-copy: every page arrived on dst and the VM runs "
                                          "there, but then: "));
}

TEST_F(PostcopySessionTest, RecoverRefusesAVmMovedByPostcopyEvenWithForce) {
  const std::string definition = dir_ + "/vm.json";
  std::ofstream(definition) << R"({"uuid": ")" << def_.uuid.ToString() << R"(", "name": "vm1",
      "memory_mib": 64, "vcpus": 1, "boot": {"kernel": "/guest/vmlinuz"},
      "memory_backing": {"type": "memfs", "dir": "/run/miyakodori/mem"}})";
  std::ofstream(Marker()) << "switched over\n";
  std::string what;
  for (bool force : {false, true}) {
    const Status s = Recover(definition, o_.timeout, force, &what, dir_);
    EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("never resumed, not even with --force"));
  }
}

TEST_F(SourceSessionTest, CompressedFramesCarryTheSamePagesAndAreCounted) {
  // The fake's pages are runs of one byte: zstd shrinks them to a few bytes.
  o_.compress = CompressMode::kAlways;
  ASSERT_TRUE(Run().ok()) << report_.outcome;
  EXPECT_EQ(dest_->memory, ram_->content);
  EXPECT_TRUE(dest_->Saw(FrameType::kPagesZ));
  EXPECT_FALSE(dest_->Saw(FrameType::kPages)) << "every frame of pages shrank";
  EXPECT_EQ(report_.compression.mode, "always");
  EXPECT_EQ(report_.compression.frames_compressed, report_.compression.frames_tried);
  EXPECT_EQ(report_.compression.raw_bytes, report_.page_bytes);
  EXPECT_LT(report_.compression.compressed_bytes * 20, report_.compression.raw_bytes);
}

}  // namespace
}  // namespace mkd::migrate
