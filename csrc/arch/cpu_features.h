#ifndef FM_CPU_FEATURES_H
#define FM_CPU_FEATURES_H

typedef struct {
    int avx2_fma; /* AVX2 and FMA3, with ymm state enabled by the OS */
    int avx512f;  /* AVX-512F (and AVX2+FMA), with zmm/opmask state enabled */
} fm_cpu_features;

fm_cpu_features fm_cpu_detect(void);

#endif
