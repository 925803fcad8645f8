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
 * Built by the tests with the system compiler: cc -shared -fPIC -o libnvidia-ml.so.1 nvml.c
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

enum { OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7, GPU_IS_LOST = 15 };

#define MAX_ENTRIES 512
#define SLOTS 2048 /* open addressing, a power of two well above MAX_ENTRIES */
static char keys[MAX_ENTRIES][96], values[MAX_ENTRIES][256];
static int entries, initialized, slots[SLOTS]; /* slot: entry index + 1, or 0 */

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

static void load(void) {
    char beside[4096];
    const char *path = getenv("OBSAGENT_NVML_FIXTURE");
    Dl_info self;
    if (!path && dladdr((void *)load, &self) && self.dli_fname) {
        char library[4096];
        snprintf(library, sizeof library, "%s", self.dli_fname);
        snprintf(beside, sizeof beside, "%s/nvml-fixture.txt", dirname(library));
        path = beside;
    }
    FILE *file = path ? fopen(path, "r") : NULL;
    char line[400];
    entries = 0;
    memset(slots, 0, sizeof slots);
    while (file && entries < MAX_ENTRIES && fgets(line, sizeof line, file)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq) continue;
        *eq = 0;
        eq[1 + strcspn(eq + 1, "\r\n")] = 0;
        snprintf(keys[entries], sizeof keys[0], "%.95s", line);
        snprintf(values[entries], sizeof values[0], "%.255s", eq + 1);
        unsigned i = hash(keys[entries]) & (SLOTS - 1);
        while (slots[i]) i = (i + 1) & (SLOTS - 1);
        slots[i] = ++entries;
    }
    if (file) fclose(file);
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
