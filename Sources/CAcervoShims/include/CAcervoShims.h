#ifndef ACERVO_SHIMS_H
#define ACERVO_SHIMS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

/// Starts asynchronous writeback of a byte range (Linux `sync_file_range`, which Swift's Glibc module does
/// not expose because it is a GNU extension). Returns 0, or -1 with errno set.
static inline int acervo_start_writeback(int descriptor, long long offset, long long length) {
#ifdef __linux__
    return sync_file_range(descriptor, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)descriptor; (void)offset; (void)length;
    return 0;
#endif
}

#endif
