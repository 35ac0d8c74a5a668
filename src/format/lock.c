/*
 * lock.c - one writer per output: an advisory lock that dies with its process.
 *
 * The lock is a POSIX record lock (fcntl) on OUT.lock beside OUT, not on OUT itself: a
 * new output is built under another name and renamed over OUT, and a lock on the inode
 * that the rename replaces would not guard the new one.  `run` (with --resume or --force
 * or neither) and `merge` take it before they touch OUT or OUT.part, so a second writer
 * exits saying who holds it and changes nothing.  The kernel drops the lock when its
 * process dies, however it dies; the holder removes OUT.lock when it is done, and a
 * taker checks that the file it locked is still the one at OUT.lock (else the holder
 * removed it meanwhile, and it tries again), so removing it is safe.
 *
 * The lock is keyed on a name, so every writer first turns its -o into the file's one
 * name (ae_output_file): a symlink is followed to its target (the lock, the rename and
 * the writes then act on the file itself), and a file with a second hard link is refused
 * (two names would take two locks, and a rename would leave the other name on the old
 * data).  What is not a regular file (a device, a FIFO, a directory) is refused before
 * anything is opened for writing.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "ae_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ae_lock {
    int fd;
    char *path;
};

/* The file a dangling symlink names (to be created, as a shell's `>` would): its links
 * followed up to a missing last name, in a folder that exists; NULL (errno) otherwise. */
static char *dangling_target(const char *link)
{
    char *path = ae_xstrdup(link);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(path, &st) != 0) { /* the missing file: its folder must exist */
            char *slash = strrchr(path, '/');
            char *folder = slash ? realpath(slash == path ? "/" : (*slash = 0, path), NULL) : realpath(".", NULL);
            const char *name = slash ? slash + 1 : path;
            char *file = NULL;
            if (folder) {
                file = ae_xmalloc(strlen(folder) + strlen(name) + 2);
                sprintf(file, "%s/%s", strcmp(folder, "/") ? folder : "", name);
            }
            free(folder);
            free(path);
            return file;
        }
        if (!S_ISLNK(st.st_mode)) break; /* not dangling after all: realpath failed otherwise */
        char target[4096];
        ssize_t length = readlink(path, target, sizeof target - 1);
        if (length < 0) break;
        target[length] = 0;
        char *next;
        const char *slash = strrchr(path, '/');
        if (target[0] == '/' || !slash) {
            next = ae_xstrdup(target);
        } else { /* relative to the link's folder */
            next = ae_xmalloc((size_t)(slash - path) + strlen(target) + 2);
            sprintf(next, "%.*s/%s", (int)(slash - path), path, target);
        }
        free(path);
        path = next;
    }
    free(path);
    errno = ELOOP;
    return NULL;
}

char *ae_output_file(const char *output, ae_error *err)
{
    struct stat st;
    if (lstat(output, &st) != 0) {
        if (errno == ENOENT) return ae_xstrdup(output); /* a new file: its name is the one given */
        ae_fail_runtime(err, "%s: cannot look at it: %s", output, strerror(errno));
        return NULL;
    }
    char *file = S_ISLNK(st.st_mode) ? realpath(output, NULL) : ae_xstrdup(output);
    if (!file && errno == ENOENT) file = dangling_target(output);
    if (!file) {
        if (errno == ENOENT) ae_fail(err, "%s: a symlink into a missing folder: give the output a real name", output);
        else ae_fail_runtime(err, "%s: cannot follow the symlink: %s", output, strerror(errno));
        return NULL;
    }
    if (stat(file, &st) != 0) {
        if (errno == ENOENT) return file; /* removed meanwhile: a new file */
        ae_fail_runtime(err, "%s: cannot look at it: %s", file, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        ae_fail(err, "%s is %s: aesweep writes its output only as a regular file (give another -o)", output,
                ae_file_kind(st.st_mode));
    } else if (st.st_nlink > 1) {
        ae_fail(err, "%s has %lu hard links: aesweep replaces an output by renaming a new file over it, which would "
                     "leave the other names on the old data, and would lock each name apart; give it one name "
                     "(cp it, or remove the other links) first",
                output, (unsigned long)st.st_nlink);
    } else {
        return file;
    }
    free(file);
    return NULL;
}

static char *lock_path(const char *output)
{
    char *path = ae_xmalloc(strlen(output) + 6);
    sprintf(path, "%s.lock", output);
    return path;
}

/* The pid holding a lock on fd's file (-1: held, pid unknown; 0: not held). */
static long holder_of(int fd)
{
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &probe) != 0) return -1;
    return probe.l_type == F_UNLCK ? 0 : probe.l_pid > 0 ? (long)probe.l_pid : -1;
}

static int locked_error(const char *output, long pid, ae_error *err)
{
    if (pid > 0)
        return ae_fail_runtime(err, "%s is being written by another aesweep (pid %ld, locked through %s.lock): "
                                    "wait for it or stop it first",
                               output, pid, output);
    return ae_fail_runtime(err, "%s is being written by another process (locked through %s.lock)", output, output);
}

ae_lock *ae_lock_output(const char *output, ae_error *err)
{
    char *path = lock_path(output);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            ae_fail_runtime(err, "%s: cannot create its lock file %s: %s", output, path, strerror(errno));
            break;
        }
        struct flock take = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &take) != 0) {
            int error = errno;
            long pid = error == EACCES || error == EAGAIN ? holder_of(fd) : 0;
            close(fd);
            if (error == EACCES || error == EAGAIN) {
                if (pid == 0) continue; /* released between our two calls: try again */
                locked_error(output, pid, err);
            } else {
                ae_fail_runtime(err, "%s: cannot lock %s: %s", output, path, strerror(error));
            }
            break;
        }
        struct stat locked, now;
        if (fstat(fd, &locked) == 0 && stat(path, &now) == 0 && locked.st_dev == now.st_dev &&
            locked.st_ino == now.st_ino) {
            char pid[32];
            int length = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)length) != length) { /* for people only */
            }
            ae_lock *lock = ae_xcalloc(1, sizeof *lock);
            lock->fd = fd;
            lock->path = path;
            return lock;
        }
        close(fd); /* the holder removed it as we took it: lock the new one */
    }
    free(path);
    if (!err->msg[0]) ae_fail_runtime(err, "%s: cannot take its lock %s.lock", output, output);
    return NULL;
}

void ae_lock_release(ae_lock *lock)
{
    if (!lock) return;
    unlink(lock->path); /* while still held: a taker that opened it sees it replaced */
    close(lock->fd);
    free(lock->path);
    free(lock);
}

long ae_lock_holder(const char *output)
{
    char *path = lock_path(output);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) return 0;
    long pid = holder_of(fd);
    close(fd);
    return pid;
}
