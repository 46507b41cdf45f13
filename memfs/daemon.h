// RunDaemon: mkd-memfs from start to stop — open the incarnation store, recover stored
// incarnations, mount, apply the BDI limits and the budget, serve FUSE requests on a pool of
// threads, and on SIGTERM/SIGINT unmount and close everything.
//
// Stopping: a live VM cannot survive its memfs (FUSE has no reconnect here), so while a RAM
// file is open for writing the first SIGTERM/SIGINT is refused with a log line naming the VMs;
// a second one within 10 s stops anyway. The daemon also asks the OOM killer to spare it.
#ifndef MKD_MEMFS_DAEMON_H_
#define MKD_MEMFS_DAEMON_H_

#include "memfs/options.h"

namespace mkd::memfs {

// Returns the process exit code.
int RunDaemon(const MemfsOptions& options);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_DAEMON_H_
