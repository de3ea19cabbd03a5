/*
 * sqlite_integrity.c -- integrity() of the SQLite backend, inside the
 * caller's read transaction (its snapshot):
 *
 *   1. PRAGMA integrity_check: SQLite's own audit of the file (b-tree page
 *      structure, cell order, free list, page accounting); each line it
 *      reports other than "ok" is one problem.
 *   2. Every backend table (a "t_..." table, sqlite_int.h note 2) is a
 *      WITHOUT ROWID table keyed by k, and every k and v is a BLOB with k of
 *      1..PS_BACKEND_MAX_KEY bytes. The order the backend promises is that of
 *      BLOBs (memcmp, a prefix first); SQLite sorts a TEXT or INTEGER key
 *      before every BLOB, so one such key would break it without
 *      integrity_check noticing anything.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_int.h"

/* At most this many lines from integrity_check (SQLite's default is 100). */
#define PS_SQ_INTEGRITY_LINES 1000

/* The backend's name for SQL table "t_<escaped>" (ps_sq_sql_name reversed). */
static void backend_name(const char *sqlname, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *s = sqlname + 2; *s != '\0' && n + 1 < cap; s++) {
        if (*s == '_' && s[1] != '\0') {
            s++;
            out[n++] = *s == '_' ? '_' : (char)(*s - 'a' + 'A');
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* One line per problem; SQLite may pack several lines into one row. */
static int report_lines(const char *text, ps_integrity_fn report, void *ctx)
{
    while (*text != '\0') {
        size_t n = strcspn(text, "\n");
        /* "*** in database main ***" only says which attached database follows. */
        if (n > 0 && strncmp(text, "*** in database", 15) != 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "integrity_check: %.*s", (int)(n < 500 ? n : 500), text);
            if (report(ctx, NULL, msg) != 0)
                return 1;
        }
        text += n + (text[n] == '\n');
    }
    return 0;
}

/* Run PRAGMA integrity_check; each line other than "ok" goes to report. */
static int pragma_check(ps_sq_conn *c, ps_integrity_fn report, void *ctx, int *stopped,
                        promstore_error *err)
{
    char sql[64];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "PRAGMA integrity_check(%d)", PS_SQ_INTEGRITY_LINES);
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return ps_sq_fail(c->db, rc, err, "integrity_check", NULL);
    while (!*stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (text != NULL && strcmp(text, "ok") != 0)
            *stopped = report_lines(text, report, ctx);
    }
    int status = 0;
    if (!*stopped && (rc & 0xff) == SQLITE_CORRUPT) {
        /* Damage bad enough to end the check early is a finding as well. */
        char msg[300];
        snprintf(msg, sizeof msg, "integrity_check: stopped early: %s", sqlite3_errmsg(c->db));
        *stopped = report(ctx, NULL, msg) != 0;
    } else if (!*stopped && rc != SQLITE_DONE) {
        status = ps_sq_fail(c->db, rc, err, "integrity_check", NULL);
    }
    sqlite3_finalize(st);
    return status;
}

/* Count entries of one table whose key or value breaks the BLOB rule. */
static int check_table(ps_sq_conn *c, const char *sqlname, const char *sql_text,
                       ps_integrity_fn report, void *ctx, int *stopped, promstore_error *err)
{
    char name[PS_SQ_NAME_CAP], msg[400];
    backend_name(sqlname, name, sizeof name);
    if (sql_text == NULL || strstr(sql_text, "WITHOUT ROWID") == NULL) {
        snprintf(msg, sizeof msg, "SQL table %s is not a WITHOUT ROWID table", sqlname);
        if (report(ctx, name, msg) != 0)
            *stopped = 1;
        return 0;
    }
    char sql[300];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM \"%s\" WHERE typeof(k) <> 'blob' OR typeof(v) <> 'blob' "
             "OR length(k) NOT BETWEEN 1 AND %d",
             sqlname, PS_BACKEND_MAX_KEY);
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return ps_sq_fail(c->db, rc, err, "integrity: key types", name);
    rc = sqlite3_step(st);
    if ((rc & 0xff) == SQLITE_CORRUPT) {
        /* integrity_check has said why; say which table cannot be read. */
        snprintf(msg, sizeof msg, "reading the table failed: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(st);
        if (report(ctx, name, msg) != 0)
            *stopped = 1;
        return 0;
    }
    if (rc != SQLITE_ROW) {
        int status = ps_sq_fail(c->db, rc, err, "integrity: key types", name);
        sqlite3_finalize(st);
        return status;
    }
    sqlite3_int64 bad = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (bad > 0) {
        snprintf(msg, sizeof msg,
                 "%lld entries have a key or value that is not a BLOB, or a key outside "
                 "1..%d bytes (the backend's order holds for BLOB keys only)",
                 (long long)bad, PS_BACKEND_MAX_KEY);
        if (report(ctx, name, msg) != 0)
            *stopped = 1;
    }
    return 0;
}

static int check_tables(ps_sq_conn *c, ps_integrity_fn report, void *ctx, int *stopped,
                        promstore_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db,
                                "SELECT name, sql FROM sqlite_schema WHERE type = 'table' "
                                "AND name GLOB 't_*' ORDER BY name",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return ps_sq_fail(c->db, rc, err, "integrity: listing tables", NULL);
    int status = 0;
    while (status == 0 && !*stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *sql = (const char *)sqlite3_column_text(st, 1);
        if (name != NULL)
            status = check_table(c, name, sql, report, ctx, stopped, err);
    }
    if (status == 0 && !*stopped && rc != SQLITE_DONE)
        status = ps_sq_fail(c->db, rc, err, "integrity: listing tables", NULL);
    sqlite3_finalize(st);
    return status;
}

int ps_sq_integrity(ps_txn *txn, ps_integrity_fn report, void *ctx, promstore_error *err)
{
    if (txn == NULL || report == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: integrity: NULL argument");
    if (txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE, "sqlite: integrity needs a read transaction");
    int stopped = 0;
    int rc = pragma_check(txn->conn, report, ctx, &stopped, err);
    if (rc == 0 && !stopped)
        rc = check_tables(txn->conn, report, ctx, &stopped, err);
    return rc;
}
