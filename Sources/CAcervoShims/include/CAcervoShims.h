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

/// Takes an exclusive lock on the whole file, owned by the open file description (Linux OFD locks: released
/// when the descriptor closes or its process dies, and — unlike `flock` — testable without taking it).
/// With `wait`, blocks until the lock is free. Returns 0, or -1 with errno (EAGAIN when held and not waiting).
static inline int acervo_lock_exclusive(int descriptor, int wait) {
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0 };
    return fcntl(descriptor, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock);
}

/// Whether another open file description holds a lock on the file, without taking it: 1 held, 0 free, -1
/// with errno.
static inline int acervo_lock_is_held(int descriptor) {
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0 };
    if (fcntl(descriptor, F_OFD_GETLK, &lock) != 0) return -1;
    return lock.l_type == F_UNLCK ? 0 : 1;
}

#endif
