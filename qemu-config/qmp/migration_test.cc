// The typed migration commands against the fake QMP server: the exact request each one sends,
// and a refusal turned into a Status.
#include "qemu-config/qmp/migration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <vector>

#include "qemu-config/qmp/fake_qmp_server.h"

namespace mkd::qmp {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::chrono::milliseconds kGenerous{5000};

TEST(QmpMigration, CapabilityNamesAreQemus) {
  EXPECT_EQ(CapabilityName(MigrationCapability::kXIgnoreShared), "x-ignore-shared");
  EXPECT_EQ(CapabilityName(MigrationCapability::kPauseBeforeSwitchover),
            "pause-before-switchover");
  EXPECT_EQ(CapabilityName(MigrationCapability::kPostcopyRam), "postcopy-ram");
  EXPECT_EQ(CapabilityName(MigrationCapability::kEvents), "events");
}

TEST(QmpMigration, EncodesCapabilitiesInOrder) {
  EXPECT_EQ(EncodeCapabilities({{MigrationCapability::kXIgnoreShared, true},
                                {MigrationCapability::kPauseBeforeSwitchover, false}}),
            json::parse(R"([{"capability": "x-ignore-shared", "state": true},
                            {"capability": "pause-before-switchover", "state": false}])"));
  EXPECT_EQ(EncodeCapabilities({}), json::array());
}

// Runs `call` against a server that answers {} to every command and returns the requests it
// read (without the handshake's).
std::vector<json> Requests(const std::function<void(QmpClient&)>& call) {
  std::vector<json> seen;
  std::mutex mu;
  {
    FakeQmpServer server([&](FakeQmpConnection& conn) {
      ASSERT_TRUE(conn.Handshake());
      while (std::optional<json> r = conn.ReadRequest()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          seen.push_back(*r);
        }
        conn.Reply(*r, json::object());
      }
    });
    Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (c.ok()) {
      call(*c);
      c->Close();
    }
  }  // joins the server
  for (json& r : seen) r.erase("id");
  return seen;
}

TEST(QmpMigration, EachCommandSendsQemusRequest) {
  const std::vector<json> got = Requests([](QmpClient& c) {
    EXPECT_TRUE(SetMigrationCapabilities(c, {{MigrationCapability::kXIgnoreShared, true},
                                             {MigrationCapability::kPauseBeforeSwitchover, true}})
                    .ok());
    EXPECT_TRUE(SetMaxBandwidth(c, uint64_t{1} << 40).ok());
    EXPECT_TRUE(Migrate(c, "unix:/run/x.sock").ok());
    EXPECT_TRUE(MigrateIncoming(c, "unix:/run/in.sock").ok());
    EXPECT_TRUE(MigrateContinue(c).ok());
    EXPECT_TRUE(MigrateCancel(c).ok());
    EXPECT_TRUE(MigrateStartPostcopy(c).ok());
    EXPECT_TRUE(Stop(c).ok());
    EXPECT_TRUE(Cont(c).ok());
  });
  const std::vector<json> want = {
      json::parse(R"({"execute": "migrate-set-capabilities", "arguments": {"capabilities": [
          {"capability": "x-ignore-shared", "state": true},
          {"capability": "pause-before-switchover", "state": true}]}})"),
      json::parse(R"({"execute": "migrate-set-parameters",
                      "arguments": {"max-bandwidth": 1099511627776}})"),
      json::parse(R"({"execute": "migrate", "arguments": {"uri": "unix:/run/x.sock"}})"),
      json::parse(R"({"execute": "migrate-incoming", "arguments": {"uri": "unix:/run/in.sock"}})"),
      json::parse(R"({"execute": "migrate-continue", "arguments": {"state": "pre-switchover"}})"),
      json::parse(R"({"execute": "migrate_cancel"})"),
      json::parse(R"({"execute": "migrate-start-postcopy"})"),
      json::parse(R"({"execute": "stop"})"),
      json::parse(R"({"execute": "cont"})"),
  };
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << i;
}

TEST(QmpMigration, RefusalIsAStatusAndTheSessionGoesOn) {
  FakeQmpServer server([](FakeQmpConnection& conn) {
    ASSERT_TRUE(conn.Handshake());
    std::optional<json> m = conn.ReadRequest();
    ASSERT_TRUE(m.has_value());
    conn.Send(json({{"id", (*m)["id"]},
                    {"error",
                     {{"class", "GenericError"},
                      {"desc", "There's a migration process in progress"}}}})
                  .dump() +
              "\r\n");
    std::optional<json> c = conn.ReadRequest();
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->value("execute", ""), "cont");
    conn.Reply(*c, json::object());
    conn.WaitForClientClose();
  });
  Result<QmpClient> c = QmpClient::Connect(server.path(), kGenerous);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const Status s = SetMigrationCapabilities(*c, {{MigrationCapability::kXIgnoreShared, false}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("QMP command 'migrate-set-capabilities' failed"));
  EXPECT_THAT(s.message(), HasSubstr("migration process in progress"));
  EXPECT_TRUE(Cont(*c).ok());
}

}  // namespace
}  // namespace mkd::qmp
