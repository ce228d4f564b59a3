/* An LD_PRELOAD shim: the wall clock runs RATE times faster from a shared BASE epoch.
 *
 * Built at test time by tests/chaos/fast_clock.py. Every process given the same
 * FAST_CLOCK_BASE and FAST_CLOCK_RATE reads the same compressed wall clock, so web,
 * workers and beat agree on "now" while production thresholds (900 s) pass in seconds.
 * Only CLOCK_REALTIME (and time(), gettimeofday()) is changed: CLOCK_MONOTONIC, which
 * sleeps, timeouts and Celery's time limits use, keeps real time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int64_t base_ns;
static int64_t rate = 1;

static void load(void) {
    if (real_clock_gettime != NULL) {
        return;
    }
    const char *base = getenv("FAST_CLOCK_BASE");
    const char *rate_text = getenv("FAST_CLOCK_RATE");
    if (base != NULL && rate_text != NULL) {
        base_ns = strtoll(base, NULL, 10) * 1000000000LL;
        rate = strtoll(rate_text, NULL, 10);
        if (rate < 1) {
            rate = 1;
        }
    }
    real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
}

__attribute__((constructor)) static void fast_clock_init(void) { load(); }

static void compress(struct timespec *ts) {
    int64_t real_ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
    int64_t fast_ns = base_ns + (real_ns - base_ns) * rate;
    ts->tv_sec = (time_t)(fast_ns / 1000000000LL);
    ts->tv_nsec = (long)(fast_ns % 1000000000LL);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    load();
    int result = real_clock_gettime(clock, ts);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        compress(ts);
    }
    return result;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    struct timespec now;
    int result = clock_gettime(CLOCK_REALTIME, &now);
    if (result == 0) {
        tv->tv_sec = now.tv_sec;
        tv->tv_usec = now.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (out != NULL) {
        *out = now.tv_sec;
    }
    return now.tv_sec;
}
