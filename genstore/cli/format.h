// Number formatting for mkd-genstore's human-readable output: "262,144" and "1.0 GiB".
#ifndef MKD_GENSTORE_CLI_FORMAT_H_
#define MKD_GENSTORE_CLI_FORMAT_H_

#include <cstdint>
#include <string>

namespace mkd::cli {

std::string Thousands(uint64_t n);
std::string Bytes(uint64_t n);

}  // namespace mkd::cli

#endif  // MKD_GENSTORE_CLI_FORMAT_H_
