#include "qemu-config/qmp/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "qemu-config/qmp/fake_qmp_server.h"

namespace mkd::qmp {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr milliseconds kGenerous{5000};  // for steps that must succeed

std::string Line(const json& j) { return j.dump() + "\r\n"; }
std::string EventLine(std::string_view name, const json& data = nullptr) {
  json e = {{"event", name}, {"timestamp", {{"seconds", 1795776201}, {"microseconds", 1}}}};
  if (!data.is_null()) e["data"] = data;
  return Line(e);
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

// A Transport that hands out scripted chunks, one per Receive(); once they run out, Receive()
// reports the deadline as passed at once (a stalled peer, without waiting), or the peer closed.
class ScriptedTransport : public Transport {
 public:
  ScriptedTransport(std::deque<std::string> chunks, bool close_at_end,
                    std::vector<std::string>* sent)
      : chunks_(std::move(chunks)), close_at_end_(close_at_end), sent_(sent) {}

  Status Send(std::string_view bytes, Deadline) override {
    sent_->emplace_back(bytes);
    return Status::Ok();
  }
  Result<size_t> Receive(std::span<char> buffer, Deadline) override {
    if (chunks_.empty()) {
      if (close_at_end_) return Status::Io("scripted peer closed the connection");
      return size_t{0};
    }
    std::string& front = chunks_.front();
    const size_t n = std::min(front.size(), buffer.size());
    std::copy_n(front.data(), n, buffer.data());
    front.erase(0, n);
    if (front.empty()) chunks_.pop_front();
    return n;
  }

 private:
  std::deque<std::string> chunks_;
  bool close_at_end_;
  std::vector<std::string>* sent_;
};

// --- Against the scripted transport: deterministic splits and failures. ---

TEST(QmpClientScripted, HandshakeDeliveredOneByteAtATime) {
  std::string all = std::string(kQemu72Greeting) + Line({{"return", json::object()}, {"id", 1}}) +
                    Line({{"return", {{"status", "paused"}, {"running", false}}}, {"id", 2}});
  std::deque<std::string> chunks;
  for (char c : all) chunks.emplace_back(1, c);
  std::vector<std::string> sent;
  Result<QmpClient> c =
      QmpClient::Open(std::make_unique<ScriptedTransport>(chunks, false, &sent), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->greeting().major, 7);
  Result<VmStatus> s = c->QueryStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->status, "paused");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(json::parse(sent[0]), json::parse(R"({"execute": "qmp_capabilities", "id": 1})"));
  EXPECT_EQ(json::parse(sent[1]), json::parse(R"({"execute": "query-status", "id": 2})"));
  EXPECT_TRUE(sent[1].ends_with("\n"));
}

TEST(QmpClientScripted, WholeSessionInOneRead) {
  std::string all = std::string(kQemu72Greeting) + Line({{"return", json::object()}, {"id", 1}}) +
                    EventLine("STOP") + Line({{"return", json::object()}, {"id", 2}}) +
                    EventLine("RESUME");
  std::vector<std::string> sent;
  Result<QmpClient> c =
      QmpClient::Open(std::make_unique<ScriptedTransport>(std::deque{all}, false, &sent));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->Execute("stop").ok());
  ASSERT_TRUE(c->WaitForEvent("RESUME", milliseconds(0)).ok());
  std::vector<Event> events = c->TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "STOP");
}

TEST(QmpClientScripted, FirstMessageNotAGreetingIsRefused) {
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(
      std::make_unique<ScriptedTransport>(std::deque{EventLine("STOP")}, false, &sent));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(c.status().message(), HasSubstr("expected the QMP greeting, got a QMP event"));
  EXPECT_TRUE(sent.empty());
}

