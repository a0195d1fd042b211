/*
 * sim/pool.h - fixed-size object pools and growable arrays.
 */
#ifndef SIM_POOL_H
#define SIM_POOL_H

#include <stddef.h>

/*
 * A pool of fixed-size objects: get/put are O(1); memory is obtained in
 * chunks and only when the number of live objects reaches a new maximum.
 */
typedef struct sim_pool {
    size_t obj_size;   /* rounded up to pointer alignment */
    size_t chunk_objs; /* objects per chunk */
    void *free_list;
    void **chunks;
    size_t nchunks, chunks_cap;
    size_t live, peak;
} sim_pool_t;

/* Initialise an empty pool of objects of obj_size bytes, chunk_objs to a
 * chunk (0: a default). Allocates nothing yet. */
void sim_pool_init(sim_pool_t *pool, size_t obj_size, size_t chunk_objs);
/* Free every chunk; objects still out become invalid. */
void sim_pool_fini(sim_pool_t *pool);
/* A zeroed object, or NULL on allocation failure. */
void *sim_pool_get(sim_pool_t *pool);
/* Give an object back to its pool (NULL is ignored). */
void sim_pool_put(sim_pool_t *pool, void *obj);

/*
 * A growable array: make room for `need` elements of `elem` bytes in the
 * array *arrp of capacity *cap, doubling from `first` (or from *cap).
 * Returns 0 (the array and *cap may have moved) or -ENOMEM (unchanged).
 * SIM_GROW(arr, cap, need, first) is the typed form.
 */
int sim_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);
#define SIM_GROW(arr, cap, need, first)                                        \
    sim_grow(&(arr), &(cap), (need), sizeof(*(arr)), (first))

#endif /* SIM_POOL_H */
