/* The network engine (nn/engine.h) compiled for the baseline flags. */
#define FM_ENGINE_INIT fm_engine_init_generic
#include "nn/engine_impl.h"
