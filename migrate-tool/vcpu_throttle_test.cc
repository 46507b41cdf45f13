// Tests for VcpuThrottle (vcpu_throttle.h): against a temp directory that mimics the cgroup v1 fs
// and /proc (a write to `tasks` appends to a plain file there), plus one test against the real
// /sys/fs/cgroup that runs only as root on a host with the cgroup v1 cpu controller.
#include "migrate-tool/vcpu_throttle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mkd::migrate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// <dir>/cgroup/cpu (the hierarchy, with cpu.cfs_quota_us) and <dir>/proc, removed at the end.
class FakeTree {
 public:
  // `hierarchy`: the cpu hierarchy's directory name; "" for none (only <dir>/cgroup).
  explicit FakeTree(const std::string& hierarchy = "cpu") : hierarchy_(hierarchy) {
    std::string tmpl = (fs::temp_directory_path() / "mkd-throttle-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
    fs_.cgroup_root = dir_ + "/cgroup";
    fs_.proc_root = dir_ + "/proc";
    fs::create_directories(fs_.cgroup_root);
    fs::create_directories(fs_.proc_root);
    if (!hierarchy.empty()) Write(cpu() + "/cpu.cfs_quota_us", "-1\n");
  }
  ~FakeTree() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const ThrottleFs& fs() const { return fs_; }
  std::string cpu() const { return fs_.cgroup_root + "/" + hierarchy_; }
  // Thread `tid` of `pid`, whose cgroup file says `cgroup_text`; its cpu cgroup `cpu_path` (when
  // not empty) is created.
  void AddThread(int pid, int tid, const std::string& cgroup_text, const std::string& cpu_path) {
    Write(fs_.proc_root + "/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/cgroup",
          cgroup_text);
    if (!cpu_path.empty()) fs::create_directories(cpu() + cpu_path);
  }

 private:
  std::string hierarchy_;
  std::string dir_;
  ThrottleFs fs_;
};

// QEMU (pid 100) with two vCPU threads in libvirt-style per-vCPU cgroups.
void AddLibvirtVm(FakeTree& t) {
  t.AddThread(100, 101, "9:name=systemd:/machine.slice\n3:cpu,cpuacct:/machine/vm1/vcpu0\n0::/\n",
              "/machine/vm1/vcpu0");
  t.AddThread(100, 102, "3:cpu,cpuacct:/machine/vm1/vcpu1\n2:cpuacct:/elsewhere\n",
              "/machine/vm1/vcpu1");
}

TEST(VcpuThrottleTest, GroupBesideTheThreadsCgroupsTakesThemAndGivesThemBack) {
  FakeTree t;
  AddLibvirtVm(t);
  const std::string group = t.cpu() + "/machine/vm1/mkd-throttle-abc";
  {
    Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "mkd-throttle-abc", 100, {101, 102});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->group_dir(), group);
    EXPECT_EQ(Read(group + "/tasks"), "101\n102\n");
    EXPECT_EQ(Read(group + "/cpu.cfs_quota_us"), "-1");  // no limit yet
    EXPECT_EQ(Read(group + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(v->percent(), 0u);

    ASSERT_TRUE(v->Set(30).ok());
    EXPECT_EQ(Read(group + "/cpu.cfs_quota_us"), "140000");  // 70% of 100 ms, two threads
    EXPECT_EQ(v->percent(), 30u);
    ASSERT_TRUE(v->Set(99).ok());
    EXPECT_EQ(Read(group + "/cpu.cfs_quota_us"), "2000");
    ASSERT_TRUE(v->Set(0).ok());
    EXPECT_EQ(Read(group + "/cpu.cfs_quota_us"), "-1");
    ASSERT_TRUE(v->Set(50).ok());

    EXPECT_EQ(v->ThrottledSeconds(), 0.0);  // no cpu.stat
    Write(group + "/cpu.stat", "nr_periods 40\nnr_throttled 25\nthrottled_time 2500000000\n");
    EXPECT_DOUBLE_EQ(v->ThrottledSeconds(), 2.5);

    ASSERT_TRUE(v->Restore().ok());
    EXPECT_EQ(v->percent(), 0u);
    EXPECT_FALSE(fs::exists(group));
    EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu0/tasks"), "101\n");
    EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu1/tasks"), "102\n");
    EXPECT_DOUBLE_EQ(v->ThrottledSeconds(), 2.5);  // the last value read

    EXPECT_TRUE(v->Restore().ok());  // idempotent: nothing is written again
    EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu0/tasks"), "101\n");
    Status after = v->Set(10);
    EXPECT_EQ(after.code(), ErrorCode::kFailedPrecondition);
    EXPECT_THAT(after.message(), HasSubstr("restored already"));
  }
}

TEST(VcpuThrottleTest, ThreadsInTheRootCgroupGetAGroupAtTheTop) {
  FakeTree t("cpu,cpuacct");
  t.AddThread(7, 8, "1:cpu:/\n", "/");
  Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "g", 7, {8});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->group_dir(), t.cpu() + "/g");
  ASSERT_TRUE(v->Set(90).ok());
  EXPECT_EQ(Read(v->group_dir() + "/cpu.cfs_quota_us"), "10000");
  ASSERT_TRUE(v->Restore().ok());
  EXPECT_EQ(Read(t.cpu() + "/tasks"), "8\n");
  EXPECT_FALSE(fs::exists(t.cpu() + "/g"));
}

