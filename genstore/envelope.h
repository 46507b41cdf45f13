// The envelope around an encoded table or bitmap (docs/formats.md, "Envelope"): magic, version,
// flags, VM UUID, epoch, page count, block name, body length, body, XXH3-64 of everything before
// the checksum. Internal to genstore: table_codec.cc and bitmap_codec.cc use it.
#ifndef MKD_GENSTORE_ENVELOPE_H_
#define MKD_GENSTORE_ENVELOPE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "genstore/codec_header.h"
#include "genstore/status.h"

namespace mkd::internal {

inline constexpr uint16_t kFormatVersion = 1;

// Appends everything up to and including the body length (a placeholder); returns the offset at
// which the body starts. The caller appends the body, then calls FinishEnvelope.
size_t BeginEnvelope(std::string_view magic, const CodecHeader& header, std::string* out);
void FinishEnvelope(size_t body_start, std::string* out);

struct EnvelopeView {
  CodecHeader header;
  std::string_view body;
};

// Checks magic, version, flags, checksum, page count (<= kMaxPages), block name and that the body
// length accounts for every byte. `what` ("generation table", "page bitmap") names it in errors.
Result<EnvelopeView> OpenEnvelope(std::string_view bytes, std::string_view magic,
                                  std::string_view what);

}  // namespace mkd::internal

#endif  // MKD_GENSTORE_ENVELOPE_H_
