/*
 * nodegen.c -- the node_exporter-like data generator of promstore-bench (see
 * nodegen.h).
 *
 * A host's series come from a table of metric families, each expanded over a
 * "dimension" (CPUs, CPU x mode, filesystems, network devices, disks, ...)
 * into one series per dimension entry. A family names a value model:
 *   CONST    a fixed value (sizes, limits, info metrics);
 *   COUNTER  grows by about rate * 15 s per scrape, in integer "ticks" of a
 *            quantum q, so values are exactly what node_exporter computes
 *            (ticks / 100 for CPU seconds, ticks * 512 for disk bytes, ...);
 *   WALK     a random walk in ticks of q (memory, free space, load);
 *   NOISE    an independent value each scrape (durations, small counts);
 *   CLOCK    the scrape time in seconds (node_time_seconds).
 * The quantisation matters: it decides how well XOR chunks compress, which
 * is one of the figures the benchmark reports.
 */
#include "nodegen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NG_CPUS 32
#define NG_INSTANCE_MAX 24

enum ng_dim {
    D_NONE,
    D_CPU,
    D_CPU_MODE,
    D_CPU_GUEST,
    D_FS,
    D_NETDEV,
    D_DISK,
    D_COLLECTOR,
    D_HWMON,
    D_QUANTILE,
    D_CODE,
    D_UNAME
};

enum ng_model { M_CONST, M_COUNTER, M_WALK, M_NOISE, M_CLOCK };

/*
 * One metric family. a, b, q by model:
 *   CONST    value a * (1 + b * u), u in [0,1) per series; quantum q
 *   COUNTER  rate a per second, spread over series by a factor in [1/b, b]; quantum q
 *   WALK     start a * (0.5 + u), step b * start; quantum q
 *   NOISE    a * (1 + b * (2u - 1)) each scrape; quantum q (0: raw float)
 */
typedef struct ng_family {
    const char *name;
    unsigned char dim;
    unsigned char model;
    double a, b, q;
} ng_family;

