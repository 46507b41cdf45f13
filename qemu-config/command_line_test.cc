// Tests for the QEMU command line: the memory backend, QMP, serial, incoming and quoting.
#include "qemu-config/command_line.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace mkd::qemuconfig {
namespace {

VmDefinition Vm() {
  VmDefinition vm;
  vm.uuid = *Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  vm.name = "web1";
  vm.memory_mib = 256;
  vm.kernel = "/g/vmlinuz";
  vm.initrd = "/g/initrd";
  vm.append = "console=ttyS0 mkd.run=checker";
  vm.backing = MemoryBacking::kMemfs;
  vm.memory_dir = "/run/mem";
  vm.run_dir = "/run/vms";
  return vm;
}

// The value following `option` in argv ("" if absent).
std::string After(const std::vector<std::string>& argv, const std::string& option) {
  auto it = std::find(argv.begin(), argv.end(), option);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

TEST(CommandLineTest, PutsGuestRamInASharedFileNamedByTheUuid) {
  std::vector<std::string> argv = BuildQemuCommandLine(Vm(), {});
  EXPECT_EQ(argv[0], "qemu-system-x86_64");
  EXPECT_EQ(After(argv, "-object"),
            "memory-backend-file,id=mkd-ram,size=256M,"
            "mem-path=/run/mem/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/ram,share=on");
  // The machine type, then (with the RAM, MkdQemuArgs) its memory backend: QEMU merges both.
  EXPECT_EQ(After(argv, "-machine"), "pc");
  const auto second = std::find(std::find(argv.begin(), argv.end(), "-machine") + 1, argv.end(),
                                std::string("-machine"));
  ASSERT_NE(second, argv.end());
  EXPECT_EQ(*(second + 1), "memory-backend=mkd-ram");
  EXPECT_EQ(After(argv, "-m"), "256M");
  EXPECT_EQ(After(argv, "-uuid"), "6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  EXPECT_EQ(After(argv, "-qmp"),
            "unix:/run/vms/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/qmp.sock,server=on,wait=off");
  EXPECT_EQ(After(argv, "-chardev"),
            "socket,id=mkd-serial,path=/run/vms/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/serial.sock,"
            "server=on,wait=off,logfile=/run/vms/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/serial.log");
  EXPECT_EQ(After(argv, "-accel"), "tcg");
  EXPECT_EQ(After(argv, "-append"), "console=ttyS0 mkd.run=checker");
  EXPECT_EQ(After(argv, "-pidfile"), "/run/vms/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/qemu.pid");
  EXPECT_EQ(After(argv, "-incoming"), "");
}

TEST(CommandLineTest, IncomingAndForegroundAndKvm) {
  LaunchOptions o;
  o.incoming = true;
  o.daemonize = false;
  o.accel = "kvm";
  std::vector<std::string> argv = BuildQemuCommandLine(Vm(), o);
  EXPECT_EQ(After(argv, "-incoming"), "defer");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-S"), 0);
  o.paused = true;
  argv = BuildQemuCommandLine(Vm(), o);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-S"), 1);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-daemonize"), 0);
  EXPECT_EQ(After(argv, "-accel"), "kvm");
}

TEST(CommandLineTest, DiskAndNetworks) {
  VmDefinition vm = Vm();
  vm.kernel = vm.initrd = vm.append = "";
  vm.disk = "/images/a.qcow2";
  vm.network = NetworkType::kTap;
  vm.tap_ifname = "tap0";
  vm.mac = "52:54:00:00:00:01";
  std::vector<std::string> argv = BuildQemuCommandLine(vm, {});
  EXPECT_EQ(After(argv, "-drive"), "file=/images/a.qcow2,if=virtio,cache=none,format=qcow2");
  EXPECT_EQ(After(argv, "-netdev"), "tap,id=mkd-net,ifname=tap0,script=no,downscript=no");
  EXPECT_EQ(After(argv, "-device"), "virtio-net-pci,netdev=mkd-net,mac=52:54:00:00:00:01");
  EXPECT_EQ(After(argv, "-kernel"), "");
}

TEST(CommandLineTest, ExtraArgsComeLast) {
  VmDefinition vm = Vm();
  vm.extra_args = {"-rtc", "base=utc"};
  std::vector<std::string> argv = BuildQemuCommandLine(vm, {});
  EXPECT_EQ(argv[argv.size() - 2], "-rtc");
  EXPECT_EQ(argv.back(), "base=utc");
}

TEST(CommandLineTest, ShellQuoteQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote({"qemu", "-append", "console=ttyS0 quiet", "it's"}),
            "qemu -append 'console=ttyS0 quiet' 'it'\\''s'");
}

}  // namespace
}  // namespace mkd::qemuconfig
