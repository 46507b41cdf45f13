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
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "genstore/byte_io.h"
#include "genstore/status.h"

namespace mkd::internal {

inline constexpr uint8_t kBlockRaw = 0;
inline constexpr uint8_t kBlockRuns = 1;

// Number of runs in `block`, or max_runs + 1 as soon as it has more than max_runs.
template <typename T>
size_t CountRunsUpTo(std::span<const T> block, size_t max_runs) {
  size_t runs = 1;
  for (size_t i = 1; i < block.size(); ++i) {
    runs += block[i] != block[i - 1];
    if (runs > max_runs) return runs;
  }
  return runs;
}

template <typename T, size_t kBlock>
void EncodeRunBlocks(std::span<const T> elems, std::string* out) {
  static_assert(kBlock <= 65535 && kBlock % 4 == 0);
  for (size_t start = 0; start < elems.size(); start += kBlock) {
    std::span<const T> block = elems.subspan(start, std::min(kBlock, elems.size() - start));
    const size_t max_runs = block.size() / 4;
    size_t runs = CountRunsUpTo(block, max_runs);
    if (runs > max_runs || max_runs == 0) {
      out->push_back(static_cast<char>(kBlockRaw));
      out->append(reinterpret_cast<const char*>(block.data()), block.size_bytes());
      continue;
    }
    out->push_back(static_cast<char>(kBlockRuns));
    AppendLe<uint16_t>(out, static_cast<uint16_t>(runs));
    size_t run_start = 0;
    for (size_t i = 1; i <= block.size(); ++i) {
      if (i == block.size() || block[i] != block[run_start]) {
        AppendLe<uint16_t>(out, static_cast<uint16_t>(i - run_start));
        AppendLe<T>(out, block[run_start]);
        run_start = i;
      }
    }
  }
}

// Fails unless a body of `body_size` bytes could hold `n` elements (each block needs at least one
// run), so that decoders reject a huge page count in a tiny input before allocating for it.
template <typename T, size_t kBlock>
Status CheckBodyCanHold(size_t body_size, uint64_t n, std::string_view what) {
  // The smallest block: runs form with one run, or raw form for a short last block.
  const uint64_t min_runs_block = 1 + sizeof(uint16_t) + sizeof(uint16_t) + sizeof(T);
  const uint64_t rest = n % kBlock;
  const uint64_t min_body = (n / kBlock) * min_runs_block +
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
