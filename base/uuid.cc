// Uuid: parsing, printing and generation.
#include "base/uuid.h"

#include <random>

namespace mkd {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDashPosition(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

Result<Uuid> Uuid::Parse(std::string_view text) {
  auto bad = [&] {
    std::string m = "'";
    m.append(text.substr(0, 64));
    m.append(
        "' is not a UUID; expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx "
        "(as given to QEMU -uuid)");
    return Status::InvalidArgument(std::move(m));
  };
  if (text.size() != 36) return bad();
  Uuid u;
  size_t out = 0;
  for (size_t i = 0; i < 36;) {
    if (IsDashPosition(i)) {
      if (text[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    u.bytes[out++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return u;
}

Uuid Uuid::Random() {
  std::random_device rd;
  Uuid u;
  for (size_t i = 0; i < u.bytes.size(); i += 4) {
    uint32_t r = rd();
    for (size_t j = 0; j < 4; ++j) u.bytes[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);  // version 4
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return u;
}

std::string Uuid::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[bytes[i] >> 4];
    s += kHex[bytes[i] & 0xf];
  }
  return s;
}

bool Uuid::IsNil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

}  // namespace mkd
