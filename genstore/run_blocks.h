// The compact body shared by the table and bitmap encodings (docs/formats.md, "Body").
//
// The elements (uint32 generations or uint64 bitmap words) are cut into blocks of kBlock elements.
// Each block is stored either raw or as runs of equal values, whichever the encoder picks:
//   kind u8 = 0 (raw):  n elements, little-endian
//   kind u8 = 1 (runs): run_count u16, then run_count x (length u16, value)
// The encoder uses runs only when a block has at most n/4 runs, so a body is never more than
// 1 byte per block larger than raw (0.006 % for tables) and decoding stays memcpy/fill speed.
// Internal to genstore; DecodeRunBlocks checks every count and length.
#ifndef MKD_GENSTORE_RUN_BLOCKS_H_
#define MKD_GENSTORE_RUN_BLOCKS_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/byte_io.h"
#include "base/status.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mkd::internal {

inline constexpr uint8_t kBlockRaw = 0;
inline constexpr uint8_t kBlockRuns = 1;

// Number of runs in `block` (1 + the number of neighbours that differ). Branch-free, and four
// generations at a time with SSE2, since the encoder runs it over every page.
template <typename T>
size_t CountRuns(std::span<const T> block) {
  size_t changes = 0;
  size_t i = 1;
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    // Each lane of `equal` counts down by one per equal neighbour (cmpeq yields -1); no popcount,
    // which the x86-64 baseline lacks. A block has at most 65,535 elements, so lanes cannot wrap.
    __m128i equal = _mm_setzero_si128();
    size_t vec = 0;
    for (; i + 4 <= block.size(); i += 4, vec += 4) {
      __m128i cur = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.data() + i));
      __m128i prev = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.data() + i - 1));
      equal = _mm_add_epi32(equal, _mm_cmpeq_epi32(cur, prev));
    }
    alignas(16) int32_t lanes[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), equal);
    changes = vec - static_cast<size_t>(-(lanes[0] + lanes[1] + lanes[2] + lanes[3]));
  }
#endif
  for (; i < block.size(); ++i) changes += block[i] != block[i - 1];
  return block.empty() ? 0 : changes + 1;
}

// The end of the run that starts at `start`: the first index after it whose element differs, or
// block.size(). Skips four equal generations per step with SSE2.
template <typename T>
size_t RunEnd(std::span<const T> block, size_t start) {
  const T v = block[start];
  size_t i = start + 1;
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    const __m128i want = _mm_set1_epi32(static_cast<int>(v));
    for (; i + 4 <= block.size(); i += 4) {
      __m128i cur = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.data() + i));
      unsigned same =
          static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(cur, want))));
      if (same != 0xF) return i + static_cast<size_t>(std::countr_one(same));
    }
  }
#endif
  while (i < block.size() && block[i] == v) ++i;
  return i;
}

// Appends the blocks of `elems` to *out, calling after_block() after each one (the envelope
// hashes it while it is still in cache).
template <typename T, size_t kBlock, typename AfterBlock>
void EncodeRunBlocks(std::span<const T> elems, std::string* out, AfterBlock&& after_block) {
  static_assert(kBlock <= 65535 && kBlock % 4 == 0);
  for (size_t start = 0; start < elems.size(); start += kBlock) {
    std::span<const T> block = elems.subspan(start, std::min(kBlock, elems.size() - start));
    const size_t max_runs = block.size() / 4;
    const size_t runs = CountRuns(block);
    if (runs > max_runs || max_runs == 0) {
      out->push_back(static_cast<char>(kBlockRaw));
      out->append(reinterpret_cast<const char*>(block.data()), block.size_bytes());
      after_block();
      continue;
    }
    out->push_back(static_cast<char>(kBlockRuns));
    AppendLe<uint16_t>(out, static_cast<uint16_t>(runs));
    for (size_t run_start = 0; run_start < block.size();) {
      const size_t end = RunEnd(block, run_start);
      AppendLe<uint16_t>(out, static_cast<uint16_t>(end - run_start));
      AppendLe<T>(out, block[run_start]);
      run_start = end;
    }
    after_block();
  }
}

// Fails unless a body of `body_size` bytes could hold `n` elements (each block needs at least one
// run), so that decoders reject a huge page count in a tiny input before allocating for it.
template <typename T, size_t kBlock>
Status CheckBodyCanHold(size_t body_size, uint64_t n, std::string_view what) {
  // The smallest block: runs form with one run, or raw form for a short last block.
  const uint64_t min_runs_block = 1 + sizeof(uint16_t) + sizeof(uint16_t) + sizeof(T);
  const uint64_t rest = n % kBlock;
  const uint64_t min_body =
      (n / kBlock) * min_runs_block +
      (rest == 0 ? 0 : std::min<uint64_t>(min_runs_block, 1 + rest * sizeof(T)));
  if (body_size < min_body) {
    return Status::Corrupt(std::string(what) + ": a body of " + std::to_string(body_size) +
                           " bytes cannot hold " + std::to_string(n) + " elements");
  }
  return Status::Ok();
}

// Decodes exactly out.size() elements from the whole of `body`; `what` names the object in errors.
template <typename T, size_t kBlock>
Status DecodeRunBlocks(std::string_view body, std::span<T> out, std::string_view what) {
  ByteReader in(body);
  size_t block_index = 0;
  for (size_t start = 0; start < out.size(); start += kBlock, ++block_index) {
    const size_t n = std::min(kBlock, out.size() - start);
    auto where = [&] {
      return std::string(what) + ": block " + std::to_string(block_index) + " (element " +
             std::to_string(start) + ")";
    };
    uint8_t kind = 0;
    if (!in.Read(&kind)) return Status::Corrupt(where() + " is missing (body too short)");
    if (kind == kBlockRaw) {
      std::string_view raw;
      if (!in.ReadBytes(n * sizeof(T), &raw)) {
        return Status::Corrupt(where() + ": raw block truncated");
      }
      std::memcpy(out.data() + start, raw.data(), raw.size());
    } else if (kind == kBlockRuns) {
      uint16_t runs = 0;
      if (!in.Read(&runs)) return Status::Corrupt(where() + ": run count truncated");
      if (runs == 0 || runs > n) {
        return Status::Corrupt(where() + ": " + std::to_string(runs) + " runs for " +
                               std::to_string(n) + " elements");
      }
      if (in.remaining() < size_t{runs} * (sizeof(uint16_t) + sizeof(T))) {
        return Status::Corrupt(where() + ": runs truncated");
      }
      size_t filled = 0;
      for (uint16_t r = 0; r < runs; ++r) {
        uint16_t len = 0;
        T value{};
        in.Read(&len);
        in.Read(&value);
        if (len == 0 || len > n - filled) {
          return Status::Corrupt(where() + ": run " + std::to_string(r) + " of length " +
                                 std::to_string(len) + " does not fit the block");
        }
        std::fill_n(out.data() + start + filled, len, value);
        filled += len;
      }
      if (filled != n) {
        return Status::Corrupt(where() + ": runs cover " + std::to_string(filled) + " of " +
                               std::to_string(n) + " elements");
      }
    } else {
      return Status::Corrupt(where() + ": unknown block kind " + std::to_string(kind));
    }
  }
  if (in.remaining() != 0) {
    return Status::Corrupt(std::string(what) + ": " + std::to_string(in.remaining()) +
                           " unexpected bytes after the last block");
  }
  return Status::Ok();
}

}  // namespace mkd::internal

#endif  // MKD_GENSTORE_RUN_BLOCKS_H_
