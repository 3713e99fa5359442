/* Gymnasium's classic-control environments with discrete actions, equation
 * for equation, in double precision (observations are float32, as there).
 *
 * CartPole-v1: a pole hinged on a cart that is pushed left (action 0) or right
 *   (action 1) with 10 N. g 9.8, cart 1.0 kg, pole 0.1 kg, half-length 0.5 m,
 *   tau 0.02 s, explicit Euler. Reward +1 every step (the last one too); ends
 *   when |x| > 2.4 or |θ| > 12°; truncated at 500 steps; threshold 475.
 *   Reset: x, ẋ, θ, θ̇ each uniform in [−0.05, 0.05].
 * Acrobot-v1: two links (1 m, 1 kg, centre of mass 0.5 m, moment of inertia
 *   1) hanging from a pivot; torque −1, 0, +1 (actions 0, 1, 2) on the joint
 *   between them; Sutton & Barto's "book" dynamics, one RK4 step of 0.2 s,
 *   angles wrapped to [−π, π], velocities clipped to ±4π and ±9π. Reward −1
 *   per step, 0 on the step that reaches the goal: the tip above the height of
 *   one link over the pivot, −cos θ1 − cos(θ1 + θ2) > 1. Truncated at 500
 *   steps; threshold −100. Reset: the four state variables uniform in
 *   [−0.1, 0.1] (drawn as float32). Observation (cos θ1, sin θ1, cos θ2,
 *   sin θ2, θ̇1, θ̇2). */
#include "rl/env_impl.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

/* ---- CartPole */

#define CP_GRAVITY 9.8
#define CP_MASSCART 1.0
#define CP_MASSPOLE 0.1
#define CP_TOTAL_MASS (CP_MASSCART + CP_MASSPOLE)
#define CP_LENGTH 0.5                           /* half the pole's length */
#define CP_POLEMASS_LENGTH (CP_MASSPOLE * CP_LENGTH)
#define CP_FORCE 10.0
#define CP_TAU 0.02
#define CP_THETA_LIMIT (12 * 2 * PI / 360)
#define CP_X_LIMIT 2.4

static const char *const cartpole_actions[] = { "Left", "Right" };

static int cartpole_init(sd_env *e, const sd_env_opts *o)
{
    if (o->slippery > 0) return sd_error("cartpole: only FrozenLake can be slippery");
    e->info.obs_dim = 4;
    e->info.n_actions = 2;
    e->info.max_steps = 500;
    e->info.reward_threshold = 475.0;
    e->info.action_names = cartpole_actions;
    return 0;
}

static void cartpole_observe(const sd_env *e, float *obs)
{
    for (int i = 0; i < 4; i++) obs[i] = (float)e->x[i];
}

static void cartpole_reset(sd_env *e, float *obs)
{
    for (int i = 0; i < 4; i++) e->x[i] = -0.05 + 0.1 * sd_env_uniform(e);
    cartpole_observe(e, obs);
}

static void cartpole_step(sd_env *e, int action, float *obs, sd_env_result *r)
{
    double x = e->x[0], x_dot = e->x[1], theta = e->x[2], theta_dot = e->x[3];
    double force = action == 1 ? CP_FORCE : -CP_FORCE;
    double costheta = cos(theta), sintheta = sin(theta);
    double temp = (force + CP_POLEMASS_LENGTH * theta_dot * theta_dot * sintheta) / CP_TOTAL_MASS;
    double thetaacc = (CP_GRAVITY * sintheta - costheta * temp) /
                      (CP_LENGTH * (4.0 / 3.0 - CP_MASSPOLE * costheta * costheta / CP_TOTAL_MASS));
    double xacc = temp - CP_POLEMASS_LENGTH * thetaacc * costheta / CP_TOTAL_MASS;
    x += CP_TAU * x_dot;                       /* explicit Euler: positions use the old velocities */
    x_dot += CP_TAU * xacc;
    theta += CP_TAU * theta_dot;
    theta_dot += CP_TAU * thetaacc;
    e->x[0] = x; e->x[1] = x_dot; e->x[2] = theta; e->x[3] = theta_dot;
    r->terminated = x < -CP_X_LIMIT || x > CP_X_LIMIT || theta < -CP_THETA_LIMIT || theta > CP_THETA_LIMIT;
    r->reward = 1.0f;
    cartpole_observe(e, obs);
}

/* A 61-column picture of the track (x from −2.4 to 2.4), the cart and the
 * pole (1 m long; rows are twice as tall as columns are wide). */