TEST(QmpClientScripted, RefusedCapabilitiesFailTheHandshake) {
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(std::make_unique<ScriptedTransport>(
      std::deque<std::string>{
          std::string(kQemu72Greeting),
          Line({{"error", {{"class", "CommandNotFound"}, {"desc", "no"}}}, {"id", 1}})},
      false, &sent));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "QMP command 'qmp_capabilities' failed: CommandNotFound: no");
}

TEST(QmpClientScripted, ReplyWithoutIdBreaksTheConnection) {
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(std::make_unique<ScriptedTransport>(
      std::deque<std::string>{std::string(kQemu72Greeting), Line({{"return", json::object()}})},
      false, &sent));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(c.status().message(), HasSubstr("without the request's id"));
}

TEST(QmpClientScripted, ZeroTimeoutWithNoReplyYetTimesOutAndStaysUsable) {
  std::vector<std::string> sent;
  std::deque<std::string> chunks = {
      std::string(kQemu72Greeting) + Line({{"return", json::object()}, {"id", 1}}),
      // id 2 gets nothing before "its deadline" (the empty chunk list ends the Receive).
  };
  auto transport = std::make_unique<ScriptedTransport>(chunks, false, &sent);
  Result<QmpClient> c = QmpClient::Open(std::move(transport));
  ASSERT_TRUE(c.ok());
  Result<json> first = c->Execute("query-name", nullptr, milliseconds(0));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), ErrorCode::kIo);
  EXPECT_THAT(first.status().message(), HasSubstr("got no reply within 0 ms"));
  EXPECT_TRUE(c->connected());
}

TEST(QmpClientScripted, ArgumentsMustBeAnObjectOfValidUtf8) {
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(std::make_unique<ScriptedTransport>(
      std::deque<std::string>{std::string(kQemu72Greeting) +
                              Line({{"return", json::object()}, {"id", 1}})},
      false, &sent));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Execute("migrate", json::array({1})).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(c->Execute("").status().code(), ErrorCode::kInvalidArgument);
  Result<json> bad = c->Execute("migrate", {{"uri", "tcp:\xff"}});
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(sent.size(), 1u);  // only qmp_capabilities went out
  EXPECT_TRUE(c->connected());
}

TEST(QmpClientScripted, MovedFromClientFailsCleanly) {
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(std::make_unique<ScriptedTransport>(
      std::deque<std::string>{std::string(kQemu72Greeting) +
                              Line({{"return", json::object()}, {"id", 1}}) +
                              Line({{"return", 42}, {"id", 2}})},
      false, &sent));
  ASSERT_TRUE(c.ok());
  QmpClient moved = std::move(*c);
  EXPECT_FALSE(c->connected());  // NOLINT(bugprone-use-after-move): that is the point
  EXPECT_EQ(c->Execute("x").status().code(), ErrorCode::kFailedPrecondition);
  Result<json> r = moved.Execute("query-x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json(42));
}

TEST(QmpClientScripted, TooManyQueuedEventsBreakTheConnectionWithoutDroppingAny) {
  std::string stream = std::string(kQemu72Greeting) + Line({{"return", json::object()}, {"id", 1}});
  std::string events;
  const std::string one = EventLine("RTC_CHANGE", {{"offset", 1}});
  for (size_t i = 0; i <= kMaxQueuedEvents; ++i) events += one;
  std::vector<std::string> sent;
  Result<QmpClient> c = QmpClient::Open(
      std::make_unique<ScriptedTransport>(std::deque<std::string>{stream, events}, false, &sent));
  ASSERT_TRUE(c.ok());
  Result<json> r = c->Execute("query-name");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kOutOfRange);
  EXPECT_FALSE(c->connected());
  EXPECT_EQ(c->TakeEvents().size(), kMaxQueuedEvents);
}

// --- Against a fake server on a real unix socket. ---

