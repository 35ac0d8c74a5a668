/*
 * io_internal.h - shared by the output-file modules only (common.c, write.c,
 * resume.c, bases.c, merge.c); the public API is ae_io.h.
 *
 * The variables of an output are one table, out_vars (write.c).  HDF5 handles are
 * initialised to H5I_INVALID_HID and closed at one label per function; H5_OR_FAIL(call)
 * names a failed call with its real cause and jumps to that function's `fail` label.
 */
#ifndef AE_IO_INTERNAL_H
#define AE_IO_INTERNAL_H

#include "ae_io.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <pthread.h>
#include <stddef.h>

/* The variables (the table is in write.c) */

typedef enum { VT_I8, VT_U8, VT_I16, VT_I64, VT_REAL, VT_F64 } var_type;

typedef struct {
    const char *name;
    ae_record_shape shape;
    var_type type;
    size_t field; /* offset of the array pointer in ae_results */
    double fill;
    const char *units, *long_name;
} out_var;

extern const out_var out_vars[];
extern const size_t n_out_vars;
#define N_OUT_VARS n_out_vars

/* output.fields: a file holds variable v of out_vars when bit v of its field set is on
 * (out_vars is in AE_RECORD_FIELDS order); `done` and the coordinates are always there.
 * Every loop over out_vars asks this first. */
static inline int io_has_field(uint64_t fields, size_t v)
{
    return (int)(fields >> v & 1);
}
/* "outcome, splay" for messages (malloc'd). */
char *io_field_names(uint64_t fields);

/* The output being written (write.c, resume.c). */
#define TRAJ_VARS 3 /* loss, W, b; then the group's `done` */

/* The thread that writes batches while the caller trains the next (write.c): one batch
 * at a time, handed over and collected under `lock`.  Only it calls HDF5 while a batch is
 * in flight (Debian's HDF5 is not thread-safe). */
typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int started, quit;
    int in_flight;               /* a batch handed over and not yet collected */
    int writing;                 /* the thread has not finished it */
    uint64_t first, count;
    const ae_results *res;
    int status;                  /* of the batch written last */
    ae_error error;
} io_writer;

struct ae_out {
    char *path;
    hid_t file;
    int rank; /* grid dims */
    uint64_t fields; /* out_vars kept (output.fields) */
    hid_t *vars; /* one per out_vars entry (invalid where not kept) */
    hid_t done;
    hid_t traj[TRAJ_VARS + 1]; /* the trajectory group's variables and its `done` (invalid: none) */
    int traj_done;
    uint64_t n_max, m_max;
    io_writer writer;
};
/* Shapes of a file that claims to be an aesweep output: `done` over the grid, the
 * `feature` and `latent` coordinates, and every variable of out_vars that the file has
 * (`fields`) over the grid, (grid, feature) or (grid, feature, latent). */
typedef struct {
    int rank;
    hsize_t dims[AE_AXES_MAX + 1];
    uint64_t runs, n_max, m_max;
    uint64_t fields;
} file_layout;

#define AE_FILE_RUNS_MAX ((uint64_t)1 << 34) /* records a reader will hold in memory at once */


/* Checked HDF5 calls */
int io_h5_fail(ae_error *err, const char *path, const char *what, const char *file, int line);
void io_h5_close(hid_t *id);
/* Every function that opens HDF5 handles initialises them to H5I_INVALID_HID and closes
 * them at its one `fail`/`done` label, so that no failure leaks one.  H5_OR_FAIL(call)
 * records the failure (with `err` and `path` of the function) and jumps to `fail`. */
#define H5_OR_FAIL(expr)                                                                                         \
    do {                                                                                                         \
        if ((expr) < 0) {                                                                                        \
            io_h5_fail(err, path, #expr, __FILE__, __LINE__);                                                       \
            goto fail;                                                                                           \
        }                                                                                                        \
    } while (0)


/* The memory type of a variable's values (REAL and F64: double, whatever the file holds). */
hid_t io_h5_type(var_type type);
/* The file type of the sweep's float variables (REAL: float32, or float64 when a run is). */
hid_t io_file_real_type(const ae_grid *grid);

/* Files: HDF5's locking off (and MPI-IO under make MPI=1); rank 0's status everywhere. */
hid_t io_file_access(void);
hid_t io_open_file(const char *path, unsigned flags);
int io_world_rank(void);
int io_share_status(int status);

/* Attributes: size 0 is variable length (written once); fixed length is rewritable. */
hid_t io_string_type(size_t size);
int io_put_attr(hid_t object, const char *name, hid_t type, hsize_t count, const void *values, const char *path,
                ae_error *err);
int io_put_text_attr(hid_t object, const char *name, const char *text, size_t size, const char *path,
                     ae_error *err);
char *io_get_text_attr(hid_t object, const char *name);
/* Rewrites `count` outcome codes read from file's `outcome` into this version's codes (-1:
 * a class this version does not have, or no class), through the file's CF flag_meanings:
 * a file of another version numbers its classes otherwise (every version's writer gives
 * flag_values 0, 1, ... in the order of flag_meanings; without the attribute the codes are
 * taken as they are).  *names: that attribute (malloc'd; NULL without it).  Returns the
 * codes left at -1. */
uint64_t io_outcomes_in_this_version(hid_t file, int8_t *codes, uint64_t count, char **names);
int io_check_stamp(hid_t file, const char *path, const char *command, ae_error *err);

/* A foreign file's shapes, checked before use. */
int io_dataset_dims(hid_t file, const char *name, int min_rank, int max_rank, hsize_t *dims, int *rank,
                    const char *path, ae_error *err);
int io_read_layout(hid_t file, const char *path, file_layout *lay, ae_error *err);
int io_read_whole(hid_t file, const char *name, hid_t mem_type, void *data, const char *path, ae_error *err);

/* OUT.part, and its rename into place. */
char *io_part_path(const char *path);
int io_rename_into_place(const char *part, const char *path, ae_error *err);

ae_out *io_out_new(const char *path);
void io_out_free(ae_out *out);
/* Up to 6 lines where two config JSON texts differ, each as "NAME: line" for both. */
void io_describe_difference(const char *a_json, const char *a_name, const char *b_json, const char *b_name,
                            ae_strbuf *sb);

#endif
