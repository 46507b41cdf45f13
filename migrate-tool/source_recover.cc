// `mkd-migrate recover VM` (source.h): after mkd-migrate died mid-migration, cancel what QEMU
// still migrates and resume the VM here, unless QEMU completed the migration or a post-copy
// switched over (its marker file). Touches the marker (read), the VM's leftover throttle group
// and the source QEMU through its monitor.
#include <filesystem>
#include <thread>

#include "migrate-tool/source.h"
#include "migrate-tool/source_adapters.h"
#include "migrate-tool/source_session.h"
#include "qemu-config/qmp/client.h"
#include "qemu-config/vm_control.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {
namespace internal {

Status RecoverWithMonitor(VmMonitor& q, std::chrono::milliseconds timeout, bool force,
                          const std::string& released, std::string* what) {
  Result<qmp::MigrationInfo> info = q.QueryMigrate();
  if (!info.ok()) return info.status();
  if (info->status == "completed" && !force) {
    *what =
        "QEMU completed the migration: the VM should run at the destination (check it); "
        "if it does not, --force resumes it here";
    return Status::Ok();
  }
  std::string done = released.empty() ? "" : released + "; ";
  const bool migrating = info->status == "setup" || info->status == "active" ||
                         info->status == "pre-switchover" || info->status == "device" ||
                         info->status == "cancelling";
  if (migrating) {
    MKD_RETURN_IF_ERROR(q.MigrateCancel());
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      info = q.QueryMigrate();
      if (!info.ok()) return info.status();
      if (info->status == "cancelled" || info->status == "failed") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    done = "cancelled QEMU's migration (it was " + info->status + "); ";
  }
  MKD_ASSIGN_OR_RETURN(qmp::VmStatus st, q.QueryStatus());
  if (!st.running && (st.status != "postmigrate" || force)) {
    MKD_RETURN_IF_ERROR(q.Cont());
    done += "resumed the VM (it was " + st.status + ")";
  } else {
    done += st.running ? "the VM runs here" : "the VM is " + st.status;
  }
  *what = done;
  return Status::Ok();
}

}  // namespace internal

Status Recover(const std::string& definition, std::chrono::milliseconds timeout, bool force,
               std::string* what, const std::string& run_dir) {
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition def, qemuconfig::LoadVmDefinition(definition));
  const std::string marker = run_dir + "/mkd-migrate-" + def.uuid.ToString() + ".postcopy";
  if (std::filesystem::exists(marker)) {
    return Status::FailedPrecondition(
        "VM " + def.name + " was moved by post-copy (" + marker +
        "): it ran at the destination, so this host's copy of its memory is stale and is never "
        "resumed, not even with --force. If the destination lost it, restart the VM from its "
        "disk; delete the marker only if you know the destination never ran it");
  }
  const std::optional<pid_t> pid = qemuconfig::RunningPid(def);
  if (!pid) {
    *what = "VM " + def.name + " has no QEMU on this host: nothing to recover here";
    return Status::Ok();
  }
  // A killed mkd-migrate may have left the guest's vCPUs throttled (auto-converge).
  std::string released;
  MKD_RETURN_IF_ERROR(ReleaseLeftoverThrottle(ThrottleFs{}, ThrottleGroupName(def.uuid),
                                              static_cast<int>(*pid), &released));
  MKD_ASSIGN_OR_RETURN(qmp::QmpClient q,
                       qmp::QmpClient::Connect(qemuconfig::PathsFor(def).qmp_socket, timeout));
  return internal::RecoverWithMonitor(*QmpMonitor(std::move(q)), timeout, force, released, what);
}

}  // namespace mkd::migrate
