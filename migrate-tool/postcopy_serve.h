// PostcopyReceiver: the destination's part once a post-copy switchover committed
// (docs/postcopy.md). The VM's QEMU here gets its device state and runs while pages are still
// at the source; memfs parks every read of such a page. This loop hands memfs's wanted pages to
// the source (WANT), writes every page that arrives into the RAM file (which answers the parked
// reads), tells the source once QEMU runs, and ends when the source sent everything and memfs
// holds every page (POSTCOPY_DONE with memfs's statistics).
// A poller thread waits on user.mkd.wanted (a RAM file handle of its own) and wakes the loop
// through an eventfd; a watcher thread asks the monitor until QEMU runs; everything else, the
// link included, is used by the calling thread only. It reaches memfs, QEMU and the source
// through the ports of incoming_ports.h (fakes in unit tests).
#ifndef MKD_MIGRATE_TOOL_POSTCOPY_SERVE_H_
#define MKD_MIGRATE_TOOL_POSTCOPY_SERVE_H_

#include <chrono>
#include <string>

#include "base/status.h"
#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate {

struct PostcopyReceiveResult {
  bool ran = false;  // the destination QEMU ran (from then on the VM cannot go back)
};

// Runs the loop for the VM's RAM file in `memfs` (block 0 of `pages` pages), with the source at
// the other end of `link` and the destination QEMU's `monitor`. `timeout` bounds the source's
// silence while pages are missing and the wait for QEMU to run. On an error the caller fails the
// post-copy in memfs and stops QEMU; `result->ran` says whether the VM is lost.
Status RunPostcopyReceiver(IncomingLink& link, IncomingMemfs& memfs, uint64_t pages,
                           IncomingMonitor& monitor, std::chrono::milliseconds timeout,
                           PostcopyReceiveResult* result);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_POSTCOPY_SERVE_H_
