// `mkd-migrate serve`: the destination side, one per host. It accepts migrations from peer hosts
// over mutual TLS, and for each: checks that this host holds a definition of the VM (it receives
// no VM it was not configured for), prepares the arrival on the local memfs, starts the
// destination QEMU in incoming mode (qemu-config), hands the source its table, writes the pages
// it receives into the incoming incarnation (through the mount's user.mkd.receive), answers
// --verify with its digests, commits, and reports once the VM runs. Anything that goes wrong
// before the commit stops that QEMU and aborts the arrival: the provisional pages become invalid.
// One thread per connection, joined as soon as the connection ends; sessions are keyed by VM (one
// arrival per VM at a time). This file's RunServe owns the socket, the bound and the handshakes;
// a connection's session is serve_session.h, a VM's arrival incoming.h (both behind the ports
// of incoming_ports.h, tested with fakes).
// Against peers (docs/migrate.md, "Limits"): at most max_sessions connections are served at once,
// one more is closed at once; a connection must finish its TLS handshake and first frame within
// handshake_timeout; no frame over max_frame_bytes is read (buffers grow as bytes arrive); every
// HELLO and STREAM_HELLO must name the host of the peer's certificate, and a VM's QEMU stream
// must come from the host that sends its pages (arrivals.h).
#ifndef MKD_MIGRATE_TOOL_SERVE_H_
#define MKD_MIGRATE_TOOL_SERVE_H_

#include <atomic>
#include <chrono>
#include <string>

#include "base/status.h"
#include "migrate-tool/incoming_adapters.h"
#include "migrate-tool/peer/tls.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct ServeOptions {
  std::string listen = "0.0.0.0:7420";
  std::string vm_dir = "/etc/miyakodori/vms";  // <uuid>.json: the VMs this host may receive
  peer::TlsConfig tls;
  std::string accel = "auto";
  std::string accel_cache = "/run/miyakodori/accel.json";
  std::string qemu_binary = "qemu-system-x86_64";
  std::chrono::milliseconds timeout{30'000};
  // Limits against peers; defaults and their reasons in docs/migrate.md, "Limits".
  size_t max_sessions = 32;                             // connections served at once
  uint32_t max_frame_bytes = kMaxSourceFramePayload;    // one frame's payload, per connection
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS handshake + first frame
  // The kernel's receive buffer of a migration's connection (once its HELLO came): pages keep
  // arriving while this host starts the VM's QEMU. 0: the kernel's autotuning.
  uint64_t receive_buffer_bytes = uint64_t{64} << 20;
  // Reuse by content: pages of a memfs mount indexed at most (0: off; docs/migrate.md).
  uint64_t content_index_pages = kDefaultContentIndexPages;
  ContentScope content_scope = ContentScope::kVm;  // whose pages an arriving VM may take
  // With kHost, the mounts' indexes are rebuilt this often in the background (0: on demand).
  std::chrono::seconds content_index_refresh{0};
};

// Serves until `stop` turns true (checked every 200 ms). Logs its limits at start.
Status RunServe(const ServeOptions& options, const std::atomic<bool>& stop);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SERVE_H_
