// Encoding of page bitmaps (dirty, reusable, send sets) for the wire and xattrs
// (docs/formats.md, "Page bitmap"). Same envelope as tables; the body holds 64-bit words, runs of
// equal words compressed (an all-clear or all-set 1 GiB bitmap is under 100 bytes of body).
// Pure functions; thread-safe.
#ifndef MKD_GENSTORE_BITMAP_CODEC_H_
#define MKD_GENSTORE_BITMAP_CODEC_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "genstore/codec_header.h"
#include "genstore/page_bitmap.h"

namespace mkd {

// header.pages is ignored: the bitmap's page count is written.
std::string EncodeBitmap(const CodecHeader& header, const PageBitmap& bitmap);

struct DecodedBitmap {
  CodecHeader header;
  PageBitmap bitmap;
};

// Rejects everything DecodeTable rejects, and bits set past the page count.
Result<DecodedBitmap> DecodeBitmap(std::string_view bytes);

}  // namespace mkd

#endif  // MKD_GENSTORE_BITMAP_CODEC_H_
