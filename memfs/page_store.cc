// DirPageStore: the page store on the --store directory (see page_store.h). The only file that
// calls mkdir, opendir, rename and unlink on that directory.
#include "memfs/page_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mkd::memfs {
namespace {

Status RemovePath(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return Status::Ok();
  const int err = errno;
  const std::string what = "page store: removing " + path + ": " + std::strerror(err);
  return err == ENOENT ? Status::NotFound(what) : Status::Io(what);
}

}  // namespace

bool ParseVmDirName(std::string_view name, Uuid* out) {
  Result<Uuid> u = Uuid::Parse(name);
  if (!u.ok() || u->ToString() != name) return false;
  *out = *u;
  return true;
}

std::string PageFileName(const IncarnationKey& key) {
  return key.block + "." + std::to_string(key.incarnation);
}

std::string DirPageStore::PathOf(const IncarnationKey& key) const {
  return VmDir(key.vm) + "/" + PageFileName(key);
}

Result<PageFile> DirPageStore::Create(const IncarnationKey& key) {
  const std::string dir = VmDir(key.vm);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Io("page store: creating " + dir + ": " + std::strerror(errno));
  }
  MKD_ASSIGN_OR_RETURN(PageFile file, PageFile::Open(PathOf(key), /*create=*/true));
  if (file.Resize(0) < 0) return Status::Io("page store: truncating " + file.path());
  return file;
}

Result<PageFile> DirPageStore::Open(const IncarnationKey& key) {
  return PageFile::Open(PathOf(key), /*create=*/false);
}

Status DirPageStore::Rename(PageFile& file, const IncarnationKey& key) {
  std::string to = PathOf(key);
  if (::rename(file.path().c_str(), to.c_str()) != 0) {
    return Status::Io("renaming its page-store file: " + std::string(std::strerror(errno)));
  }
  file.set_path(std::move(to));
  return Status::Ok();
}

Status DirPageStore::Remove(PageFile& file) { return RemovePath(file.path()); }

Status DirPageStore::Remove(const PageStoreEntry& entry) { return RemovePath(Describe(entry)); }

std::vector<PageStoreEntry> DirPageStore::List() const {
  std::vector<PageStoreEntry> out;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return out;
  while (dirent* vm_dir = ::readdir(d)) {
    Uuid vm;
    if (!ParseVmDirName(vm_dir->d_name, &vm)) continue;
    DIR* files = ::opendir(VmDir(vm).c_str());
    if (files == nullptr) continue;
    while (dirent* f = ::readdir(files)) {
      if (f->d_name[0] == '.') continue;  // also the store's lock file (dir_lock.h)
      out.push_back(PageStoreEntry{vm, f->d_name});
    }
    ::closedir(files);
  }
  ::closedir(d);
  return out;
}

std::string DirPageStore::Describe(const PageStoreEntry& entry) const {
  return VmDir(entry.vm) + "/" + entry.name;
}

}  // namespace mkd::memfs
