/* Tabular MDPs and their exact solutions — the lecture's 策略與估值 (policy
 * and value): a policy's value from the recursion
 *     v_π(s) = Σ_s' P_π(s)(s, s') (R_π(s)(s, s') + γ v_π(s'))
 * the best values by value iteration, and the exact probability that a
 * policy reaches the goal before the time limit. */
#include "shendu/rl.h"

#include <math.h>
#include <stdlib.h>

#define MAX_SWEEPS 1000000
#define TOL 1e-12

typedef struct outcomes { sd_transition *t; int n, cap; } outcomes;

struct sd_mdp {
    int S, A, start;
    outcomes *o;              /* S × A */
};

sd_mdp *sd_mdp_new(int n_states, int n_actions, int start)
{
    if (n_states < 1 || n_actions < 1 || start < 0 || start >= n_states) {
        sd_error("sd_mdp_new: bad sizes (%d states, %d actions, start %d)", n_states, n_actions, start);
        return NULL;
    }
    sd_mdp *m = calloc(1, sizeof *m);
    if (m) m->o = calloc((size_t)n_states * n_actions, sizeof *m->o);
    if (!m || !m->o) { free(m); sd_error("out of memory allocating an MDP"); return NULL; }
    m->S = n_states;
    m->A = n_actions;
    m->start = start;
    return m;
}

void sd_mdp_free(sd_mdp *m)
{
    if (!m) return;
    for (int i = 0; i < m->S * m->A; i++) free(m->o[i].t);
    free(m->o);
    free(m);
}

int sd_mdp_add(sd_mdp *m, int s, int a, double prob, int next, double reward, int terminated)
{
    if (s < 0 || s >= m->S || a < 0 || a >= m->A || next < 0 || next >= m->S || !(prob >= 0 && prob <= 1))
        return sd_error("sd_mdp_add: bad outcome (state %d, action %d, next %d, probability %g)", s, a, next, prob);
    outcomes *o = &m->o[(size_t)s * m->A + a];
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 4;
        sd_transition *t = realloc(o->t, (size_t)cap * sizeof *t);
        if (!t) return sd_error("out of memory growing an MDP");
        o->t = t;
        o->cap = cap;
    }
    o->t[o->n++] = (sd_transition){ prob, next, reward, terminated != 0 };
    return 0;
}

sd_mdp *sd_mdp_from_env(const sd_env *e)
{
    const sd_env_info *in = sd_env_get_info(e);
    if (!in->n_states) { sd_error("%s is not tabular: it has no exact model to solve", in->name); return NULL; }
    const sd_transition *t;
    sd_mdp *m = sd_mdp_new(in->n_states, in->n_actions, in->start_state);
    if (!m) return NULL;
    for (int s = 0; s < in->n_states; s++)
        for (int a = 0; a < in->n_actions; a++) {
            int n = sd_env_transitions(e, s, a, &t);
            for (int i = 0; i < n; i++)
                if (sd_mdp_add(m, s, a, t[i].prob, t[i].next, t[i].reward, t[i].terminated)) {
                    sd_mdp_free(m);
                    return NULL;
                }
        }
    return m;
}

int sd_mdp_states(const sd_mdp *m) { return m->S; }
int sd_mdp_actions(const sd_mdp *m) { return m->A; }

/* Q(s,a) = Σ_s' P(s'|s,a) (R + γ v(s')), v(s') counted only if the episode goes on. */
static double q_value(const sd_mdp *m, const double *v, int s, int a, double gamma)
{
    const outcomes *o = &m->o[(size_t)s * m->A + a];
    double q = 0.0;
    for (int i = 0; i < o->n; i++) {
        const sd_transition *t = &o->t[i];
        q += t->prob * (t->reward + (t->terminated ? 0.0 : gamma * v[t->next]));
    }
    return q;
}

static int check_gamma(double gamma)
{
    if (!(gamma >= 0.0 && gamma <= 1.0)) return sd_error("gamma %g is not in [0, 1]", gamma);
    return 0;
}

int sd_mdp_evaluate(const sd_mdp *m, const double *pi, const int *actions, double gamma, double *v)
{
    if (check_gamma(gamma)) return -1;
    if (!pi == !actions) return sd_error("sd_mdp_evaluate: give either a stochastic or a deterministic policy");
    for (int s = 0; actions && s < m->S; s++)
        if (actions[s] < 0 || actions[s] >= m->A) return sd_error("policy: action %d in state %d is out of range", actions[s], s);
    for (int s = 0; s < m->S; s++) v[s] = 0.0;
    /* In-place sweeps (Gauss-Seidel): the same fixed point, reached sooner. */
    for (int sweep = 1; sweep <= MAX_SWEEPS; sweep++) {
        double delta = 0.0;
        for (int s = 0; s < m->S; s++) {
            double nv = 0.0;
            if (actions) nv = q_value(m, v, s, actions[s], gamma);
            else
                for (int a = 0; a < m->A; a++)
                    if (pi[(size_t)s * m->A + a] != 0.0) nv += pi[(size_t)s * m->A + a] * q_value(m, v, s, a, gamma);
            double d = fabs(nv - v[s]);
            if (d > delta) delta = d;
            v[s] = nv;
        }
        if (!isfinite(delta)) break;
        if (delta < TOL) return sweep;
    }
    return sd_error("policy evaluation did not converge (with gamma %g the policy may never end an episode)", gamma);
}

int sd_mdp_value_iteration(const sd_mdp *m, double gamma, double *v, int *policy)
{
    if (check_gamma(gamma)) return -1;
    for (int s = 0; s < m->S; s++) v[s] = 0.0;
    for (int sweep = 1; sweep <= MAX_SWEEPS; sweep++) {
        double delta = 0.0;
        for (int s = 0; s < m->S; s++) {
            double best = q_value(m, v, s, 0, gamma);
            for (int a = 1; a < m->A; a++) {
                double q = q_value(m, v, s, a, gamma);
                if (q > best) best = q;
            }
            double d = fabs(best - v[s]);
            if (d > delta) delta = d;
            v[s] = best;
        }
        if (!isfinite(delta)) break;
        if (delta < TOL) {
            for (int s = 0; policy && s < m->S; s++) {
                int arg = 0;
                double best = q_value(m, v, s, 0, gamma);
                for (int a = 1; a < m->A; a++) {
                    double q = q_value(m, v, s, a, gamma);
                    if (q > best + 1e-12 * (1.0 + fabs(best))) { best = q; arg = a; }
                }
                policy[s] = arg;
            }
            return sweep;
        }
    }
    return sd_error("value iteration did not converge (gamma %g)", gamma);
}

double sd_mdp_horizon_value(const sd_mdp *m, const int *policy, int horizon)
{
    double *v = calloc((size_t)m->S, sizeof *v), *nv = calloc((size_t)m->S, sizeof *nv);
    if (!v || !nv) { free(v); free(nv); sd_error("out of memory"); return NAN; }
    /* v_k(s): expected reward of the next k steps from s; v_0 = 0. */
    for (int k = 0; k < horizon; k++) {
        for (int s = 0; s < m->S; s++) {
            if (policy) { nv[s] = q_value(m, v, s, policy[s], 1.0); continue; }
            double best = q_value(m, v, s, 0, 1.0);
            for (int a = 1; a < m->A; a++) {
                double q = q_value(m, v, s, a, 1.0);
                if (q > best) best = q;
            }
            nv[s] = best;
        }
        double *t = v; v = nv; nv = t;
    }
    double r = v[m->start];
    free(v);
    free(nv);
    return r;
}
