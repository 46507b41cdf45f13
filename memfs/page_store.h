// PageStore: the directory of page-store files (--store, a tmpfs), one subdirectory per VM and in
// it one file per incarnation, `<store>/<vm-uuid>/<block>.<incarnation>` (docs/memfs.md). This
// interface is the only code that creates, opens, renames, lists or deletes files there; the
// pages inside a file are PageFile's (page_file.h). DirPageStore is the real directory;
// FakePageStore (fake_page_store.h) keeps the files in memory for unit tests.
//
// Not thread-safe by itself: the Registry calls it under its lock (and the restart before the
// mount serves anything). Errors are Status values whose message
// names the file and the cause.
#ifndef MKD_MEMFS_PAGE_STORE_H_
#define MKD_MEMFS_PAGE_STORE_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/incarnation.h"
#include "memfs/page_file.h"

namespace mkd::memfs {

// A VM's directory is named by its UUID in canonical lower-case form, on the mount and in the
// page store; anything else is not a VM directory.
bool ParseVmDirName(std::string_view name, Uuid* out);

// The name of incarnation `key`'s file inside its VM's directory: "<block>.<incarnation>".
std::string PageFileName(const IncarnationKey& key);

// A file found in a VM directory of the page store.
struct PageStoreEntry {
  Uuid vm;
  std::string name;  // inside the VM's directory
  bool operator==(const PageStoreEntry&) const = default;
};

class PageStore {
 public:
  virtual ~PageStore() = default;

  // A new, empty file for incarnation `key` (creating the VM's directory; an existing file of
  // that name is emptied).
  virtual Result<PageFile> Create(const IncarnationKey& key) = 0;
  // The existing file of incarnation `key`; an error when there is none.
  virtual Result<PageFile> Open(const IncarnationKey& key) = 0;
  // `file` (opened by this store) takes the name of incarnation `key`; its descriptor stays
  // valid. The message says "renaming its page-store file: <cause>".
  virtual Status Rename(PageFile& file, const IncarnationKey& key) = 0;
  // Removes `file`'s name from the store (its descriptor stays valid until it is closed).
  // NotFound when the name is already gone.
  virtual Status Remove(PageFile& file) = 0;
  // Removes a file List returned (start-up cleanup). NotFound when it is already gone.
  virtual Status Remove(const PageStoreEntry& entry) = 0;
  // Every file in the VM directories, whoever made it; names starting with '.' (such as the
  // store's lock file, dir_lock.h) and directories that are not named by a VM are left out.
  virtual std::vector<PageStoreEntry> List() const = 0;
  // Where `entry` is, for log lines (a path for the directory).
  virtual std::string Describe(const PageStoreEntry& entry) const = 0;
};

// The page store on a directory (--store).
class DirPageStore : public PageStore {
 public:
  explicit DirPageStore(std::string dir) : dir_(std::move(dir)) {}

  Result<PageFile> Create(const IncarnationKey& key) override;
  Result<PageFile> Open(const IncarnationKey& key) override;
  Status Rename(PageFile& file, const IncarnationKey& key) override;
  Status Remove(PageFile& file) override;
  Status Remove(const PageStoreEntry& entry) override;
  std::vector<PageStoreEntry> List() const override;
  std::string Describe(const PageStoreEntry& entry) const override;

 private:
  std::string VmDir(const Uuid& vm) const { return dir_ + "/" + vm.ToString(); }
  std::string PathOf(const IncarnationKey& key) const;

  std::string dir_;
};

}  // namespace mkd::memfs

#endif  // MKD_MEMFS_PAGE_STORE_H_