static const ng_family families[] = {
    {"node_cpu_seconds_total", D_CPU_MODE, M_COUNTER, 1.0, 1.5, 0.01},
    {"node_cpu_guest_seconds_total", D_CPU_GUEST, M_COUNTER, 0, 1, 0.01},
    {"node_cpu_scaling_frequency_hertz", D_CPU, M_WALK, 2.4e9, 0.05, 1000},
    {"node_schedstat_running_seconds_total", D_CPU, M_COUNTER, 0.15, 2, 1e-9},
    {"node_schedstat_waiting_seconds_total", D_CPU, M_COUNTER, 0.01, 2, 1e-9},
    {"node_schedstat_timeslices_total", D_CPU, M_COUNTER, 80, 2, 1},
    {"node_softnet_processed_total", D_CPU, M_COUNTER, 30, 3, 1},
    {"node_softnet_dropped_total", D_CPU, M_COUNTER, 0, 1, 1},
    {"node_softnet_times_squeezed_total", D_CPU, M_COUNTER, 0.002, 2, 1},

    {"node_memory_MemTotal_bytes", D_NONE, M_CONST, 68719476736.0, 0, 1024},
    {"node_memory_MemFree_bytes", D_NONE, M_WALK, 8e9, 0.002, 1024},
    {"node_memory_MemAvailable_bytes", D_NONE, M_WALK, 40e9, 0.002, 1024},
    {"node_memory_Buffers_bytes", D_NONE, M_WALK, 1e9, 0.0005, 1024},
    {"node_memory_Cached_bytes", D_NONE, M_WALK, 30e9, 0.001, 1024},
    {"node_memory_SwapCached_bytes", D_NONE, M_WALK, 1e6, 0.01, 1024},
    {"node_memory_Active_bytes", D_NONE, M_WALK, 20e9, 0.001, 1024},
    {"node_memory_Inactive_bytes", D_NONE, M_WALK, 15e9, 0.001, 1024},
    {"node_memory_SwapTotal_bytes", D_NONE, M_CONST, 8589934592.0, 0, 1024},
    {"node_memory_SwapFree_bytes", D_NONE, M_WALK, 8e9, 0.0001, 1024},
    {"node_memory_Dirty_bytes", D_NONE, M_WALK, 5e6, 0.2, 1024},
    {"node_memory_Writeback_bytes", D_NONE, M_CONST, 0, 0, 1024},
    {"node_memory_Slab_bytes", D_NONE, M_WALK, 2e9, 0.0005, 1024},
    {"node_memory_PageTables_bytes", D_NONE, M_WALK, 1.5e8, 0.002, 1024},
    {"node_memory_Committed_AS_bytes", D_NONE, M_WALK, 30e9, 0.001, 1024},
    {"node_memory_Shmem_bytes", D_NONE, M_WALK, 5e8, 0.001, 1024},

    {"node_filesystem_avail_bytes", D_FS, M_WALK, 200e9, 0.0002, 4096},
    {"node_filesystem_free_bytes", D_FS, M_WALK, 220e9, 0.0002, 4096},
    {"node_filesystem_size_bytes", D_FS, M_CONST, 500e9, 1.0, 4096},
    {"node_filesystem_files", D_FS, M_CONST, 3.2e7, 0.5, 1},
    {"node_filesystem_files_free", D_FS, M_WALK, 3e7, 0.00002, 1},
    {"node_filesystem_readonly", D_FS, M_CONST, 0, 0, 1},
    {"node_filesystem_device_error", D_FS, M_CONST, 0, 0, 1},

    {"node_network_receive_bytes_total", D_NETDEV, M_COUNTER, 2e5, 10, 1},
    {"node_network_receive_packets_total", D_NETDEV, M_COUNTER, 300, 10, 1},
    {"node_network_receive_errs_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_receive_drop_total", D_NETDEV, M_COUNTER, 0.01, 2, 1},
    {"node_network_receive_fifo_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_receive_frame_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_receive_compressed_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_receive_multicast_total", D_NETDEV, M_COUNTER, 0.5, 2, 1},
    {"node_network_transmit_bytes_total", D_NETDEV, M_COUNTER, 1.5e5, 10, 1},
    {"node_network_transmit_packets_total", D_NETDEV, M_COUNTER, 250, 10, 1},
    {"node_network_transmit_errs_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_transmit_drop_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_transmit_fifo_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_transmit_colls_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_transmit_carrier_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_transmit_compressed_total", D_NETDEV, M_COUNTER, 0, 1, 1},
    {"node_network_up", D_NETDEV, M_CONST, 1, 0, 1},
    {"node_network_mtu_bytes", D_NETDEV, M_CONST, 1500, 0, 1},
    {"node_network_speed_bytes", D_NETDEV, M_CONST, 1.25e9, 0, 1},
    {"node_network_carrier", D_NETDEV, M_CONST, 1, 0, 1},

    {"node_disk_reads_completed_total", D_DISK, M_COUNTER, 20, 5, 1},
    {"node_disk_reads_merged_total", D_DISK, M_COUNTER, 2, 5, 1},
    {"node_disk_read_bytes_total", D_DISK, M_COUNTER, 4e5, 5, 512},
    {"node_disk_read_time_seconds_total", D_DISK, M_COUNTER, 0.01, 5, 0.001},
    {"node_disk_writes_completed_total", D_DISK, M_COUNTER, 60, 5, 1},
    {"node_disk_writes_merged_total", D_DISK, M_COUNTER, 20, 5, 1},
    {"node_disk_written_bytes_total", D_DISK, M_COUNTER, 1.2e6, 5, 512},
    {"node_disk_write_time_seconds_total", D_DISK, M_COUNTER, 0.05, 5, 0.001},
    {"node_disk_io_now", D_DISK, M_NOISE, 0.5, 1, 1},
    {"node_disk_io_time_seconds_total", D_DISK, M_COUNTER, 0.05, 5, 0.001},
    {"node_disk_io_time_weighted_seconds_total", D_DISK, M_COUNTER, 0.08, 5, 0.001},
    {"node_disk_flush_requests_total", D_DISK, M_COUNTER, 2, 5, 1},

    {"node_scrape_collector_duration_seconds", D_COLLECTOR, M_NOISE, 0.002, 0.9, 0},
    {"node_scrape_collector_success", D_COLLECTOR, M_CONST, 1, 0, 1},
    {"node_hwmon_temp_celsius", D_HWMON, M_WALK, 45, 0.03, 1},
    {"node_hwmon_temp_crit_celsius", D_HWMON, M_CONST, 100, 0, 1},

    {"node_load1", D_NONE, M_WALK, 2, 0.05, 0.01},
    {"node_load5", D_NONE, M_WALK, 2, 0.02, 0.01},
    {"node_load15", D_NONE, M_WALK, 2, 0.01, 0.01},
    {"node_boot_time_seconds", D_NONE, M_CONST, 1.7e9, 0.001, 1},
    {"node_time_seconds", D_NONE, M_CLOCK, 0, 0, 0},
    {"node_context_switches_total", D_NONE, M_COUNTER, 20000, 3, 1},
    {"node_forks_total", D_NONE, M_COUNTER, 20, 3, 1},
    {"node_intr_total", D_NONE, M_COUNTER, 15000, 3, 1},
    {"node_procs_running", D_NONE, M_NOISE, 3, 0.8, 1},
    {"node_procs_blocked", D_NONE, M_NOISE, 0.3, 1, 1},
    {"node_filefd_allocated", D_NONE, M_WALK, 5000, 0.01, 1},
    {"node_filefd_maximum", D_NONE, M_CONST, 6.5e6, 0, 1},
    {"node_entropy_available_bits", D_NONE, M_CONST, 256, 0, 1},
    {"node_vmstat_pgfault", D_NONE, M_COUNTER, 5000, 3, 1},
    {"node_vmstat_pgmajfault", D_NONE, M_COUNTER, 0.5, 3, 1},
    {"node_vmstat_pgpgin", D_NONE, M_COUNTER, 400, 3, 1},
    {"node_vmstat_pgpgout", D_NONE, M_COUNTER, 1200, 3, 1},
    {"node_vmstat_oom_kill", D_NONE, M_COUNTER, 0, 1, 1},
    {"node_netstat_Tcp_ActiveOpens", D_NONE, M_COUNTER, 5, 3, 1},
    {"node_netstat_Tcp_PassiveOpens", D_NONE, M_COUNTER, 3, 3, 1},
    {"node_netstat_Tcp_CurrEstab", D_NONE, M_WALK, 100, 0.05, 1},
    {"node_netstat_Tcp_InSegs", D_NONE, M_COUNTER, 500, 3, 1},
    {"node_netstat_Tcp_OutSegs", D_NONE, M_COUNTER, 550, 3, 1},
    {"node_netstat_Tcp_RetransSegs", D_NONE, M_COUNTER, 0.5, 3, 1},
    {"node_netstat_Udp_InDatagrams", D_NONE, M_COUNTER, 20, 3, 1},
    {"node_netstat_Udp_OutDatagrams", D_NONE, M_COUNTER, 20, 3, 1},
    {"node_sockstat_sockets_used", D_NONE, M_WALK, 800, 0.01, 1},
    {"node_sockstat_TCP_inuse", D_NONE, M_WALK, 60, 0.03, 1},
    {"node_sockstat_TCP_tw", D_NONE, M_WALK, 40, 0.05, 1},
    {"node_sockstat_TCP_alloc", D_NONE, M_WALK, 70, 0.03, 1},
    {"node_sockstat_TCP_mem_bytes", D_NONE, M_WALK, 4e5, 0.05, 4096},
    {"node_sockstat_UDP_inuse", D_NONE, M_WALK, 10, 0.05, 1},
    {"node_pressure_cpu_waiting_seconds_total", D_NONE, M_COUNTER, 0.02, 3, 1e-6},
    {"node_pressure_memory_waiting_seconds_total", D_NONE, M_COUNTER, 0.0001, 3, 1e-6},
    {"node_pressure_io_waiting_seconds_total", D_NONE, M_COUNTER, 0.005, 3, 1e-6},
    {"go_goroutines", D_NONE, M_NOISE, 8, 0.2, 1},
    {"go_threads", D_NONE, M_CONST, 12, 0, 1},
    {"go_memstats_alloc_bytes", D_NONE, M_WALK, 3e6, 0.05, 8},
    {"go_memstats_alloc_bytes_total", D_NONE, M_COUNTER, 4e4, 2, 8},
    {"go_gc_duration_seconds", D_QUANTILE, M_NOISE, 1e-4, 0.9, 0},
    {"process_cpu_seconds_total", D_NONE, M_COUNTER, 0.004, 2, 0.01},
    {"process_resident_memory_bytes", D_NONE, M_WALK, 2.5e7, 0.01, 4096},
    {"process_open_fds", D_NONE, M_NOISE, 10, 0.1, 1},
    {"process_start_time_seconds", D_NONE, M_CONST, 1.7e9, 0.001, 0.01},
    {"promhttp_metric_handler_requests_total", D_CODE, M_COUNTER, 1.0 / 15, 1, 1},
    {"node_uname_info", D_UNAME, M_CONST, 1, 0, 1},

    /* The series Prometheus itself adds to every scrape. */
    {"up", D_NONE, M_CONST, 1, 0, 1},
    {"scrape_duration_seconds", D_NONE, M_NOISE, 0.05, 0.5, 0},
    {"scrape_samples_scraped", D_NONE, M_CONST, 1100, 0, 1},
    {"scrape_samples_post_metric_relabeling", D_NONE, M_CONST, 1100, 0, 1},
    {"scrape_series_added", D_NONE, M_CONST, 0, 0, 1},
};

