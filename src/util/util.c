/* util.c - errors, checked allocation, files, clocks, growing strings. */
#define _POSIX_C_SOURCE 200809L
#include "ae_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail_with(ae_error *err, int code, const char *fmt, va_list args)
{
    if (err) {
        vsnprintf(err->msg, sizeof err->msg, fmt, args);
        err->code = code;
    }
    return -1;
}

int ae_fail(ae_error *err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fail_with(err, AE_EXIT_USAGE, fmt, args);
    va_end(args);
    return -1;
}

int ae_fail_runtime(ae_error *err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fail_with(err, AE_EXIT_RUNTIME, fmt, args);
    va_end(args);
    return -1;
}

static void out_of_memory(size_t bytes)
{
    fprintf(stderr, "aesweep: out of memory (asked for %zu bytes)\n", bytes);
    exit(AE_EXIT_RUNTIME);
}

void *ae_xmalloc(size_t bytes)
{
    void *block = malloc(bytes ? bytes : 1);
    if (!block) out_of_memory(bytes);
    return block;
}

void *ae_xcalloc(size_t count, size_t size)
{
    void *block = calloc(count ? count : 1, size ? size : 1);
    if (!block) out_of_memory(count * size);
    return block;
}

char *ae_xstrdup(const char *text)
{
    size_t length = strlen(text) + 1;
    char *copy = ae_xmalloc(length);
    memcpy(copy, text, length);
    return copy;
}

const char *ae_file_kind(unsigned mode)
{
    return S_ISREG(mode)                    ? "a regular file"
           : S_ISDIR(mode)                  ? "a directory"
           : S_ISFIFO(mode)                 ? "a FIFO"
           : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                            : "not a regular file";
}

double ae_physical_memory(void)
{
    return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

int ae_input_file(const char *path, const char *what, ae_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0; /* a missing file: the opener says so */
    return ae_fail(err, "%s: %s is %s: aesweep reads %s only from a regular file", path, what,
                   ae_file_kind(st.st_mode), what);
}

static char *read_stream(FILE *file, const char *path, ae_error *err);

char *ae_read_file(const char *path, ae_error *err)
{
    if (strcmp(path, "-") == 0) return read_stream(stdin, "(standard input)", err);
    /* O_NONBLOCK: a FIFO must not hang the open before fstat can refuse it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        ae_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        if (ae_input_file(path, "a config", err) == 0) ae_fail(err, "%s: not a regular file", path);
        return NULL;
    }
    FILE *file = fdopen(fd, "rb");
    if (!file) {
        close(fd);
        ae_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = read_stream(file, path, err);
    fclose(file);
    return text;
}

/* The whole of `file` (NULL with err on a read error). */
static char *read_stream(FILE *file, const char *path, ae_error *err)
{
    ae_strbuf text = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) ae_strbuf_printf(&text, "%.*s", (int)got, chunk);
    if (ferror(file)) {
        ae_strbuf_free(&text);
        ae_fail(err, "%s: read error", path);
        return NULL;
    }
    if (!text.data) ae_strbuf_printf(&text, "%s", "");
    return text.data;
}

double ae_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

void ae_utc_time(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

void ae_strbuf_printf(ae_strbuf *sb, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int need = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (need < 0) return;
    if (sb->length + (size_t)need + 1 > sb->capacity) {
        size_t capacity = sb->capacity ? sb->capacity : 256;
        while (capacity < sb->length + (size_t)need + 1) capacity *= 2;
        char *grown = realloc(sb->data, capacity);
        if (!grown) out_of_memory(capacity);
        sb->data = grown;
        sb->capacity = capacity;
    }
    va_start(args, fmt);
    vsnprintf(sb->data + sb->length, (size_t)need + 1, fmt, args);
    va_end(args);
    sb->length += (size_t)need;
}

void ae_strbuf_free(ae_strbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->length = sb->capacity = 0;
}
