// Tests of the destination's state machine (incoming.h) against fakes (incoming_fakes.h): every
// destination-visible row of docs/migrate.md "When something fails" and the refusals serve makes
// for a VM, each asserting the memfs calls made (abort or commit), QEMU's fate and the RESULT
// frames the source got. Each runs in milliseconds (timeouts of 100 ms at most).
#include "migrate-tool/incoming.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "genstore/digests.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/incoming_fakes.h"

namespace mkd::migrate {
namespace {

using namespace std::chrono_literals;
using testing::FakeHost;
using testing::FakeLink;
using testing::PagesPayload;
using testing::ZerosPayload;
using Phase = Incoming::Phase;

constexpr auto kTimeout = 100ms;

class IncomingTest : public ::testing::Test {
 protected:
  IncomingTest() {
    host_.memfs.summary.pages = kPages;
    hello_.vm = host_.definition->uuid;
    hello_.epoch = 4;
    hello_.lineage = *Uuid::Parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    hello_.blocks = {{"ram", kPages}};
    hello_.source_host = "host-a";
  }

  // Runs one session to its end; returns the phase it ended in. QEMU starts inline (READY right
  // after TABLE) unless a test asks for serve's background start.
  Phase Run(Incoming::QemuStartMode mode = Incoming::QemuStartMode::kInline) {
    Incoming in(link_, host_, arrivals_, kTimeout, mode);
    in.Run(hello_);
    return in.phase();
  }
  // The pre-copy up to the commit: pages of the first pass and a zero run.
  void PushPasses() {
    link_.Push(FrameType::kPages, PagesPayload(0, 3));
    link_.Push(FrameType::kZeros, ZerosPayload(3, 10));
    link_.Push(FrameType::kPages, PagesPayload(100, 1, 2));
  }
  std::string LastResult() {
    std::vector<ResultMsg> r = link_.results();
    return r.empty() ? "(no RESULT)" : (r.back().ok ? "ok: " : "error: ") + r.back().message;
  }
  bool Aborted() { return host_.memfs.Called("abort"); }
  bool Committed() { return host_.memfs.Called("commit"); }
  bool QemuAlive() {
    std::lock_guard lock(host_.qemu.mu);
    return host_.qemu.alive;
  }
  int QemuStops() {
    std::lock_guard lock(host_.qemu.mu);
    return host_.qemu.stops;
  }
  // Nothing happened on this host: no arrival, no QEMU, the VM free to arrive again.
  void ExpectUntouched() {
    EXPECT_TRUE(host_.memfs.calls.empty()) << host_.memfs.calls.front();
    EXPECT_EQ(host_.qemu.starts, 0);
    EXPECT_TRUE(arrivals_.Add(hello_.vm, "/x", "host-a")) << "still registered";
  }

