/* The environments against Gymnasium's published rules: transition tables
 * checked entry by entry, slippery moves checked statistically, step limits,
 * CliffWalking's cliff, and CartPole / Acrobot trajectories worked out by hand
 * from the published equations (the numbers below come from an independent
 * evaluation of those equations in double precision). */
#include "check.h"
#include "shendu.h"

#include <string.h>

static const double *state_of(sd_env *e)
{
    static double s[4];
    sd_env_get_state(e, s);
    return s;
}

static void set4(sd_env *e, double a, double b, double c, double d)
{
    double s[4] = { a, b, c, d };
    CHECK(sd_env_set_state(e, s) == 0);
}

static void check_state(sd_env *e, const double *want, double tol, const char *what)
{
    const double *s = state_of(e);
    for (int i = 0; i < 4; i++)
        CHECK_MSG(fabs(s[i] - want[i]) <= tol, "%s: state[%d] = %.17g, expected %.17g", what, i, s[i], want[i]);
}

/* ---- FrozenLake */

static const char *map4[] = { "SFFF", "FHFH", "FFFH", "HFFG" };

/* The cell reached from (r, c) moving in direction d (0 Left, 1 Down, 2 Right, 3 Up) on an n×n grid. */
static int moved(int r, int c, int d, int n)
{
    if (d == 0) c = c > 0 ? c - 1 : 0;
    if (d == 1) r = r < n - 1 ? r + 1 : r;
    if (d == 2) c = c < n - 1 ? c + 1 : c;
    if (d == 3) r = r > 0 ? r - 1 : 0;
    return r * n + c;
}

static void test_frozenlake_table(int slippery)
{
    sd_env *e = sd_env_new("frozenlake", &(sd_env_opts){ .slippery = slippery ? 1 : -1 });
    CHECK(e != NULL);
    const sd_env_info *in = sd_env_get_info(e);
    CHECK(in->n_states == 16 && in->n_actions == 4 && in->obs_dim == 1 && in->max_steps == 100);
    CHECK(in->start_state == 0 && in->goal_state == 15);
    CHECK_NEAR(in->reward_threshold, 0.70, 1e-12);
    int mismatches = 0;
    for (int s = 0; s < 16; s++)
        for (int a = 0; a < 4; a++) {
            const sd_transition *t;
            int n = sd_env_transitions(e, s, a, &t);
            char tile = map4[s / 4][s % 4];
            if (tile == 'H' || tile == 'G') {   /* terminal: stays, reward 0, terminated */
                mismatches += !(n == 1 && t[0].prob == 1.0 && t[0].next == s && t[0].reward == 0 && t[0].terminated);
                continue;
            }
            int dirs[3] = { (a + 3) % 4, a, (a + 1) % 4 }, k0 = slippery ? 0 : 1, k1 = slippery ? 3 : 2;
            mismatches += n != k1 - k0;
            for (int k = k0; k < k1 && n == k1 - k0; k++) {
                const sd_transition *o = &t[k - k0];
                int next = moved(s / 4, s % 4, dirs[k], 4);
                char t2 = map4[next / 4][next % 4];
                mismatches += !(fabs(o->prob - (slippery ? 1.0 / 3.0 : 1.0)) < 1e-15 && o->next == next &&
                                o->reward == (t2 == 'G') && o->terminated == (t2 == 'G' || t2 == 'H'));
            }
        }
    CHECK_MSG(mismatches == 0, "%d FrozenLake table entries differ from the rules", mismatches);
    if (slippery) {
        /* By hand: state 14 (row 3, col 2), Right: Down stays at 14, Right reaches G, Up goes to 10. */
        const sd_transition *t;
        CHECK(sd_env_transitions(e, 14, 2, &t) == 3);
        CHECK(t[0].next == 14 && t[0].reward == 0 && !t[0].terminated);
        CHECK(t[1].next == 15 && t[1].reward == 1 && t[1].terminated);
        CHECK(t[2].next == 10 && t[2].reward == 0 && !t[2].terminated);
        /* State 0, Left: Up and Left bump into the edge (stay at 0), Down goes to 4. */
        CHECK(sd_env_transitions(e, 0, 0, &t) == 3);
        CHECK(t[0].next == 0 && t[1].next == 0 && t[2].next == 4);
    }
    CHECK(sd_env_transitions(e, 16, 0, &(const sd_transition *){ 0 }) == -1);
    sd_env_free(e);
}

