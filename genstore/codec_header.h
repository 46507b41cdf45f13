// CodecHeader: what every encoded generation table, page bitmap or digest list says about itself
// (docs/formats.md, "Envelope"): the VM, the RAM block, the epoch and the page count.
// A value type. ValidateBlockName is the one rule for block names everywhere (files, keys, wire).
#ifndef MKD_GENSTORE_CODEC_HEADER_H_
#define MKD_GENSTORE_CODEC_HEADER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/host_id.h"
#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"

namespace mkd {

struct CodecHeader {
  Uuid vm;
  std::string block;   // RAM block name, e.g. "ram" or "ram-node0"
  Epoch epoch = 0;     // the VM's epoch when the table (or the table a bitmap came from) was taken
  uint64_t pages = 0;  // set by the decoders; the encoders take it from the object encoded
  bool operator==(const CodecHeader&) const = default;
};

// Block names are 1..255 bytes of [A-Za-z0-9._-], not "." or "..": they become file names.
inline constexpr size_t kMaxBlockNameLength = 255;
Status ValidateBlockName(std::string_view name);

}  // namespace mkd

#endif  // MKD_GENSTORE_CODEC_HEADER_H_
