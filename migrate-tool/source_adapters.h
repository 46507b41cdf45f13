// The real adapters behind the source's ports (source_ports.h): RamFile, QmpClient, Channel,
// SourceTunnel, VcpuThrottle and the VM's QEMU process (vm_control.h), and OpenSourcePorts,
// which opens them for one migration. Internal to mkd-migrate's source side (RunSource).
// Each adapter owns what it wraps; the threading is the wrapped class's.
#ifndef MKD_MIGRATE_TOOL_SOURCE_ADAPTERS_H_
#define MKD_MIGRATE_TOOL_SOURCE_ADAPTERS_H_

#include <memory>

#include "base/status.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/source.h"
#include "migrate-tool/source_ports.h"
#include "qemu-config/qmp/client.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

// The VM's QMP monitor, typed (qemu-config/qmp/migration.h); every command with the client's
// default timeout.
std::unique_ptr<VmMonitor> QmpMonitor(qmp::QmpClient client);

// A Channel as a PeerLink.
std::unique_ptr<PeerLink> ChannelLink(std::unique_ptr<Channel> channel);

// Loads the VM's definition (into *def), checks its RAM is on memfs and its QEMU runs here,
// loads the TLS identity, opens the RAM file and connects to QEMU's monitor. Errors say which
// step failed; nothing was changed on this host then.
Result<SourcePorts> OpenSourcePorts(const SourceOptions& options, qemuconfig::VmDefinition* def);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SOURCE_ADAPTERS_H_
