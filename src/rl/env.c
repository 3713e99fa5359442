/* The environment interface: what Gymnasium's gym.make() adds around an
 * environment — lookup by name, seeding, the TimeLimit wrapper, checking the
 * action — plus access to the tabular environments' transition tables. */
#include "rl/env_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const env_class *const classes[] = {
    &sd_env_frozenlake, &sd_env_frozenlake8, &sd_env_cliffwalking, &sd_env_cartpole, &sd_env_acrobot,
};
#define NCLASSES ((int)(sizeof classes / sizeof classes[0]))

const char *sd_env_names(void) { return "frozenlake, frozenlake8, cliffwalking, cartpole, acrobot"; }

static int same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

sd_env *sd_env_new(const char *name, const sd_env_opts *opts)
{
    sd_env_opts o = opts ? *opts : (sd_env_opts){ 0 };
    const env_class *cls = NULL;
    for (int i = 0; name && i < NCLASSES; i++)
        if (same_name(name, classes[i]->name) || same_name(name, classes[i]->gym_id)) cls = classes[i];
    if (!cls) {
        sd_error("unknown environment '%s' (expected one of: %s)", name ? name : "(null)", sd_env_names());
        return NULL;
    }
    if (o.slippery < -1 || o.slippery > 1 || o.max_steps < -1) {
        sd_error("%s: bad options (slippery %d, max_steps %d)", cls->name, o.slippery, o.max_steps);
        return NULL;
    }
    sd_env *e = calloc(1, sizeof *e);
    if (!e) { sd_error("out of memory allocating an environment"); return NULL; }
    e->cls = cls;
    e->last_action = -1;
    e->info.name = cls->name;
    e->info.gym_id = cls->gym_id;
    e->info.start_state = e->info.goal_state = -1;
    if (cls->init(e, &o)) { sd_env_free(e); return NULL; }
    if (o.max_steps == -1) e->info.max_steps = 0;
    else if (o.max_steps > 0) e->info.max_steps = o.max_steps;
    sd_rng_seed(&e->rng, 0);
    return e;
}

void sd_env_free(sd_env *e)
{
    if (!e) return;
    free(e->P);
    free(e->nP);
    free(e);
}

const sd_env_info *sd_env_get_info(const sd_env *e) { return &e->info; }

int sd_env_reset(sd_env *e, int64_t seed, float *obs)
{
    if (!e || !obs) return sd_error("sd_env_reset: NULL %s", e ? "observation buffer" : "environment");
    if (seed < SD_ENV_NO_SEED) return sd_error("%s: reset seed %lld is negative", e->info.name, (long long)seed);
    if (seed >= 0) sd_rng_seed(&e->rng, (uint64_t)seed);
    e->seeded = 1;
    e->elapsed = 0;
    e->running = 1;
    e->last_action = -1;
    e->cls->reset(e, obs);
    return 0;
}

int sd_env_step(sd_env *e, int action, float *obs, sd_env_result *r)
{
    if (!e || !obs || !r) return sd_error("sd_env_step: NULL argument");
    if (action < 0 || action >= e->info.n_actions)
        return sd_error("%s: action %d is outside the action space [0, %d)", e->info.name, action,
                        e->info.n_actions);
    if (!e->running)
        return sd_error("%s: no episode is running (call sd_env_reset %s)", e->info.name,
                        e->seeded ? "after an episode ends" : "first");
    r->reward = 0.0f;
    r->terminated = 0;
    e->cls->step(e, action, obs, r);
    e->last_action = action;
    e->elapsed++;
    /* Gymnasium's TimeLimit: truncated once the limit is reached, even on a
     * step that also terminates. */
    r->truncated = e->info.max_steps > 0 && e->elapsed >= e->info.max_steps;
    if (r->terminated || r->truncated) e->running = 0;
    return 0;
}

int sd_env_elapsed(const sd_env *e) { return e->elapsed; }
int sd_env_state(const sd_env *e) { return e->info.n_states ? e->s : -1; }

int sd_env_get_state(const sd_env *e, double *state)
{
    if (e->info.n_states) { state[0] = e->s; return 1; }
    for (int i = 0; i < e->cls->nstate; i++) state[i] = e->x[i];
    return e->cls->nstate;
}

