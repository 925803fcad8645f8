/* A stand-in for libnvidia-ml.so.1, for tests and benchmarks on machines without a GPU.
 *
 * It exports the NVML functions obsagent and nvidia-ml-py call, with NVML's signatures, and
 * answers from a fixture file: the one named by OBSAGENT_NVML_FIXTURE, else `nvml-fixture.txt`
 * beside the library (so that two copies in two directories answer differently in one
 * process). One `key=value` per line, read at nvmlInit. Keys are `init` (the code nvmlInit returns), `driver_version`, `cuda_version`,
 * `count`, and per device `gpu<N>.<field>` or, for MIG devices, `gpu<N>.mig<M>.<field>`.
 * A field that is absent answers NVML_ERROR_NOT_SUPPORTED, as a GPU without it does. A device
 * with `lost_if=<path>` answers NVML_ERROR_GPU_IS_LOST while that path exists.
 *
 * State that changes between sweeps: with `watch=1` the fixture is read again whenever it
 * changes (a later line for a key replaces the earlier one), so a test can take an NVLink
 * down or remap a row. XID events: a GPU with `gpu<N>.events=<mask>` accepts event
 * registrations; `xid_events=<path>` names a file of lines `<gpu> <xid>`, each delivered once
 * by nvmlEventSetWait to a set that registered that GPU for XID errors (lines appended later
 * are delivered later; the file is polled while the wait lasts).
 *
 * Built by the tests with the system compiler: cc -shared -fPIC -o libnvidia-ml.so.1 nvml.c
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned long long bar1Total, bar1Free, bar1Used; } nvmlBAR1Memory_t;
typedef struct { unsigned long long referenceTime, violationTime; } nvmlViolationTime_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} nvmlValue_t;
typedef struct {
    unsigned int fieldId, scopeId;
    long long timestamp, latencyUsec;
    int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;
typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

enum {
    OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, NOT_FOUND = 6, INSUFFICIENT_SIZE = 7,
    TIMEOUT = 10, GPU_IS_LOST = 15
};

#define MAX_ENTRIES 512
#define SLOTS 2048 /* open addressing, a power of two well above MAX_ENTRIES */
static char keys[MAX_ENTRIES][96], values[MAX_ENTRIES][256];
static int entries, initialized, slots[SLOTS]; /* slot: entry index + 1, or 0 */
static char fixture_path[4096];
static struct timespec fixture_mtime;
static long long fixture_size;
static int watching;

static unsigned hash(const char *key) {
    unsigned h = 2166136261u; /* FNV-1a */
    while (*key) h = (h ^ (unsigned char)*key++) * 16777619u;
    return h;
}

/* A hashed lookup, so that the stand-in's own cost per call stays small next to its callers'. */
static const char *get(const char *key) {
    for (unsigned i = hash(key) & (SLOTS - 1); slots[i]; i = (i + 1) & (SLOTS - 1))
        if (strcmp(keys[slots[i] - 1], key) == 0) return values[slots[i] - 1];
    return NULL;
}

static void put(const char *key, const char *value) {
    unsigned i = hash(key) & (SLOTS - 1);
    for (; slots[i]; i = (i + 1) & (SLOTS - 1))
        if (strcmp(keys[slots[i] - 1], key) == 0) { /* a later line replaces an earlier one */
            snprintf(values[slots[i] - 1], sizeof values[0], "%.255s", value);
            return;
        }
    if (entries >= MAX_ENTRIES) return;
    snprintf(keys[entries], sizeof keys[0], "%.95s", key);
    snprintf(values[entries], sizeof values[0], "%.255s", value);
    slots[i] = ++entries;
}

