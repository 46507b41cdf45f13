// PageBitmap: one bit per 4 KiB page of a RAM block, for dirty sets, reusable sets and send sets.
//
// Sized at construction (at most kMaxPages = 1 TiB of RAM, i.e. 32 MiB of bits). Bits past
// pages() are always zero. Index arguments must be < pages() (checked; a violation aborts, as
// it is a programming error: sizes from untrusted input are validated by the decoders first).
// Thread-compatible: concurrent const use is safe, any mutation needs external locking.
#ifndef MKD_GENSTORE_PAGE_BITMAP_H_
#define MKD_GENSTORE_PAGE_BITMAP_H_

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "base/check.h"
#include "genstore/generation.h"

namespace mkd {

class PageBitmap {
 public:
  PageBitmap() = default;
  // All bits clear. pages <= kMaxPages.
  explicit PageBitmap(uint64_t pages);

  uint64_t pages() const { return pages_; }

  bool Test(uint64_t page) const {
    MKD_CHECK(page < pages_);
    return (words_[page >> 6] >> (page & 63)) & 1;
  }
  void Set(uint64_t page) {
    MKD_CHECK(page < pages_);
    words_[page >> 6] |= uint64_t{1} << (page & 63);
  }
  void Clear(uint64_t page) {
    MKD_CHECK(page < pages_);
    words_[page >> 6] &= ~(uint64_t{1} << (page & 63));
  }
  // Sets / clears pages [first, first + count); first + count <= pages().
  void SetRange(uint64_t first, uint64_t count);
  void ClearRange(uint64_t first, uint64_t count);
  void ClearAll();

  // Number of set bits.
  uint64_t Count() const;
  bool Any() const;
  // The first set page at or after `from`, or pages() when there is none.
  uint64_t NextSet(uint64_t from) const;

  // In-place set algebra with a bitmap of the same size (checked).
  PageBitmap& And(const PageBitmap& other);
  PageBitmap& Or(const PageBitmap& other);
  PageBitmap& AndNot(const PageBitmap& other);

  // Calls fn(first, count) for each maximal run of set pages, in increasing order.
  template <typename Fn>
  void ForEachRun(Fn&& fn) const;
  // Calls fn(page) for each set page, in increasing order.
  template <typename Fn>
  void ForEachSet(Fn&& fn) const;

  // The underlying words (bit i of word w is page 64*w + i); for the codecs.
  std::span<const uint64_t> words() const { return words_; }
  // Replaces the contents; words.size() must be WordsFor(pages()). Bits past pages() must be
  // zero (checked by the caller: the decoder reports that as corruption).
  void AssignWords(std::span<const uint64_t> words);
  // Direct write access for word-at-a-time producers (compare, decoders). The caller must keep
  // bits past pages() zero.
  std::span<uint64_t> mutable_words() { return words_; }

  static constexpr uint64_t WordsFor(uint64_t pages) { return (pages + 63) / 64; }

  bool operator==(const PageBitmap& other) const = default;

 private:
  uint64_t pages_ = 0;
  std::vector<uint64_t> words_;
};

template <typename Fn>
void PageBitmap::ForEachRun(Fn&& fn) const {
  uint64_t page = NextSet(0);
  while (page < pages_) {
    // Find the end of the run: the first clear bit at or after `page`.
    uint64_t w = page >> 6;
    uint64_t inverted = ~words_[w] & (~uint64_t{0} << (page & 63));
    while (inverted == 0 && ++w < words_.size()) inverted = ~words_[w];
    uint64_t end = w < words_.size() ? (w << 6) + std::countr_zero(inverted) : pages_;
    if (end > pages_) end = pages_;
    fn(page, end - page);
    page = end < pages_ ? NextSet(end) : pages_;
  }
}

template <typename Fn>
void PageBitmap::ForEachSet(Fn&& fn) const {
  for (uint64_t w = 0; w < words_.size(); ++w) {
    uint64_t bits = words_[w];
    while (bits != 0) {
      fn((w << 6) + std::countr_zero(bits));
      bits &= bits - 1;
    }
  }
}

}  // namespace mkd

#endif  // MKD_GENSTORE_PAGE_BITMAP_H_
