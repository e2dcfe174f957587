// OpenBLAS's CBLAS and LAPACKE (Debian: libopenblas-dev, liblapacke-dev).
#include <cblas.h>
#include <lapacke.h>

// Declared by OpenBLAS (openblas_config.h / cblas.h); re-declared here in case the cblas.h picked by Debian's
// alternatives is the reference one, which lacks them.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