  static constexpr uint64_t kPages = 1024;  // TestVm(): 4 MiB
  FakeHost host_;
  FakeLink link_{"host-a"};
  Arrivals arrivals_;
  Hello hello_;
};

TEST_F(IncomingTest, APreCopyCommitsAndReportsTheVmRunning) {
  host_.qemu.statuses = {"inmigrate", "inmigrate", "running"};
  PushPasses();
  link_.Push(FrameType::kVerify);
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kWaitRunning);
  EXPECT_EQ(Run(), Phase::kRunning);
  EXPECT_EQ(link_.sent_types(),
            (std::vector<FrameType>{FrameType::kTable, FrameType::kReady, FrameType::kDigests,
                                    FrameType::kResult, FrameType::kResult}));
  std::vector<ResultMsg> r = link_.results();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_EQ(r[0].message, "committed");
  ASSERT_TRUE(r[0].receive.has_value());
  EXPECT_EQ(r[0].receive->frames, 3u);
  EXPECT_EQ(r[0].receive->writes, 3u) << "two batches (flushed by ZEROS and VERIFY), one ZEROS";
  EXPECT_EQ(r[1].message, "running");
  // The arrival in epoch e + 1, every page written before the commit, never aborted.
  EXPECT_EQ(host_.memfs.calls,
            (std::vector<std::string>{"arrive 5", "prepare", "open", "runs", "zeros", "runs",
                                      "digests", "fsync", "commit"}));
  EXPECT_EQ(host_.memfs.pages_received, 14u);
  EXPECT_EQ(host_.qemu.listen_socket, "/fake/run/" + hello_.vm.ToString() + "/incoming.sock");
  EXPECT_TRUE(QemuAlive());
  EXPECT_EQ(QemuStops(), 0);
  EXPECT_TRUE(arrivals_.Add(hello_.vm, "/x", "host-a")) << "the session ended: unregistered";
}

// Reuse by content: an OFFER's pages this host holds (same XXH3-64 and SHA-256) are written from
// here, the rest asked for with one NEED; the pages taken go into memfs with the offer's
// generation, in order with the pages around them.
TEST_F(IncomingTest, AnOfferTakesThePagesThisHostHoldsAndAsksForTheRest) {
  const std::string a(kPageSize, 'a'), b(kPageSize, 'b');
  host_.content_pages[PageSha256(a.data())] = a;
  host_.qemu.statuses = {"inmigrate", "inmigrate", "running"};
  std::vector<OfferEntry> entries = {
      {.page = 5, .gen = 3, .digest = PageDigest(a.data()), .sha256 = PageSha256(a.data())},
      {.page = 6, .gen = 3, .digest = PageDigest(b.data()), .sha256 = PageSha256(b.data())},
      // The XXH3-64 of `a` with another content's SHA-256: a collision is not taken.
      {.page = 7, .gen = 3, .digest = PageDigest(a.data()), .sha256 = PageSha256(b.data())},
      {.page = 9, .gen = 4, .digest = PageDigest(a.data()), .sha256 = PageSha256(a.data())}};
  link_.Push(FrameType::kOffer, EncodeOffer(0, entries));
  link_.Push(FrameType::kPages, PagesPayload(6, 2));
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kWaitRunning);
  EXPECT_EQ(Run(), Phase::kRunning);
  std::vector<Frame> sent = link_.sent();
  auto need = std::find_if(sent.begin(), sent.end(),
                           [](const Frame& f) { return f.type == FrameType::kNeed; });
  ASSERT_NE(need, sent.end());
  Result<NeedFrame> parsed = ParseNeed(need->payload, {kPages});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->offered, 4u);
  EXPECT_EQ(parsed->pages, (std::vector<uint64_t>{6, 7}));
  EXPECT_EQ(host_.content_opened, 1);
  EXPECT_EQ(host_.content_prefetched, 1) << "started as the arrival was prepared";
  EXPECT_TRUE(Committed());
  std::lock_guard lock(host_.memfs.mu);
  ASSERT_EQ(host_.memfs.received.count(5), 1u);
  EXPECT_EQ(host_.memfs.received[5], std::make_pair(Generation{3}, a));
  EXPECT_EQ(host_.memfs.received[9], std::make_pair(Generation{4}, a));
  EXPECT_EQ(host_.memfs.pages_received, 4u) << "5 and 9 by content, 6 and 7 as pages";
}

TEST_F(IncomingTest, AnOfferOutsideTheVmIsRefusedAndTheArrivalAborted) {
  const std::string a(kPageSize, 'a');
  link_.Push(FrameType::kOffer, EncodeOffer(0, {{.page = kPages,
                                                 .gen = 3,
                                                 .digest = PageDigest(a.data()),
                                                 .sha256 = PageSha256(a.data())}}));
  Run();
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(Committed());
}

TEST_F(IncomingTest, ASourceThatOffersNothingCostsNoIndexAndAnOfferFromItIsRefused) {
  hello_.offers = false;
  const std::string a(kPageSize, 'a');
  link_.Push(
      FrameType::kOffer,
      EncodeOffer(
          0,
          {{.page = 1, .gen = 3, .digest = PageDigest(a.data()), .sha256 = PageSha256(a.data())}}));
  Run();
  EXPECT_EQ(host_.content_opened, 0);
  EXPECT_TRUE(Aborted());
  EXPECT_NE(LastResult().find("offers none"), std::string::npos) << LastResult();
}

