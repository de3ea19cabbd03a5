/*
 * config_yaml.c -- reads the --config.file YAML into srv_config. The schema
 * is derived from the flag table: a nested key path joined by dots, with '_'
 * written '-', is a flag name (storage.retention.time, web.listen_address ->
 * --web.listen-address). An unknown key, a list, an alias or a mapping where
 * a value belongs is an error naming the key and its line.
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"

#define KEY_MAX 256

struct walk {
    yaml_parser_t parser;
    const char *file;
    srv_config *cfg;
};

static int yaml_fail(struct walk *w, const yaml_event_t *ev, const char *key, const char *what)
{
    fprintf(stderr, "promstore: error: %s: line %lu: %s%s%s%s\n", w->file,
            (unsigned long)ev->start_mark.line + 1, key ? "key \"" : "", key ? key : "",
            key ? "\": " : "", what);
    return -1;
}

static int next_event(struct walk *w, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&w->parser, ev)) {
        fprintf(stderr, "promstore: error: %s: line %lu: %s\n", w->file,
                (unsigned long)w->parser.problem_mark.line + 1,
                w->parser.problem ? w->parser.problem : "invalid YAML");
        return -1;
    }
    return 0;
}

/* Build the flag name of `key` under `prefix`: dots join, '_' becomes '-'. */
static int join_key(const char *prefix, const char *key, size_t key_len, char *out)
{
    size_t p = strlen(prefix);
    if (p + 1 + key_len + 1 > KEY_MAX || memchr(key, '.', key_len) || memchr(key, '-', key_len))
        return -1;
    memcpy(out, prefix, p);
    if (p)
        out[p++] = '.';
    for (size_t i = 0; i < key_len; i++)
        out[p + i] = key[i] == '_' ? '-' : key[i];
    out[p + key_len] = '\0';
    return 0;
}

/* The key as the user wrote it, for messages: dots, underscores kept. */
static void yaml_name(const char *flag, char *out, size_t len)
{
    snprintf(out, len, "%s", flag);
    for (char *c = out; *c; c++)
        if (*c == '-')
            *c = '_';
}

static int walk_mapping(struct walk *w, const char *prefix);

/* Handle the value event of `flag`; the event is consumed by the caller. */
static int walk_value(struct walk *w, yaml_event_t *ev, const char *flag)
{
    char shown[KEY_MAX], origin[KEY_MAX + 64];
    yaml_name(flag, shown, sizeof shown);
    if (ev->type == YAML_MAPPING_START_EVENT) {
        if (!srv_config_is_section(flag))
            return yaml_fail(w, ev, shown, "unknown key");
        return walk_mapping(w, flag);
    }
    if (ev->type != YAML_SCALAR_EVENT)
        return yaml_fail(w, ev, shown, "expected a plain value (lists and aliases are not used)");
    if (srv_config_is_section(flag))
        return yaml_fail(w, ev, shown, "expected a mapping of settings");
    snprintf(origin, sizeof origin, "key \"%s\" in %s", shown, w->file);
    int rc = strcmp(flag, "config.file") == 0
                 ? 1
                 : srv_config_set(w->cfg, flag, (const char *)ev->data.scalar.value, origin);
    if (rc == 1)
        return yaml_fail(w, ev, shown, "unknown key");
    return rc;
}

/* Walk one mapping whose start event was already read. */
static int walk_mapping(struct walk *w, const char *prefix)
{
    for (;;) {
        yaml_event_t key, value;
        char flag[KEY_MAX];
        if (next_event(w, &key) != 0)
            return -1;
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            return 0;
        }
        if (key.type != YAML_SCALAR_EVENT) {
            yaml_fail(w, &key, NULL, "expected a key");
            yaml_event_delete(&key);
            return -1;
        }
        if (join_key(prefix, (const char *)key.data.scalar.value, key.data.scalar.length,
                     flag) != 0) {
            yaml_fail(w, &key, (const char *)key.data.scalar.value, "unknown key");
            yaml_event_delete(&key);
            return -1;
        }
        yaml_event_delete(&key);
        if (next_event(w, &value) != 0)
            return -1;
        int rc = walk_value(w, &value, flag);
        yaml_event_delete(&value);
        if (rc != 0)
            return -1;
    }
}

/* Stream start, document start, then the top mapping (an empty file is fine). */
static int walk_document(struct walk *w)
{
    for (;;) {
        yaml_event_t ev;
        int rc = 0;
        if (next_event(w, &ev) != 0)
            return -1;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(&ev);
            return 0;
        case YAML_MAPPING_START_EVENT:
            rc = walk_mapping(w, "");
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document is a null scalar; anything else is wrong. */
            if (ev.data.scalar.length != 0)
                rc = yaml_fail(w, &ev, NULL, "expected a mapping at the top level");
            break;
        default:
            rc = yaml_fail(w, &ev, NULL, "expected a mapping at the top level");
            break;
        }
        yaml_event_delete(&ev);
        if (rc != 0)
            return -1;
    }
}

int srv_config_load_yaml(srv_config *cfg, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "promstore: error: --config.file \"%s\" cannot be read\n", file);
        return -1;
    }
    struct walk w = {.file = file, .cfg = cfg};
    if (!yaml_parser_initialize(&w.parser)) {
        fclose(f);
        fprintf(stderr, "promstore: error: out of memory reading %s\n", file);
        return -1;
    }
    yaml_parser_set_input_file(&w.parser, f);
    int rc = walk_document(&w);
    yaml_parser_delete(&w.parser);
    fclose(f);
    return rc;
}
