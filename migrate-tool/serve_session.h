// ServeSession: what one connection to `mkd-migrate serve` is, decided by its first frame once
// the TLS handshake is done: a HELLO opens a migration (the VM arrives, incoming.h), a PLAN asks
// what such a migration would reuse (plan_answer.h), a STREAM_HELLO carries the QEMU stream of a
// VM arriving (PumpIntoQemu), anything else is refused.
// The peer checks of docs/security.md live here: a HELLO, PLAN or STREAM_HELLO must name the host
// of the peer's certificate (CheckSourceHost), a VM's QEMU stream must come from the host that
// sends its pages and only once (Arrivals::ClaimStream); a malformed or oversized first frame is
// answered with a RESULT naming the problem.
// Runs on the connection's thread; touches the world only through its ports (incoming_ports.h).
#ifndef MKD_MIGRATE_TOOL_SERVE_SESSION_H_
#define MKD_MIGRATE_TOOL_SERVE_SESSION_H_

#include <chrono>
#include <string>

#include "base/status.h"
#include "migrate-tool/arrivals.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate {

// What a session needs besides its connection; every reference outlives the session.
struct SessionPorts {
  IncomingHost& host;
  QemuStreamConnector& streams;
  Arrivals& arrivals;
  std::chrono::milliseconds timeout;            // Incoming's
  std::chrono::milliseconds handshake_timeout;  // for the log line of a missing first frame
};

// Serves the connection `link` from `address` ("10.0.0.1:51234", for the log) whose first frame
// was `first` (an error when none came in time or it was bad). Logs every refusal.
void ServeSession(const Result<Frame>& first, IncomingLink& link, const std::string& address,
                  const SessionPorts& ports);

// The QEMU stream's serve end: connects to the destination QEMU's incoming socket at
// `qemu_socket` and writes every STREAM_DATA payload from `link` into it until STREAM_END; any
// other frame ends the stream with kInvalidArgument, no frame for `timeout` with kIo. What QEMU
// writes back on the socket (its return path) goes to the source as STREAM_BACK. The socket is
// closed in every case.
Status PumpIntoQemu(IncomingLink& link, QemuStreamConnector& connector,
                    const std::string& qemu_socket, std::chrono::milliseconds timeout);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_SERVE_SESSION_H_