static void load(void) {
    const char *path = getenv("OBSAGENT_NVML_FIXTURE");
    Dl_info self;
    if (path) snprintf(fixture_path, sizeof fixture_path, "%s", path);
    else if (dladdr((void *)load, &self) && self.dli_fname) {
        char library[4096];
        snprintf(library, sizeof library, "%s", self.dli_fname);
        snprintf(fixture_path, sizeof fixture_path, "%s/nvml-fixture.txt", dirname(library));
    }
    struct stat info;
    if (stat(fixture_path, &info) == 0) fixture_mtime = info.st_mtim, fixture_size = (long long)info.st_size;
    FILE *file = fixture_path[0] ? fopen(fixture_path, "r") : NULL;
    char line[400];
    entries = 0;
    memset(slots, 0, sizeof slots);
    while (file && fgets(line, sizeof line, file)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq) continue;
        *eq = 0;
        eq[1 + strcspn(eq + 1, "\r\n")] = 0;
        put(line, eq + 1);
    }
    if (file) fclose(file);
    const char *watch = get("watch");
    watching = watch && atoi(watch);
}

/* With `watch=1`: the fixture again if it changed since it was read. */
static void reload_if_changed(void) {
    struct stat info;
    if (!watching || stat(fixture_path, &info) != 0) return;
    if (info.st_mtim.tv_sec != fixture_mtime.tv_sec || info.st_mtim.tv_nsec != fixture_mtime.tv_nsec ||
        (long long)info.st_size != fixture_size)
        load();
}

/* Handles: GPU n is 0x1000+n; MIG device m of GPU n is 0x2000+64n+m. */
static int is_gpu(uintptr_t h) { return h >= 0x1000 && h < 0x2000; }
static int is_mig(uintptr_t h) { return h >= 0x2000 && h < 0x3000; }
static unsigned gpu_of(uintptr_t h) { return is_gpu(h) ? (unsigned)(h - 0x1000) : (unsigned)((h - 0x2000) / 64); }

/* The key prefix of each handle ("gpu1." or "gpu1.mig0."), made once: formatting it at every
 * call cost more than the lookups. */
static char prefixes[64 * 65][20];

static const char *prefix(nvmlDevice_t device) {
    uintptr_t h = (uintptr_t)device;
    unsigned gpu = gpu_of(h), slot;
    if (gpu >= 64 || !(is_gpu(h) || is_mig(h))) return NULL;
    slot = is_gpu(h) ? gpu * 65 : gpu * 65 + 1 + (unsigned)((h - 0x2000) % 64);
    if (!prefixes[slot][0]) {
        if (is_gpu(h)) snprintf(prefixes[slot], sizeof prefixes[0], "gpu%u.", gpu);
        else snprintf(prefixes[slot], sizeof prefixes[0], "gpu%u.mig%u.", gpu, (unsigned)((h - 0x2000) % 64));
    }
    return prefixes[slot];
}

/* A device whose GPU has `lost_if=<path>` is lost while the path exists. */
static int lost(nvmlDevice_t device) {
    char key[40];
    uintptr_t h = (uintptr_t)device;
    const char *gpu = prefix((nvmlDevice_t)(is_gpu(h) ? h : 0x1000 + gpu_of(h)));
    strcpy(key, gpu);
    strcat(key, "lost_if");
    const char *path = get(key);
    return path && access(path, F_OK) == 0;
}

/* Looks up `<device prefix><field>`; the NVML code to return, with the text in *value. */
static nvmlReturn_t field(nvmlDevice_t device, const char *name, const char **value) {
    char key[128];
    const char *pre = prefix(device);
    if (!initialized) return UNINITIALIZED;
    if (!pre) return INVALID_ARGUMENT;
    reload_if_changed();
    if (lost(device)) return GPU_IS_LOST;
    strcpy(key, pre);
    strncat(key, name, sizeof key - strlen(key) - 1);
    *value = get(key);
    return *value ? OK : NOT_SUPPORTED;
}

static nvmlReturn_t number(nvmlDevice_t device, const char *name, unsigned long long *out) {
    const char *value;
    nvmlReturn_t ret = field(device, name, &value);
    if (ret == OK) *out = strtoull(value, NULL, 0);
    return ret;
}

