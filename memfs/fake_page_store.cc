// FakePageStore: memfd-backed page store for unit tests (see fake_page_store.h).
#include "memfs/fake_page_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mkd::memfs {

FakePageStore::~FakePageStore() {
  for (auto& [id, fd] : files_) ::close(fd);
}

bool FakePageStore::Failing(Op op) { return fail_next_.erase(op) > 0; }

bool FakePageStore::ParsePath(const std::string& path, Id* out) {
  constexpr std::string_view kPrefix = "fake:";
  if (path.rfind(kPrefix, 0) != 0) return false;
  const size_t slash = path.find('/', kPrefix.size());
  if (slash == std::string::npos) return false;
  Uuid vm;
  if (!ParseVmDirName(std::string_view(path).substr(kPrefix.size(), slash - kPrefix.size()), &vm)) {
    return false;
  }
  *out = Id{vm, path.substr(slash + 1)};
  return true;
}

Result<PageFile> FakePageStore::Create(const IncarnationKey& key) {
  const Id id{key.vm, PageFileName(key)};
  log_.push_back("create " + PathOf(id));
  if (Failing(Op::kCreate))
    return Status::Io("page store: creating " + PathOf(id) + ": (fake failure)");
  auto it = files_.find(id);
  if (it != files_.end()) {
    if (::ftruncate(it->second, 0) != 0) return Status::Io("ftruncate: " + PathOf(id));
  } else {
    const int fd = ::memfd_create("mkd-fake-page-store", MFD_CLOEXEC);
    if (fd < 0) return Status::Io(std::string("memfd_create: ") + std::strerror(errno));
    it = files_.emplace(id, fd).first;
  }
  const int mine = ::dup(it->second);
  if (mine < 0) return Status::Io(std::string("dup: ") + std::strerror(errno));
  return PageFile::Adopt(mine, PathOf(id));
}

Result<PageFile> FakePageStore::Open(const IncarnationKey& key) {
  const Id id{key.vm, PageFileName(key)};
  log_.push_back("open " + PathOf(id));
  auto it = files_.find(id);
  if (Failing(Op::kOpen)) return Status::Io("page store file " + PathOf(id) + ": (fake failure)");
  if (it == files_.end()) return Status::Io("page store file " + PathOf(id) + ": no such file");
  const int mine = ::dup(it->second);
  if (mine < 0) return Status::Io(std::string("dup: ") + std::strerror(errno));
  return PageFile::Adopt(mine, PathOf(id));
}

Status FakePageStore::Rename(PageFile& file, const IncarnationKey& key) {
  const Id to{key.vm, PageFileName(key)};
  log_.push_back("rename " + file.path() + " " + PathOf(to));
  Id from;
  auto it = ParsePath(file.path(), &from) ? files_.find(from) : files_.end();
  if (Failing(Op::kRename)) return Status::Io("renaming its page-store file: (fake failure)");
  if (it == files_.end()) return Status::Io("renaming its page-store file: no such file (fake)");
  const int fd = it->second;
  files_.erase(it);
  if (auto old = files_.find(to); old != files_.end()) {
    ::close(old->second);  // rename(2) replaces the target
    files_.erase(old);
  }
  files_.emplace(to, fd);
  file.set_path(PathOf(to));
  return Status::Ok();
}

Status FakePageStore::Remove(PageFile& file) {
  Id id;
  if (!ParsePath(file.path(), &id)) return Status::NotFound("not a file of this store");
  return Remove(PageStoreEntry{id.first, id.second});
}

Status FakePageStore::Remove(const PageStoreEntry& entry) {
  log_.push_back("remove " + Describe(entry));
  if (Failing(Op::kRemove))
    return Status::Io("page store: removing " + Describe(entry) + ": (fake failure)");
  auto it = files_.find(IdOf(entry));
  if (it == files_.end()) return Status::NotFound("page store: removing " + Describe(entry));
  ::close(it->second);
  files_.erase(it);
  return Status::Ok();
}

std::vector<PageStoreEntry> FakePageStore::List() const {
  std::vector<PageStoreEntry> out;
  for (const auto& [id, fd] : files_) out.push_back(PageStoreEntry{id.first, id.second});
  return out;
}

std::string FakePageStore::Describe(const PageStoreEntry& entry) const {
  return PathOf(IdOf(entry));
}

int FakePageStore::FdOf(const PageStoreEntry& entry) const {
  auto it = files_.find(IdOf(entry));
  return it == files_.end() ? -1 : it->second;
}

void FakePageStore::AddFile(const PageStoreEntry& entry, uint64_t bytes) {
  const int fd = ::memfd_create("mkd-fake-page-store", MFD_CLOEXEC);
  if (fd < 0) return;
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    return;
  }
  if (auto old = files_.find(IdOf(entry)); old != files_.end()) {
    ::close(old->second);
    files_.erase(old);
  }
  files_.emplace(IdOf(entry), fd);
}

}  // namespace mkd::memfs