#define N_FAMILIES (sizeof families / sizeof families[0])
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* --- label values of the dimensions ---------------------------------------- */

static const char *const cpu_ids[NG_CPUS] = {
    "0",  "1",  "2",  "3",  "4",  "5",  "6",  "7",  "8",  "9",  "10", "11", "12", "13", "14", "15",
    "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31"};

/* CPU modes with the share of a CPU's time each takes (idle dominates). */
static const char *const cpu_modes[] = {"idle",    "iowait", "irq",    "nice",
                                        "softirq", "steal",  "system", "user"};
static const double cpu_mode_share[] = {0.85, 0.01, 0.0, 0.0005, 0.004, 0.0, 0.03, 0.1};
static const char *const guest_modes[] = {"nice", "user"};

static const char *const filesystems[][3] = {
    {"/dev/nvme0n1p2", "ext4", "/"},
    {"/dev/nvme0n1p1", "vfat", "/boot/efi"},
    {"/dev/sdb1", "xfs", "/var/lib/data"},
    {"tmpfs", "tmpfs", "/run"},
    {"tmpfs", "tmpfs", "/run/lock"},
    {"tmpfs", "tmpfs", "/dev/shm"},
    {"tmpfs", "tmpfs", "/run/user/1000"},
    {"overlay", "overlay", "/var/lib/docker/overlay2/3f2a9c1e7b/merged"},
};
static const char *const netdevs[] = {"eth0",  "eth1",    "eth2",   "eth3",        "lo",
                                      "bond0", "docker0", "virbr0", "veth3a1f2c9", "veth91bd044"};
