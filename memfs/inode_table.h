// InodeTable: the inode numbers mkd-memfs gives the kernel and what each one is (the root, a VM
// directory, a RAM file), with the kernel's lookup count of each (as in libfuse's
// passthrough_ll): an inode whose name is gone stays until the kernel forgets it, and its number
// is never given out again.
//
// Bookkeeping only: it knows no names, blocks or files (the Registry maps names to inodes).
// Not thread-safe: the Registry calls it under its lock.
#ifndef MKD_MEMFS_INODE_TABLE_H_
#define MKD_MEMFS_INODE_TABLE_H_

#include <cstdint>
#include <map>
#include <string>

#include "base/uuid.h"

namespace mkd::memfs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;

// What an inode is.
struct NodeRef {
  enum class Kind { kRoot, kVm, kBlock };
  Kind kind = Kind::kRoot;
  Uuid vm;
  std::string block;
};

class InodeTable {
 public:
  struct Node {
    NodeRef ref;
    uint64_t nlookup = 0;  // the kernel's references (lookups not yet forgotten)
    bool removed = false;  // its name is gone (rmdir, unlink)
  };

  // Holds the root, which the kernel knows from the mount on and never forgets.
  InodeTable();

  // A new inode (numbers only grow), not yet known to the kernel.
  Ino Add(NodeRef ref);
  // Null when there is no such inode (never was, or forgotten after its removal).
  const Node* Find(Ino ino) const;
  // The kernel got the inode in a reply (lookup, mkdir, create): one more reference.
  void Ref(Ino ino);
  // The kernel drops `nlookup` references (FUSE forget). More than it holds is logged as an
  // error and counts as all. Returns true when the inode is gone for good (removed and
  // forgotten). The root is never forgotten.
  bool Forget(Ino ino, uint64_t nlookup);
  // The inode's name is gone; it goes when the kernel holds no reference (returns true then).
  bool Remove(Ino ino);
  size_t size() const { return nodes_.size(); }

 private:
  bool EraseIfUnused(Ino ino);

  std::map<Ino, Node> nodes_;
  Ino next_ino_ = kRootIno + 1;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_INODE_TABLE_H_