// --- Refusals before anything happens on this host (docs/migrate.md, docs/security.md) ---

TEST_F(IncomingTest, RefusesAVmThisHostHasNoDefinitionFor) {
  host_.definition.reset();
  EXPECT_EQ(Run(), Phase::kHello);
  EXPECT_NE(LastResult().find("has no definition of VM " + hello_.vm.ToString()), std::string::npos)
      << LastResult();
  ExpectUntouched();
}

TEST_F(IncomingTest, RefusesWhenTheSourcesRamSizeDiffersFromTheDefinition) {
  hello_.blocks[0].pages = kPages * 2;
  EXPECT_EQ(Run(), Phase::kHello);
  EXPECT_NE(LastResult().find("(2048 pages) does not match this host's definition (1024"),
            std::string::npos)
      << LastResult();
  ExpectUntouched();
}

TEST_F(IncomingTest, RefusesADefinitionOfAnotherVmOrNotOnMemfs) {
  host_.definition->uuid = Uuid::Random();
  Run();
  EXPECT_NE(LastResult().find("defines another VM"), std::string::npos) << LastResult();
  host_.definition = testing::TestVm();
  host_.definition->backing = qemuconfig::MemoryBacking::kTmpfs;
  Run();
  EXPECT_NE(LastResult().find("not on mkd-memfs"), std::string::npos) << LastResult();
  ExpectUntouched();
}

TEST_F(IncomingTest, RefusesAVmThatRunsHereAlready) {
  host_.qemu.running_before = true;
  EXPECT_EQ(Run(), Phase::kHello);
  EXPECT_NE(LastResult().find("already runs on this host"), std::string::npos) << LastResult();
  ExpectUntouched();
}

TEST_F(IncomingTest, RefusesASecondArrivalOfTheSameVmAndLeavesTheFirstRegistered) {
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/first", "host-b"));
  EXPECT_EQ(Run(), Phase::kHello);
  EXPECT_NE(LastResult().find("is already arriving here"), std::string::npos) << LastResult();
  EXPECT_TRUE(host_.memfs.calls.empty());
  EXPECT_FALSE(arrivals_.Add(hello_.vm, "/x", "host-a")) << "the first arrival lost its entry";
}

// --- Failures while preparing: undo exactly what was done ---

TEST_F(IncomingTest, AnArrivalMemfsRefusesLeavesNothingToUndo) {
  host_.memfs.errors["arrive 5"] = Status::FailedPrecondition("setxattr user.mkd.arrive: EBUSY");
  EXPECT_EQ(Run(), Phase::kRegistered);
  EXPECT_NE(LastResult().find("EBUSY"), std::string::npos) << LastResult();
  EXPECT_FALSE(Aborted());
  EXPECT_EQ(host_.qemu.starts, 0);
}

TEST_F(IncomingTest, AQemuThatDoesNotStartAbortsTheArrival) {
  host_.qemu.start_error = Status::Io("qemu-system-x86_64: not found");
  EXPECT_EQ(Run(), Phase::kArrived);
  EXPECT_NE(LastResult().find("starting the destination QEMU"), std::string::npos) << LastResult();
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(QemuStops(), 0) << "nothing to stop";
}

TEST_F(IncomingTest, ARamFileThatIsNotIncomingAbortsBeforeQemuStarts) {
  host_.memfs.summary.state = "live";
  EXPECT_EQ(Run(), Phase::kArrived);
  EXPECT_NE(LastResult().find("is live with 1024 pages, not incoming"), std::string::npos)
      << LastResult();
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(host_.qemu.starts, 0);
  EXPECT_EQ(link_.sent_types(), std::vector<FrameType>{FrameType::kResult}) << "no TABLE";
}

TEST_F(IncomingTest, ARamFileThatCannotBePreparedAbortsBeforeQemuStarts) {
  host_.memfs.errors["prepare"] = Status::FailedPrecondition("ram is 4096 bytes, the VM's 4194304");
  EXPECT_EQ(Run(), Phase::kArrived);
  EXPECT_NE(LastResult().find("the VM's 4194304"), std::string::npos) << LastResult();
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(host_.qemu.starts, 0);
}

