/* Gymnasium's tabular ("toy text") environments, rule for rule:
 *
 * FrozenLake-v1 (map "4x4") and FrozenLake8x8-v1 (map "8x8"): walk on a frozen
 *   lake from S to G without falling into a hole H. Actions 0 Left, 1 Down,
 *   2 Right, 3 Up; a move off the grid stays in place. Slippery (the default):
 *   the move made is (a−1) mod 4, a or (a+1) mod 4, probability 1/3 each.
 *   Reward 1 on arriving at G, else 0; arriving at H or G terminates. Step
 *   limits 100 and 200. Reward thresholds 0.70 and 0.85.
 * CliffWalking-v0: a 4×12 grid, start (3,0), goal (3,11), a cliff along
 *   (3,1..10). Actions 0 Up, 1 Right, 2 Down, 3 Left. Every step −1; stepping
 *   onto the cliff gives −100 and puts the walker back at the start without
 *   ending the episode; arriving at the goal terminates. No step limit.
 *
 * Both keep Gymnasium's table P[s][a] = [(prob, s', reward, terminated)] and
 * step by drawing one uniform number u and taking the first outcome whose
 * cumulative probability exceeds u (Gymnasium's categorical_sample). */
#include "rl/env_impl.h"

#include <math.h>
#include <string.h>

static const char *const map4[] = { "SFFF", "FHFH", "FFFH", "HFFG" };
static const char *const map8[] = { "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF",
                                    "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG" };
static const char *const lake_actions[] = { "Left", "Down", "Right", "Up" };
static const char *const cliff_actions[] = { "Up", "Right", "Down", "Left" };

static void add_outcome(sd_env *e, int s, int a, double prob, int next, double reward, int terminated)
{
    size_t i = (size_t)s * e->info.n_actions + a;
    e->P[i * ENV_MAX_OUTCOMES + e->nP[i]++] = (sd_transition){ prob, next, reward, terminated };
}

/* Shared by both: the observation is the state index. */
static void observe_state(const sd_env *e, float *obs) { obs[0] = (float)e->s; }

static void table_step(sd_env *e, int a, float *obs, sd_env_result *r)
{
    const sd_transition *t;
    int n = sd_env_transitions(e, e->s, a, &t);
    double u = sd_env_uniform(e), cum = 0.0;
    int k = n - 1;
    for (int i = 0; i < n; i++) {
        cum += t[i].prob;
        if (cum > u) { k = i; break; }
    }
    e->s = t[k].next;
    r->reward = (float)t[k].reward;
    r->terminated = t[k].terminated;
    observe_state(e, obs);
}

static void table_reset(sd_env *e, float *obs)
{
    (void)sd_env_uniform(e);   /* Gymnasium draws the start from its (one-point) distribution */
    e->s = e->start;
    observe_state(e, obs);
}

/* ---- FrozenLake */

/* Row and column after moving in direction d (0 Left, 1 Down, 2 Right, 3 Up), clamped to the grid. */
static void lake_move(const sd_env *e, int row, int col, int d, int *r2, int *c2)
{
    if (d == 0 && col > 0) col--;
    else if (d == 1 && row < e->rows - 1) row++;
    else if (d == 2 && col < e->cols - 1) col++;
    else if (d == 3 && row > 0) row--;
    *r2 = row;
    *c2 = col;
}

static int lake_init(sd_env *e, const sd_env_opts *o, const char *const *map, int n, int limit, double threshold)
{
    e->map = map;
    e->rows = e->cols = n;
    e->info.n_states = n * n;
    e->info.obs_dim = 1;
    e->info.n_actions = 4;
    e->info.max_steps = limit;
    e->info.reward_threshold = threshold;
    e->info.action_names = lake_actions;
    e->info.grid = map;
    e->info.grid_rows = e->info.grid_cols = n;
    int slippery = o->slippery >= 0;
    if (sd_env_alloc_table(e, n * n, 4)) return -1;
    for (int row = 0; row < n; row++)
        for (int col = 0; col < n; col++) {
            int s = row * n + col;
            char tile = map[row][col];
            if (tile == 'S') e->start = e->info.start_state = s;
            if (tile == 'G') e->info.goal_state = s;
            for (int a = 0; a < 4; a++) {
                if (tile == 'H' || tile == 'G') { add_outcome(e, s, a, 1.0, s, 0.0, 1); continue; }
                for (int k = slippery ? -1 : 0; k <= (slippery ? 1 : 0); k++) {
                    int r2, c2;
                    lake_move(e, row, col, (a + k + 4) % 4, &r2, &c2);
                    char t2 = map[r2][c2];
                    add_outcome(e, s, a, slippery ? 1.0 / 3.0 : 1.0, r2 * n + c2, t2 == 'G' ? 1.0 : 0.0,
                                t2 == 'G' || t2 == 'H');
                }
            }
        }
    return 0;
}