static void test_frozenlake_dynamics(void)
{
    /* Not slippery: Down Down Right Right Down Right walks 0 4 8 9 10 14 15 (G). */
    sd_env *e = sd_env_new("FrozenLake-v1", &(sd_env_opts){ .slippery = -1 });
    float obs;
    sd_env_result r;
    CHECK(sd_env_reset(e, 3, &obs) == 0 && obs == 0.0f && sd_env_state(e) == 0);
    const int path[6] = { 1, 1, 2, 2, 1, 2 }, want[6] = { 4, 8, 9, 10, 14, 15 };
    for (int i = 0; i < 6; i++) {
        CHECK(sd_env_step(e, path[i], &obs, &r) == 0);
        CHECK_MSG((int)obs == want[i], "step %d: state %g, expected %d", i, obs, want[i]);
        CHECK(r.reward == (i == 5 ? 1.0f : 0.0f) && r.terminated == (i == 5) && !r.truncated);
    }
    CHECK(sd_env_step(e, 0, &obs, &r) == -1);   /* the episode is over */
    CHECK(strstr(sd_last_error(), "no episode") != NULL);
    /* Into the hole at 5: Right, Down. */
    sd_env_reset(e, SD_ENV_NO_SEED, &obs);
    sd_env_step(e, 2, &obs, &r);
    sd_env_step(e, 1, &obs, &r);
    CHECK(obs == 5.0f && r.terminated && r.reward == 0.0f);
    /* Step limit: 100 steps against the wall; only the 100th is truncated. */
    sd_env_reset(e, SD_ENV_NO_SEED, &obs);
    int early = 0;
    for (int i = 1; i <= 100; i++) {
        sd_env_step(e, 0, &obs, &r);
        if (i < 100) early += r.truncated || r.terminated;
    }
    CHECK(early == 0 && r.truncated && !r.terminated && sd_env_elapsed(e) == 100);
    CHECK(sd_env_step(e, 0, &obs, &r) == -1);
    /* A bad action changes nothing and says what was wrong. */
    sd_env_reset(e, SD_ENV_NO_SEED, &obs);
    CHECK(sd_env_step(e, 4, &obs, &r) == -1 && strstr(sd_last_error(), "action 4") != NULL);
    CHECK(sd_env_step(e, -1, &obs, &r) == -1 && sd_env_elapsed(e) == 0 && sd_env_state(e) == 0);
    char pic[256];
    CHECK(sd_env_render(e, pic, sizeof pic) > 0 && strstr(pic, "@FFF\nFHFH\nFFFH\nHFFG\n") != NULL);
    sd_env_free(e);

    /* 8x8: a 200-step limit. */
    e = sd_env_new("frozenlake8", NULL);
    CHECK(sd_env_get_info(e)->max_steps == 200 && sd_env_get_info(e)->n_states == 64 &&
          sd_env_get_info(e)->goal_state == 63);
    CHECK_NEAR(sd_env_get_info(e)->reward_threshold, 0.85, 1e-12);
    sd_env_free(e);
    e = sd_env_new("frozenlake8", &(sd_env_opts){ .slippery = -1 });
    sd_env_reset(e, 0, &obs);
    for (int i = 1; i <= 200; i++) sd_env_step(e, 3, &obs, &r);
    CHECK(r.truncated && obs == 0.0f);
    sd_env_free(e);
}

/* Slippery moves: from state 0 action Down lands on 0 (Left), 4 (Down) or 1
 * (Right), each with probability 1/3; and the same seed repeats the draws. */
static void test_frozenlake_slippery(void)
{
    sd_env *e = sd_env_new("frozenlake", NULL);
    float obs;
    sd_env_result r;
    int count[16] = { 0 }, n = 60000;
    uint64_t trace1 = 0, trace2 = 0;
    sd_env_reset(e, 11, &obs);
    for (int i = 0; i < n; i++) {
        if (sd_env_elapsed(e) == 99) sd_env_reset(e, SD_ENV_NO_SEED, &obs);
        double zero = 0;
        sd_env_set_state(e, &zero);
        sd_env_step(e, 1, &obs, &r);
        count[(int)obs]++;
        if (i < 40) trace1 = trace1 * 17 + (uint64_t)obs;
    }
    CHECK(count[0] + count[1] + count[4] == n);
    for (int k = 0; k < 3; k++) {
        int s = (int[]){ 0, 1, 4 }[k];
        CHECK_MSG(fabs(count[s] / (double)n - 1.0 / 3.0) < 0.01, "P(0 -> %d | Down) = %.4f, expected 1/3", s,
                  count[s] / (double)n);
    }
    sd_env_reset(e, 11, &obs);
    for (int i = 0; i < 40; i++) {
        double zero = 0;
        sd_env_set_state(e, &zero);
        sd_env_step(e, 1, &obs, &r);
        trace2 = trace2 * 17 + (uint64_t)obs;
    }
    CHECK_MSG(trace1 == trace2, "reset(seed) must repeat the slippery draws");
    sd_env_free(e);
}

