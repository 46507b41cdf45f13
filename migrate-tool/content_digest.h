// PageSha256: the SHA-256 of one 4 KiB page, the collision-resistant half of a content offer.
// Reuse by content (content_index.h) finds a candidate page by its XXH3-64 (genstore/digests.h),
// which a guest can make collide on purpose; a page is copied only when the SHA-256 of the bytes
// actually read equals the offer's too. Pure function over OpenSSL's EVP one-shot API;
// thread-safe.
#ifndef MKD_MIGRATE_TOOL_CONTENT_DIGEST_H_
#define MKD_MIGRATE_TOOL_CONTENT_DIGEST_H_

#include <array>
#include <cstdint>

namespace mkd::migrate {

using Sha256 = std::array<uint8_t, 32>;

// SHA-256 of kPageSize bytes at `page` (which must all be readable). OpenSSL failing here (no
// SHA-256 in the default provider, out of memory) is not an input error: it aborts (MKD_CHECK).
Sha256 PageSha256(const void* page);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CONTENT_DIGEST_H_