// --- serve's background start: pages arrive while QEMU starts ---

// A gate the fake QEMU's start waits at (on the starting thread) until the script opens it.
struct StartGate {
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

TEST_F(IncomingTest, PagesArriveWhileQemuStartsAndReadyFollowsOnceItWaits) {
  StartGate gate;
  uint64_t received_when_started = 0;
  host_.qemu.on_start = [&] {
    gate.opened.wait();
    // The last pages may still be on the writer thread: they must get written while QEMU is
    // still starting (this start is held until they are, or 5 s passed).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lock(host_.memfs.mu);
        received_when_started = host_.memfs.pages_received;
      }
      if (received_when_started >= 14) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  host_.qemu.statuses = {"inmigrate", "inmigrate", "running"};
  PushPasses();
  link_.Do([&] { gate.open.set_value(); });
  link_.Push(FrameType::kVerify);
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kWaitRunning);
  EXPECT_EQ(Run(Incoming::QemuStartMode::kBackground), Phase::kRunning);
  EXPECT_EQ(received_when_started, 14u) << "every page was written before QEMU started";
  const std::vector<FrameType> sent = link_.sent_types();
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[0], FrameType::kTable);
  EXPECT_EQ(std::count(sent.begin(), sent.end(), FrameType::kReady), 1);
  EXPECT_EQ(LastResult(), "ok: running");
  EXPECT_EQ(host_.qemu.listen_socket, "/fake/run/" + hello_.vm.ToString() + "/incoming.sock");
}

TEST_F(IncomingTest, AQemuFailingToStartWhilePagesArriveAbortsWithoutStoppingAnything) {
  StartGate gate;
  host_.qemu.on_start = [&] { gate.opened.wait(); };
  host_.qemu.start_error = Status::Io("qemu-system-x86_64: not found");
  link_.Push(FrameType::kPages, PagesPayload(0, 3));
  link_.Do([&] { gate.open.set_value(); });
  link_.Push(FrameType::kPages, PagesPayload(100, 1, 2));
  link_.set_silent(true);  // then the source waits for READY
  EXPECT_EQ(Run(Incoming::QemuStartMode::kBackground), Phase::kArrived);
  EXPECT_NE(LastResult().find("starting the destination QEMU"), std::string::npos) << LastResult();
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(QemuStops(), 0) << "nothing to stop";
  const std::vector<FrameType> sent = link_.sent_types();
  EXPECT_EQ(std::count(sent.begin(), sent.end(), FrameType::kReady), 0);
}

TEST_F(IncomingTest, TheSourceGoneWhileQemuStartsStopsQemuOnceItStarted) {
  StartGate gate;
  host_.qemu.on_start = [&] { gate.opened.wait(); };
  PushPasses();
  link_.Do([&] { gate.open.set_value(); });  // then the connection ends
  EXPECT_EQ(Run(Incoming::QemuStartMode::kBackground), Phase::kQemuStarted);
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(QemuAlive());
  EXPECT_EQ(QemuStops(), 1);
}

TEST_F(IncomingTest, AMonitorThatRefusesMigrateIncomingStopsQemuAndAborts) {
  host_.qemu.listen_error = Status::FailedPrecondition("QMP command 'migrate-incoming' failed");
  EXPECT_EQ(Run(), Phase::kQemuStarted);
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(QemuAlive());
}

// --- docs/migrate.md "When something fails", before the commit ---

// "after the first pass | destination QEMU killed | the destination refuses to commit without a
// waiting QEMU; abort".
TEST_F(IncomingTest, QemuKilledBeforeTheCommitRefusesToCommitAndAborts) {
  PushPasses();
  link_.Do([this] { host_.qemu.Kill(); });
  link_.Push(FrameType::kCommit);
  EXPECT_EQ(Run(), Phase::kQemuStarted);
  EXPECT_NE(LastResult().find("the destination QEMU is gone, not waiting for the migration: "
                              "not committing"),
            std::string::npos)
      << LastResult();
  EXPECT_FALSE(Committed());
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(QemuStops(), 1);
}