TEST(QmpClient, ConnectsNegotiatesAndQueriesStatus) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Send(kQemu72Greeting));
    std::optional<json> caps = conn.ReadRequest();
    ASSERT_TRUE(caps.has_value());
    EXPECT_EQ(caps->value("execute", ""), "qmp_capabilities");
    EXPECT_FALSE(caps->contains("arguments"));  // no out-of-band
    ASSERT_TRUE(conn.Reply(*caps, json::object()));
    std::optional<json> q = conn.ReadRequest();
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->value("execute", ""), "query-status");
    conn.Reply(*q, {{"status", "running"}, {"singlestep", false}, {"running", true}});
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->greeting().package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
  EXPECT_EQ(c->greeting().capabilities, std::vector<std::string>{"oob"});
  Result<VmStatus> s = c->QueryStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->status, "running");
  EXPECT_TRUE(s->running);
}

TEST(QmpClient, QueryCpusFastDecodesTheVcpuThreadsAndRefusesABadReply) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> q = conn.ReadRequest();
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->value("execute", ""), "query-cpus-fast");
    conn.Reply(*q, json::parse(R"([{"thread-id": 15119, "qom-path": "/machine/unattached/device[0]",
        "cpu-index": 0, "target": "x86_64", "props": {"core-id": 0}}])"));
    std::optional<json> again = conn.ReadRequest();
    ASSERT_TRUE(again.has_value());
    conn.Reply(*again, json::parse(R"([{"thread-id": 0, "cpu-index": 0}])"));
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Result<std::vector<VcpuInfo>> cpus = c->QueryCpusFast(kGenerous);
  ASSERT_TRUE(cpus.ok()) << cpus.status().ToString();
  ASSERT_EQ(cpus->size(), 1u);
  EXPECT_EQ((*cpus)[0].thread_id, 15119);

  Result<std::vector<VcpuInfo>> bad = c->QueryCpusFast(kGenerous);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(bad.status().message(), HasSubstr("\"[0].thread-id\""));
  EXPECT_TRUE(c->connected());  // a reply that decodes badly does not break the session
}

TEST(QmpClient, CommandErrorCarriesItsClassAndKeepsTheConnection) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    for (int i = 0; i < 2; ++i) {
      std::optional<json> m = conn.ReadRequest();
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ((*m)["arguments"]["uri"], "bad:x");
      conn.Send(Line({{"id", (*m)["id"]},
                      {"error",
                       {{"class", "GenericError"},
                        {"desc", "Parameter 'uri' expects a valid migration protocol"}}}}));
    }
    std::optional<json> q = conn.ReadRequest();
    ASSERT_TRUE(q.has_value());
    conn.Reply(*q, json::object());
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();

  Result<Reply> reply = c->Call("migrate", {{"uri", "bad:x"}});
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_FALSE(reply->ok());
  EXPECT_EQ(reply->error->error_class, "GenericError");
  EXPECT_EQ(reply->error->command, "migrate");

  Result<json> executed = c->Execute("migrate", {{"uri", "bad:x"}});
  ASSERT_FALSE(executed.ok());
  EXPECT_EQ(executed.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(executed.status().message(),
            "QMP command 'migrate' failed: GenericError: Parameter 'uri' expects a valid "
            "migration protocol");

  EXPECT_TRUE(c->connected());
  EXPECT_TRUE(c->Execute("stop").ok());
}

TEST(QmpClient, EventsInterleavedWithTheReplyAreQueuedInOrder) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    // As QEMU 7.2 does for `migrate`: the first event comes before the reply.
    conn.Send(EventLine("MIGRATION", {{"status", "setup"}}));
    conn.Send(Line({{"return", json::object()}, {"id", (*m)["id"]}}) +
              EventLine("MIGRATION_PASS", {{"pass", 1}}) +
              EventLine("MIGRATION", {{"status", "active"}}));
    conn.Send(EventLine("STOP"));
    conn.Send(EventLine("MIGRATION", {{"status", "completed"}}));
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->Execute("migrate", {{"uri", "exec:cat > /dev/null"}}).ok());

  Result<Event> done = c->WaitForEvent("MIGRATION", kGenerous, [](const json& data) {
    return data.value("status", "") == "completed";
  });
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->data["status"], "completed");

  std::vector<Event> rest = c->TakeEvents();
  std::vector<std::string> names;
  for (const Event& e : rest) names.push_back(e.name + ":" + e.data.value("status", ""));
  EXPECT_EQ(names, (std::vector<std::string>{"MIGRATION:setup",
                                             "MIGRATION_PASS:", "MIGRATION:active", "STOP:"}));
  EXPECT_EQ(c->queued_events(), 0u);
}

