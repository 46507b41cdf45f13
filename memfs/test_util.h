// Helpers for memfs unit tests: a temporary directory removed at the end of the test (the
// project's one, base/temp_dir_for_test.h).
#ifndef MKD_MEMFS_TEST_UTIL_H_
#define MKD_MEMFS_TEST_UTIL_H_

#include "base/temp_dir_for_test.h"

namespace mkd::memfs::testing {

using TempDir = mkd::testing::TempDirForTest;

}  // namespace mkd::memfs::testing

#endif  // MKD_MEMFS_TEST_UTIL_H_
