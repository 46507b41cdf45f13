// AdviseHugePages: madvise(MADV_HUGEPAGE) on the 2 MiB-aligned part of a buffer.
#include "genstore/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

namespace mkd::internal {

void AdviseHugePages(void* data, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (bytes < 2 * kHuge) return;
  const auto start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (start + bytes) & ~(kHuge - 1);
  if (end > first) {
    // Failure (e.g. THP disabled) only costs speed.
    (void)madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
  }
}

}  // namespace mkd::internal
