// Tests of install-hooks on a temporary hooks directory: the script (run by sh, to prove its
// quoting), a first install, a second one, a foreign hook refused, then replaced with --force.
// Touches its temporary directory only (and runs sh there).
#include "libvirt/install_hooks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "base/temp_dir_for_test.h"

namespace mkd::libvirt {
namespace {

const HookScriptOptions kOptions{"/etc/miyakodori/vms", "libvirt-qemu", "kvm"};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(InstallHooksTest, TheScriptIsTwoLinesThatExecTheHookWithTheOptions) {
  EXPECT_EQ(HookScript("/usr/local/bin/mkd-libvirt", kOptions),
            "#!/bin/sh\nexec /usr/local/bin/mkd-libvirt hook --vm-dir /etc/miyakodori/vms "
            "--vm-user libvirt-qemu --vm-group kvm -- \"$@\"\n");
}

TEST(InstallHooksTest, ShRunsTheScriptWithLibvirtsArgumentsQuotedRight) {
  testing::TempDirForTest dir;
  // A stand-in for mkd-libvirt, at a path that needs quoting, printing its arguments.
  const std::string exe = dir / "it's here";
  std::ofstream(exe) << "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n";
  ASSERT_EQ(::chmod(exe.c_str(), 0755), 0);
  const std::string script = dir / "qemu";
  std::ofstream(script) << HookScript(exe, {"/etc/my vms", "libvirt-qemu", "kvm"});
  FILE* out = ::popen(("sh '" + script + "' 'web 1' migrate begin -").c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), out) != nullptr) text += buffer;
  ASSERT_EQ(::pclose(out), 0);
  EXPECT_EQ(text,
            "[hook]\n[--vm-dir]\n[/etc/my vms]\n[--vm-user]\n[libvirt-qemu]\n[--vm-group]\n"
            "[kvm]\n[--]\n[web 1]\n[migrate]\n[begin]\n[-]\n");
}

TEST(InstallHooksTest, InstallsOnceWithMode0755) {
  testing::TempDirForTest dir;
  const std::string hooks = dir / "hooks";  // created when missing
  const std::string script = HookScript("/bin/mkd-libvirt", kOptions);
  Result<HookInstall> done = InstallHook(hooks, script, false);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, HookInstall::kInstalled);
  EXPECT_EQ(Read(hooks + "/qemu"), script);
  EXPECT_EQ(ModeOf(hooks + "/qemu"), 0755u);
  EXPECT_EQ(ModeOf(hooks), 0755u);
  done = InstallHook(hooks, script, false);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(*done, HookInstall::kUnchanged);
}

TEST(InstallHooksTest, RefusesAnotherHookWithoutForce) {
  testing::TempDirForTest dir;
  const std::string foreign = "#!/bin/sh\nlogger \"$@\"\n";
  std::ofstream(dir / "qemu") << foreign;
  for (const std::string& other :
       {foreign, HookScript("/bin/mkd-libvirt", {"/elsewhere", "libvirt-qemu", "kvm"})}) {
    std::ofstream(dir / "qemu") << other;
    Result<HookInstall> done =
        InstallHook(dir.path(), HookScript("/bin/mkd-libvirt", kOptions), false);
    ASSERT_FALSE(done.ok());
    EXPECT_EQ(done.status().code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(done.status().message().find(dir / "qemu" + " exists and is another hook"),
              std::string::npos)
        << done.status().message();
    EXPECT_NE(done.status().message().find("pass --force to replace it"), std::string::npos);
    EXPECT_EQ(Read(dir / "qemu"), other);
  }
}

TEST(InstallHooksTest, ForceReplacesAnotherHookAndKeepsIt) {
  testing::TempDirForTest dir;
  const std::string foreign = "#!/bin/sh\nlogger \"$@\"\n";
  std::ofstream(dir / "qemu") << foreign;
  const std::string script = HookScript("/bin/mkd-libvirt", kOptions);
  Result<HookInstall> done = InstallHook(dir.path(), script, true);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, HookInstall::kReplaced);
  EXPECT_EQ(Read(dir / "qemu"), script);
  EXPECT_EQ(ModeOf(dir / "qemu"), 0755u);
  EXPECT_EQ(Read(dir / "qemu.replaced-by-mkd-libvirt"), foreign);
}

TEST(InstallHooksTest, NeverReplacesADirectory) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / "qemu").c_str(), 0755), 0);
  Result<HookInstall> done = InstallHook(dir.path(), "#!/bin/sh\n", true);
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.status().message().find("is not a regular file"), std::string::npos);
}

TEST(InstallHooksTest, TheRunningExecutableIsThisTest) {
  Result<std::string> exe = RunningExecutable();
  ASSERT_TRUE(exe.ok()) << exe.status().ToString();
  EXPECT_EQ(exe->front(), '/');
  EXPECT_TRUE(exe->ends_with("/libvirt_unit_test")) << *exe;
}

struct stat Device(mode_t mode, uid_t uid, gid_t gid) {
  struct stat st {};
  st.st_mode = S_IFCHR | mode;
  st.st_uid = uid;
  st.st_gid = gid;
  return st;
}

TEST(KvmAccessWarningTest, QemusUserNeedsReadAndWriteByOwnerGroupOrOthers) {
  const uid_t qemu = 64055;
  const gid_t kvm = 993, other = 50;
  // Debian's udev rule: root:kvm 0660, QEMU's user in the group kvm (primary or supplementary).
  EXPECT_EQ(KvmAccessWarning(Device(0660, 0, kvm), qemu, {kvm}), "");
  EXPECT_EQ(KvmAccessWarning(Device(0660, 0, kvm), qemu, {other, kvm}), "");
  EXPECT_EQ(KvmAccessWarning(Device(0600, qemu, 0), qemu, {other}), "");
  EXPECT_EQ(KvmAccessWarning(Device(0666, 0, 0), qemu, {other}), "");
  EXPECT_EQ(KvmAccessWarning(Device(0600, 0, 0), 0, {0}), "") << "root may";
  // This machine's: root-only, no udev.
  const std::string w = KvmAccessWarning(Device(0600, 0, 0), qemu, {kvm});
  EXPECT_NE(w.find("may not read and write /dev/kvm (mode 0600, owner 0:0)"), std::string::npos)
      << w;
  EXPECT_NE(w.find("probe QEMU again on every call"), std::string::npos) << w;
  // Read-only for the group, or the group is another: not enough.
  EXPECT_NE(KvmAccessWarning(Device(0640, 0, kvm), qemu, {kvm}), "");
  EXPECT_NE(KvmAccessWarning(Device(0660, 0, kvm), qemu, {other}), "");
  // The owner's bits decide for the owner, even when others may more.
  EXPECT_NE(KvmAccessWarning(Device(0066, qemu, kvm), qemu, {kvm}), "");
}

TEST(KvmAccessWarningTest, AMissingDeviceIsNoWarning) {
  testing::TempDirForTest dir;
  EXPECT_EQ(KvmAccessWarningFor(dir.path() + "/no-kvm", 64055, 993), "");
}

}  // namespace
}  // namespace mkd::libvirt