static nvmlReturn_t uint_field(nvmlDevice_t device, const char *name, unsigned int *out) {
    unsigned long long value;
    if (!out) return INVALID_ARGUMENT;
    nvmlReturn_t ret = number(device, name, &value);
    if (ret == OK) *out = (unsigned int)value;
    return ret;
}

static nvmlReturn_t text(const char *value, char *out, unsigned int length) {
    if (!value) return NOT_SUPPORTED;
    if (strlen(value) + 1 > length) return INSUFFICIENT_SIZE;
    strcpy(out, value);
    return OK;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    load();
    const char *code = get("init");
    nvmlReturn_t ret = code ? atoi(code) : OK;
    initialized = ret == OK;
    return ret;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { initialized = 0; return OK; }

const char *nvmlErrorString(nvmlReturn_t ret) {
    switch (ret) {
    case OK: return "Success";
    case UNINITIALIZED: return "Uninitialized";
    case INVALID_ARGUMENT: return "Invalid Argument";
    case NOT_SUPPORTED: return "Not Supported";
    case 9: return "Driver Not Loaded";
    case TIMEOUT: return "Timeout";
    case GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *out, unsigned int length) {
    return initialized ? text(get("driver_version"), out, length) : UNINITIALIZED;
}
nvmlReturn_t nvmlSystemGetNVMLVersion(char *out, unsigned int length) {
    return initialized ? text(get("nvml_version"), out, length) : UNINITIALIZED;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *out) {
    const char *value = get("cuda_version");
    if (!initialized) return UNINITIALIZED;
    if (!value) return NOT_SUPPORTED;
    *out = atoi(value);
    return OK;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *out) { return nvmlSystemGetCudaDriverVersion_v2(out); }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    const char *value = get("count");
    if (!initialized) return UNINITIALIZED;
    *count = value ? (unsigned)atoi(value) : 0;
    return OK;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    unsigned int count;
    if (!initialized) return UNINITIALIZED;
    nvmlDeviceGetCount_v2(&count);
    if (index >= count) return INVALID_ARGUMENT;
    *device = (nvmlDevice_t)(uintptr_t)(0x1000 + index);
    return OK;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *out, unsigned int length) {
    const char *value;
    nvmlReturn_t ret = field(device, "name", &value);
    return ret == OK ? text(value, out, length) : ret;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *out, unsigned int length) {
    const char *value;
    nvmlReturn_t ret = field(device, "uuid", &value);
    return ret == OK ? text(value, out, length) : ret;
}
nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    return uint_field(device, "index", index);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *out) {
    nvmlReturn_t ret = uint_field(device, "utilization.gpu", &out->gpu);
    return ret == OK ? uint_field(device, "utilization.memory", &out->memory) : ret;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *out) {
    nvmlReturn_t ret = number(device, "memory.total", &out->total);
    if (ret == OK) ret = number(device, "memory.free", &out->free);
    if (ret == OK) ret = number(device, "memory.used", &out->used);
    return ret;
}
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *out) {
    return sensor == 0 ? uint_field(device, "temperature", out) : NOT_SUPPORTED;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "power_mw", out);
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "power_limit_mw", out);
}
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *out) {
    return number(device, "energy_mj", out);
}
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *out) {
    static const char *names[] = {"clock.graphics", "clock.sm", "clock.mem", "clock.video"};
    return type >= 0 && type < 4 ? uint_field(device, names[type], out) : INVALID_ARGUMENT;
}
nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "fan", out);
}
nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, int *out) {
    return uint_field(device, "pstate", (unsigned int *)out);
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int error_type, int counter_type,
                                         unsigned long long *out) {
    if (counter_type != 1) return NOT_SUPPORTED; /* only the aggregate (lifetime) counters */
    return number(device, error_type == 0 ? "ecc.corrected" : "ecc.uncorrected", out);
}
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *out) {
    return number(device, "throttle", out);
}
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *out) {
    return number(device, "throttle", out);
}
nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, int counter, unsigned int *out) {
    return uint_field(device, counter == 0 ? "pcie.tx" : "pcie.rx", out);
}

