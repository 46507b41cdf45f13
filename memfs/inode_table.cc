// InodeTable: inode numbers and lookup counts (see inode_table.h).
#include "memfs/inode_table.h"

#include <spdlog/spdlog.h>

namespace mkd::memfs {

InodeTable::InodeTable() { nodes_[kRootIno] = Node{NodeRef{}, 1, false}; }

Ino InodeTable::Add(NodeRef ref) {
  const Ino ino = next_ino_++;
  nodes_[ino] = Node{std::move(ref), 0, false};
  return ino;
}

const InodeTable::Node* InodeTable::Find(Ino ino) const {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : &it->second;
}

void InodeTable::Ref(Ino ino) {
  auto it = nodes_.find(ino);
  if (it != nodes_.end()) ++it->second.nlookup;
}

bool InodeTable::Forget(Ino ino, uint64_t nlookup) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || ino == kRootIno) return false;
  Node& node = it->second;
  if (node.nlookup < nlookup) {
    spdlog::error("kernel forgot inode {} {} times but it was looked up {} times", ino, nlookup,
                  node.nlookup);
    node.nlookup = 0;
  } else {
    node.nlookup -= nlookup;
  }
  return EraseIfUnused(ino);
}

bool InodeTable::Remove(Ino ino) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || ino == kRootIno) return false;
  it->second.removed = true;
  return EraseIfUnused(ino);
}

bool InodeTable::EraseIfUnused(Ino ino) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || !it->second.removed || it->second.nlookup != 0) return false;
  nodes_.erase(it);
  return true;
}

}  // namespace mkd::memfs