TEST_F(IncomingTest, AQemuNoLongerInmigrateIsNotCommittedTo) {
  host_.qemu.statuses = {"shutdown"};
  link_.Push(FrameType::kCommit);
  Run();
  EXPECT_NE(LastResult().find("QEMU is shutdown, not waiting"), std::string::npos) << LastResult();
  EXPECT_FALSE(Committed());
  EXPECT_TRUE(Aborted());
}

// --- A libvirt domain: libvirt starts the QEMU during the source's `virsh migrate` ---

TEST_F(IncomingTest, ALibvirtDomainIsReadyAtOnceAndItsQemuIsFoundAndSetUpAtTheCommit) {
  host_.qemu.libvirt = true;
  host_.qemu.statuses = {"inmigrate", "inmigrate", "running"};
  PushPasses();
  // libvirt started QEMU (the source ran virsh migrate) before the source commits.
  link_.Do([this] {
    std::lock_guard lock(host_.qemu.mu);
    host_.qemu.alive = true;
  });
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kWaitRunning);
  EXPECT_EQ(Run(), Phase::kRunning);
  EXPECT_EQ(link_.sent_types(), (std::vector<FrameType>{FrameType::kTable, FrameType::kReady,
                                                        FrameType::kResult, FrameType::kResult}));
  EXPECT_EQ(host_.qemu.starts, 0);  // libvirt's to start
  EXPECT_EQ(host_.qemu.ignore_shared, 1);
  EXPECT_EQ(host_.qemu.listen_socket, "");  // libvirt's migrate-incoming, not ours
  EXPECT_TRUE(Committed());
  EXPECT_EQ(QemuStops(), 0);
}

TEST_F(IncomingTest, ALibvirtDomainWhoseQemuLibvirtDidNotStartIsNotCommitted) {
  host_.qemu.libvirt = true;
  PushPasses();
  link_.Push(FrameType::kCommit);
  Run();
  EXPECT_NE(LastResult().find("the destination QEMU libvirt should have started"),
            std::string::npos)
      << LastResult();
  EXPECT_FALSE(Committed());
  EXPECT_TRUE(Aborted());
  EXPECT_EQ(host_.qemu.ignore_shared, 0);
  EXPECT_EQ(QemuStops(), 0);  // nothing of ours to stop: libvirt's QEMU fails without its stream
}

TEST_F(IncomingTest, ALibvirtQemuNotWaitingForTheMigrationIsNotCommittedTo) {
  host_.qemu.libvirt = true;
  host_.qemu.alive = true;
  host_.qemu.statuses = {"running"};
  link_.Push(FrameType::kCommit);
  Run();
  EXPECT_NE(LastResult().find("QEMU libvirt started is running, not waiting"), std::string::npos)
      << LastResult();
  EXPECT_FALSE(Committed());
  EXPECT_EQ(host_.qemu.ignore_shared, 0);
}

// "during the rounds | link down" and "first pass | mkd-migrate SIGKILLed": the destination sees
// the connection end (or its timeout): abort.
TEST_F(IncomingTest, TheSourceDisappearingDuringTheRoundsAborts) {
  PushPasses();
  link_.set_end(Status::Io("no frame from host-a within 100 ms"));
  EXPECT_EQ(Run(), Phase::kQemuStarted);
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(Committed());
  EXPECT_FALSE(QemuAlive());
  // Pages written before (invalid after the abort); the last one, still batched, never went in.
  EXPECT_EQ(host_.memfs.pages_received, 13u);
}

TEST_F(IncomingTest, TheSourcesAbortAborts) {
  PushPasses();
  link_.Push(FrameType::kAbort, EncodeAbort("converging took too long"));
  Run();
  EXPECT_NE(LastResult().find("the source aborted: converging took too long"), std::string::npos)
      << LastResult();
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(QemuAlive());
}