/* `processes` is "pid:bytes pid:bytes ...". */
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    const char *value;
    nvmlReturn_t ret = field(device, "processes", &value);
    if (ret == NOT_SUPPORTED) value = "";
    else if (ret != OK) return ret;
    unsigned int n = 0, capacity = *count;
    for (const char *p = value; *p;) {
        char *end;
        unsigned long pid = strtoul(p, &end, 10);
        if (end == p || *end != ':') break;
        unsigned long long bytes = strtoull(end + 1, &end, 10);
        if (infos && n < capacity) {
            infos[n].pid = (unsigned int)pid;
            infos[n].usedGpuMemory = bytes;
            infos[n].gpuInstanceId = infos[n].computeInstanceId = 0xFFFFFFFF;
        }
        n++;
        p = end + strspn(end, " ");
    }
    *count = n;
    return n > capacity ? INSUFFICIENT_SIZE : OK;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    nvmlReturn_t ret = uint_field(device, "mig", current);
    if (ret == OK && pending) *pending = *current;
    return ret;
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    return uint_field(device, "mig.count", count);
}
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *mig) {
    unsigned int count;
    nvmlReturn_t ret = nvmlDeviceGetMaxMigDeviceCount(device, &count);
    if (ret != OK) return ret;
    if (index >= count) return 6; /* NVML_ERROR_NOT_FOUND */
    *mig = (nvmlDevice_t)(uintptr_t)(0x2000 + ((uintptr_t)device - 0x1000) * 64 + index);
    return OK;
}
nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id) { return uint_field(device, "gi", id); }
nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id) { return uint_field(device, "ci", id); }

/* The readings issue 19 added. Each answers NOT_SUPPORTED where its key is absent. */

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *out) {
    if (!out || out->version != (unsigned)(sizeof *out | 2u << 24)) return 25; /* NVML_ERROR_ARGUMENT_VERSION_MISMATCH */
    nvmlReturn_t ret = number(device, "memory.total", &out->total);
    if (ret == OK) ret = number(device, "memory.reserved", &out->reserved);
    if (ret == OK) ret = number(device, "memory.free", &out->free);
    if (ret == OK) ret = number(device, "memory.used", &out->used);
    return ret;
}
nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device, nvmlBAR1Memory_t *out) {
    nvmlReturn_t ret = number(device, "bar1.total", &out->bar1Total);
    if (ret == OK) ret = number(device, "bar1.free", &out->bar1Free);
    if (ret == OK) ret = number(device, "bar1.used", &out->bar1Used);
    return ret;
}
nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *out, unsigned int *period_us) {
    nvmlReturn_t ret = uint_field(device, "utilization.encoder", out);
    if (ret == OK && period_us) *period_us = 167000;
    return ret;
}
nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *out, unsigned int *period_us) {
    nvmlReturn_t ret = uint_field(device, "utilization.decoder", out);
    if (ret == OK && period_us) *period_us = 167000;
    return ret;
}
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "power_default_limit_mw", out);
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int *min, unsigned int *max) {
    nvmlReturn_t ret = uint_field(device, "power_min_limit_mw", min);
    return ret == OK ? uint_field(device, "power_max_limit_mw", max) : ret;
}
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int *out) {
    static const char *names[] = {"clock_max.graphics", "clock_max.sm", "clock_max.mem", "clock_max.video"};
    return type >= 0 && type < 4 ? uint_field(device, names[type], out) : INVALID_ARGUMENT;
}
nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "pcie.replays", out);
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "pcie.gen", out);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "pcie.gen_max", out);
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "pcie.width", out);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t device, unsigned int *out) {
    return uint_field(device, "pcie.width_max", out);
}
nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *correctable, unsigned int *uncorrectable,
                                       unsigned int *pending, unsigned int *failure) {
    nvmlReturn_t ret = uint_field(device, "remapped.correctable", correctable);
    if (ret == OK) ret = uint_field(device, "remapped.uncorrectable", uncorrectable);
    if (ret == OK) ret = uint_field(device, "remapped.pending", pending);
    if (ret == OK) ret = uint_field(device, "remapped.failure", failure);
    return ret;
}
/* The count of pages retired for `cause`; INSUFFICIENT_SIZE (with the count) when the buffer is short. */
nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device, int cause, unsigned int *count,
                                       unsigned long long *addresses) {
    unsigned int pages, capacity = *count;
    nvmlReturn_t ret = uint_field(device, cause == 0 ? "retired.sbe" : "retired.dbe", &pages);
    if (ret != OK) return ret;
    *count = pages;
    if (pages > capacity) return INSUFFICIENT_SIZE;
    for (unsigned int i = 0; addresses && i < pages; i++) addresses[i] = 0x1000ull * (i + 1);
    return OK;
}
nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, int *pending) {
    return uint_field(device, "retired.pending", (unsigned int *)pending);
}
nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t device, int policy, nvmlViolationTime_t *out) {
    static const char *names[] = {"violation.power", "violation.thermal", "violation.sync_boost",
                                  "violation.board_limit", "violation.low_utilization", "violation.reliability"};
    if (policy < 0 || policy > 5) return NOT_SUPPORTED;
    nvmlReturn_t ret = number(device, names[policy], &out->violationTime);
    if (ret == OK) out->referenceTime = 1700000000000000ull;
    return ret;
}