TEST(VcpuThrottleTest, TheDestructorRestoresAndAMovedFromThrottleDoesNothing) {
  FakeTree t;
  AddLibvirtVm(t);
  const std::string group = t.cpu() + "/machine/vm1/x";
  {
    Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", 100, {101, 102});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_TRUE(v->Set(40).ok());
    VcpuThrottle moved = std::move(*v);
    EXPECT_EQ(moved.percent(), 40u);
    EXPECT_TRUE(fs::exists(group));
  }
  EXPECT_FALSE(fs::exists(group));
  EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu0/tasks"), "101\n");  // moved back once
  EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu1/tasks"), "102\n");
}

TEST(VcpuThrottleTest, MoveAssignmentRestoresTheGroupItReplaces) {
  FakeTree t;
  AddLibvirtVm(t);
  Result<VcpuThrottle> a = VcpuThrottle::Create(t.fs(), "a", 100, {101});
  Result<VcpuThrottle> b = VcpuThrottle::Create(t.fs(), "b", 100, {102});
  ASSERT_TRUE(a.ok() && b.ok());
  *a = std::move(*b);
  EXPECT_FALSE(fs::exists(t.cpu() + "/machine/vm1/a"));
  EXPECT_TRUE(fs::exists(t.cpu() + "/machine/vm1/b"));
  EXPECT_EQ(a->group_dir(), t.cpu() + "/machine/vm1/b");
}

TEST(VcpuThrottleTest, AThreadWhoseCgroupIsGoneReturnsBesideTheGroup) {
  FakeTree t;
  AddLibvirtVm(t);
  Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", 100, {101, 102});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  fs::remove_all(t.cpu() + "/machine/vm1/vcpu0");
  ASSERT_TRUE(v->Restore().ok());
  EXPECT_EQ(Read(t.cpu() + "/machine/vm1/tasks"), "101\n");
  EXPECT_EQ(Read(t.cpu() + "/machine/vm1/vcpu1/tasks"), "102\n");
}

TEST(VcpuThrottleTest, SetRefusesAHundredPercent) {
  FakeTree t;
  AddLibvirtVm(t);
  Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", 100, {101});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->Set(20).ok());
  Status s = v->Set(100);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(v->percent(), 20u);
  EXPECT_EQ(Read(v->group_dir() + "/cpu.cfs_quota_us"), "80000");
}

TEST(VcpuThrottleTest, RefusesNamesThatAreNotOnePathComponent) {
  FakeTree t;
  AddLibvirtVm(t);
  const std::vector<std::string> names = {"",
                                          ".",
                                          "..",
                                          "a/b",
                                          "/abs",
                                          "x..y",
                                          "tab\tname",
                                          std::string(256, 'n'),
                                          std::string("nul\0x", 5)};
  for (const std::string& name : names) {
    Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), name, 100, {101});
    ASSERT_FALSE(v.ok()) << name;
    EXPECT_EQ(v.status().code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_THAT(v.status().message(), HasSubstr("path component"));
  }
  EXPECT_TRUE(VcpuThrottle::Create(t.fs(), std::string(255, 'n'), 100, {101}).ok());
}

