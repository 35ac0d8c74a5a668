/*
 * fault_inject.c - kill a process at its k-th file write, for the crash tests only.
 *
 * Built as build/fault_inject.so and loaded with LD_PRELOAD into build/aesweep (the
 * production binary carries no hook).  It wraps every call through which aesweep and its
 * HDF5 change a file: pwrite/pwrite64/write on a regular file, ftruncate, fsync and
 * rename.  With AESWEEP_FAULT_AT=k the process dies by SIGKILL just before the k-th of
 * them, as a power cut or `kill -9` would leave it; with AESWEEP_FAULT_COUNT=FILE it
 * writes how many it made to FILE when it exits, so a test knows K, the number of writes
 * of a whole life, and can kill at each k in 1..K.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long writes, fault_at = -1;

static void count_write(void)
{
    if (fault_at < 0) {
        const char *at = getenv("AESWEEP_FAULT_AT");
        fault_at = at ? atol(at) : 0;
    }
    if (++writes == fault_at) raise(SIGKILL);
}

static int is_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    count_write();
    return NEXT(pwrite)(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    count_write();
    return NEXT(pwrite64)(fd, buf, count, offset);
}

ssize_t write(int fd, const void *buf, size_t count)
{
    if (is_regular(fd)) count_write();
    return NEXT(write)(fd, buf, count);
}

int ftruncate(int fd, off_t length)
{
    count_write();
    return NEXT(ftruncate)(fd, length);
}

int fsync(int fd)
{
    count_write();
    return NEXT(fsync)(fd);
}

int rename(const char *from, const char *to)
{
    count_write();
    return NEXT(rename)(from, to);
}

__attribute__((destructor)) static void report_count(void)
{
    const char *path = getenv("AESWEEP_FAULT_COUNT");
    if (!path) return;
    FILE *out = fopen(path, "w");
    if (!out) return;
    fprintf(out, "%ld\n", writes);
    fclose(out);
}