// "at pre-switchover | destination memfs killed | its setxattr fails; abort".
TEST_F(IncomingTest, AMemfsWriteFailingAbortsAndTheAbortMayFailToo) {
  host_.memfs.errors["runs"] = Status::Io("setxattr user.mkd.receive: ENOTCONN");
  host_.memfs.errors["abort"] = Status::Io("setxattr user.mkd.abort: ENOTCONN");
  PushPasses();
  link_.Push(FrameType::kCommit);
  EXPECT_EQ(Run(), Phase::kQemuStarted);
  EXPECT_NE(LastResult().find("ENOTCONN"), std::string::npos) << LastResult();
  EXPECT_TRUE(Aborted()) << "tried";
  EXPECT_FALSE(Committed());
  EXPECT_FALSE(QemuAlive());
}

// "during the commit | the destination's commit fails | abort".
TEST_F(IncomingTest, AFailedCommitAborts) {
  host_.memfs.errors["commit"] = Status::Io("setxattr user.mkd.commit: EIO");
  PushPasses();
  link_.Push(FrameType::kCommit);
  EXPECT_EQ(Run(), Phase::kQemuStarted);
  EXPECT_NE(LastResult().find("user.mkd.commit: EIO"), std::string::npos) << LastResult();
  EXPECT_EQ(link_.results().size(), 1u) << "no RESULT committed";
  EXPECT_TRUE(Aborted());
  EXPECT_FALSE(QemuAlive());
}

// --- Frames out of order or malformed: refused before the commit, with an abort ---

TEST_F(IncomingTest, FramesOutOfOrderOrMalformedAreRefusedAndAbort) {
  struct Case {
    FrameType type;
    std::string payload;
    std::string message;
  };
  const std::vector<Case> cases = {
      {FrameType::kWaitRunning, "", "WAIT_RUNNING before COMMIT"},
      {FrameType::kTable, "", "unexpected TABLE"},
      {FrameType::kPages, PagesPayload(kPages, 1),
       "invalid argument: migration protocol"},  // beyond the block
      {FrameType::kPages, "short", "invalid argument: migration protocol"},
      {FrameType::kLater, "\x01", "invalid argument: migration protocol"},
  };
  for (const Case& c : cases) {
    FakeHost host;
    host.memfs.summary.pages = kPages;
    FakeLink link("host-a");
    link.Push(c.type, c.payload);
    Incoming in(link, host, arrivals_, kTimeout, Incoming::QemuStartMode::kInline);
    in.Run(hello_);
    EXPECT_EQ(in.phase(), Phase::kQemuStarted) << c.message;
    std::vector<ResultMsg> r = link.results();
    ASSERT_EQ(r.size(), 1u) << c.message;
    EXPECT_FALSE(r[0].ok);
    EXPECT_NE(r[0].message.find(c.message), std::string::npos) << r[0].message;
    EXPECT_TRUE(host.memfs.Called("abort")) << c.message;
    EXPECT_FALSE(host.memfs.Called("commit")) << c.message;
  }
}

// --- After the commit point: never abort; stop QEMU when it does not take over ---

// "after the commit | destination QEMU killed | the destination says its QEMU did not take over
// and is stopped".
TEST_F(IncomingTest, QemuKilledAfterTheCommitIsReportedStoppedAndTheFileKept) {
  PushPasses();
  link_.Push(FrameType::kCommit);
  link_.Do([this] { host_.qemu.Kill(); });
  link_.Push(FrameType::kWaitRunning);
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  std::vector<ResultMsg> r = link_.results();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].message, "committed");
  EXPECT_FALSE(r[1].ok);
  EXPECT_NE(r[1].message.find("the destination QEMU did not take over: it is gone"),
            std::string::npos)
      << r[1].message;
  EXPECT_NE(r[1].message.find("the VM can resume at the source"), std::string::npos);
  EXPECT_TRUE(Committed());
  EXPECT_FALSE(Aborted()) << "after the commit the file stays (a stored incarnation)";
  EXPECT_EQ(QemuStops(), 1);
}

