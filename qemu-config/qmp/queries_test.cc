#include "qemu-config/qmp/queries.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mkd::qmp {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(QmpQueries, DecodesQueryStatus) {
  Result<VmStatus> s = DecodeVmStatus(
      json::parse(R"({"status": "finish-migrate", "singlestep": false, "running": false})"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->status, "finish-migrate");
  EXPECT_FALSE(s->running);
}

TEST(QmpQueries, QueryStatusNeedsStatusAndRunningOfTheRightTypes) {
  for (const char* text :
       {R"({"running": true})", R"({"status": 1, "running": true})", R"({"status": "running"})",
        R"({"status": "running", "running": 1})", R"([])", R"(null)"}) {
    Result<VmStatus> s = DecodeVmStatus(json::parse(text));
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), ErrorCode::kCorrupt);
    EXPECT_THAT(s.status().message(), HasSubstr("query-status reply"));
  }
}

TEST(QmpQueries, DecodesQemu72CompletedSourceMigration) {
  // QEMU 7.2.22's reply after a 64 MiB pc guest was migrated to `exec:cat > file`.
  const json value = json::parse(R"({"status": "completed", "setup-time": 1, "downtime": 3592,
      "total-time": 3610, "ram": {"total": 67641344, "postcopy-requests": 0, "dirty-sync-count": 2,
      "multifd-bytes": 0, "pages-per-second": 0, "downtime-bytes": 16423, "page-size": 4096,
      "remaining": 0, "postcopy-bytes": 0, "mbps": 1.6216680520919922, "transferred": 619686,
      "dirty-sync-missed-zero-copy": 0, "precopy-bytes": 603263, "duplicate": 16403,
      "dirty-pages-rate": 0, "skipped": 0, "normal-bytes": 471040, "normal": 115}})");
  Result<MigrationInfo> m = DecodeMigrationInfo(value);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->status, "completed");
  EXPECT_EQ(m->setup_time_ms, 1u);
  EXPECT_EQ(m->downtime_ms, 3592u);
  EXPECT_EQ(m->total_time_ms, 3610u);
  EXPECT_EQ(m->expected_downtime_ms, std::nullopt);
  EXPECT_EQ(m->ram_total_bytes, 67641344u);
  EXPECT_EQ(m->ram_transferred_bytes, 619686u);
  EXPECT_EQ(m->ram_remaining_bytes, 0u);
  EXPECT_EQ(m->raw["ram"]["normal"], 115);
}

TEST(QmpQueries, DecodesEmptyAndDestinationReplies) {
  Result<MigrationInfo> none = DecodeMigrationInfo(json::object());  // before any migration
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, "");
  EXPECT_EQ(none->ram_total_bytes, std::nullopt);

  Result<MigrationInfo> dest = DecodeMigrationInfo(json::parse(R"({"status": "completed"})"));
  ASSERT_TRUE(dest.ok());
  EXPECT_EQ(dest->status, "completed");
  EXPECT_EQ(dest->total_time_ms, std::nullopt);

  Result<MigrationInfo> failed =
      DecodeMigrationInfo(json::parse(R"({"status": "failed", "error-desc": "Unable to write"})"));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->error_desc, "Unable to write");
}

TEST(QmpQueries, AcceptsCountsBuiltInCode) {
  Result<MigrationInfo> m = DecodeMigrationInfo(json{{"total-time", 5}, {"downtime", 0}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->total_time_ms, 5u);
}

TEST(QmpQueries, QueryMigrateChecksEveryFieldsType) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"status": 3})", "\"status\""},
      {R"({"error-desc": {}})", "\"error-desc\""},
      {R"({"total-time": -1})", "\"total-time\""},
      {R"({"setup-time": 1.5})", "\"setup-time\""},
      {R"({"downtime": "2"})", "\"downtime\""},
      {R"({"expected-downtime": null})", "\"expected-downtime\""},
      {R"({"ram": []})", "\"ram\""},
      {R"({"ram": {"total": "64M"}})", "\"ram.total\""},
      {R"({"ram": {"transferred": -5}})", "\"ram.transferred\""},
      {R"({"ram": {"remaining": true}})", "\"ram.remaining\""},
      {R"("completed")", "\"return\""},
  };
  for (const auto& [text, field] : cases) {
    Result<MigrationInfo> m = DecodeMigrationInfo(json::parse(text));
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.status().code(), ErrorCode::kCorrupt);
    EXPECT_THAT(m.status().message(), HasSubstr(field)) << text;
  }
}

