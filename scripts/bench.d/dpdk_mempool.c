/*
 * The inner loop of DPDK's mempool_perf_autotest (app/test/test_mempool_perf.c),
 * for one case at a time: take `keep` objects in bulks of `get_bulk`, put them
 * back in bulks of `put_bulk`, repeat for `seconds`; print objects per second.
 * The full autotest runs ~450 combinations at 5 s each; scripts/bench runs the
 * one case it compares with. Built by scripts/bench against Debian's libdpdk.
 *
 *   dpdk_mempool <cache_size> <get_bulk> <put_bulk> <keep> <seconds> -- <EAL args>
 */
#include <stdio.h>
#include <stdlib.h>
#include <rte_eal.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#define POOL_SIZE 8191
#define ELT_SIZE 2048
#define MAX_KEEP 512

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s cache get_bulk put_bulk keep seconds -- EAL args\n", argv[0]);
		return 2;
	}
	unsigned cache = atoi(argv[1]), get_bulk = atoi(argv[2]), put_bulk = atoi(argv[3]);
	unsigned keep = atoi(argv[4]);
	double seconds = atof(argv[5]);
	if (keep > MAX_KEEP || get_bulk == 0 || put_bulk == 0 || keep % get_bulk || keep % put_bulk) {
		fprintf(stderr, "keep must be <= %d and a multiple of both bulk sizes\n", MAX_KEEP);
		return 2;
	}
	if (rte_eal_init(argc - 6, argv + 6) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	struct rte_mempool *mp = rte_mempool_create("bench", POOL_SIZE, ELT_SIZE, cache, 0,
						    NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (mp == NULL) {
		fprintf(stderr, "mempool create failed\n");
		return 1;
	}
	/* As the autotest: the lcore's default cache (NULL when cache == 0). */
	struct rte_mempool_cache *c = rte_mempool_default_cache(mp, rte_lcore_id());
	void *objs[MAX_KEEP];
	uint64_t hz = rte_get_timer_hz(), done = 0;
	uint64_t start = rte_get_timer_cycles(), end = start + (uint64_t)(seconds * hz);
	while (rte_get_timer_cycles() < end) {
		for (int i = 0; i < 128; i++) {
			for (unsigned idx = 0; idx < keep; idx += get_bulk)
				if (rte_mempool_generic_get(mp, &objs[idx], get_bulk, c) < 0)
					rte_panic("get failed\n");
			for (unsigned idx = 0; idx < keep; idx += put_bulk)
				rte_mempool_generic_put(mp, &objs[idx], put_bulk, c);
			done += keep;
		}
	}
	double secs = (double)(rte_get_timer_cycles() - start) / hz;
	printf("dpdk_mempool cache=%u cores=1 n_get_bulk=%u n_put_bulk=%u n_keep=%u rate_persec=%.0f\n",
	       cache, get_bulk, put_bulk, keep, done / secs);
	rte_mempool_free(mp);
	rte_eal_cleanup();
	return 0;
}