TEST(VcpuThrottleTest, RefusesBadProcessAndThreadLists) {
  FakeTree t;
  AddLibvirtVm(t);
  const std::pair<int, std::vector<int>> cases[] = {
      {0, {101}}, {-1, {101}}, {100, {}}, {100, {0}}, {100, {101, -3}}, {100, {101, 102, 101}},
  };
  for (const auto& [pid, tids] : cases) {
    Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", pid, tids);
    ASSERT_FALSE(v.ok()) << pid;
    EXPECT_EQ(v.status().code(), ErrorCode::kInvalidArgument) << v.status().ToString();
  }
  Result<VcpuThrottle> many =
      VcpuThrottle::Create(t.fs(), "x", 100, std::vector<int>(kMaxThrottledThreads + 1, 5));
  EXPECT_EQ(many.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(t.cpu() + "/machine/vm1/x"));
}

TEST(VcpuThrottleTest, AThreadOfAnotherProcessIsNotFoundAndNothingIsCreated) {
  FakeTree t;
  AddLibvirtVm(t);
  t.AddThread(200, 201, "3:cpu,cpuacct:/machine/vm2/vcpu0\n", "/machine/vm2/vcpu0");
  Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", 100, {101, 201});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(v.status().message(), HasSubstr("vCPU thread 201 of process 100 does not exist"));
  EXPECT_THAT(v.status().message(), HasSubstr("query-cpus-fast"));
  EXPECT_FALSE(fs::exists(t.cpu() + "/machine/vm1/x"));
  EXPECT_FALSE(fs::exists(t.cpu() + "/machine/vm1/vcpu0/tasks"));
}

