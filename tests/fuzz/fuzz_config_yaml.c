/*
 * fuzz_config_yaml -- the server's YAML configuration loader
 * (server/config_yaml.c) through srv_config_load(), exactly as main() calls
 * it: defaults, then --config.file, then the flags, then the checks that tie
 * settings together.
 *
 * Input: the YAML file. srv_config_load_yaml() takes a path, so the input is
 * written to a memfd and the loader is given /proc/self/fd/N (no file-system
 * writes). Errors go to stderr, as in the server; run.sh closes it.
 * Invariants: OK or ERROR (never EXIT without --help), and after OK the
 * settings pass the loader's own checks (a valid backend, a path).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"

static int g_fd = -1;
static char g_arg[64];

static void close_fd(void)
{
    if (g_fd >= 0)
        close(g_fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_fd = memfd_create("fuzz_config_yaml", MFD_CLOEXEC);
    if (g_fd < 0)
        fuzz_fail("memfd_create failed");
    snprintf(g_arg, sizeof g_arg, "--config.file=/proc/self/fd/%d", g_fd);
    atexit(close_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != (ssize_t)size)
        fuzz_fail("cannot write the memfd");
    char prog[] = "promstore";
    char *argv[] = {prog, g_arg, NULL};
    srv_config cfg;
    enum srv_config_result rc = srv_config_load(&cfg, 2, argv);
    if (rc == SRV_CONFIG_OK) {
        if (cfg.backend == NULL ||
            (strcmp(cfg.backend, "lmdb") != 0 && strcmp(cfg.backend, "sqlite") != 0))
            fuzz_fail("loaded with backend %s", cfg.backend ? cfg.backend : "(null)");
        if (cfg.path == NULL || cfg.listen_address == NULL)
            fuzz_fail("loaded without a path or listen address");
        if (cfg.config_file == NULL || strcmp(cfg.config_file, g_arg + 14) != 0)
            fuzz_fail("config_file is %s", cfg.config_file ? cfg.config_file : "(null)");
        srv_config_free(&cfg);
    } else if (rc != SRV_CONFIG_ERROR) {
        fuzz_fail("srv_config_load returned %d", (int)rc);
    }
    return 0;
}
