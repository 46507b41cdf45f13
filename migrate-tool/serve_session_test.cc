// Tests of a connection's session (serve_session.h) against fakes: the refusals serve makes
// from the first frame on (docs/security.md, threat 13; docs/migrate.md "Limits"): a HELLO or
// STREAM_HELLO naming another host than the peer's certificate, a malformed or oversized first
// frame, a second QEMU stream, a stream for a VM not arriving or arriving from another host, and
// the stream's serve end; a PLAN checked like a HELLO.
#include "migrate-tool/serve_session.h"

#include <gtest/gtest.h>

#include "migrate-tool/incoming_fakes.h"

namespace mkd::migrate {
namespace {

using namespace std::chrono_literals;
using testing::FakeHost;
using testing::FakeLink;
using testing::FakeStreams;

class ServeSessionTest : public ::testing::Test {
 protected:
  ServeSessionTest() {
    host_.memfs.summary.pages = 1024;
    hello_.vm = host_.definition->uuid;
    hello_.epoch = 1;
    hello_.lineage = Uuid::Random();
    hello_.blocks = {{"ram", 1024}};
    hello_.source_host = "host-a";
  }
  void Serve(const Result<Frame>& first, FakeLink& link) {
    ServeSession(first, link, "10.0.0.1:5000", ports_);
  }
  static std::string LastResult(const FakeLink& link) {
    std::vector<ResultMsg> r = link.results();
    return r.empty() ? "(no RESULT)" : (r.back().ok ? "ok: " : "error: ") + r.back().message;
  }
  Frame StreamHelloFrom(const std::string& host) {
    return Frame{FrameType::kStreamHello, EncodeStreamHello({hello_.vm, host})};
  }

