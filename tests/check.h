/* check.h — a tiny test harness: CHECK(cond), CHECK_NEAR(a, b, tol), and a
 * summary line "N passed, N failed" that ctest and CI read. */
#ifndef SHENDU_CHECK_H
#define SHENDU_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_NEAR(a, b, tol) do { \
    double check_a_ = (a), check_b_ = (b); \
    if (fabs(check_a_ - check_b_) <= (tol)) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", \
           __FILE__, __LINE__, #a, check_a_, #b, check_b_, (double)(tol)); } \
} while (0)

/* Print the summary and return the process exit status. */
static inline int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* A scratch directory for files the tests write (created by the caller's env). */
static inline const char *check_tmpdir(void)
{
    const char *d = getenv("SHENDU_TEST_TMP");
    return d && *d ? d : "/tmp";
}

#endif
