// Access checks of the mount's callers (see access.h).
#include "memfs/access.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <charconv>

namespace mkd::memfs {
namespace {

std::string_view NeedName(Need need) {
  switch (need) {
    case Need::kHostInspect:
      return "host inspection";
    case Need::kInspect:
      return "inspection (root, the VM user or the admin group)";
    case Need::kVmWrite:
      return "the VM user (QEMU's, --vm-user) or root";
    case Need::kControl:
      return "control (root or the admin group, --admin-group)";
  }
  return "?";
}

// A decimal id, or nullopt.
std::optional<uint32_t> ParseId(const std::string& text) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<gid_t> ResolveGroup(const std::string& name, std::string_view option) {
  if (auto id = ParseId(name)) return static_cast<gid_t>(*id);
  struct group* g = ::getgrnam(name.c_str());
  if (g == nullptr) {
    return Status::InvalidArgument(fmt::format("{} {}: no such group on this host", option, name));
  }
  return g->gr_gid;
}

}  // namespace

Status AccessPolicy::Check(const Caller& c, Need need, std::string_view what) const {
  if (need == Need::kHostInspect || c.uid == 0) return Status::Ok();
  const bool vm_user = c.uid == vm_uid;
  if (need == Need::kVmWrite && vm_user) return Status::Ok();
  if (need == Need::kInspect && vm_user) return Status::Ok();
  if (need != Need::kVmWrite && admin_gid) {
    if (c.gid == *admin_gid) return Status::Ok();
    if (c.groups) {
      const std::vector<gid_t> groups = c.groups();
      if (std::find(groups.begin(), groups.end(), *admin_gid) != groups.end()) {
        return Status::Ok();
      }
    }
  }
  return Status::PermissionDenied(fmt::format("{}: refused for uid {} gid {} (pid {}): needs {}",
                                              what, c.uid, c.gid, c.pid, NeedName(need)));
}

Result<AccessPolicy> ResolveAccessPolicy(const std::string& vm_user, const std::string& vm_group,
                                         const std::string& admin_group) {
  AccessPolicy p;
  if (auto id = ParseId(vm_user)) {
    p.vm_uid = *id;
  } else {
    struct passwd* pw = ::getpwnam(vm_user.c_str());
    if (pw == nullptr) {
      return Status::InvalidArgument("--vm-user " + vm_user + ": no such user on this host");
    }
    p.vm_uid = pw->pw_uid;
  }
  MKD_ASSIGN_OR_RETURN(gid_t g, ResolveGroup(vm_group, "--vm-group"));
  p.vm_gid = g;
  if (!admin_group.empty()) {
    MKD_ASSIGN_OR_RETURN(gid_t a, ResolveGroup(admin_group, "--admin-group"));
    p.admin_gid = a;
  }
  return p;
}

}  // namespace mkd::memfs