/* ---- CliffWalking */

static void test_cliffwalking(void)
{
    sd_env *e = sd_env_new("cliffwalking", NULL);
    const sd_env_info *in = sd_env_get_info(e);
    CHECK(in->n_states == 48 && in->n_actions == 4 && in->max_steps == 0 && in->start_state == 36 &&
          in->goal_state == 47 && isnan(in->reward_threshold));
    float obs;
    sd_env_result r;
    CHECK(sd_env_reset(e, 0, &obs) == 0 && obs == 36.0f);
    /* Right from the start steps onto the cliff: −100, back to the start, not the end. */
    CHECK(sd_env_step(e, 1, &obs, &r) == 0 && obs == 36.0f && r.reward == -100.0f && !r.terminated);
    /* Up, eleven times Right, Down: 13 steps, return −13, ends at the goal. */
    double ret = 0;
    int acts[13] = { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2 };
    for (int i = 0; i < 13; i++) {
        CHECK(sd_env_step(e, acts[i], &obs, &r) == 0);
        ret += r.reward;
        CHECK(r.terminated == (i == 12));
    }
    CHECK(obs == 47.0f && ret == -13.0);
    /* The table, spot-checked by hand. */
    const sd_transition *t;
    CHECK(sd_env_transitions(e, 24, 2, &t) == 1 && t[0].next == 36 && t[0].reward == -1 && !t[0].terminated);
    CHECK(sd_env_transitions(e, 25, 2, &t) == 1 && t[0].next == 36 && t[0].reward == -100 && !t[0].terminated);
    CHECK(sd_env_transitions(e, 35, 2, &t) == 1 && t[0].next == 47 && t[0].reward == -1 && t[0].terminated);
    CHECK(sd_env_transitions(e, 0, 0, &t) == 1 && t[0].next == 0 && t[0].prob == 1.0);
    CHECK(sd_env_transitions(e, 46, 1, &t) == 1 && t[0].next == 47 && t[0].terminated);
    /* No step limit: 1000 steps into the wall never truncate. */
    sd_env_reset(e, SD_ENV_NO_SEED, &obs);
    int cut = 0;
    for (int i = 0; i < 1000; i++) { sd_env_step(e, 3, &obs, &r); cut += r.truncated || r.terminated; }
    CHECK(cut == 0 && obs == 36.0f);
    char pic[512];
    sd_env_render(e, pic, sizeof pic);
    CHECK(!strncmp(pic, "o  o  o ", 8) && strstr(pic, "x  C  C") != NULL && strstr(pic, " T\n") != NULL);
    CHECK(sd_env_new("cliffwalking", &(sd_env_opts){ .slippery = 1 }) == NULL);
    sd_env_free(e);
}

/* ---- CartPole */

