// Page bitmap codec: the envelope (envelope.h) around run blocks of uint64 words (run_blocks.h).
#include "genstore/bitmap_codec.h"

#include "genstore/envelope.h"
#include "genstore/run_blocks.h"

namespace mkd {
namespace {
constexpr std::string_view kBitmapMagic = "MKDB";
constexpr size_t kBitmapBlockWords = 512;  // 32,768 pages
constexpr std::string_view kWhat = "page bitmap";
}  // namespace

std::string EncodeBitmap(const CodecHeader& header, const PageBitmap& bitmap) {
  CodecHeader h = header;
  h.pages = bitmap.pages();
  std::string out;
  out.reserve(64 + h.block.size() + bitmap.words().size_bytes() +
              bitmap.words().size() / kBitmapBlockWords + 1);
  internal::EnvelopeWriter envelope(kBitmapMagic, h, &out);
  internal::EncodeRunBlocks<uint64_t, kBitmapBlockWords>(bitmap.words(), &out,
                                                         [&] { envelope.HashAppended(); });
  envelope.Finish();
  return out;
}

Result<DecodedBitmap> DecodeBitmap(std::string_view bytes) {
  MKD_ASSIGN_OR_RETURN(internal::EnvelopeView env,
                       internal::OpenEnvelope(bytes, kBitmapMagic, kWhat));
  MKD_RETURN_IF_ERROR((internal::CheckBodyCanHold<uint64_t, kBitmapBlockWords>(
      env.body.size(), PageBitmap::WordsFor(env.header.pages), kWhat)));
  PageBitmap bitmap(env.header.pages);
  std::span<uint64_t> words = bitmap.mutable_words();
  MKD_RETURN_IF_ERROR(
      (internal::DecodeRunBlocks<uint64_t, kBitmapBlockWords>(env.body, words, kWhat)));
  const uint64_t tail = env.header.pages % 64;
  if (tail != 0 && (words.back() >> tail) != 0) {
    return Status::Corrupt("page bitmap: bits set past its " + std::to_string(env.header.pages) +
                           " pages");
  }
  return DecodedBitmap{env.header, std::move(bitmap)};
}

}  // namespace mkd
