/* The network engine (nn/engine.h) compiled for AVX-512F. */
#define FM_ENGINE_INIT fm_engine_init_avx512
#include "nn/engine_impl.h"
