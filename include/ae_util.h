/*
 * ae_util.h - errors, checked allocation and small helpers shared by the host modules.
 *
 * API:
 *   ae_error                      a message a failing call leaves for its caller
 *   ae_fail(err, fmt, ...)        fills err and returns -1 (for `return ae_fail(...)`)
 *   ae_xmalloc / ae_xcalloc       allocation that prints and exits(1) when memory runs out
 *   AE_EXIT_OK / _RUNTIME / _USAGE  exit codes of DESIGN.md section 6
 */
#ifndef AE_UTIL_H
#define AE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define AE_VERSION "0.1.0"
#define AE_EXIT_OK 0
#define AE_EXIT_RUNTIME 1
#define AE_EXIT_USAGE 2

typedef struct {
    char msg[2048];
    int code; /* exit code the CLI uses for it: AE_EXIT_USAGE or AE_EXIT_RUNTIME */
} ae_error;

/* Fills err (code AE_EXIT_USAGE) and returns -1. */
int ae_fail(ae_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with code AE_EXIT_RUNTIME: the input was fine, the machine or a file was not. */
int ae_fail_runtime(ae_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *ae_xmalloc(size_t bytes);
void *ae_xcalloc(size_t count, size_t size);
char *ae_xstrdup(const char *text);
/* Reads a whole file ("-": standard input); NULL (and err) when it cannot. */
char *ae_read_file(const char *path, ae_error *err);
/* 0 when path is a regular file or missing; else (a FIFO, device, directory: opening those
 * for reading could hang or read forever) an error naming what `what` needs. */
int ae_input_file(const char *path, const char *what, ae_error *err);
/* "a directory", "a FIFO", "a device", "a regular file" for a stat mode, in messages. */
const char *ae_file_kind(unsigned mode);
/* This machine's physical memory in bytes (0 where unknown): the bound of what a reader may
 * allocate. */
double ae_physical_memory(void);
/* Seconds since an arbitrary start, monotonic. */
double ae_now(void);
/* "2026-11-24T21:37:40Z" */
void ae_utc_time(char *out, size_t size);

/* A growing string for JSON and tables. */
typedef struct {
    char *data;
    size_t length, capacity;
} ae_strbuf;
void ae_strbuf_printf(ae_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ae_strbuf_free(ae_strbuf *sb);

#endif
