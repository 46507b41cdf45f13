// TempDirForTest: a fresh directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it when the object goes; touches nothing else. Test-only. Neither copied nor
// moved; not thread-safe. The one temp directory of every C++ test (libvirt, memfs, migrate-tool).
#ifndef MKD_BASE_TEMP_DIR_FOR_TEST_H_
#define MKD_BASE_TEMP_DIR_FOR_TEST_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "base/check.h"

namespace mkd::testing {

class TempDirForTest {
 public:
  TempDirForTest() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/mkd-test-XXXXXX";
    MKD_CHECK(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDirForTest() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDirForTest(const TempDirForTest&) = delete;
  TempDirForTest& operator=(const TempDirForTest&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace mkd::testing

#endif  // MKD_BASE_TEMP_DIR_FOR_TEST_H_