/* NVLink link L of a device: `nvlink<L>.state` (1 active, 0 down; absent: no such link). */
static nvmlReturn_t link_field(nvmlDevice_t device, unsigned int link, const char *name, unsigned long long *out) {
    char key[48];
    if (link >= 36) return INVALID_ARGUMENT;
    snprintf(key, sizeof key, "nvlink%u.%s", link, name);
    return number(device, key, out);
}
nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, int *active) {
    unsigned long long value;
    nvmlReturn_t ret = link_field(device, link, "state", &value);
    if (ret == OK) *active = (int)value;
    return ret;
}
nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t device, unsigned int link, int counter,
                                             unsigned long long *out) {
    static const char *names[] = {"replay", "recovery", "crc_flit", "crc_data"};
    return counter >= 0 && counter < 4 ? link_field(device, link, names[counter], out) : NOT_SUPPORTED;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *out) {
    const char *value;
    nvmlReturn_t ret = field(device, "pci_bus_id", &value);
    if (ret != OK) return ret;
    memset(out, 0, sizeof *out);
    snprintf(out->busId, sizeof out->busId, "%s", value);
    snprintf(out->busIdLegacy, sizeof out->busIdLegacy, "%s", value + (strlen(value) > 12 ? 4 : 0));
    return OK;
}
nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *out) { return nvmlDeviceGetPciInfo_v3(device, out); }
nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char *out, unsigned int length) {
    const char *value;
    nvmlReturn_t ret = field(device, "vbios_version", &value);
    return ret == OK ? text(value, out, length) : ret;
}
nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *out, unsigned int length) {
    const char *value;
    nvmlReturn_t ret = field(device, "serial", &value);
    return ret == OK ? text(value, out, length) : ret;
}
/* `compute_capability` is "major.minor". */
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    const char *value;
    nvmlReturn_t ret = field(device, "compute_capability", &value);
    if (ret != OK) return ret;
    char *dot;
    *major = (int)strtol(value, &dot, 10);
    *minor = *dot == '.' ? atoi(dot + 1) : 0;
    return OK;
}