int sd_env_set_state(sd_env *e, const double *state)
{
    if (!e->running) return sd_error("%s: set_state needs a running episode (reset first)", e->info.name);
    if (e->info.n_states) {
        if (!(state[0] >= 0 && state[0] < e->info.n_states) || state[0] != (int)state[0])
            return sd_error("%s: state %g is not in [0, %d)", e->info.name, state[0], e->info.n_states);
        e->s = (int)state[0];
        return 0;
    }
    for (int i = 0; i < e->cls->nstate; i++) e->x[i] = state[i];
    return 0;
}

int sd_env_render(const sd_env *e, char *buf, size_t size)
{
    if (!e || !buf || size == 0) return sd_error("sd_env_render: NULL or empty buffer");
    buf[0] = 0;
    return e->cls->render(e, buf, size);
}

int sd_env_transitions(const sd_env *e, int s, int a, const sd_transition **out)
{
    if (!e->info.n_states) return sd_error("%s has no transition table (its states are continuous)", e->info.name);
    if (s < 0 || s >= e->info.n_states || a < 0 || a >= e->info.n_actions)
        return sd_error("%s: no state %d / action %d", e->info.name, s, a);
    size_t i = (size_t)s * e->info.n_actions + a;
    *out = e->P + i * ENV_MAX_OUTCOMES;
    return e->nP[i];
}

/* ---- Helpers for the environment files */

double sd_env_uniform(sd_env *e) { return (double)(sd_rng_u64(&e->rng) >> 11) * (1.0 / 9007199254740992.0); }

int sd_env_alloc_table(sd_env *e, int S, int A)
{
    e->P = calloc((size_t)S * A * ENV_MAX_OUTCOMES, sizeof *e->P);
    e->nP = calloc((size_t)S * A, sizeof *e->nP);
    if (!e->P || !e->nP) return sd_error("%s: out of memory for the transition table", e->info.name);
    return 0;
}

void sd_env_appendf(char *buf, size_t size, size_t *k, const char *fmt, ...)
{
    if (*k >= size - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *k, size - *k, fmt, ap);
    va_end(ap);
    if (n > 0) *k += (size_t)n;
    if (*k > size - 1) *k = size - 1;
}

/* ---- Snapshots (checkpoints) */

void sd_env_snapshot(const sd_env *e, sd_env_saved *out)
{
    memset(out, 0, sizeof *out);
    out->rng = e->rng;
    sd_env_get_state(e, out->state);
    out->elapsed = e->elapsed;
    out->running = e->running;
    out->seeded = e->seeded;
    out->last_action = e->last_action;
}

int sd_env_restore(sd_env *e, const sd_env_saved *s)
{
    const sd_env_info *in = &e->info;
    if (!(s->rng.s[0] | s->rng.s[1] | s->rng.s[2] | s->rng.s[3]))
        return sd_error("%s: saved state: the RNG is all zero", in->name);
    if (s->running < 0 || s->running > 1 || s->seeded < 0 || s->seeded > 1 || s->elapsed < 0 ||
        (in->max_steps > 0 && s->elapsed > in->max_steps) || s->last_action < -1 || s->last_action >= in->n_actions)
        return sd_error("%s: saved state: bad counters (elapsed %d, running %d, seeded %d, last action %d)",
                        in->name, (int)s->elapsed, (int)s->running, (int)s->seeded, (int)s->last_action);
    if (in->n_states) {
        if (!(s->state[0] >= 0 && s->state[0] < in->n_states) || s->state[0] != (int)s->state[0])
            return sd_error("%s: saved state: state %g is not in [0, %d)", in->name, s->state[0], in->n_states);
        e->s = (int)s->state[0];
    } else {
        for (int i = 0; i < e->cls->nstate; i++)
            if (!isfinite(s->state[i])) return sd_error("%s: saved state: value %d is not finite", in->name, i);
        for (int i = 0; i < e->cls->nstate; i++) e->x[i] = s->state[i];
    }
    e->rng = s->rng;
    e->elapsed = s->elapsed;
    e->running = s->running;
    e->seeded = s->seeded;
    e->last_action = s->last_action;
    return 0;
}
