// Uuid: a VM's identity (the same value as QEMU's -uuid), 16 bytes, parsed from and printed as
// the canonical 8-4-4-4-12 lower-case hex form. A value type; thread-compatible.
#ifndef MKD_BASE_UUID_H_
#define MKD_BASE_UUID_H_

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace mkd {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // Accepts exactly 36 characters "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex in either case).
  static Result<Uuid> Parse(std::string_view text);
  // A random version-4 UUID (from the C++ random device); for tests and demos.
  static Uuid Random();

  std::string ToString() const;
  bool IsNil() const;
  auto operator<=>(const Uuid&) const = default;
};

}  // namespace mkd

#endif  // MKD_BASE_UUID_H_