#define CP_W 61
#define CP_H 9
static int cartpole_render(const sd_env *e, char *buf, size_t size)
{
    char pic[CP_H][CP_W + 1];
    double unit = (CP_W - 1) / (2 * CP_X_LIMIT);          /* columns per metre */
    for (int r = 0; r < CP_H; r++) { memset(pic[r], ' ', CP_W); pic[r][CP_W] = 0; }
    memset(pic[CP_H - 1], '=', CP_W);                    /* the track */
    double x = e->x[0], th = e->x[2];
    int cx = (int)lround((x + CP_X_LIMIT) * unit);
    for (int c = cx - 2; c <= cx + 2; c++)
        if (c >= 0 && c < CP_W) pic[CP_H - 2][c] = c == cx - 2 ? '[' : c == cx + 2 ? ']' : '#';
    char stroke = fabs(th) < 0.08 ? '|' : th > 0 ? '/' : '\\';
    for (int i = 1; i <= 40; i++) {                       /* the pole, from the cart's top */
        double l = 2 * CP_LENGTH * i / 40.0;
        int c = (int)lround((x + l * sin(th) + CP_X_LIMIT) * unit);
        int r = CP_H - 3 - (int)lround(l * cos(th) * unit / 2);
        if (r >= 0 && r < CP_H - 2 && c >= 0 && c < CP_W) pic[r][c] = i == 40 ? 'o' : stroke;
    }
    size_t k = 0;
    for (int r = 0; r < CP_H; r++) sd_env_appendf(buf, size, &k, "%s\n", pic[r]);
    sd_env_appendf(buf, size, &k, "x %+.3f  v %+.3f  angle %+.2f deg  w %+.3f  step %d%s\n", x, e->x[1],
                   th * 180 / PI, e->x[3], e->elapsed,
                   e->last_action < 0 ? "" : e->last_action ? "  push right" : "  push left");
    return (int)k;
}

const env_class sd_env_cartpole = {
    "cartpole", "CartPole-v1", cartpole_init, cartpole_reset, cartpole_step, cartpole_observe, cartpole_render, 4
};

/* ---- Acrobot */

#define AB_DT 0.2
#define AB_L1 1.0
#define AB_M1 1.0
#define AB_M2 1.0
#define AB_LC1 0.5
#define AB_LC2 0.5
#define AB_I1 1.0
#define AB_I2 1.0
#define AB_G 9.8
#define AB_MAX_VEL1 (4 * PI)
#define AB_MAX_VEL2 (9 * PI)

static const char *const acrobot_actions[] = { "-1", "0", "+1" };

static int acrobot_init(sd_env *e, const sd_env_opts *o)
{
    if (o->slippery > 0) return sd_error("acrobot: only FrozenLake can be slippery");
    e->info.obs_dim = 6;
    e->info.n_actions = 3;
    e->info.max_steps = 500;
    e->info.reward_threshold = -100.0;
    e->info.action_names = acrobot_actions;
    return 0;
}

static void acrobot_observe(const sd_env *e, float *obs)
{
    obs[0] = (float)cos(e->x[0]);
    obs[1] = (float)sin(e->x[0]);
    obs[2] = (float)cos(e->x[1]);
    obs[3] = (float)sin(e->x[1]);
    obs[4] = (float)e->x[2];
    obs[5] = (float)e->x[3];
}

static void acrobot_reset(sd_env *e, float *obs)
{
    for (int i = 0; i < 4; i++) e->x[i] = (float)(-0.1 + 0.2 * sd_env_uniform(e));
    acrobot_observe(e, obs);
}

/* ds/dt for s = (θ1, θ2, θ̇1, θ̇2) under torque a ("book" equations). */
static void acrobot_dsdt(const double *s, double a, double *ds)
{
    double theta1 = s[0], theta2 = s[1], dtheta1 = s[2], dtheta2 = s[3];
    double d1 = AB_M1 * AB_LC1 * AB_LC1 + AB_M2 * (AB_L1 * AB_L1 + AB_LC2 * AB_LC2 + 2 * AB_L1 * AB_LC2 * cos(theta2)) +
                AB_I1 + AB_I2;
    double d2 = AB_M2 * (AB_LC2 * AB_LC2 + AB_L1 * AB_LC2 * cos(theta2)) + AB_I2;
    double phi2 = AB_M2 * AB_LC2 * AB_G * cos(theta1 + theta2 - PI / 2.0);
    double phi1 = -AB_M2 * AB_L1 * AB_LC2 * dtheta2 * dtheta2 * sin(theta2) -
                  2 * AB_M2 * AB_L1 * AB_LC2 * dtheta2 * dtheta1 * sin(theta2) +
                  (AB_M1 * AB_LC1 + AB_M2 * AB_L1) * AB_G * cos(theta1 - PI / 2) + phi2;
    double ddtheta2 = (a + d2 / d1 * phi1 - AB_M2 * AB_L1 * AB_LC2 * dtheta1 * dtheta1 * sin(theta2) - phi2) /
                      (AB_M2 * AB_LC2 * AB_LC2 + AB_I2 - d2 * d2 / d1);
    double ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    ds[0] = dtheta1;
    ds[1] = dtheta2;
    ds[2] = ddtheta1;
    ds[3] = ddtheta2;
}