static const char *const disks[] = {"nvme0n1", "sda", "sdb", "dm-0"};
static const char *const collectors[] = {
    "arp",        "bcache",       "bonding",          "btrfs",      "conntrack",
    "cpu",        "cpufreq",      "diskstats",        "dmi",        "edac",
    "entropy",    "fibrechannel", "filefd",           "filesystem", "hwmon",
    "infiniband", "ipvs",         "loadavg",          "mdadm",      "meminfo",
    "netclass",   "netdev",       "netstat",          "nfs",        "nfsd",
    "nvme",       "os",           "powersupplyclass", "pressure",   "rapl",
    "schedstat",  "selinux",      "sockstat",         "softnet",    "stat",
    "tapestats",  "textfile",     "thermal_zone",     "time",       "timex"};
static const char *const hwmon_sensors[] = {"temp1", "temp2", "temp3", "temp4",
                                            "temp5", "temp6", "temp7", "temp8"};
static const char *const quantiles[] = {"0", "0.25", "0.5", "0.75", "1"};
static const char *const http_codes[] = {"200", "500", "503"};

/* Markers in a template's label values, replaced by per-host strings. */
#define SLOT_INSTANCE 1
#define SLOT_NODENAME 2

/* One series of the per-host template. */
typedef struct ng_def {
    promstore_label labels[NODEGEN_MAX_LABELS]; /* sorted by name */
    uint8_t n_labels;
    int8_t instance_at; /* index of the instance label */
    int8_t nodename_at; /* index of node_uname_info's nodename, or -1 */
    uint8_t model;
    double a, b, q; /* the family's, rate already scaled for the entry */
} ng_def;

