// Encoding of generation tables for disk (the RocksDB store), the wire and xattrs
// (docs/formats.md, "Generation table"). The encoding is compact when neighbouring pages share a
// generation (a 1 GiB table of a few long runs is under 2 KiB) and never more than about 0.01 %
// larger than the raw 4 bytes per page. Provisional pages encode as invalid (what Get() reports).
// Pure functions; thread-safe.
#ifndef MKD_GENSTORE_TABLE_CODEC_H_
#define MKD_GENSTORE_TABLE_CODEC_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/codec_header.h"
#include "genstore/generation_table.h"

namespace mkd {

// header.pages is ignored: the table's page count is written. header.block must pass
// ValidateBlockName (a programming error otherwise).
std::string EncodeTable(const CodecHeader& header, const GenerationTable& table);
// The same into *out, replacing its content but reusing its capacity: a daemon that re-encodes a
// large table often keeps one buffer and avoids page-faulting a fresh one every time.
void EncodeTableTo(const CodecHeader& header, const GenerationTable& table, std::string* out);

struct DecodedTable {
  CodecHeader header;
  GenerationTable table;
};

// Rejects wrong magic, unknown versions or flags, bad checksums, page counts above kMaxPages,
// bad block names, malformed bodies and trailing bytes, each with a message saying which.
Result<DecodedTable> DecodeTable(std::string_view bytes);
// The same into *out, reusing the storage of out->table. On error *out holds unspecified (valid)
// content.
Status DecodeTableInto(std::string_view bytes, DecodedTable* out);

}  // namespace mkd

#endif  // MKD_GENSTORE_TABLE_CODEC_H_
