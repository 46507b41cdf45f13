// The values of two xattrs of a VM directory (names.h), both set by mkd-migrate and parsed by
// memfs; untrusted input there (any process that can set an xattr on the mount): parsed strictly,
// fuzzed (tests/fuzz/fuzz_parse_arrival.cc). Pure functions; thread-safe.
//   user.mkd.arrive   {"epoch":E,"lineage":"<uuid>"}: which epoch and lineage an arriving VM has
//                     (docs/formats.md); memfs also shows a pending one in the VM's summary.
//   user.mkd.advance  {"epoch":N}: the running VM goes on in epoch N (a migration that committed
//                     its pages elsewhere in the current epoch sets it, so the VM, should it
//                     resume here, never writes that epoch again).
#ifndef MKD_MEMFS_PROTOCOL_ARRIVAL_H_
#define MKD_MEMFS_PROTOCOL_ARRIVAL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"

namespace mkd::memfs_protocol {

// A VM about to arrive: set on its directory before the destination QEMU opens its files.
struct Arrival {
  Epoch epoch = 0;  // the VM's epoch on this host once committed
  Uuid lineage;     // the VM's lineage (same as the source's incarnation)
};

// Neither value is longer (both parsers refuse longer ones).
inline constexpr size_t kMaxArrivalSize = 1024;

// {"epoch":E,"lineage":"<uuid>"}, no spaces (it also appears in the VM summary's arrival=).
std::string FormatArrival(const Arrival& arrival);
// Checks size, JSON syntax, exactly the fields "epoch" (a valid epoch) and "lineage" (a UUID, not
// nil). InvalidArgument naming user.mkd.arrive.
Result<Arrival> ParseArrival(std::string_view json);

// {"epoch":N}.
std::string FormatAdvance(Epoch epoch);
// Checks size, syntax, exactly the field "epoch" (a valid epoch). InvalidArgument naming
// user.mkd.advance.
Result<Epoch> ParseAdvance(std::string_view json);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_ARRIVAL_H_