/* Value state of one series of one host. */
typedef struct ng_state {
    uint64_t rng;
    int64_t ticks;     /* counters, walks and constants: value in quanta */
    double per_scrape; /* counters: ticks per scrape; walks: step in ticks */
} ng_state;

struct nodegen {
    uint32_t n_hosts;
    uint64_t seed;
    int64_t start_ms;
    int64_t jitter_ms;
    ng_def *defs;
    size_t n_defs;
    char (*instance)[NG_INSTANCE_MAX];
    size_t *instance_len;
    size_t *nodename_len; /* "host-N", the instance without its port */
    int64_t *phase_ms;    /* where in the 15 s interval each host is scraped */
    ng_state *state;      /* n_hosts * n_defs */
};

/* --- randomness: splitmix64, as a stream and as a hash ---------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(a ^ mix64(b + UINT64_C(0x9e3779b97f4a7c15) * (c + 1)));
}

static uint64_t next_u64(uint64_t *s)
{
    *s += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(*s);
}

/* Uniform in [0, 1). */
static double next_unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * 0x1.0p-53;
}

/* --- the per-host template --------------------------------------------------- */

static size_t dim_size(unsigned dim)
{
    switch (dim) {
    case D_CPU:
        return NG_CPUS;
    case D_CPU_MODE:
        return NG_CPUS * COUNT(cpu_modes);
    case D_CPU_GUEST:
        return NG_CPUS * COUNT(guest_modes);
    case D_FS:
        return COUNT(filesystems);
    case D_NETDEV:
        return COUNT(netdevs);
    case D_DISK:
        return COUNT(disks);
    case D_COLLECTOR:
        return COUNT(collectors);
    case D_HWMON:
        return COUNT(hwmon_sensors);
    case D_QUANTILE:
        return COUNT(quantiles);
    case D_CODE:
        return COUNT(http_codes);
    default:
        return 1;
    }
}

static void add_label(ng_def *d, const char *name, const char *value)
{
    promstore_label *l = &d->labels[d->n_labels++];
    l->name = name;
    l->name_len = strlen(name);
    l->value = value;
    l->value_len = value ? strlen(value) : 0;
}

/* A label whose value is filled per host at emission time. */
static void add_slot(ng_def *d, const char *name, size_t slot)
{
    add_label(d, name, NULL);
    d->labels[d->n_labels - 1].value_len = slot;
}

static void add_uname_labels(ng_def *d)
{
    add_label(d, "domainname", "(none)");
    add_label(d, "machine", "x86_64");
    add_slot(d, "nodename", SLOT_NODENAME);
    add_label(d, "release", "6.1.0-13-amd64");
    add_label(d, "sysname", "Linux");
    add_label(d, "version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)");
}

/* The labels of entry j of dimension dim; returns the share that scales the rate. */
static double add_dim_labels(ng_def *d, unsigned dim, size_t j)
{
    switch (dim) {
    case D_CPU:
        add_label(d, "cpu", cpu_ids[j]);
        break;
    case D_CPU_MODE:
        add_label(d, "cpu", cpu_ids[j / COUNT(cpu_modes)]);
        add_label(d, "mode", cpu_modes[j % COUNT(cpu_modes)]);
        return cpu_mode_share[j % COUNT(cpu_modes)];
    case D_CPU_GUEST:
        add_label(d, "cpu", cpu_ids[j / COUNT(guest_modes)]);
        add_label(d, "mode", guest_modes[j % COUNT(guest_modes)]);
        break;
    case D_FS:
        add_label(d, "device", filesystems[j][0]);
        add_label(d, "fstype", filesystems[j][1]);
        add_label(d, "mountpoint", filesystems[j][2]);
        break;
    case D_NETDEV:
        add_label(d, "device", netdevs[j]);
        break;
    case D_DISK:
        add_label(d, "device", disks[j]);
        break;
    case D_COLLECTOR:
        add_label(d, "collector", collectors[j]);
        break;
    case D_HWMON:
        add_label(d, "chip", "platform_coretemp_0");
        add_label(d, "sensor", hwmon_sensors[j]);
        break;
    case D_QUANTILE:
        add_label(d, "quantile", quantiles[j]);
        break;
    case D_CODE:
        add_label(d, "code", http_codes[j]);
        return j == 0 ? 1.0 : 0.0; /* only the scrapes themselves succeed */
    case D_UNAME:
        add_uname_labels(d);
        break;
    default:
        break;
    }
    return 1.0;
}

