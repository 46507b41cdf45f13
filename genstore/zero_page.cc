// Zero-page check (see zero_page.h).
#include "genstore/zero_page.h"

#include <cstdint>
#include <cstring>

#include "genstore/generation.h"

namespace mkd {

bool IsZeroPage(const void* page) {
  const auto* bytes = static_cast<const char*>(page);
  // Words loaded with memcpy: any alignment is fine, and compilers still emit plain loads.
  auto word = [bytes](size_t i) {
    uint64_t w;
    std::memcpy(&w, bytes + i * sizeof(w), sizeof(w));
    return w;
  };
  // Most non-zero pages differ in their first words: check them before the whole page.
  if (word(0) != 0 || word(kPageSize / 8 - 1) != 0) return false;
  uint64_t acc = 0;
  for (size_t i = 0; i < kPageSize / 8; ++i) acc |= word(i);
  return acc == 0;
}

}  // namespace mkd
