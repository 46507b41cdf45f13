// ValidateHostId (host_id.h).
#include "base/host_id.h"

namespace mkd {

Status ValidateHostId(std::string_view host_id) {
  if (host_id.empty() || host_id.size() > 64) {
    return Status::InvalidArgument("host id must be 1 to 64 characters");
  }
  for (char c : host_id) {
    if (!IsSafeNameChar(c)) {
      return Status::InvalidArgument("host id may only use letters, digits, '.', '_', '-'");
    }
  }
  return Status::Ok();
}

}  // namespace mkd