static int label_cmp(const void *pa, const void *pb)
{
    const promstore_label *a = pa, *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c != 0)
        return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* Sort the labels as remote write sends them, then find the per-host slots. */
static void finish_def(ng_def *d)
{
    qsort(d->labels, d->n_labels, sizeof d->labels[0], label_cmp);
    d->instance_at = -1;
    d->nodename_at = -1;
    for (uint8_t i = 0; i < d->n_labels; i++) {
        if (d->labels[i].value != NULL)
            continue;
        if (d->labels[i].value_len == SLOT_INSTANCE)
            d->instance_at = (int8_t)i;
        else
            d->nodename_at = (int8_t)i;
    }
}

static void build_def(ng_def *d, const ng_family *f, size_t j)
{
    memset(d, 0, sizeof *d);
    add_label(d, "__name__", f->name);
    add_slot(d, "instance", SLOT_INSTANCE);
    add_label(d, "job", "node");
    double share = add_dim_labels(d, f->dim, j);
    d->model = f->model;
    d->a = f->model == M_COUNTER ? f->a * share : f->a;
    d->b = f->b;
    d->q = f->q;
    finish_def(d);
}

static int build_template(nodegen *g)
{
    g->defs = calloc(nodegen_series_per_host(), sizeof *g->defs);
    if (g->defs == NULL)
        return -1;
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (size_t j = 0; j < dim_size(families[f].dim); j++)
            build_def(&g->defs[g->n_defs++], &families[f], j);
    return 0;
}

/* --- values ---------------------------------------------------------------- */

/* ticks of quantum q as a float, computed the way the exporter does. */
static double ticks_value(int64_t ticks, double q)
{
    if (q >= 1.0)
        return (double)ticks * q;
    return (double)ticks / round(1.0 / q); /* e.g. USER_HZ ticks / 100 */
}

static int64_t to_ticks(double v, double q)
{
    return (int64_t)llround(v / q);
}

/* A factor in [1/spread, spread], log-uniform, so rates vary by series. */
static double spread_factor(uint64_t *rng, double spread)
{
    if (spread <= 1.0)
        return 1.0;
    return exp(log(spread) * (2.0 * next_unit(rng) - 1.0));
}

static void init_state(const nodegen *g, uint32_t host, size_t i, ng_state *s)
{
    const ng_def *d = &g->defs[i];
    /* Hosts have been up 1..200 days, so counters start at realistic sizes. */
    double uptime_s = 86400.0 * (1 + (double)(hash3(g->seed, host, 0xb0) % 200));
    s->rng = hash3(g->seed, host, 1000 + i);
    s->ticks = 0;
    s->per_scrape = 0;
    switch (d->model) {
    case M_CONST:
        s->ticks = to_ticks(d->a * (1.0 + d->b * next_unit(&s->rng)), d->q);
        break;
    case M_COUNTER: {
        double rate = d->a * spread_factor(&s->rng, d->b);
        s->per_scrape = rate * (NODEGEN_SCRAPE_MS / 1000.0) / d->q;
        s->ticks = to_ticks(rate * uptime_s, d->q);
        break;
    }
    case M_WALK: {
        double start = d->a * (0.5 + next_unit(&s->rng));
        s->ticks = to_ticks(start, d->q);
        s->per_scrape = fmax(1.0, start * d->b / d->q);
        break;
    }
    default:
        break;
    }
}

/* Counters grow by about per_scrape ticks, rounded stochastically so that
 * slow counters (an error a minute) still move now and then. */
static void step_counter(ng_state *s)
{
    double x = s->per_scrape * (0.7 + 0.6 * next_unit(&s->rng));
    double whole = floor(x);
    if (next_unit(&s->rng) < x - whole)
        whole += 1.0;
    s->ticks += (int64_t)whole;
}

