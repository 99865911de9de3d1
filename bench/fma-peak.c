// The f32 peak of one core: 12 independent chains of 512-bit fused multiply-adds (32 FLOPs each), long enough that
// the loop's overhead vanishes. Run one copy per core at once to see the machine's peak with every core busy:
//   gcc -O2 -mavx512f -o fma-peak bench/fma-peak.c && (./fma-peak & ./fma-peak & wait)
// The CPU kernels' GFLOP/s (`ticketlab bench … --steps 0 --sparsities 0.9`) are read against this.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    __m512 acc[12];
    const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    const long rounds = 200000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < rounds; r++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    float sum = 0;  // printed, so the chains are not optimised away
    for (int i = 0; i < 12; i++) sum += _mm512_reduce_add_ps(acc[i]);
    printf("%.1f GFLOP/s on this core (checksum %g)\n", rounds * 12.0 * 32 / seconds / 1e9, sum);
    return 0;
}
