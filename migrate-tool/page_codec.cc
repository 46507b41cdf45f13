// zstd for PAGES_Z frames (see page_codec.h).
#include "migrate-tool/page_codec.h"

#include <zstd.h>

#include "base/check.h"

namespace mkd::migrate {

namespace {
constexpr int kLevel = 1;
}  // namespace

PageCompressor::PageCompressor() : ctx_(ZSTD_createCCtx()) {
  MKD_CHECK(ctx_ != nullptr);  // out of memory
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, kLevel);
  // The destination learns the size from the frame header (checked against the pages).
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 0);  // TLS already protects the bytes
}

PageCompressor::~PageCompressor() { ZSTD_freeCCtx(ctx_); }

bool PageCompressor::Compress(std::string_view raw, std::string* out) {
  // Nothing larger than raw is of use: a smaller bound makes zstd give up early.
  out->resize(raw.size());
  const size_t n = ZSTD_compress2(ctx_, out->data(), out->size(), raw.data(), raw.size());
  if (ZSTD_isError(n) || n >= raw.size()) return false;
  out->resize(n);
  return true;
}

PageDecompressor::PageDecompressor() : ctx_(ZSTD_createDCtx()) {
  MKD_CHECK(ctx_ != nullptr);  // out of memory
}

PageDecompressor::~PageDecompressor() { ZSTD_freeDCtx(ctx_); }

Status PageDecompressor::Expand(std::string_view compressed, size_t size, std::string* out) {
  const auto bad = [](const std::string& why) {
    return Status::InvalidArgument("migration protocol: PAGES_Z frame: " + why);
  };
  // One frame whose header says exactly `size` bytes, nothing after it.
  const unsigned long long declared =
      ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN) {
    return bad("not a zstd frame with its content size");
  }
  if (declared != size) {
    return bad("content of " + std::to_string(declared) + " bytes for " + std::to_string(size));
  }
  const size_t frame = ZSTD_findFrameCompressedSize(compressed.data(), compressed.size());
  if (ZSTD_isError(frame) || frame != compressed.size()) return bad("bytes after the zstd frame");
  out->resize(size);
  const size_t n =
      ZSTD_decompressDCtx(ctx_, out->data(), size, compressed.data(), compressed.size());
  if (ZSTD_isError(n)) return bad(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != size)
    return bad("expanded to " + std::to_string(n) + " bytes, not " + std::to_string(size));
  return Status::Ok();
}

}  // namespace mkd::migrate