/* Walks move on three scrapes out of four, by up to one step, never below 0. */
static void step_walk(ng_state *s)
{
    if (next_unit(&s->rng) >= 0.75)
        return;
    s->ticks += (int64_t)llround(s->per_scrape * (2.0 * next_unit(&s->rng) - 1.0));
    if (s->ticks < 0)
        s->ticks = 0;
}

static double noise_value(const ng_def *d, ng_state *s)
{
    double v = d->a * (1.0 + d->b * (2.0 * next_unit(&s->rng) - 1.0));
    if (v < 0)
        v = 0;
    return d->q > 0 ? ticks_value(to_ticks(v, d->q), d->q) : v;
}

static double next_value(const ng_def *d, ng_state *s, int64_t ts_ms)
{
    switch (d->model) {
    case M_COUNTER:
        step_counter(s);
        break;
    case M_WALK:
        step_walk(s);
        break;
    case M_NOISE:
        return noise_value(d, s);
    case M_CLOCK:
        return (double)ts_ms / 1000.0 + 0.0005 + 0.003 * next_unit(&s->rng);
    default:
        break;
    }
    return ticks_value(s->ticks, d->q);
}

/* --- public ---------------------------------------------------------------- */

static int init_hosts(nodegen *g)
{
    uint32_t n = g->n_hosts;
    g->instance = calloc(n, sizeof *g->instance);
    g->instance_len = calloc(n, sizeof *g->instance_len);
    g->nodename_len = calloc(n, sizeof *g->nodename_len);
    g->phase_ms = calloc(n, sizeof *g->phase_ms);
    if (!g->instance || !g->instance_len || !g->nodename_len || !g->phase_ms)
        return -1;
    for (uint32_t h = 0; h < n; h++) {
        int len = snprintf(g->instance[h], NG_INSTANCE_MAX, "host-%u:9100", (unsigned)h);
        g->instance_len[h] = (size_t)len;
        g->nodename_len[h] = (size_t)len - strlen(":9100");
        /* Keep phase +/- jitter inside the interval, so that scrape k of
         * every host lies in [start + k * 15 s, start + (k + 1) * 15 s) and
         * an hour aligned on start holds exactly 240 scrapes of each host. */
        int64_t j = g->jitter_ms;
        g->phase_ms[h] =
            j + (int64_t)(hash3(g->seed, h, 0xf0) % (uint64_t)(NODEGEN_SCRAPE_MS - 2 * j));
    }
    return 0;
}

static int init_states(nodegen *g)
{
    uint64_t total = (uint64_t)g->n_hosts * g->n_defs;
    g->state = calloc(total, sizeof *g->state);
    if (g->state == NULL)
        return -1;
    for (uint32_t h = 0; h < g->n_hosts; h++)
        for (size_t i = 0; i < g->n_defs; i++)
            init_state(g, h, i, &g->state[(uint64_t)h * g->n_defs + i]);
    return 0;
}

nodegen *nodegen_new(uint32_t n_hosts, uint64_t seed, int64_t start_ms, uint32_t jitter_ms)
{
    nodegen *g = calloc(1, sizeof *g);
    if (g == NULL || n_hosts == 0 || jitter_ms > NODEGEN_JITTER_MAX_MS) {
        free(g);
        return NULL;
    }
    g->n_hosts = n_hosts;
    g->seed = seed;
    g->start_ms = start_ms;
    g->jitter_ms = jitter_ms;
    if (build_template(g) != 0 || init_hosts(g) != 0 || init_states(g) != 0) {
        nodegen_free(g);
        return NULL;
    }
    return g;
}

void nodegen_free(nodegen *g)
{
    if (g == NULL)
        return;
    free(g->defs);
    free(g->instance);
    free(g->instance_len);
    free(g->nodename_len);
    free(g->phase_ms);
    free(g->state);
    free(g);
}

uint32_t nodegen_hosts(const nodegen *g)
{
    return g->n_hosts;
}

size_t nodegen_series_per_host(void)
{
    size_t n = 0;
    for (size_t f = 0; f < N_FAMILIES; f++)
        n += dim_size(families[f].dim);
    return n;
}

size_t nodegen_metric_names(void)
{
    return N_FAMILIES;
}