TEST(QmpClient, WaitForEventTakesAQueuedOneFirst) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Send(EventLine("STOP") + EventLine("RESUME") +
              Line({{"return", json::object()}, {"id", (*m)["id"]}}));
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->Execute("cont").ok());
  ASSERT_EQ(c->queued_events(), 2u);
  const auto start = Clock::now();
  Result<Event> resume = c->WaitForEvent("RESUME", kGenerous);
  ASSERT_TRUE(resume.ok());
  EXPECT_LT(Since(start), milliseconds(100));
  ASSERT_EQ(c->queued_events(), 1u);
  EXPECT_EQ(c->TakeEvents()[0].name, "STOP");
}

TEST(QmpClient, WaitForEventTimesOutWithinTheDeadlineAndStaysUsable) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    conn.Send(EventLine("RESUME"));
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Reply(*m, json::object());
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto start = Clock::now();
  Result<Event> e = c->WaitForEvent("STOP", milliseconds(300));
  const milliseconds took = Since(start);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kIo);
  EXPECT_EQ(e.status().message(), "no QMP event 'STOP' within 300 ms");
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1300));
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(c->queued_events(), 1u);  // RESUME, kept
  EXPECT_TRUE(c->Execute("stop").ok());
}

TEST(QmpClient, ServerNeverReplyingTimesOutAndALateReplyIsIgnored) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> slow = conn.ReadRequest();  // never answered in time
    ASSERT_TRUE(slow.has_value());
    std::optional<json> next = conn.ReadRequest();
    ASSERT_TRUE(next.has_value());
    conn.Send(Line({{"return", "late"}, {"id", (*slow)["id"]}}));
    conn.Send(Line({{"return", "fresh"}, {"id", (*next)["id"]}}));
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto start = Clock::now();
  Result<json> r = c->Execute("query-migrate", nullptr, milliseconds(300));
  const milliseconds took = Since(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kIo);
  EXPECT_THAT(r.status().message(),
              StartsWith("QMP command 'query-migrate' got no reply within 300 ms"));
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1300));
  ASSERT_TRUE(c->connected());

  Result<json> again = c->Execute("query-name");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, "fresh");
}

TEST(QmpClient, ServerClosingMidReplyBreaksTheConnection) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Send("{\"return\": {\"status\": \"runn");
    conn.Close();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Result<VmStatus> s = c->QueryStatus(kGenerous);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kIo);
  EXPECT_THAT(s.status().message(), HasSubstr("QMP command 'query-status'"));
  EXPECT_THAT(s.status().message(), HasSubstr("closed the connection"));
  EXPECT_FALSE(c->connected());

  Result<json> after = c->Execute("query-status");
  EXPECT_EQ(after.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(after.status().message(), HasSubstr("broke earlier"));
  EXPECT_THAT(after.status().message(), HasSubstr("closed the connection"));
}

TEST(QmpClient, GarbageGreetingIsRefused) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    conn.Send("SSH-2.0-OpenSSH_9.2\r\n");
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(c.status().message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(c.status().message(), HasSubstr("SSH-2.0"));
}

TEST(QmpClient, GarbageInTheMiddleOfTheSessionBreaksIt) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Send(std::string_view("\x00\x01\x02 binary junk\r\n", 18));
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Result<json> r = c->Execute("query-status", nullptr, kGenerous);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(c->connected());
}

