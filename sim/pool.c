/*
 * sim/pool.c - fixed-size object pool: chunks of objects threaded on a free
 * list. A new chunk is allocated only when the free list is empty, i.e. when
 * the number of live objects reaches a new maximum.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/pool.h"

#define POOL_DEFAULT_CHUNK 64

void sim_pool_init(sim_pool_t *pool, size_t obj_size, size_t chunk_objs)
{
    size_t a = sizeof(void *);

    memset(pool, 0, sizeof(*pool));
    if (obj_size < a)
        obj_size = a;
    pool->obj_size = (obj_size + a - 1) / a * a;
    pool->chunk_objs = chunk_objs ? chunk_objs : POOL_DEFAULT_CHUNK;
}

void sim_pool_fini(sim_pool_t *pool)
{
    for (size_t i = 0; i < pool->nchunks; i++)
        free(pool->chunks[i]);
    free(pool->chunks);
    pool->chunks = NULL;
    pool->nchunks = pool->chunks_cap = 0;
    pool->free_list = NULL;
    pool->live = pool->peak = 0;
}

/* Allocate one chunk and thread its objects onto the free list in address
 * order (so the first object of the chunk is handed out first). */
static int pool_grow(sim_pool_t *pool)
{
    if (SIM_GROW(pool->chunks, pool->chunks_cap, pool->nchunks + 1, 8))
        return -1;
    if (pool->chunk_objs > SIZE_MAX / pool->obj_size)
        return -1;
    char *c = malloc(pool->obj_size * pool->chunk_objs);
    if (!c)
        return -1;
    pool->chunks[pool->nchunks++] = c;
    for (size_t i = pool->chunk_objs; i-- > 0;) {
        void **obj = (void **)(c + i * pool->obj_size);
        *obj = pool->free_list;
        pool->free_list = obj;
    }
    return 0;
}

void *sim_pool_get(sim_pool_t *pool)
{
    if (!pool->free_list && pool_grow(pool) < 0)
        return NULL;
    void **obj = pool->free_list;
    pool->free_list = *obj;
    memset(obj, 0, pool->obj_size);
    if (++pool->live > pool->peak)
        pool->peak = pool->live;
    return obj;
}

void sim_pool_put(sim_pool_t *pool, void *obj)
{
    if (!obj)
        return;
    *(void **)obj = pool->free_list;
    pool->free_list = obj;
    pool->live--;
}

int sim_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -ENOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return -ENOMEM;
    void **arr = arrp;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}
