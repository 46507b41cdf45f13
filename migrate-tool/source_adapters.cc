// The source's ports over the real classes (see source_adapters.h).
#include "migrate-tool/source_adapters.h"

#include <chrono>
#include <fstream>
#include <thread>
#include <utility>

#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "migrate-tool/libvirt_migration.h"
#include "migrate-tool/net.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/stream_tunnel.h"
#include "migrate-tool/vcpu_throttle.h"
#include "qemu-config/process.h"
#include "qemu-config/qmp/migration.h"
#include "qemu-config/vm_control.h"

namespace mkd::migrate {
namespace {

class RamFilePort final : public SourceRam {
 public:
  RamFilePort(RamFile ram, std::string vm_dir) : ram_(std::move(ram)), vm_dir_(std::move(vm_dir)) {}
  Result<RamFileSummary> Summary() override { return ram_.Summary(); }
  Result<PostcopyStatus> Postcopy() override { return ram_.Postcopy(); }
  Result<PageBitmap> Sync() override { return ram_.Sync(); }
  Result<PageBitmap> Take() override { return ram_.Take(); }
  Result<std::string> DigestsBlob() override { return ram_.DigestsBlob(); }
  Status WriteBack(uint64_t first, uint64_t count) override { return ram_.WriteBack(first, count); }
  Result<GenerationTable> Table() override { return ram_.Table(); }
  Result<PageBitmap> Reusable(std::string_view peer_table_blob) override {
    return ram_.Reusable(peer_table_blob);
  }
  Status ReadPages(uint64_t first, uint64_t count, char* out) override {
    return ram_.ReadPages(first, count, out);
  }
  Status Advance(Epoch epoch) override {
    return SetVmDirXattr(vm_dir_, memfs_protocol::kAdvance, memfs_protocol::FormatAdvance(epoch));
  }

 private:
  RamFile ram_;
  std::string vm_dir_;
};

class QmpMonitorPort final : public VmMonitor {
 public:
  explicit QmpMonitorPort(qmp::QmpClient client) : qmp_(std::move(client)) {}
  bool connected() const override { return qmp_.connected(); }
  void Close() override { qmp_.Close(); }
  Result<qmp::VmStatus> QueryStatus() override { return qmp_.QueryStatus(); }
  Result<qmp::MigrationInfo> QueryMigrate() override { return qmp_.QueryMigrate(); }
  Result<std::vector<qmp::VcpuInfo>> QueryCpusFast() override { return qmp_.QueryCpusFast(); }
  Status SetCapabilities(const std::vector<qmp::CapabilitySetting>& settings) override {
    return qmp::SetMigrationCapabilities(qmp_, settings);
  }
  Status SetMaxBandwidth(uint64_t bytes_per_second) override {
    return qmp::SetMaxBandwidth(qmp_, bytes_per_second);
  }
  Status Migrate(std::string_view uri) override { return qmp::Migrate(qmp_, uri); }
  Status MigrateContinue() override { return qmp::MigrateContinue(qmp_); }
  Status MigrateCancel() override { return qmp::MigrateCancel(qmp_); }
  Status Cont() override { return qmp::Cont(qmp_); }

 private:
  qmp::QmpClient qmp_;
};

class ChannelLinkPort final : public PeerLink {
 public:
  explicit ChannelLinkPort(std::unique_ptr<Channel> ch) : ch_(std::move(ch)) {}
  Status Send(FrameType type, std::string_view head, std::string_view body) override {
    return ch_->Send(type, head, body);
  }
  Status Queue(FrameType type, std::string_view head, std::string_view body) override {
    return ch_->Queue(type, head, body);
  }
  Status Flush() override { return ch_->Flush(); }
  Result<Frame> Receive() override { return ch_->Receive(); }
  bool Readable(std::chrono::milliseconds wait) override { return ch_->Readable(wait); }
  uint64_t Unacked() const override { return ch_->Unacked(); }
  std::optional<peer::TcpSendTimes> SendTimes() const override { return ch_->SendTimes(); }
  void SetBandwidth(uint64_t bytes_per_second) override { ch_->SetBandwidth(bytes_per_second); }
  void SetTimeout(std::chrono::milliseconds timeout) override { ch_->SetTimeout(timeout); }
  const std::string& peer_host() const override { return ch_->peer_host(); }
  uint64_t bytes_sent() const override { return ch_->bytes_sent(); }
  uint64_t bytes_received() const override { return ch_->bytes_received(); }

