// MKD_CHECK: aborts the process when a programming invariant is broken (in every build type).
// Only for conditions that no input can cause; input errors are Status values (status.h).
#ifndef MKD_BASE_CHECK_H_
#define MKD_BASE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define MKD_CHECK(cond)                                                                 \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

#endif  // MKD_BASE_CHECK_H_
