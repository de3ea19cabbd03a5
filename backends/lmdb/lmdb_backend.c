/* Placeholder until the lmdb backend lands: every method table entry is NULL. */
#include "backend.h"
const ps_backend_methods ps_lmdb_methods = {PS_BACKEND_VERSION, "lmdb"};