TEST_F(IncomingTest, NoDeviceStateWithinTheTimeoutStopsQemuBeforeTellingTheSource) {
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kWaitRunning);
  // The source hears "stopped" only once QEMU is stopped: never two copies running.
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kResult && !ParseResult(f.payload)->ok) {
      EXPECT_FALSE(QemuAlive());
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, kTimeout);
  EXPECT_NE(LastResult().find("did not take over: it did not run within the timeout"),
            std::string::npos)
      << LastResult();
  EXPECT_FALSE(QemuAlive());
  EXPECT_FALSE(Aborted());
}

// "after the commit | mkd-migrate killed | the destination stops its QEMU when no device state
// comes within its timeout; its file becomes a stored incarnation".
TEST_F(IncomingTest, TheSourceGoneAfterTheCommitStopsQemuAfterTheTimeoutAndKeepsTheFile) {
  PushPasses();
  link_.Push(FrameType::kCommit);  // then the connection ends
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_TRUE(Committed());
  EXPECT_FALSE(Aborted());
  EXPECT_EQ(QemuStops(), 1);
  EXPECT_EQ(link_.results().size(), 1u) << "only the RESULT of the commit";
}

// "after the commit | link down for 2 s | the switchover completes": the control link is gone
// but QEMU gets its device state and runs: it is left running.
TEST_F(IncomingTest, TheLinkLostAfterTheCommitLeavesAQemuThatRunsRunning) {
  host_.qemu.statuses = {"inmigrate", "running"};
  link_.Push(FrameType::kCommit);
  EXPECT_EQ(Run(), Phase::kRunning);
  EXPECT_TRUE(QemuAlive());
  EXPECT_EQ(QemuStops(), 0);
  EXPECT_FALSE(Aborted());
}

TEST_F(IncomingTest, ASecondCommitIsAnErrorAfterTheCommitNotAnAbort) {
  link_.Push(FrameType::kCommit);
  link_.Push(FrameType::kCommit);
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_FALSE(Aborted());
  EXPECT_EQ(host_.memfs.calls.end() -
                std::find(host_.memfs.calls.begin(), host_.memfs.calls.end(), "commit"),
            1)
      << "one commit, the last memfs call";
}

// --- Post-copy through Incoming (docs/postcopy.md "When something fails") ---

class IncomingPostcopyTest : public IncomingTest {
 protected:
  IncomingPostcopyTest() {
    link_.Push(FrameType::kPages, PagesPayload(0, 3));
    link_.Push(FrameType::kLater, EncodeLater(0, {{10, 5, 1}}));
    link_.Push(FrameType::kCommit);
    link_.set_silent(true);  // after the commit the post-copy loop polls the link
  }
};

TEST_F(IncomingPostcopyTest, APostcopyEndsWithEveryPageHereAndTheVmRunning) {
  host_.qemu.statuses = {"inmigrate", "inmigrate", "running"};
  host_.memfs.wanted = {{11}};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kWant) {
      link_.Push(FrameType::kPages, PagesPayload(11, 1));
      link_.Push(FrameType::kPages, PagesPayload(10, 1));
      link_.Push(FrameType::kZeros, ZerosPayload(12, 3));
      link_.Push(FrameType::kPostcopyEnd);
    }
    if (f.type == FrameType::kPostcopyDone) {
      link_.Push(FrameType::kVerify);
      link_.Push(FrameType::kWaitRunning);
    }
  };
  EXPECT_EQ(Run(), Phase::kRunning);
  EXPECT_TRUE(host_.memfs.Called("later"));
  EXPECT_TRUE(host_.memfs.Called("dirty")) << "VERIFY after a post-copy commit sends DIRTY";
  EXPECT_FALSE(host_.memfs.Called("fail_postcopy"));
  EXPECT_FALSE(Aborted());
  EXPECT_TRUE(QemuAlive());
  std::vector<FrameType> t = link_.sent_types();
  EXPECT_EQ(std::count(t.begin(), t.end(), FrameType::kPostcopyDone), 1);
  EXPECT_EQ(t.back(), FrameType::kResult);
  EXPECT_EQ(LastResult(), "ok: running");
}

