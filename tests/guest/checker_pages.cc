// checker_pages.cc: see checker_pages.h.
#include "checker_pages.h"

#include <cstdio>
#include <cstring>

#include "guest_util.h"

namespace mkdguest {
namespace {

constexpr uint64_t kMagic = 0x31304b4843444b4dULL;  // "MKDCHK01" little-endian
constexpr uint64_t kHeaderWords = 4;                // magic, index, sweep, checksum
constexpr uint64_t kBodyWords = kCheckerPageSize / sizeof(uint64_t) - kHeaderWords;

// The body's k-th word of page `index` written for `sweep`.
inline uint64_t BodyWord(uint64_t seed, uint64_t k) { return SplitMix64(seed + k); }
inline uint64_t BodySeed(uint64_t index, uint64_t sweep) {
  return SplitMix64(index * 0x100000001b3ULL ^ SplitMix64(sweep));
}

// A 64-bit checksum of the body words (order-dependent multiply-xor).
uint64_t Checksum(const volatile uint64_t* body) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint64_t k = 0; k < kBodyWords; ++k) h = (h ^ body[k]) * 0x100000001b3ULL;
  return h;
}

}  // namespace

std::string FormatFailure(const PageFailure& failure) {
  char line[256];
  if (failure.kind == PageFailure::Kind::kStale) {
    snprintf(line, sizeof(line), "checker STALE page=%llu expected_sweep=%llu found_sweep=%llu",
             static_cast<unsigned long long>(failure.page),
             static_cast<unsigned long long>(failure.expected_sweep),
             static_cast<unsigned long long>(failure.found_sweep));
  } else {
    snprintf(line, sizeof(line), "checker CORRUPT page=%llu expected_sweep=%llu reason=%s",
             static_cast<unsigned long long>(failure.page),
             static_cast<unsigned long long>(failure.expected_sweep), failure.reason.c_str());
  }
  return line;
}

CheckerPages::CheckerPages(uint8_t* memory, uint64_t page_count)
    : memory_(memory), page_count_(page_count) {}

void CheckerPages::Initialize() {
  for (uint64_t i = 0; i < page_count_; ++i) WritePage(i, 0);
  sweep_ = 0;
}

void CheckerPages::WritePage(uint64_t index, uint64_t sweep) {
  // volatile: the memory can change under us (that is what we test), never cache it in registers.
  auto* words = reinterpret_cast<volatile uint64_t*>(page(index));
  volatile uint64_t* body = words + kHeaderWords;
  const uint64_t seed = BodySeed(index, sweep);
  for (uint64_t k = 0; k < kBodyWords; ++k) body[k] = BodyWord(seed, k);
  words[0] = kMagic;
  words[1] = index;
  words[2] = sweep;
  words[3] = Checksum(body);
}

std::optional<PageFailure> CheckerPages::CheckPage(uint64_t index, uint64_t sweep) const {
  const auto* words =
      reinterpret_cast<const volatile uint64_t*>(memory_ + index * kCheckerPageSize);
  const volatile uint64_t* body = words + kHeaderWords;
  PageFailure failure;
  failure.page = index;
  failure.expected_sweep = sweep;
  failure.found_sweep = words[2];
  if (words[0] != kMagic) {
    failure.reason = "magic";
    return failure;
  }
  if (words[1] != index) {
    failure.reason = "index";
    return failure;
  }
  if (Checksum(body) != words[3]) {
    failure.reason = "checksum";
    return failure;
  }
  // Header and body agree with each other; now they must be of this sweep.
  const uint64_t found = words[2];
  const uint64_t seed = BodySeed(index, found);
  for (uint64_t k = 0; k < kBodyWords; ++k) {
    if (body[k] != BodyWord(seed, k)) {
      failure.reason = "body";
      return failure;
    }
  }
  if (found != sweep) {
    failure.kind = found < sweep ? PageFailure::Kind::kStale : PageFailure::Kind::kCorrupt;
    if (found > sweep) failure.reason = "future-sweep";
    return failure;
  }
  return std::nullopt;
}

std::optional<PageFailure> CheckerPages::Sweep(uint64_t* failures) {
  std::optional<PageFailure> first;
  uint64_t count = 0;
  for (uint64_t i = 0; i < page_count_; ++i) {
    std::optional<PageFailure> failure = CheckPage(i, sweep_);
    if (failure) {
      ++count;
      if (!first) first = failure;
    }
    WritePage(i, sweep_ + 1);
  }
  ++sweep_;
  if (failures != nullptr) *failures = count;
  return first;
}

}  // namespace mkdguest