  FakeHost host_;
  FakeStreams streams_;
  Arrivals arrivals_;
  SessionPorts ports_{host_, streams_, arrivals_, 100ms, 10'000ms};
  Hello hello_;
};

TEST_F(ServeSessionTest, AHelloNamingAnotherHostThanTheCertificateIsRefused) {
  FakeLink link("host-c");
  Serve(Frame{FrameType::kHello, EncodeHello(hello_)}, link);
  EXPECT_NE(LastResult(link).find("HELLO from host-c names 'host-a'"), std::string::npos)
      << LastResult(link);
  EXPECT_EQ(host_.loads, 0) << "refused before looking at the VM";
  EXPECT_TRUE(host_.memfs.calls.empty());
}

TEST_F(ServeSessionTest, AMalformedHelloIsAnswered) {
  FakeLink link("host-a");
  Serve(Frame{FrameType::kHello, "{\"vm\": 1}"}, link);
  EXPECT_NE(LastResult(link).find("error: invalid argument"), std::string::npos)
      << LastResult(link);
  EXPECT_EQ(host_.loads, 0);
}

TEST_F(ServeSessionTest, AValidHelloStartsTheArrival) {
  host_.definition.reset();
  FakeLink link("host-a");
  Serve(Frame{FrameType::kHello, EncodeHello(hello_)}, link);
  EXPECT_EQ(host_.loads, 1);
  EXPECT_NE(LastResult(link).find("has no definition of VM"), std::string::npos)
      << LastResult(link);
}

TEST_F(ServeSessionTest, APlanIsCheckedLikeAHelloAndAnsweredWithoutAnArrival) {
  FakeLink other("host-c");
  Serve(Frame{FrameType::kPlan, EncodeHello(hello_)}, other);
  EXPECT_NE(LastResult(other).find("PLAN from host-c names 'host-a'"), std::string::npos)
      << LastResult(other);
  EXPECT_EQ(host_.loads, 0) << "refused before looking at the VM";

  host_.memfs.has_ram = false;
  FakeLink link("host-a");
  Serve(Frame{FrameType::kPlan, EncodeHello(hello_)}, link);
  EXPECT_EQ(link.sent_types(), (std::vector<FrameType>{FrameType::kTable, FrameType::kResult}));
  EXPECT_NE(LastResult(link).find("ok: no memory"), std::string::npos) << LastResult(link);
  EXPECT_EQ(host_.memfs.calls, (std::vector<std::string>{"has_ram"})) << "no arrival";
  EXPECT_TRUE(arrivals_.Add(hello_.vm, "/x", "host-a")) << "never registered";
}

// docs/migrate.md "Limits": a frame over --max-frame-bytes is refused before it is read, and the
// peer gets a RESULT naming the limit; a first frame that never came gets no answer.
TEST_F(ServeSessionTest, AnOversizedFirstFrameIsAnsweredAndASilentPeerIsNot) {
  FakeLink big("host-a");
  Serve(Status::InvalidArgument("migration protocol: host-a announced a PAGES frame of 67108864 "
                                "bytes, over this host's limit of 1048596"),
        big);
  EXPECT_NE(LastResult(big).find("over this host's limit"), std::string::npos) << LastResult(big);
  FakeLink silent("host-a");
  Serve(Status::Io("no frame within 10000 ms"), silent);
  EXPECT_TRUE(silent.sent().empty());
}

TEST_F(ServeSessionTest, AFirstFrameThatOpensNothingIsRefused) {
  FakeLink link("host-a");
  Serve(Frame{FrameType::kPages, ""}, link);
  EXPECT_TRUE(link.sent().empty());
  EXPECT_EQ(host_.loads, 0);
  EXPECT_EQ(streams_.state.connects, 0);
}

TEST_F(ServeSessionTest, TheQemuStreamGoesIntoQemuUntilItsEnd) {
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/fake/incoming.sock", "host-a"));
  FakeLink link("host-a");
  link.Push(FrameType::kStreamData, "device ");
  link.Push(FrameType::kStreamData, "state");
  link.Push(FrameType::kStreamEnd);
  link.Push(FrameType::kStreamData, "after the end");
  Serve(StreamHelloFrom("host-a"), link);
  EXPECT_EQ(streams_.state.written, "device state");
  EXPECT_TRUE(streams_.state.closed);
}

TEST_F(ServeSessionTest, WhatQemuWritesBackGoesToTheSource) {
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/fake/incoming.sock", "host-a"));
  streams_.state.back = {"", "shut"};  // the return path's last message, once it loaded
  FakeLink link("host-a");
  link.Push(FrameType::kStreamData, "device state");
  link.Push(FrameType::kStreamData, "");
  link.Push(FrameType::kStreamEnd);
  Serve(StreamHelloFrom("host-a"), link);
  EXPECT_EQ(streams_.state.written, "device state");
  ASSERT_EQ(link.sent().size(), 1u);
  EXPECT_EQ(link.sent()[0].type, FrameType::kStreamBack);
  EXPECT_EQ(link.sent()[0].payload, "shut");
}

TEST_F(ServeSessionTest, ASecondQemuStreamForTheSameVmIsRefused) {
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/fake/incoming.sock", "host-a"));
  FakeLink first("host-a");
  first.Push(FrameType::kStreamEnd);
  Serve(StreamHelloFrom("host-a"), first);
  FakeLink second("host-a");
  second.Push(FrameType::kStreamData, "forged device state");
  Serve(StreamHelloFrom("host-a"), second);
  EXPECT_EQ(streams_.state.connects, 1);
  EXPECT_EQ(streams_.state.written, "");
}

TEST_F(ServeSessionTest, AQemuStreamFromAnotherHostOrForAVmNotArrivingIsRefused) {
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/fake/incoming.sock", "host-a"));
  FakeLink other("host-b");
  other.Push(FrameType::kStreamData, "forged");
  Serve(StreamHelloFrom("host-b"), other);  // its own name, but not the VM's source
  FakeLink lying("host-b");
  Serve(StreamHelloFrom("host-a"), lying);  // names another host than its certificate
  arrivals_.Remove(hello_.vm);
  FakeLink late("host-a");
  Serve(StreamHelloFrom("host-a"), late);
  EXPECT_EQ(streams_.state.connects, 0);
  // The rightful stream still gets the socket after the refusals.
  ASSERT_TRUE(arrivals_.Add(hello_.vm, "/fake/incoming.sock", "host-a"));
  FakeLink right("host-a");
  right.Push(FrameType::kStreamEnd);
  Serve(StreamHelloFrom("host-a"), right);
  EXPECT_EQ(streams_.state.connects, 1);
}

TEST_F(ServeSessionTest, TheStreamEndsAtAnUnexpectedFrameOrALostSource) {
  FakeLink link("host-a");
  link.Push(FrameType::kStreamData, "abc");
  link.Push(FrameType::kPages, "");
  Status s = PumpIntoQemu(link, streams_, "/fake/incoming.sock", std::chrono::seconds(1));
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("stream tunnel: unexpected PAGES"), std::string::npos);
  EXPECT_TRUE(streams_.state.closed);
  FakeLink gone("host-a");
  EXPECT_EQ(PumpIntoQemu(gone, streams_, "/fake/incoming.sock", std::chrono::seconds(1)).code(),
            ErrorCode::kIo);
  streams_.state.connect_error = Status::Io("connecting to the destination QEMU: ENOENT");
  FakeLink no_qemu("host-a");
  no_qemu.Push(FrameType::kStreamData, "x");
  EXPECT_FALSE(
      PumpIntoQemu(no_qemu, streams_, "/fake/incoming.sock", std::chrono::seconds(1)).ok());
  EXPECT_EQ(streams_.state.written, "abc");
  // A source that goes silent after its STREAM_HELLO holds no thread past the timeout.
  FakeLink silent("host-a");
  silent.set_silent(true);
  streams_.state.connect_error = Status::Ok();
  EXPECT_EQ(
      PumpIntoQemu(silent, streams_, "/fake/incoming.sock", std::chrono::milliseconds(300)).code(),
      ErrorCode::kIo);
}

}  // namespace
}  // namespace mkd::migrate
