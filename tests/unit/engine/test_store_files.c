/*
 * test_store_files.c -- the files and directories a store makes, run once per
 * backend: `test_store_files lmdb|sqlite`. Through the public ABI only, with
 * the process umask at 0, so that every mode seen is the one the library
 * asked for:
 *   - after an open that creates the store (its directory and a parent
 *     included), after appends, and after a reopen, the directories are 0700
 *     and every file in the store (LOCK, FORMAT, data.mdb and lock.mdb, or
 *     promstore.sqlite with its -wal and -shm) is a regular file of mode 0600;
 *   - a symbolic link planted in a new store's directory is never followed:
 *     the file it points to keeps its bytes and its mode. At FORMAT.tmp the
 *     link is removed and the store opens (FORMAT.tmp is only ever a
 *     scratch name); at LOCK, FORMAT and the backend's data file the open
 *     fails with PROMSTORE_E_CORRUPT and a message naming the link.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"

static const char *g_backend = "lmdb";

typedef struct fx {
    char *tmp;        /* tu_mkdtemp; the store is tmp/parent/store */
    char parent[4200];
    char store[4300];
    char victim[4300]; /* a file outside the store that links point to */
} fx;

#define VICTIM_TEXT "not the store's to touch\n"

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    umask(0);
    f->tmp = tu_mkdtemp("files");
    snprintf(f->parent, sizeof f->parent, "%s/parent", f->tmp);
    snprintf(f->store, sizeof f->store, "%s/store", f->parent);
    snprintf(f->victim, sizeof f->victim, "%s/victim", f->tmp);
    FILE *v = fopen(f->victim, "w");
    if (v == NULL || fputs(VICTIM_TEXT, v) < 0 || fclose(v) != 0)
        return -1;
    chmod(f->victim, 0644);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_rmtree(f->tmp);
    free(f);
    return 0;
}

static promstore_options options(const fx *f)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = g_backend;
    o.path = f->store;
    return o;
}

static void append_some(promstore *db, int64_t t0)
{
    tu_lset ls = LS("__name__", "files_metric", "job", "a", NULL);
    promstore_sample *s = tu_ramp(t0, 15000, 500, 1.0);
    tu_append1_ok(db, &ls, s, 500);
    free(s);
}

static void assert_mode(const char *path, mode_t type, mode_t want)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s failed", path);
    if ((st.st_mode & S_IFMT) != type)
        fail_msg("%s is of type 0%o, want 0%o", path, (unsigned)(st.st_mode & S_IFMT),
                 (unsigned)type);
    if ((st.st_mode & 07777) != want)
        fail_msg("%s has mode 0%o, want 0%o", path, (unsigned)(st.st_mode & 07777),
                 (unsigned)want);
}

/* Every entry of the store directory is a 0600 regular file; returns their number. */
static int assert_store_modes(const fx *f, const char *when)
{
    assert_mode(f->parent, S_IFDIR, 0700);
    assert_mode(f->store, S_IFDIR, 0700);
    DIR *d = opendir(f->store);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", f->store, e->d_name);
        print_message("%s: %s\n", when, e->d_name);
        assert_mode(path, S_IFREG, 0600);
        n++;
    }
    closedir(d);
    return n;
}

static void test_modes(void **state)
{
    fx *f = *state;
    promstore_options o = options(f);
    promstore *db = tu_open(&o);
    assert_true(assert_store_modes(f, "after open") >= 3);
    append_some(db, TU_T0);
    append_some(db, TU_T0 + 10 * TU_BLOCK_MS);
    /* SQLite's -wal and -shm exist while the store is open: they count here. */
    int n_open = assert_store_modes(f, "after appends");
    if (strcmp(g_backend, "sqlite") == 0)
        assert_true(n_open >= 5);
    tu_close(db);
    assert_store_modes(f, "after close");
    db = tu_open(&o);
    append_some(db, TU_T0 + 20 * TU_BLOCK_MS);
    assert_store_modes(f, "after reopen and append");
    tu_close(db);
}

/* The victim file still holds its text and its mode. */
static void assert_victim_untouched(const fx *f)
{
    char *text = NULL;
    size_t cap = 0;
    FILE *v = fopen(f->victim, "r");
    assert_non_null(v);
    ssize_t n = getline(&text, &cap, v);
    fclose(v);
    if (n < 0 || strcmp(text, VICTIM_TEXT) != 0)
        fail_msg("the file a link pointed to was changed: \"%s\"", n < 0 ? "" : text);
    free(text);
    assert_mode(f->victim, S_IFREG, 0644);
}

/* The store's directory, empty but for a link `name` to the victim. */
static void plant_link(const fx *f, const char *name)
{
    char link[4600];
    assert_int_equal(mkdir(f->parent, 0700), 0);
    assert_int_equal(mkdir(f->store, 0700), 0);
    snprintf(link, sizeof link, "%s/%s", f->store, name);
    assert_int_equal(symlink(f->victim, link), 0);
}

static void test_link_at_format_tmp_is_replaced(void **state)
{
    fx *f = *state;
    plant_link(f, "FORMAT.tmp");
    promstore_options o = options(f);
    promstore *db = tu_open(&o);
    append_some(db, TU_T0);
    tu_close(db);
    assert_victim_untouched(f);
    char path[4600];
    snprintf(path, sizeof path, "%s/FORMAT.tmp", f->store);
    struct stat st;
    assert_int_not_equal(lstat(path, &st), 0);
    assert_store_modes(f, "after a link at FORMAT.tmp");
}

/* A link at name makes the open fail, naming it; the victim is untouched. */
static void refused_with_link_at(const fx *f, const char *name)
{
    plant_link(f, name);
    promstore_options o = options(f);
    promstore *db = NULL;
    promstore_error err;
    promstore_status rc = promstore_open(&o, &db, &err);
    if (rc != PROMSTORE_E_CORRUPT)
        fail_msg("open with a link at %s: status %d (%s), want PROMSTORE_E_CORRUPT", name, rc,
                 rc ? err.message : "opened");
    assert_null(db);
    if (strstr(err.message, name) == NULL || strstr(err.message, "symbolic link") == NULL)
        fail_msg("the message does not name the link %s: %s", name, err.message);
    assert_victim_untouched(f);
}

static void test_link_at_lock(void **state)
{
    refused_with_link_at(*state, "LOCK");
}

static void test_link_at_format(void **state)
{
    refused_with_link_at(*state, "FORMAT");
}

static void test_link_at_data_file(void **state)
{
    refused_with_link_at(*state, strcmp(g_backend, "lmdb") == 0 ? "data.mdb" : "promstore.sqlite");
}

int main(int argc, char **argv)
{
    g_backend = tu_backend_from_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_at_format_tmp_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_at_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_at_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_at_data_file, setup, teardown),
    };
    char name[64];
    snprintf(name, sizeof name, "store_files_%s", g_backend);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
