// Tests for the accelerator probe with fake QEMU binaries: one that reaches the kernel panic, one
// that hangs, one that fails at once; and the cache.
#include "qemu-config/accel_probe.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace mkd::qemuconfig {
namespace {

class AccelProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mkd-accel-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/kernel") << "not really a kernel";
    std::ofstream(dir_ + "/kvm") << "";  // stands in for /dev/kvm (readable and writable)
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A fake QEMU: a shell script given its body; "$serial" is the file after -serial file:.
  std::string FakeQemu(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\nserial=''\nfor a in \"$@\"; do case \"$a\" in file:*) "
                           "serial=\"${a#file:}\";; esac; done\n"
                        << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  ProbeOptions Options(const std::string& qemu) {
    ProbeOptions o;
    o.qemu_binary = qemu;
    o.kernel = dir_ + "/kernel";
    o.cache_file = dir_ + "/cache/accel.json";
    o.kvm_device = dir_ + "/kvm";
    o.timeout = std::chrono::seconds(2);
    return o;
  }

  std::string dir_;
};

TEST_F(AccelProbeTest, KvmThatBootsIsChosenAndCached) {
  ProbeOptions o = Options(FakeQemu("good", "echo 'Kernel panic - not syncing' > \"$serial\""));
  AccelChoice c = ChooseAccel(o);
  EXPECT_EQ(c.accel, "kvm") << c.reason;
  EXPECT_FALSE(c.cached);
  AccelChoice again = ChooseAccel(o);
  EXPECT_EQ(again.accel, "kvm");
  EXPECT_TRUE(again.cached);
}

TEST_F(AccelProbeTest, KvmThatHangsFallsBackToTcgWithinTheTimeout) {
  ProbeOptions o = Options(FakeQemu("hang", "exec sleep 30"));
  const auto start = std::chrono::steady_clock::now();
  AccelChoice c = ChooseAccel(o);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(c.accel, "tcg");
  EXPECT_NE(c.reason.find("did not finish"), std::string::npos) << c.reason;
}

TEST_F(AccelProbeTest, KvmThatFailsFallsBackToTcg) {
  AccelChoice c = ChooseAccel(Options(FakeQemu("fail", "exit 1")));
  EXPECT_EQ(c.accel, "tcg");
  EXPECT_NE(c.reason.find("exited with status 1"), std::string::npos) << c.reason;
}

TEST_F(AccelProbeTest, NoDeviceOrNoKernelMeansTcgWithoutBooting) {
  ProbeOptions o = Options(FakeQemu("never", "touch " + dir_ + "/ran"));
  o.kvm_device = dir_ + "/missing";
  EXPECT_EQ(ChooseAccel(o).accel, "tcg");
  o = Options(FakeQemu("never", "touch " + dir_ + "/ran"));
  o.kernel = "";
  EXPECT_EQ(ChooseAccel(o).accel, "tcg");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ran"));
}

TEST_F(AccelProbeTest, ACorruptCacheIsIgnored) {
  ProbeOptions o = Options(FakeQemu("fail", "exit 1"));
  std::filesystem::create_directories(dir_ + "/cache");
  std::ofstream(o.cache_file) << "{\"key\": 3, \"accel\": \"warp\"";
  AccelChoice c = ChooseAccel(o);
  EXPECT_EQ(c.accel, "tcg");
  EXPECT_FALSE(c.cached);
}

}  // namespace
}  // namespace mkd::qemuconfig