static int lake4_init(sd_env *e, const sd_env_opts *o) { return lake_init(e, o, map4, 4, 100, 0.70); }
static int lake8_init(sd_env *e, const sd_env_opts *o) { return lake_init(e, o, map8, 8, 200, 0.85); }

/* Like Gymnasium's "ansi" mode: the last action in brackets, then the map
 * with the agent's tile shown as '@' (Gymnasium colours it red). */
static int lake_render(const sd_env *e, char *buf, size_t size)
{
    size_t k = 0;
    if (e->last_action >= 0) sd_env_appendf(buf, size, &k, "  (%s)\n", lake_actions[e->last_action]);
    else sd_env_appendf(buf, size, &k, "\n");
    for (int row = 0; row < e->rows; row++) {
        for (int col = 0; col < e->cols; col++)
            sd_env_appendf(buf, size, &k, "%c", row * e->cols + col == e->s ? '@' : e->map[row][col]);
        sd_env_appendf(buf, size, &k, "\n");
    }
    return (int)k;
}

const env_class sd_env_frozenlake = {
    "frozenlake", "FrozenLake-v1", lake4_init, table_reset, table_step, observe_state, lake_render, 1
};
const env_class sd_env_frozenlake8 = {
    "frozenlake8", "FrozenLake8x8-v1", lake8_init, table_reset, table_step, observe_state, lake_render, 1
};

/* ---- CliffWalking */

enum { CLIFF_ROWS = 4, CLIFF_COLS = 12 };

static const char *const cliff_map[] = { "............", "............", "............", "SCCCCCCCCCCG" };

static int is_cliff(int row, int col) { return row == CLIFF_ROWS - 1 && col >= 1 && col <= CLIFF_COLS - 2; }

static int cliff_init(sd_env *e, const sd_env_opts *o)
{
    static const int dr[4] = { -1, 0, 1, 0 }, dc[4] = { 0, 1, 0, -1 };   /* Up, Right, Down, Left */
    if (o->slippery > 0) return sd_error("cliffwalking: CliffWalking-v0 is not slippery");
    e->rows = CLIFF_ROWS;
    e->cols = CLIFF_COLS;
    e->start = e->info.start_state = (CLIFF_ROWS - 1) * CLIFF_COLS;
    e->info.n_states = CLIFF_ROWS * CLIFF_COLS;
    e->info.obs_dim = 1;
    e->info.n_actions = 4;
    e->info.max_steps = 0;
    e->info.goal_state = CLIFF_ROWS * CLIFF_COLS - 1;
    e->info.reward_threshold = NAN;
    e->info.action_names = cliff_actions;
    e->info.grid = cliff_map;
    e->info.grid_rows = CLIFF_ROWS;
    e->info.grid_cols = CLIFF_COLS;
    if (sd_env_alloc_table(e, e->info.n_states, 4)) return -1;
    for (int s = 0; s < e->info.n_states; s++)
        for (int a = 0; a < 4; a++) {
            int row = s / CLIFF_COLS + dr[a], col = s % CLIFF_COLS + dc[a];
            row = row < 0 ? 0 : row > CLIFF_ROWS - 1 ? CLIFF_ROWS - 1 : row;
            col = col < 0 ? 0 : col > CLIFF_COLS - 1 ? CLIFF_COLS - 1 : col;
            int next = row * CLIFF_COLS + col;
            if (is_cliff(row, col)) add_outcome(e, s, a, 1.0, e->start, -100.0, 0);
            else add_outcome(e, s, a, 1.0, next, -1.0, next == e->info.goal_state);
        }
    return 0;
}

/* Gymnasium's "ansi" text: x the walker, C the cliff, T the target, o the rest. */
static int cliff_render(const sd_env *e, char *buf, size_t size)
{
    size_t k = 0;
    for (int row = 0; row < CLIFF_ROWS; row++) {
        for (int col = 0; col < CLIFF_COLS; col++) {
            int s = row * CLIFF_COLS + col;
            char c = s == e->s ? 'x' : s == e->info.goal_state ? 'T' : is_cliff(row, col) ? 'C' : 'o';
            sd_env_appendf(buf, size, &k, col == 0 ? "%c " : col == CLIFF_COLS - 1 ? " %c" : " %c ", c);
        }
        sd_env_appendf(buf, size, &k, "\n");
    }
    sd_env_appendf(buf, size, &k, "\n");
    return (int)k;
}

const env_class sd_env_cliffwalking = {
    "cliffwalking", "CliffWalking-v0", cliff_init, table_reset, table_step, observe_state, cliff_render, 1
};