uint64_t nodegen_total_series(const nodegen *g)
{
    return (uint64_t)g->n_hosts * g->n_defs;
}

const char *nodegen_instance(const nodegen *g, uint32_t host)
{
    return g->instance[host];
}

int64_t nodegen_timestamp(const nodegen *g, uint32_t host, uint64_t scrape)
{
    int64_t j = g->jitter_ms;
    int64_t jitter = (int64_t)(hash3(g->seed ^ 0x717, host, scrape) % (uint64_t)(2 * j + 1)) - j;
    return g->start_ms + (int64_t)scrape * NODEGEN_SCRAPE_MS + g->phase_ms[host] + jitter;
}

uint64_t nodegen_scrapes_in_range(const nodegen *g, uint32_t host, uint64_t n_scrapes, int64_t mint,
                                  int64_t maxt)
{
    uint64_t n = 0;
    for (uint64_t k = 0; k < n_scrapes; k++) {
        int64_t ts = nodegen_timestamp(g, host, k);
        n += ts >= mint && ts <= maxt;
    }
    return n;
}

long nodegen_series_index(const nodegen *g, const char *name)
{
    for (size_t i = 0; i < g->n_defs; i++) {
        const promstore_label *l = &g->defs[i].labels[0]; /* __name__ sorts first */
        if (l->value_len == strlen(name) && memcmp(l->value, name, l->value_len) == 0)
            return (long)i;
    }
    return -1;
}

void nodegen_replay(const nodegen *g, uint32_t host, size_t i, uint64_t n, promstore_sample *out)
{
    ng_state s;
    init_state(g, host, i, &s);
    for (uint64_t k = 0; k < n; k++) {
        int64_t ts = nodegen_timestamp(g, host, k);
        double v = next_value(&g->defs[i], &s, ts);
        out[k].timestamp_ms = ts;
        memcpy(&out[k].value_bits, &v, sizeof v);
    }
}

int nodegen_batch_init(nodegen_batch *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->series = calloc(cap, sizeof *b->series);
    b->labels = calloc(cap * NODEGEN_MAX_LABELS, sizeof *b->labels);
    b->samples = calloc(cap, sizeof *b->samples);
    if (!b->series || !b->labels || !b->samples) {
        nodegen_batch_free(b);
        return -1;
    }
    b->cap = cap;
    return 0;
}

void nodegen_batch_free(nodegen_batch *b)
{
    free(b->series);
    free(b->labels);
    free(b->samples);
    memset(b, 0, sizeof *b);
}

/* Copy a template's labels into out and fill in the host's strings. */
static void emit_labels(const nodegen *g, const ng_def *d, uint32_t host, promstore_label *out)
{
    memcpy(out, d->labels, d->n_labels * sizeof *out);
    out[d->instance_at].value = g->instance[host];
    out[d->instance_at].value_len = g->instance_len[host];
    if (d->nodename_at >= 0) {
        out[d->nodename_at].value = g->instance[host];
        out[d->nodename_at].value_len = g->nodename_len[host];
    }
}

size_t nodegen_fill(nodegen *g, nodegen_batch *b, uint64_t scrape, uint64_t *pos, uint64_t end)
{
    uint64_t total = nodegen_total_series(g);
    if (end > total)
        end = total;
    b->n = 0;
    uint32_t ts_host = UINT32_MAX;
    int64_t ts = 0;
    for (; *pos < end && b->n < b->cap; (*pos)++) {
        uint32_t host = (uint32_t)(*pos / g->n_defs);
        size_t i = (size_t)(*pos % g->n_defs);
        if (host != ts_host) { /* one timestamp per host and scrape */
            ts = nodegen_timestamp(g, host, scrape);
            ts_host = host;
        }
        const ng_def *d = &g->defs[i];
        promstore_label *labels = b->labels + b->n * NODEGEN_MAX_LABELS;
        emit_labels(g, d, host, labels);
        double v = next_value(d, &g->state[*pos], ts);
        promstore_sample *s = &b->samples[b->n];
        s->timestamp_ms = ts;
        memcpy(&s->value_bits, &v, sizeof v);
        b->series[b->n] = (promstore_series){labels, d->n_labels, s, 1};
        b->n++;
    }
    return b->n;
}
