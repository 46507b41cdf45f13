// zstd for the content of PAGES_Z frames (docs/formats.md; docs/decisions.md, "compression"):
// the source compresses a frame's pages into one zstd frame, the destination expands it back,
// refusing anything that is not exactly the frame's pages. Level 1: the fastest of zstd's
// regular levels, so that compressing costs less than sending what it saves on a 1 Gbit/s link.
// A PageCompressor or PageDecompressor holds zstd's context (about 1 MiB to compress, 100 KiB to
// expand): one per thread, reused frame after frame.
#ifndef MKD_MIGRATE_TOOL_PAGE_CODEC_H_
#define MKD_MIGRATE_TOOL_PAGE_CODEC_H_

#include <string>
#include <string_view>

#include "base/status.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace mkd::migrate {

class PageCompressor {
 public:
  PageCompressor();
  ~PageCompressor();
  PageCompressor(const PageCompressor&) = delete;
  PageCompressor& operator=(const PageCompressor&) = delete;
  // Compresses `raw` into *out (replaced). False when the result would not be smaller than
  // `raw` (incompressible content: send it as it is).
  bool Compress(std::string_view raw, std::string* out);

 private:
  ZSTD_CCtx_s* ctx_;
};

class PageDecompressor {
 public:
  PageDecompressor();
  ~PageDecompressor();
  PageDecompressor(const PageDecompressor&) = delete;
  PageDecompressor& operator=(const PageDecompressor&) = delete;
  // Expands `compressed` into *out (replaced), which then holds exactly `size` bytes;
  // kInvalidArgument (naming PAGES_Z) when it is not one zstd frame of exactly that content.
  // Never writes more than `size` bytes.
  Status Expand(std::string_view compressed, size_t size, std::string* out);

 private:
  ZSTD_DCtx_s* ctx_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PAGE_CODEC_H_