TEST(QmpClient, OversizeMessageBreaksTheConnection) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Send("{\"return\": \"" + std::string(kMaxMessageBytes, 'x'));  // and never a newline
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Result<json> r = c->Execute("query-qmp-schema", nullptr, kGenerous);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(r.status().message(), HasSubstr("longer than 16777216 bytes"));
  EXPECT_FALSE(c->connected());
}

TEST(QmpClient, NoGreetingTimesOutWithinTheDeadline) {
  FakeQmpServer server([](FakeQmpConnection& conn) { conn.WaitForClientClose(); });
  const auto start = Clock::now();
  Result<QmpClient> c = QmpClient::Connect(server.path(), milliseconds(400));
  const milliseconds took = Since(start);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kIo);
  EXPECT_THAT(c.status().message(), HasSubstr("no QMP greeting within"));
  EXPECT_THAT(c.status().message(), HasSubstr("another one connected"));
  EXPECT_LT(took, milliseconds(1400));
}

TEST(QmpClient, TricklingPeerCannotHoldACommandPastItsDeadline) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    for (int i = 0; i < 40; ++i) {  // 2 s of one byte every 50 ms, never a newline
      if (!conn.Send(" ")) return;
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto start = Clock::now();
  Result<json> r = c->Execute("query-status", nullptr, milliseconds(300));
  EXPECT_FALSE(r.ok());
  EXPECT_LT(Since(start), milliseconds(1000));
  c->Close();  // lets the script's sends fail and end
}

TEST(QmpClient, PeerThatStopsReadingMakesSendTimeOut) {
  FakeQmpServer deaf([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::this_thread::sleep_for(milliseconds(1500));  // reads nothing: the socket buffer fills
  });
  Result<QmpClient> c = QmpClient::Connect(deaf.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto start = Clock::now();
  Result<json> r = c->Execute("migrate", {{"uri", std::string(32 << 20, 'u')}}, milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kIo);
  EXPECT_THAT(r.status().message(), HasSubstr("timed out sending"));
  EXPECT_LT(Since(start), milliseconds(1300));
  EXPECT_FALSE(c->connected());
}

TEST(QmpClient, WaitsForTheSocketToAppear) {
  FakeQmpServer server(
      [](FakeQmpConnection& conn) {
        ASSERT_TRUE(conn.Handshake());
        conn.WaitForClientClose();
      },
      milliseconds(300));
  const auto start = Clock::now();
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_GE(Since(start), milliseconds(250));
}

TEST(QmpClient, MissingSocketFailsWithinTheDeadline) {
  const auto start = Clock::now();
  Result<QmpClient> c =
      QmpClient::Connect("/tmp/mkd-qmp-test-no-such-dir/qmp.sock", milliseconds(200));
  const milliseconds took = Since(start);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kIo);
  EXPECT_THAT(c.status().message(), HasSubstr("no QMP server accepted a connection within"));
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(1200));
}

TEST(QmpClient, OverlongSocketPathIsInvalid) {
  Result<QmpClient> c = QmpClient::Connect("/tmp/" + std::string(200, 'p'), milliseconds(100));
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
}

TEST(QmpClient, CommandErrorStatusCodeFollowsTheClass) {
  auto status = [](const char* cls, const char* desc) {
    return CommandError{"x", cls, desc}.ToStatus();
  };
  EXPECT_EQ(status("CommandNotFound", "d").code(), ErrorCode::kUnsupported);
  EXPECT_EQ(status("DeviceNotFound", "d").code(), ErrorCode::kNotFound);
  EXPECT_EQ(status("GenericError", "d").code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(status("GenericError", "a\nb\x1b[31m").message(),
            "QMP command 'x' failed: GenericError: a\\x0ab\\x1b[31m");
}

}  // namespace
}  // namespace mkd::qmp
