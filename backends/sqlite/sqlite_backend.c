/* Placeholder until the sqlite backend lands: every method table entry is NULL. */
#include "backend.h"
const ps_backend_methods ps_sqlite_methods = {PS_BACKEND_VERSION, "sqlite"};
