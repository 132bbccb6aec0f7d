/* The network engine (nn/engine.h) compiled for AVX2+FMA. */
#define FM_ENGINE_INIT fm_engine_init_avx2
#include "nn/engine_impl.h"
