// The KVM test boot and its cache.
#include "qemu-config/accel_probe.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "qemu-config/process.h"

namespace mkd::qemuconfig {
namespace {

std::string CacheKey(const ProbeOptions& o) {
  struct stat st {};
  std::string mtime = stat(o.kernel.c_str(), &st) == 0 ? std::to_string(st.st_mtime) : "?";
  return o.qemu_binary + "|" + o.kernel + "|" + mtime;
}

bool ReadCache(const ProbeOptions& o, AccelChoice* out) {
  std::ifstream in(o.cache_file);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (!doc.is_object()) return false;
  auto key = doc.find("key");
  auto accel = doc.find("accel");
  auto reason = doc.find("reason");
  if (key == doc.end() || accel == doc.end() || reason == doc.end() || !key->is_string() ||
      !accel->is_string() || !reason->is_string() || *key != CacheKey(o)) {
    return false;
  }
  std::string a = accel->get<std::string>();
  if (a != "kvm" && a != "tcg") return false;
  *out = {a, reason->get<std::string>(), true};
  return true;
}

void WriteCache(const ProbeOptions& o, const AccelChoice& c) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(o.cache_file).parent_path(), ec);
  const std::string tmp = o.cache_file + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"key", CacheKey(o)}, {"accel", c.accel}, {"reason", c.reason}}.dump()
        << "\n";
    if (!out) return;  // a cache we cannot write only costs a probe next time
  }
  std::filesystem::rename(tmp, o.cache_file, ec);
}

AccelChoice Probe(const ProbeOptions& o) {
  if (access(o.kvm_device.c_str(), R_OK | W_OK) != 0) {
    return {"tcg", o.kvm_device + " is not usable", false};
  }
  if (o.kernel.empty()) {
    return {"tcg", "no kernel to test-boot KVM with (use --accel kvm to force it)", false};
  }
  char tmpl[] = "/tmp/mkd-accel-probe-XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    return {"tcg", "cannot create a directory for the test boot", false};
  const std::string dir = tmpl;
  const std::string serial = dir + "/serial.log";
  std::vector<std::string> argv = {o.qemu_binary,
                                   "-accel",
                                   "kvm",
                                   "-m",
                                   "128",
                                   "-nographic",
                                   "-nodefaults",
                                   "-no-user-config",
                                   "-no-reboot",
                                   "-serial",
                                   "file:" + serial,
                                   "-monitor",
                                   "none",
                                   "-kernel",
                                   o.kernel,
                                   "-append",
                                   "console=ttyS0 panic=-1"};
  AccelChoice choice{"tcg", "", false};
  Result<pid_t> pid = Spawn(argv, {dir + "/stdout", dir + "/stderr"});
  if (!pid.ok()) {
    choice.reason = pid.status().message();
  } else {
    Result<std::optional<int>> done = WaitFor(*pid, o.timeout);
    std::ifstream log(serial);
    std::ostringstream text;
    text << log.rdbuf();
    const bool reached_panic = text.str().find("Kernel panic") != std::string::npos;
    if (!done.ok() || !done->has_value()) {
      Terminate(*pid, std::chrono::seconds(1));
      choice.reason = "a KVM test boot did not finish within " + std::to_string(o.timeout.count()) +
                      " s (KVM hangs here, e.g. nested virtualisation); using TCG";
    } else if (reached_panic) {
      choice = {"kvm", "a KVM test boot reached the kernel's end", false};
    } else {
      choice.reason = "a KVM test boot failed (" + DescribeWaitStatus(**done) + "); using TCG";
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return choice;
}

}  // namespace

AccelChoice ChooseAccel(const ProbeOptions& options) {
  AccelChoice cached;
  if (ReadCache(options, &cached)) return cached;
  AccelChoice choice = Probe(options);
  WriteCache(options, choice);
  return choice;
}

}  // namespace mkd::qemuconfig
