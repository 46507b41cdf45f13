// Choosing QEMU's accelerator by a short test boot (docs/architecture.md): on these machines
// /dev/kvm exists but a KVM guest hangs in early Linux boot, so the device alone proves nothing.
// The probe boots the VM's own kernel under KVM without a root file system (panic=-1,
// -no-reboot): a working KVM reaches the kernel's "no root" panic and QEMU exits by itself within
// seconds; a hanging one does not, and TCG is chosen. The verdict is cached in a file (on /run, so
// it is probed again after a reboot), keyed by the QEMU binary and the kernel.
// Not thread-safe against concurrent probes writing the same cache file (last writer wins).
#ifndef MKD_QEMU_CONFIG_ACCEL_PROBE_H_
#define MKD_QEMU_CONFIG_ACCEL_PROBE_H_

#include <chrono>
#include <string>

namespace mkd::qemuconfig {

struct AccelChoice {
  std::string accel;   // "kvm" or "tcg"
  std::string reason;  // why, in words for the operator
  bool cached = false;
};

struct ProbeOptions {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string kernel;  // a bootable kernel; empty: no test boot possible, TCG is chosen
  std::string cache_file = "/run/miyakodori/accel.json";
  std::chrono::seconds timeout{15};
  std::string kvm_device = "/dev/kvm";
};

AccelChoice ChooseAccel(const ProbeOptions& options);

}  // namespace mkd::qemuconfig

#endif  // MKD_QEMU_CONFIG_ACCEL_PROBE_H_