static double wrap(double x, double m, double M)
{
    double diff = M - m;
    while (x > M) x -= diff;
    while (x < m) x += diff;
    return x;
}

static double clip(double x, double m, double M) { return x < m ? m : x > M ? M : x; }

static void acrobot_step(sd_env *e, int action, float *obs, sd_env_result *r)
{
    static const double torque[3] = { -1.0, 0.0, 1.0 };
    const double a = torque[action], h = AB_DT, h2 = AB_DT / 2.0;
    double *y = e->x, k1[4], k2[4], k3[4], k4[4], t[4];
    acrobot_dsdt(y, a, k1);
    for (int i = 0; i < 4; i++) t[i] = y[i] + h2 * k1[i];
    acrobot_dsdt(t, a, k2);
    for (int i = 0; i < 4; i++) t[i] = y[i] + h2 * k2[i];
    acrobot_dsdt(t, a, k3);
    for (int i = 0; i < 4; i++) t[i] = y[i] + h * k3[i];
    acrobot_dsdt(t, a, k4);
    for (int i = 0; i < 4; i++) y[i] = y[i] + h / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    y[0] = wrap(y[0], -PI, PI);
    y[1] = wrap(y[1], -PI, PI);
    y[2] = clip(y[2], -AB_MAX_VEL1, AB_MAX_VEL1);
    y[3] = clip(y[3], -AB_MAX_VEL2, AB_MAX_VEL2);
    r->terminated = -cos(y[0]) - cos(y[1] + y[0]) > 1.0;
    r->reward = r->terminated ? 0.0f : -1.0f;
    acrobot_observe(e, obs);
}

/* The pivot in the middle of a 45×23 picture (±2.2 m), link 1 drawn with '#',
 * link 2 with '*', joints 'o', and the goal height as a dashed line. */
#define AB_W 45
#define AB_H 23
static int acrobot_render(const sd_env *e, char *buf, size_t size)
{
    char pic[AB_H][AB_W + 1];
    const double half = 2.2, cx = (AB_W - 1) / 2.0, cy = (AB_H - 1) / 2.0;
    const double sx = cx / half, sy = cy / half;
    for (int r = 0; r < AB_H; r++) { memset(pic[r], ' ', AB_W); pic[r][AB_W] = 0; }
    int goal = (int)lround(cy - 1.0 * sy);
    for (int c = 0; c < AB_W; c += 2) pic[goal][c] = '-';
    double th1 = e->x[0], th2 = e->x[1];
    double p[3][2] = { { 0, 0 }, { AB_L1 * sin(th1), -AB_L1 * cos(th1) }, { 0, 0 } };
    p[2][0] = p[1][0] + sin(th1 + th2);
    p[2][1] = p[1][1] - cos(th1 + th2);
    for (int link = 0; link < 2; link++)
        for (int i = 0; i <= 30; i++) {
            double f = i / 30.0;
            double px = p[link][0] + f * (p[link + 1][0] - p[link][0]);
            double py = p[link][1] + f * (p[link + 1][1] - p[link][1]);
            int c = (int)lround(cx + px * sx), r = (int)lround(cy - py * sy);
            if (r >= 0 && r < AB_H && c >= 0 && c < AB_W) pic[r][c] = link ? '*' : '#';
        }
    for (int j = 0; j < 3; j++) {
        int c = (int)lround(cx + p[j][0] * sx), r = (int)lround(cy - p[j][1] * sy);
        if (r >= 0 && r < AB_H && c >= 0 && c < AB_W) pic[r][c] = j == 0 ? 'O' : 'o';
    }
    size_t k = 0;
    for (int r = 0; r < AB_H; r++) sd_env_appendf(buf, size, &k, "%s\n", pic[r]);
    sd_env_appendf(buf, size, &k, "theta1 %+.1f deg  theta2 %+.1f deg  tip height %+.2f  step %d%s%s\n",
                   th1 * 180 / PI, th2 * 180 / PI, -cos(th1) - cos(th1 + th2), e->elapsed,
                   e->last_action < 0 ? "" : "  torque ", e->last_action < 0 ? "" : acrobot_actions[e->last_action]);
    return (int)k;
}

const env_class sd_env_acrobot = {
    "acrobot", "Acrobot-v1", acrobot_init, acrobot_reset, acrobot_step, acrobot_observe, acrobot_render, 4
};