static void test_cartpole(void)
{
    sd_env *e = sd_env_new("CartPole-v1", NULL);
    const sd_env_info *in = sd_env_get_info(e);
    CHECK(in->obs_dim == 4 && in->n_actions == 2 && in->max_steps == 500 && in->n_states == 0);
    CHECK_NEAR(in->reward_threshold, 475.0, 0);
    float obs[4];
    sd_env_result r;
    sd_env_reset(e, 0, obs);
    /* From rest, push right, right, left, right, left (explicit Euler). */
    set4(e, 0, 0, 0, 0);
    static const double want[5][4] = {
        { 0, 0.1951219512195122, 0, -0.29268292682926828 },
        { 0.0039024390243902443, 0.3902439024390244, -0.0058536585365853658, -0.58536585365853655 },
        { 0.011707317073170733, 0.19520443149030264, -0.017560975609756099, -0.29453262531977781 },
        { 0.015611405702976786, 0.39057228683543699, -0.023451628116151656, -0.59270188416132941 },
        { 0.023422851439685526, 0.19578634341052323, -0.035305665799378244, -0.3074974581415999 },
    };
    const int acts[5] = { 1, 1, 0, 1, 0 };
    for (int i = 0; i < 5; i++) {
        CHECK(sd_env_step(e, acts[i], obs, &r) == 0);
        CHECK(r.reward == 1.0f && !r.terminated && !r.truncated);
        check_state(e, want[i], 1e-13, "cartpole from rest");
        for (int k = 0; k < 4; k++) CHECK(obs[k] == (float)want[i][k]);
    }
    set4(e, 0.01, -0.02, 0.03, -0.04);
    static const double want2[3][4] = {
        { 0.0096000000000000009, -0.21553901710278936, 0.0292, 0.26199522377603923 },
        { 0.0052892196579442134, -0.41106535079889972, 0.034439904475520783, 0.56374327811894265 },
        { -0.0029320873580337805, -0.21644313584209413, 0.045714770037899637, 0.28210640106653878 },
    };
    for (int i = 0; i < 3; i++) {
        sd_env_step(e, (int[]){ 0, 0, 1 }[i], obs, &r);
        check_state(e, want2[i], 1e-13, "cartpole from (0.01, -0.02, 0.03, -0.04)");
    }
    /* Termination: |x| > 2.4, |θ| > 12° = 0.2094 rad; the last step still pays 1. */
    set4(e, 2.39, 1.0, 0, 0);
    sd_env_step(e, 1, obs, &r);
    CHECK(r.terminated && r.reward == 1.0f && obs[0] > 2.4f);
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    set4(e, 2.39, 0.4, 0, 0);                    /* x = 2.398: still inside */
    sd_env_step(e, 1, obs, &r);
    CHECK(!r.terminated);
    set4(e, 0, 0, -0.2, -1.0);                   /* θ = −0.22 */
    sd_env_step(e, 0, obs, &r);
    CHECK(r.terminated);
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    set4(e, 0, 0, 0.2, 0.4);                     /* θ = 0.208 < 0.2094 */
    sd_env_step(e, 0, obs, &r);
    CHECK(!r.terminated);
    /* Truncation at 500: hold the pole upright by resetting the state each step. */
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    int early = 0;
    for (int i = 1; i <= 500; i++) {
        set4(e, 0, 0, 0, 0);
        sd_env_step(e, i & 1, obs, &r);
        if (i < 500) early += r.truncated || r.terminated;
    }
    CHECK(early == 0 && r.truncated && !r.terminated);
    CHECK(sd_env_step(e, 0, obs, &r) == -1);
    /* Reset: every variable uniform in [−0.05, 0.05]. */
    double lo = 1, hi = -1, sum = 0;
    sd_env_reset(e, 123, obs);
    for (int i = 0; i < 2000; i++) {
        sd_env_reset(e, SD_ENV_NO_SEED, obs);
        const double *s = state_of(e);
        for (int k = 0; k < 4; k++) {
            lo = fmin(lo, s[k]);
            hi = fmax(hi, s[k]);
            sum += s[k];
            CHECK_MSG((double)obs[k] == (double)(float)s[k], "observation is the float32 state");
        }
    }
    CHECK(lo >= -0.05 && hi <= 0.05 && lo < -0.049 && hi > 0.049 && fabs(sum / 8000) < 0.003);
    /* Same seed, same start; the action space is checked. */
    float a[4], b[4];
    sd_env_reset(e, 7, a);
    sd_env_reset(e, 7, b);
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(sd_env_step(e, 2, obs, &r) == -1 && strstr(sd_last_error(), "action 2") != NULL);
    char pic[2048];
    CHECK(sd_env_render(e, pic, sizeof pic) > 0 && strstr(pic, "[###]") != NULL);
    sd_env_free(e);
}

/* ---- Acrobot */