/* Field values: memory temperature (82) and NVLink data throughput counters in KiB (138 TX,
 * 139 RX; scopeId is the link). Others answer NOT_SUPPORTED in their own nvmlReturn. */
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t *values) {
    const char *unused;
    nvmlReturn_t ret = field(device, "name", &unused);
    if (ret != OK && ret != NOT_SUPPORTED) return ret;
    for (int i = 0; i < count; i++) {
        nvmlFieldValue_t *v = &values[i];
        unsigned long long value = 0;
        v->timestamp = 1700000000000000ll;
        v->latencyUsec = 0;
        if (v->fieldId == 82) {
            v->nvmlReturn = number(device, "temperature.memory", &value);
            v->valueType = 1;
            v->value.uiVal = (unsigned int)value;
        } else if (v->fieldId == 138 || v->fieldId == 139) {
            v->nvmlReturn = link_field(device, v->scopeId, v->fieldId == 138 ? "tx_kib" : "rx_kib", &value);
            v->valueType = 3;
            v->value.ullVal = value;
        } else {
            v->nvmlReturn = NOT_SUPPORTED;
        }
    }
    return OK;
}

/* Events: sets are a bitmask of the GPUs registered for XID errors. */
#define XID_CRITICAL_ERROR 0x8ull
static unsigned long long registered_xid; /* bit n: GPU n */
static long xid_offset;                   /* how far the xid_events file was delivered */

nvmlReturn_t nvmlEventSetCreate(void **set) {
    if (!initialized) return UNINITIALIZED;
    *set = (void *)(uintptr_t)0x5000;
    return OK;
}
nvmlReturn_t nvmlEventSetFree(void *set) { (void)set; registered_xid = 0; return OK; }
nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types) {
    return number(device, "events", types);
}
nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, void *set) {
    unsigned long long supported;
    (void)set;
    if (!is_gpu((uintptr_t)device)) return NOT_SUPPORTED;
    nvmlReturn_t ret = nvmlDeviceGetSupportedEventTypes(device, &supported);
    if (ret != OK) return ret;
    if ((types & supported) != types) return NOT_SUPPORTED;
    if (types & XID_CRITICAL_ERROR) registered_xid |= 1ull << gpu_of((uintptr_t)device);
    return OK;
}

/* The next complete `<gpu> <xid>` line for a registered GPU, if any. */
static int next_xid(nvmlEventData_t *data) {
    const char *path = get("xid_events");
    FILE *file = path ? fopen(path, "r") : NULL;
    char line[64];
    int found = 0;
    if (!file) return 0;
    fseek(file, xid_offset, SEEK_SET);
    while (!found && fgets(line, sizeof line, file)) {
        if (!strchr(line, '\n')) break; /* a line still being written */
        xid_offset = ftell(file);
        unsigned int gpu;
        unsigned long long xid;
        if (sscanf(line, "%u %llu", &gpu, &xid) != 2 || gpu >= 64 || !(registered_xid & (1ull << gpu))) continue;
        data->device = (nvmlDevice_t)(uintptr_t)(0x1000 + gpu);
        data->eventType = XID_CRITICAL_ERROR;
        data->eventData = xid;
        data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFF;
        found = 1;
    }
    fclose(file);
    return found;
}

nvmlReturn_t nvmlEventSetWait_v2(void *set, nvmlEventData_t *data, unsigned int timeout_ms) {
    (void)set;
    if (!initialized) return UNINITIALIZED;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (next_xid(data)) return OK;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long waited = (now.tv_sec - start.tv_sec) * 1000ll + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited >= timeout_ms) return TIMEOUT;
        /* Polls every 100 ms (or what is left): NVML blocks on the driver instead. */
        long long step = timeout_ms - waited < 100 ? timeout_ms - waited : 100;
        struct timespec pause = {0, step * 1000000};
        nanosleep(&pause, NULL);
    }
}
nvmlReturn_t nvmlEventSetWait(void *set, nvmlEventData_t *data, unsigned int timeout_ms) {
    return nvmlEventSetWait_v2(set, data, timeout_ms);
}