TEST(VcpuThrottleTest, NoCgroupV1CpuHierarchyIsUnsupportedAndSaysWhy) {
  FakeTree v2("");
  v2.AddThread(100, 101, "0::/machine.slice/vm1\n", "");
  Write(v2.fs().cgroup_root + "/cgroup.controllers", "cpuset cpu io memory pids\n");
  Result<VcpuThrottle> a = VcpuThrottle::Create(v2.fs(), "x", 100, {101});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(a.status().message(), HasSubstr("cgroup v2"));
  EXPECT_THAT(a.status().message(), HasSubstr("does not support cgroup v2 yet"));

  FakeTree none("");
  Result<VcpuThrottle> b = VcpuThrottle::Create(none.fs(), "x", 100, {101});
  EXPECT_EQ(b.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(b.status().message(), HasSubstr("no cgroup v1 cpu hierarchy"));

  // A hierarchy, but the thread is in no cpu cgroup.
  FakeTree hybrid;
  hybrid.AddThread(100, 101, "4:memory:/a\n0::/a\n", "");
  Result<VcpuThrottle> c = VcpuThrottle::Create(hybrid.fs(), "x", 100, {101});
  EXPECT_EQ(c.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(c.status().message(), HasSubstr("no cpu line"));
}

TEST(VcpuThrottleTest, AMalformedProcCgroupFileIsCorrupt) {
  FakeTree t;
  t.AddThread(100, 101, "3:cpu:../../etc\n", "");
  Result<VcpuThrottle> v = VcpuThrottle::Create(t.fs(), "x", 100, {101});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(v.status().message(), HasSubstr("/proc/100/task/101/cgroup"));
}

TEST(VcpuThrottleTest, AGroupLeftHoldingThreadsIsRefusedAnEmptyOneReused) {
  FakeTree t;
  AddLibvirtVm(t);
  const std::string group = t.cpu() + "/machine/vm1/x";
  Write(group + "/tasks", "4242\n");
  Result<VcpuThrottle> busy = VcpuThrottle::Create(t.fs(), "x", 100, {101});
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(busy.status().message(), HasSubstr("holds threads (e.g. 4242)"));
  EXPECT_THAT(busy.status().message(), HasSubstr("rmdir " + group));
  EXPECT_EQ(Read(group + "/tasks"), "4242\n");  // left alone

  Write(group + "/tasks", "");
  Result<VcpuThrottle> reused = VcpuThrottle::Create(t.fs(), "x", 100, {101});
  ASSERT_TRUE(reused.ok()) << reused.status().ToString();
  EXPECT_EQ(Read(group + "/tasks"), "101\n");
}

TEST(VcpuThrottleTest, ParseCpuCgroupFindsTheCpuControllerAsAWholeWord) {
  const std::pair<const char*, const char*> good[] = {
      {"1:cpu:/\n", "/"},
      {"3:cpu,cpuacct:/a/b\n", "/a/b"},
      {"3:cpuacct,cpu:/a\n", "/a"},
      {"2:cpuacct:/x\n5:cpuset:/y\n4:cpu:/z", "/z"},
      {"9:name=systemd:/s\n3:cpu,cpuacct:/user.slice/a:b\n0::/s\n", "/user.slice/a:b"},
  };
  for (const auto& [text, path] : good) {
    Result<std::string> p = ParseCpuCgroup(text);
    ASSERT_TRUE(p.ok()) << text << p.status().ToString();
    EXPECT_EQ(*p, path);
  }
  EXPECT_EQ(ParseCpuCgroup("0::/\n").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ParseCpuCgroup("2:cpuacct:/\n3:cpuset:/\n").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ParseCpuCgroup("").status().code(), ErrorCode::kNotFound);
  for (const char* bad : {"cpu:/\n", "x:cpu:/\n", ":cpu:/\n", "1:cpu:\n", "1:cpu:a/b\n",
                          "1:cpu:/a/../b\n", "1:cpu:/..\n", "1:cpu:/a/./b\n", "1:cpu:/a//b\n",
                          "1:cpu:/a/\n", "1:cpu:/a\n\n2:cpuset:/\n", "1:cpu:/a\n2:cpu:/b\n"}) {
    Result<std::string> p = ParseCpuCgroup(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), ErrorCode::kCorrupt) << bad;
  }
}

TEST(VcpuThrottleTest, ParseThrottledNsReadsOnlyAWellFormedNumber) {
  EXPECT_EQ(ParseThrottledNs("nr_periods 1\nnr_throttled 0\nthrottled_time 123\n"), 123u);
  EXPECT_EQ(ParseThrottledNs("throttled_time 0"), 0u);
  EXPECT_EQ(ParseThrottledNs("nr_periods 1\n"), std::nullopt);
  EXPECT_EQ(ParseThrottledNs("throttled_time -1\n"), std::nullopt);
  EXPECT_EQ(ParseThrottledNs("throttled_time 12x\n"), std::nullopt);
  EXPECT_EQ(ParseThrottledNs("throttled_time \n"), std::nullopt);
  EXPECT_EQ(ParseThrottledNs("throttled_time 99999999999999999999999\n"), std::nullopt);
}

// --- Against the real cgroup v1 fs (root only). ---

// A thread of this process that spins until destroyed.
class Spinner {
 public:
  Spinner()
      : thread_([this] {
          tid_.store(::gettid());
          while (!stop_.load()) {
          }
        }) {
    while (tid_.load() == 0) std::this_thread::yield();
  }
  ~Spinner() {
    stop_.store(true);
    thread_.join();
  }
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  int tid() const { return tid_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> tid_{0};
  std::thread thread_;
};

TEST(VcpuThrottleRealCgroupTest, ThrottlesAThreadOfThisProcessAndGivesItBack) {
  if (::geteuid() != 0 || !fs::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {
    GTEST_SKIP() << "needs root and the cgroup v1 cpu controller at /sys/fs/cgroup/cpu";
  }
  Spinner spinner;
  const std::string self = "/proc/self/task/" + std::to_string(spinner.tid()) + "/cgroup";
  Result<std::string> before = ParseCpuCgroup(Read(self));
  ASSERT_TRUE(before.ok()) << before.status().ToString();

  const std::string name = "mkd-throttle-test-" + std::to_string(::getpid());
  Result<VcpuThrottle> v = VcpuThrottle::Create(ThrottleFs{}, name, ::getpid(), {spinner.tid()});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const std::string group = v->group_dir();
  ASSERT_TRUE(v->Set(50).ok());
  EXPECT_EQ(Read(group + "/cpu.cfs_quota_us"), "50000\n");
  EXPECT_EQ(Read(group + "/tasks"), std::to_string(spinner.tid()) + "\n");
  EXPECT_GE(v->ThrottledSeconds(), 0.0);

  ASSERT_TRUE(v->Restore().ok());
  Result<std::string> after = ParseCpuCgroup(Read(self));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, *before);
  EXPECT_FALSE(fs::exists(group));
}

}  // namespace
}  // namespace mkd::migrate
