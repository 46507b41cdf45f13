// The envelope around an encoded table, bitmap or digest list (docs/formats.md, "Envelope"):
// magic, version, flags, VM UUID, epoch, page count, block name, body, XXH3-64 of everything
// before the checksum. The body runs to the checksum, so the writer can hash each block right
// after writing it, while it is still in cache. Internal to genstore: table_codec.cc,
// bitmap_codec.cc and digests.cc use it.
#ifndef MKD_GENSTORE_ENVELOPE_H_
#define MKD_GENSTORE_ENVELOPE_H_

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/codec_header.h"

namespace mkd::internal {

inline constexpr uint16_t kFormatVersion = 1;

// Writes an envelope into a string: the header at construction, then the caller appends the body
// (calling HashAppended after each piece), then Finish appends the checksum. Not copyable.
class EnvelopeWriter {
 public:
  // Replaces the content of *out with the header. header.block must pass ValidateBlockName.
  // `version` is the body format's version (1 for every format but sparse digests, digests.h).
  EnvelopeWriter(std::string_view magic, const CodecHeader& header, std::string* out,
                 uint16_t version = kFormatVersion);
  ~EnvelopeWriter();
  EnvelopeWriter(const EnvelopeWriter&) = delete;
  EnvelopeWriter& operator=(const EnvelopeWriter&) = delete;

  // Feeds the bytes appended to *out since the last call to the checksum.
  void HashAppended();
  // Hashes what is left and appends the checksum.
  void Finish();

 private:
  std::string* out_;
  size_t hashed_ = 0;
  XXH3_state_t* state_;
};

struct EnvelopeView {
  CodecHeader header;
  uint16_t version = kFormatVersion;
  std::string_view body;
};

// Checks size, magic, version (1..max_version), checksum, flags, page count (<= kMaxPages) and
// block name; the body is every byte between the block name and the checksum. `what`
// ("generation table", "page bitmap", "page digests") names it in errors.
Result<EnvelopeView> OpenEnvelope(std::string_view bytes, std::string_view magic,
                                  std::string_view what, uint16_t max_version = kFormatVersion);

}  // namespace mkd::internal

#endif  // MKD_GENSTORE_ENVELOPE_H_
