/* ranks.c - the ranks of an MPI job (make MPI=1: the ranks split the runs and share the
 * output file); in one process these are the identity. */
#include "cli.h"

#ifdef AE_HAVE_MPI
#include <mpi.h>
#endif

ae_ranks ae_world_ranks(void)
{
    ae_ranks r = {0, 1};
#ifdef AE_HAVE_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.size);
#endif
    return r;
}

/* Is flag set on any rank? (keeps the ranks' batch loops, and so HDF5's collective
 * flushes, in step) */
int ae_any_rank(int flag)
{
#ifdef AE_HAVE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
    return flag;
}

double ae_sum_over_ranks(double value)
{
#ifdef AE_HAVE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
    return value;
}

/* Rank 0's text on every rank: collective attribute writes need the same values. */
void ae_share_text(char *text, int size)
{
#ifdef AE_HAVE_MPI
    MPI_Bcast(text, size, MPI_CHAR, 0, MPI_COMM_WORLD);
#else
    (void)text, (void)size;
#endif
}

/* Each rank of a node drives its own GPU: the rank's index among the node's ranks. */
int ae_node_rank(void)
{
    int rank = 0;
#ifdef AE_HAVE_MPI
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &rank);
    MPI_Comm_free(&node);
#endif
    return rank;
}
