/* registry.c -- the built-in backends by name. */
#include <string.h>

#include "backend.h"

const ps_backend_methods *ps_backend_find(const char *name)
{
    static const ps_backend_methods *const all[] = {&ps_lmdb_methods, &ps_sqlite_methods};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
