// FUSE handlers for extended attributes: getxattr, listxattr, setxattr, removexattr. The
// attributes themselves are in xattrs.cc.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <string>

#include "memfs-protocol/names.h"
#include "memfs-protocol/postcopy_values.h"
#include "memfs-protocol/sync_reply.h"
#include "memfs/fuse_ops.h"

namespace mkd::memfs {

namespace mp = memfs_protocol;

namespace {
// Replies with a value, or its size when the caller asks for it (size 0).
void ReplyValue(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}
}  // namespace

namespace {
// What reading attribute `name` of `node` needs (docs/security.md): the host summary is anyone's;
// attributes that consume something (a sync's dirty pages, a post-copy's wanted pages) are
// control; the rest of a VM's attributes are inspection.
Need NeedToGet(const NodeRef& node, std::string_view name) {
  if (node.kind == NodeRef::Kind::kRoot) return Need::kHostInspect;
  if (mp::IsSyncName(name) || name == mp::kWanted) return Need::kControl;
  return Need::kInspect;
}

// What `node` is, for log lines.
std::string Describe(const NodeRef& node) {
  switch (node.kind) {
    case NodeRef::Kind::kRoot:
      return "the mount's root";
    case NodeRef::Kind::kVm:
      return node.vm.ToString();
    case NodeRef::Kind::kBlock:
      return node.vm.ToString() + "/" + node.block;
  }
  return "?";
}
}  // namespace

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  NodeRef node;
  if (int rc = Ctx(req).registry->Resolve(ino, &node); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (int rc = Allow(req, NeedToGet(node, name),
                     "getxattr " + std::string(name) + " of " + Describe(node));
      rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (size == 0 && mp::IsSyncName(name)) {
    // A size query must not run a sync or take (getfattr asks for the size, then for the
    // value): answer with the bound every sync reply fits in.
    fuse_reply_xattr(req, mp::kSyncValueMax);
    return;
  }
  if (std::string_view(name) == mp::kWanted) {
    // Post-copy: a size query is answered at once; a read waits for wanted pages.
    if (size == 0) {
      fuse_reply_xattr(req, mp::kWantedValueMax);
      return;
    }
    Result<std::string> w = Ctx(req).xattrs->Wanted(ino, size);
    if (!w.ok()) {
      fuse_reply_err(req,
                     w.status().code() == ErrorCode::kOutOfRange ? ERANGE : ErrnoFor(w.status()));
      return;
    }
    ReplyValue(req, *w, size);
    return;
  }
  Result<std::string> v = Ctx(req).xattrs->Get(ino, node, name);
  if (!v.ok()) {
    if (v.status().code() != ErrorCode::kNotFound) {
      spdlog::warn("getxattr {}: {}", name, v.status().message());
    }
    fuse_reply_err(req, ErrnoFor(v.status()));
    return;
  }
  ReplyValue(req, *v, size);
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  NodeRef node;
  if (int rc = Ctx(req).registry->Resolve(ino, &node); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  const Need need = node.kind == NodeRef::Kind::kRoot ? Need::kHostInspect : Need::kInspect;
  if (int rc = Allow(req, need, "listxattr of " + Describe(node)); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  std::string names;
  for (const std::string& n : Ctx(req).xattrs->List(ino, node)) {
    names += n;
    names.push_back('\0');
  }
  ReplyValue(req, names, size);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int /*flags*/) {
  NodeRef node;
  if (int rc = Ctx(req).registry->Resolve(ino, &node); rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  if (int rc =
          Allow(req, Need::kControl, "setxattr " + std::string(name) + " of " + Describe(node));
      rc < 0) {
    fuse_reply_err(req, -rc);
    return;
  }
  Status s = Ctx(req).xattrs->Set(ino, node, name, std::string_view(value, size));
  if (!s.ok()) spdlog::warn("setxattr {}: {}", name, s.message());
  fuse_reply_err(req, ErrnoFor(s));
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t /*ino*/, const char* name) {
  spdlog::warn("removexattr {}: refused, miyakodori attributes cannot be removed", name);
  fuse_reply_err(req, ENOTSUP);
}

}  // namespace mkd::memfs
