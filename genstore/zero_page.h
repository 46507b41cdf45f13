// IsZeroPage: whether a 4 KiB page is all zeros. One implementation for every place that skips
// zero pages: the memfs page store (holes instead of stored zeros) and mkd-migrate (zero records
// instead of content on the wire). Pure; thread-safe.
#ifndef MKD_GENSTORE_ZERO_PAGE_H_
#define MKD_GENSTORE_ZERO_PAGE_H_

namespace mkd {

// True when the kPageSize bytes at `page` are all zero. `page` needs no alignment (xattr values,
// e.g. user.mkd.receive frames, and network buffers arrive at any address).
bool IsZeroPage(const void* page);

}  // namespace mkd

#endif  // MKD_GENSTORE_ZERO_PAGE_H_
