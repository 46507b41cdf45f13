// The host id rule: what names a host in certificates (CN), HELLO frames, the page store and
// memfs's summary. One validator, used wherever a host id comes in from outside.
#ifndef MKD_BASE_HOST_ID_H_
#define MKD_BASE_HOST_ID_H_

#include <string_view>

#include "base/status.h"

namespace mkd {

// The characters allowed in names that become file names or keys (block names, host ids):
// [A-Za-z0-9._-].
constexpr bool IsSafeNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// 1..64 characters of [A-Za-z0-9._-]; InvalidArgument with the rule otherwise.
Status ValidateHostId(std::string_view host_id);

}  // namespace mkd

#endif  // MKD_BASE_HOST_ID_H_