TEST(QmpQueries, DecodesQemu72QueryCpusFast) {
  // QEMU 7.2.22's reply for `-machine pc -accel tcg -smp 2`.
  const json value = json::parse(R"([{"thread-id": 15119, "props": {"core-id": 0, "thread-id": 0,
      "socket-id": 0}, "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target":
      "x86_64"}, {"thread-id": 15120, "props": {"core-id": 1, "thread-id": 0, "socket-id": 0},
      "qom-path": "/machine/unattached/device[2]", "cpu-index": 1, "target": "x86_64"}])");
  Result<std::vector<VcpuInfo>> cpus = DecodeVcpus(value);
  ASSERT_TRUE(cpus.ok()) << cpus.status().ToString();
  ASSERT_EQ(cpus->size(), 2u);
  EXPECT_EQ((*cpus)[0].cpu_index, 0);
  EXPECT_EQ((*cpus)[0].thread_id, 15119);
  EXPECT_EQ((*cpus)[1].cpu_index, 1);
  EXPECT_EQ((*cpus)[1].thread_id, 15120);
}

TEST(QmpQueries, QueryCpusFastAcceptsIntegersBuiltInCodeAndTheCap) {
  Result<std::vector<VcpuInfo>> one =
      DecodeVcpus(json::array({{{"cpu-index", 3}, {"thread-id", 7}}}));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ((*one)[0].cpu_index, 3);
  EXPECT_EQ((*one)[0].thread_id, 7);

  json many = json::array();
  for (int i = 0; i < static_cast<int>(kMaxVcpus); ++i) {
    many.push_back({{"cpu-index", i}, {"thread-id", 1000 + i}});
  }
  Result<std::vector<VcpuInfo>> all = DecodeVcpus(many);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), kMaxVcpus);
  EXPECT_EQ(all->back().thread_id, 1000 + static_cast<int64_t>(kMaxVcpus) - 1);
}

TEST(QmpQueries, QueryCpusFastChecksEveryElement) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"cpu-index": 0, "thread-id": 1})", "\"return\""},
      {R"(null)", "\"return\""},
      {R"([])", "0 vCPUs"},
      {R"([1])", "\"[0]\""},
      {R"([{"cpu-index": 0, "thread-id": 1}, []])", "\"[1]\""},
      {R"([{"thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": -1, "thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": 1.0, "thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": "0", "thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": true, "thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": 18446744073709551615, "thread-id": 1}])", "\"[0].cpu-index\""},
      {R"([{"cpu-index": 0}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": 0}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": -5}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": 2147483648}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": 15119.5}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": null}])", "\"[0].thread-id\""},
      {R"([{"cpu-index": 0, "thread-id": 1}, {"cpu-index": 1, "thread-id": "2"}])",
       "\"[1].thread-id\""},
  };
  for (const auto& [text, what] : cases) {
    Result<std::vector<VcpuInfo>> cpus = DecodeVcpus(json::parse(text));
    ASSERT_FALSE(cpus.ok()) << text;
    EXPECT_EQ(cpus.status().code(), ErrorCode::kCorrupt) << text;
    EXPECT_THAT(cpus.status().message(), HasSubstr("query-cpus-fast reply")) << text;
    EXPECT_THAT(cpus.status().message(), HasSubstr(what)) << text;
  }

  json too_many = json::array();
  for (size_t i = 0; i <= kMaxVcpus; ++i) too_many.push_back({{"cpu-index", i}, {"thread-id", 1}});
  Result<std::vector<VcpuInfo>> over = DecodeVcpus(too_many);
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.status().message(), HasSubstr("1025 vCPUs, expected 1 to 1024"));
}

}  // namespace
}  // namespace mkd::qmp
