// The value of the `user.mkd.arrive` xattr of a VM directory: which epoch and lineage an arriving
// VM has (docs/architecture.md), e.g. {"epoch":3,"lineage":"6f1c...-..."}. Untrusted input (any
// process that can set an xattr on the mount): parsed strictly, fuzzed. Pure functions.
#ifndef MKD_MEMFS_ARRIVAL_H_
#define MKD_MEMFS_ARRIVAL_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"

namespace mkd::memfs {

// A VM about to arrive: set on its directory before the destination QEMU opens its files.
struct Arrival {
  Epoch epoch = 0;  // the VM's epoch on this host once committed
  Uuid lineage;     // the VM's lineage (same as the source's incarnation)
};

inline constexpr size_t kMaxArrivalSize = 1024;

// Checks size, JSON syntax, exactly the fields "epoch" (a valid epoch) and "lineage" (a UUID).
Result<Arrival> ParseArrival(std::string_view json);
std::string FormatArrival(const Arrival& arrival);

// The value of the `user.mkd.advance` xattr of a VM directory, {"epoch":N}: the running VM goes on
// in epoch N (a migration that committed its pages elsewhere in the current epoch sets it, so the
// VM, should it resume here, never writes that epoch again). Checks size, syntax, exactly the
// field "epoch" (a valid epoch).
Result<Epoch> ParseAdvance(std::string_view json);

// The value set on a RAM file's `user.mkd.postcopy` xattr, {"fail":"<reason>"}: the post-copy
// driver says the source is gone (docs/postcopy.md). Checks size, syntax, exactly the field
// "fail" (a string of 1..512 bytes); returns the reason.
Result<std::string> ParsePostcopyFail(std::string_view json);

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_ARRIVAL_H_
