// Helpers for memfs unit tests: a temporary directory removed at the end of the test.
#ifndef MKD_MEMFS_TEST_UTIL_H_
#define MKD_MEMFS_TEST_UTIL_H_

#include <filesystem>
#include <string>

namespace mkd::memfs::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mkd-memfs-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace mkd::memfs::testing

#endif  // MKD_MEMFS_TEST_UTIL_H_
