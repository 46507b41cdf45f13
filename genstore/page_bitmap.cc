// PageBitmap: ranges, counting, searching and set algebra over 64-bit words.
#include "genstore/page_bitmap.h"

#include <algorithm>

namespace mkd {

PageBitmap::PageBitmap(uint64_t pages) : pages_(pages), words_(WordsFor(pages), 0) {
  MKD_CHECK(pages <= kMaxPages);
}

namespace {

// Applies op(word, mask) to every word touched by [first, first + count).
template <typename Op>
void ForRangeWords(std::vector<uint64_t>& words, uint64_t first, uint64_t count, Op op) {
  if (count == 0) return;
  uint64_t last = first + count - 1;
  uint64_t w0 = first >> 6;
  uint64_t w1 = last >> 6;
  uint64_t head = ~uint64_t{0} << (first & 63);
  uint64_t tail = ~uint64_t{0} >> (63 - (last & 63));
  if (w0 == w1) {
    op(words[w0], head & tail);
    return;
  }
  op(words[w0], head);
  for (uint64_t w = w0 + 1; w < w1; ++w) op(words[w], ~uint64_t{0});
  op(words[w1], tail);
}

}  // namespace

void PageBitmap::SetRange(uint64_t first, uint64_t count) {
  MKD_CHECK(first <= pages_ && count <= pages_ - first);
  ForRangeWords(words_, first, count, [](uint64_t& w, uint64_t m) { w |= m; });
}

void PageBitmap::ClearRange(uint64_t first, uint64_t count) {
  MKD_CHECK(first <= pages_ && count <= pages_ - first);
  ForRangeWords(words_, first, count, [](uint64_t& w, uint64_t m) { w &= ~m; });
}

void PageBitmap::ClearAll() { std::fill(words_.begin(), words_.end(), 0); }

uint64_t PageBitmap::Count() const {
  uint64_t n = 0;
  for (uint64_t w : words_) n += static_cast<uint64_t>(std::popcount(w));
  return n;
}

bool PageBitmap::Any() const {
  return std::any_of(words_.begin(), words_.end(), [](uint64_t w) { return w != 0; });
}

uint64_t PageBitmap::NextSet(uint64_t from) const {
  if (from >= pages_) return pages_;
  uint64_t w = from >> 6;
  uint64_t bits = words_[w] & (~uint64_t{0} << (from & 63));
  while (bits == 0) {
    if (++w >= words_.size()) return pages_;
    bits = words_[w];
  }
  return (w << 6) + static_cast<uint64_t>(std::countr_zero(bits));
}

PageBitmap& PageBitmap::And(const PageBitmap& other) {
  MKD_CHECK(other.pages_ == pages_);
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= other.words_[i];
  return *this;
}

PageBitmap& PageBitmap::Or(const PageBitmap& other) {
  MKD_CHECK(other.pages_ == pages_);
  for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
  return *this;
}

PageBitmap& PageBitmap::AndNot(const PageBitmap& other) {
  MKD_CHECK(other.pages_ == pages_);
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
  return *this;
}

void PageBitmap::AssignWords(std::span<const uint64_t> words) {
  MKD_CHECK(words.size() == words_.size());
  std::copy(words.begin(), words.end(), words_.begin());
}

}  // namespace mkd