static void test_acrobot(void)
{
    sd_env *e = sd_env_new("acrobot", NULL);
    const sd_env_info *in = sd_env_get_info(e);
    CHECK(in->obs_dim == 6 && in->n_actions == 3 && in->max_steps == 500);
    CHECK_NEAR(in->reward_threshold, -100.0, 0);
    float obs[6];
    sd_env_result r;
    sd_env_reset(e, 0, obs);
    /* One RK4 step of 0.2 s each, from rest: torque +1, +1, −1. */
    set4(e, 0, 0, 0, 0);
    static const double want[3][4] = {
        { -0.013262967177227795, 0.034287229347385442, -0.12866185280996106, 0.33450108998660194 },
        { -0.048489653809372597, 0.12748779480535294, -0.21328487327674689, 0.57546306404962333 },
        { -0.067237063386205026, 0.18553771278886602, 0.030714304370452555, -0.0064477093097422555 },
    };
    for (int i = 0; i < 3; i++) {
        sd_env_step(e, (int[]){ 2, 2, 0 }[i], obs, &r);
        CHECK(r.reward == -1.0f && !r.terminated);
        check_state(e, want[i], 1e-12, "acrobot from rest");
    }
    CHECK(obs[0] == (float)cos(want[2][0]) && obs[1] == (float)sin(want[2][0]) && obs[2] == (float)cos(want[2][1]) &&
          obs[3] == (float)sin(want[2][1]) && obs[4] == (float)want[2][2] && obs[5] == (float)want[2][3]);
    set4(e, 0.1, -0.2, 0.3, -0.4);
    static const double want2[2][4] = {
        { 0.1544280535176176, -0.2796784625217692, 0.23102745634235644, -0.37533176739803126 },
        { 0.17476130637958853, -0.30863313795433678, -0.032095350910669229, 0.092511176247878413 },
    };
    for (int i = 0; i < 2; i++) {
        sd_env_step(e, i, obs, &r);
        check_state(e, want2[i], 1e-12, "acrobot from (0.1, -0.2, 0.3, -0.4)");
    }
    /* θ1 wraps past π to −π; θ̇2 is clipped at 9π. */
    set4(e, 3.0, 0.1, 3.0, 0.0);
    sd_env_step(e, 1, obs, &r);
    check_state(e, (const double[]){ -2.6719092508314546, 0.089060642600370804, 3.2374230373988819, -0.20783523026854689 },
                1e-12, "acrobot wrap");
    CHECK(r.terminated && r.reward == 0.0f);     /* the tip is high: -cos(θ1) - cos(θ1+θ2) = 1.74 */
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    set4(e, 0, 0, 0, 30.0);
    sd_env_step(e, 1, obs, &r);
    check_state(e, (const double[]){ 0.42589727908391001, -0.55137066977679883, -1.027810571092598, 9 * 3.14159265358979323846 },
                1e-12, "acrobot velocity clip");
    /* Standing straight up: the tip is 2 m above the pivot, the episode ends with reward 0. */
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    set4(e, 3.14159265358979323846, 0, 0, 0);
    sd_env_step(e, 1, obs, &r);
    CHECK(r.terminated && r.reward == 0.0f);
    /* Truncation at 500 steps, hanging still. */
    sd_env_reset(e, SD_ENV_NO_SEED, obs);
    int early = 0;
    for (int i = 1; i <= 500; i++) {
        set4(e, 0, 0, 0, 0);
        sd_env_step(e, 1, obs, &r);
        if (i < 500) early += r.truncated || r.terminated;
    }
    CHECK(early == 0 && r.truncated && !r.terminated && r.reward == -1.0f);
    /* Reset: uniform in [−0.1, 0.1], drawn as float32. */
    double lo = 1, hi = -1;
    for (int i = 0; i < 1000; i++) {
        sd_env_reset(e, SD_ENV_NO_SEED, obs);
        const double *s = state_of(e);
        for (int k = 0; k < 4; k++) {
            lo = fmin(lo, s[k]);
            hi = fmax(hi, s[k]);
            CHECK(s[k] == (double)(float)s[k]);
        }
    }
    CHECK(lo >= -0.1 && hi <= 0.1 && lo < -0.099 && hi > 0.099);
    CHECK(sd_env_step(e, 3, obs, &r) == -1);
    char pic[4096];
    CHECK(sd_env_render(e, pic, sizeof pic) > 0 && strchr(pic, 'O') != NULL);
    sd_env_free(e);
}

static void test_bad_input(void)
{
    CHECK(sd_env_new("pong", NULL) == NULL);
    CHECK(strstr(sd_last_error(), "unknown environment 'pong'") != NULL && strstr(sd_last_error(), "cartpole"));
    sd_env *e = sd_env_new("cartpole", NULL);
    float obs[4];
    sd_env_result r;
    CHECK(sd_env_step(e, 0, obs, &r) == -1 && strstr(sd_last_error(), "reset") != NULL);   /* never reset */
    CHECK(sd_env_reset(e, -5, obs) == -1);
    CHECK(sd_env_transitions(e, 0, 0, &(const sd_transition *){ 0 }) == -1);
    sd_env_free(e);
    sd_env_free(NULL);
}

int main(void)
{
    test_frozenlake_table(1);
    test_frozenlake_table(0);
    test_frozenlake_dynamics();
    test_frozenlake_slippery();
    test_cliffwalking();
    test_cartpole();
    test_acrobot();
    test_bad_input();
    return check_done("test_rl_env");
}