// "the source's mkd-migrate (killed) | serve sees the connection end, fails the post-copy in
// memfs, stops the destination QEMU and logs ... the VM is stopped and lost".
TEST_F(IncomingPostcopyTest, TheSourceGoneAfterTheVmRanFailsThePostcopyAndStopsQemu) {
  host_.qemu.statuses = {"inmigrate", "running"};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kResult && ParseResult(f.payload)->message == "running") {
      link_.set_silent(false);  // the connection ends
    }
  };
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_TRUE(host_.memfs.Called("fail_postcopy"));
  EXPECT_NE(host_.memfs.fail_reason.find("the peer closed the connection"), std::string::npos)
      << host_.memfs.fail_reason;
  EXPECT_FALSE(QemuAlive());
  EXPECT_FALSE(Aborted()) << "committed: the pages that arrived stay valid";
  EXPECT_NE(LastResult().find("post-copy failed after the VM started here"), std::string::npos)
      << LastResult();
  EXPECT_NE(LastResult().find("the VM is stopped and lost"), std::string::npos);
}

// "the link | both ends notice within --timeout (no frame from the other side): serve as above".
TEST_F(IncomingPostcopyTest, ASilentLinkFailsThePostcopyWithinTheTimeout) {
  host_.qemu.statuses = {"inmigrate", "running"};
  host_.memfs.postcopy.state = "active";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, kTimeout);
  EXPECT_LT(took, 5 * kTimeout);
  EXPECT_NE(host_.memfs.fail_reason.find("the source sent nothing for 100 ms"), std::string::npos)
      << host_.memfs.fail_reason;
  EXPECT_FALSE(QemuAlive());
  EXPECT_NE(LastResult().find("stopped and lost"), std::string::npos) << LastResult();
}

// Before the switchover point: a QEMU that never ran leaves the VM to the source.
TEST_F(IncomingPostcopyTest, AQemuThatNeverRanIsStoppedAndTheVmResumesAtTheSource) {
  host_.qemu.statuses = {"inmigrate", "shutdown"};
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_TRUE(host_.memfs.Called("fail_postcopy"));
  EXPECT_FALSE(QemuAlive());
  EXPECT_NE(LastResult().find("the destination QEMU did not take over"), std::string::npos)
      << LastResult();
  EXPECT_NE(LastResult().find("the VM can resume at the source"), std::string::npos);
}

// "the destination's memfs | serve's next setxattr fails and it stops QEMU as above".
TEST_F(IncomingPostcopyTest, AMemfsFailingDuringThePostcopyStopsQemu) {
  host_.qemu.statuses = {"inmigrate", "running"};
  host_.memfs.wanted = {{11}};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kWant) {
      std::lock_guard lock(host_.memfs.mu);
      host_.memfs.errors["runs"] = Status::Io("setxattr user.mkd.receive: ENOTCONN");
      link_.Push(FrameType::kPages, PagesPayload(11, 1));
    }
  };
  EXPECT_EQ(Run(), Phase::kQemuStopped);
  EXPECT_NE(host_.memfs.fail_reason.find("ENOTCONN"), std::string::npos) << host_.memfs.fail_reason;
  EXPECT_FALSE(QemuAlive());
}

TEST_F(IncomingPostcopyTest, LaterAfterTheCommitIsRefused) {
  host_.qemu.statuses = {"inmigrate", "running"};
  link_.on_send = [this](const Frame& f) {
    if (f.type == FrameType::kPostcopyDone) {
      link_.Push(FrameType::kLater, EncodeLater(0, {{20, 1, 1}}));
    }
    if (f.type == FrameType::kResult && ParseResult(f.payload)->message == "running") {
      link_.Push(FrameType::kPostcopyEnd);
    }
  };
  host_.memfs.postcopy.state = "complete";
  Run();
  EXPECT_EQ(std::count(host_.memfs.calls.begin(), host_.memfs.calls.end(), "later"), 1);
  EXPECT_FALSE(Aborted());
}

}  // namespace
}  // namespace mkd::migrate