 private:
  std::unique_ptr<Channel> ch_;
};

class TunnelStream final : public QemuStream {
 public:
  explicit TunnelStream(std::unique_ptr<SourceTunnel> t) : t_(std::move(t)) {}
  const std::string& path() const override { return t_->path(); }
  void Release() override { t_->Release(); }
  Status Join() override { return t_->Join(); }
  void Cancel() override { t_->Cancel(); }
  uint64_t bytes() const override { return t_->bytes(); }
  uint64_t wire_bytes() const override { return t_->wire_bytes(); }

 private:
  std::unique_ptr<SourceTunnel> t_;
};

class CgroupThrottle final : public CpuThrottle {
 public:
  explicit CgroupThrottle(VcpuThrottle t) : t_(std::move(t)) {}
  Status Set(uint32_t percent) override { return t_.Set(percent); }
  uint32_t percent() const override { return t_.percent(); }
  Status Restore() override { return t_.Restore(); }
  double ThrottledSeconds() const override { return t_.ThrottledSeconds(); }

 private:
  VcpuThrottle t_;
};

// The TLS identity and where the destination is: shared by the link and the stream's pump.
struct Dialer {
  peer::TlsContext tls;
  std::string address, to_host;
  std::chrono::milliseconds timeout;
  Result<std::unique_ptr<Channel>> operator()() const {
    return DialPeer(tls, address, to_host, timeout);
  }
};

class QemuProcess final : public SourceVm {
 public:
  QemuProcess(qemuconfig::VmDefinition def, ThrottleFs fs, std::shared_ptr<const Dialer> dialer)
      : def_(std::move(def)), fs_(std::move(fs)), dialer_(std::move(dialer)) {}
  Result<std::unique_ptr<QemuStream>> OpenStream(const std::string& path, const StreamHello& hello,
                                                 bool hold) override {
    MKD_ASSIGN_OR_RETURN(std::unique_ptr<SourceTunnel> tunnel, SourceTunnel::Listen(path));
    tunnel->Start([dialer = dialer_] { return (*dialer)(); }, hello, hold);
    return std::unique_ptr<QemuStream>(std::make_unique<TunnelStream>(std::move(tunnel)));
  }
  Result<std::unique_ptr<CpuThrottle>> Throttle(const std::vector<int>& tids) override {
    const std::optional<pid_t> pid = Pid();
    if (!pid) return Status::NotFound("the source QEMU's pid file");
    MKD_ASSIGN_OR_RETURN(VcpuThrottle t, VcpuThrottle::Create(fs_, ThrottleGroupName(def_.uuid),
                                                              static_cast<int>(*pid), tids));
    return std::unique_ptr<CpuThrottle>(std::make_unique<CgroupThrottle>(std::move(t)));
  }
  Status Stop() override {
    if (def_.manager == qemuconfig::VmManager::kLibvirt) {
      // libvirt stops the source QEMU itself once its migration succeeded; wait for that, so
      // that the RAM file is closed (a stored incarnation) when we report.
      for (int i = 0; i < 100 && Pid(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (Pid())
        return Status::FailedPrecondition("libvirt did not stop the source QEMU of " + def_.name);
      return Status::Ok();
    }
    return qemuconfig::StopVm(def_, std::chrono::seconds(10));
  }

 private:
  // QEMU's pid: mkd-vm's pid file, or libvirt's (/run/libvirt/qemu/<domain>.pid).
  std::optional<pid_t> Pid() const {
    if (def_.manager != qemuconfig::VmManager::kLibvirt) return qemuconfig::RunningPid(def_);
    std::ifstream in("/run/libvirt/qemu/" + def_.name + ".pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0 || !qemuconfig::ProcessExists(static_cast<pid_t>(pid))) {
      return std::nullopt;
    }
    return static_cast<pid_t>(pid);
  }

  qemuconfig::VmDefinition def_;
  ThrottleFs fs_;
  std::shared_ptr<const Dialer> dialer_;
};

}  // namespace

std::unique_ptr<VmMonitor> QmpMonitor(qmp::QmpClient client) {
  return std::make_unique<QmpMonitorPort>(std::move(client));
}

std::unique_ptr<PeerLink> ChannelLink(std::unique_ptr<Channel> channel) {
  return std::make_unique<ChannelLinkPort>(std::move(channel));
}

std::string DefaultLibvirtUri(const SourceOptions& o) {
  std::string host = o.address.empty() ? o.to_host : o.address;
  // ADDR:PORT is serve's port, not libvirt's; an IPv6 address comes in brackets.
  if (const size_t colon = host.rfind(':'); colon != std::string::npos &&
                                            host.find(']') == std::string::npos &&
                                            host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  return "qemu+tls://" + host + "/system";
}

Result<SourcePorts> OpenSourcePorts(const SourceOptions& o, qemuconfig::VmDefinition* def) {
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition d, qemuconfig::LoadVmDefinition(o.definition));
  *def = std::move(d);
  if (def->backing != qemuconfig::MemoryBacking::kMemfs) {
    return Status::FailedPrecondition("VM " + def->name +
                                      ": its RAM is not on mkd-memfs (memory_backing), so "
                                      "mkd-migrate cannot move it; use QEMU's own migration");
  }
  const qemuconfig::VmPaths paths = qemuconfig::PathsFor(*def);
  const bool libvirt = def->manager == qemuconfig::VmManager::kLibvirt;
  if (!libvirt && !o.libvirt_uri.empty()) {
    return Status::InvalidArgument("VM " + def->name +
                                   " is not a libvirt domain (its definition has no \"manager\": "
                                   "\"libvirt\"): --libvirt applies to libvirt's VMs only");
  }
  if (libvirt && o.postcopy) {
    return Status::Unsupported("VM " + def->name +
                               " is a libvirt domain: --postcopy is not supported with libvirt "
                               "(pre-copy only, docs/libvirt.md)");
  }
  // A libvirt domain has no mkd-vm pid file: its monitor answering (below) says it runs.
  if (!libvirt && !qemuconfig::RunningPid(*def)) {
    return Status::FailedPrecondition("VM " + def->name + " is not running on this host");
  }
  MKD_ASSIGN_OR_RETURN(peer::TlsContext tls, peer::TlsContext::Create(o.tls, /*server=*/false));
  auto dialer = std::make_shared<Dialer>(
      Dialer{std::move(tls), o.address.empty() ? o.to_host : o.address, o.to_host, o.timeout});
  MKD_ASSIGN_OR_RETURN(RamFile ram, RamFile::Open(paths.memory_file));
  Result<qmp::QmpClient> q = qmp::QmpClient::Connect(paths.qmp_socket, o.timeout);
  if (!q.ok() && libvirt) {
    return q.status().WithContext("VM " + def->name +
                                  ": its monitor does not answer (does its libvirt domain run "
                                  "here, with mkd-libvirt's <qemu:commandline>?)");
  }
  if (!q.ok()) return q.status().WithContext("QMP of the source QEMU");
  SourcePorts ports;
  ports.dial = [dialer]() -> Result<std::shared_ptr<PeerLink>> {
    MKD_ASSIGN_OR_RETURN(std::unique_ptr<Channel> ch, (*dialer)());
    return std::shared_ptr<PeerLink>(ChannelLink(std::move(ch)));
  };
  ports.ram = std::make_shared<RamFilePort>(std::move(ram), paths.memory_dir);
  ports.monitor = QmpMonitor(std::move(*q));
  ports.vm = std::make_shared<QemuProcess>(*def, o.throttle_fs, dialer);
  if (libvirt) {
    VirshOptions v;
    v.virsh = o.virsh;
    v.connect = o.libvirt_connect;
    v.destination = o.libvirt_uri.empty() ? DefaultLibvirtUri(o) : o.libvirt_uri;
    v.domain = def->name;
    v.log_path = o.tunnel_dir + "/mkd-migrate-" + def->uuid.ToString() + ".virsh.log";
    ports.libvirt = std::make_shared<VirshMigration>(std::move(v));
  }
  ports.now = [] { return std::chrono::steady_clock::now(); };
  return ports;
}

}  // namespace mkd::migrate
