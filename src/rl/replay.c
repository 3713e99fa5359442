/* Replay memory: a ring of the last `capacity` transitions, sampled
 * uniformly with replacement. All memory is taken at creation. */
#include "shendu/rl.h"

#include <stdlib.h>
#include <string.h>

struct sd_replay {
    int capacity, dim, size, pos;
    float *obs, *next_obs, *reward, *done;   /* capacity × dim, capacity × dim, capacity, capacity */
    int32_t *action;
};

sd_replay *sd_replay_new(int capacity, int obs_dim)
{
    if (capacity < 1 || obs_dim < 1) {
        sd_error("replay memory: bad sizes (capacity %d, observation size %d)", capacity, obs_dim);
        return NULL;
    }
    sd_replay *b = calloc(1, sizeof *b);
    if (!b) { sd_error("out of memory allocating the replay memory"); return NULL; }
    size_t n = (size_t)capacity;
    b->capacity = capacity;
    b->dim = obs_dim;
    b->obs = malloc(n * obs_dim * sizeof(float));
    b->next_obs = malloc(n * obs_dim * sizeof(float));
    b->reward = malloc(n * sizeof(float));
    b->done = malloc(n * sizeof(float));
    b->action = malloc(n * sizeof(int32_t));
    if (!b->obs || !b->next_obs || !b->reward || !b->done || !b->action) {
        sd_replay_free(b);
        sd_error("out of memory: a replay memory of %d transitions", capacity);
        return NULL;
    }
    return b;
}

void sd_replay_free(sd_replay *b)
{
    if (!b) return;
    free(b->obs);
    free(b->next_obs);
    free(b->reward);
    free(b->done);
    free(b->action);
    free(b);
}

void sd_replay_add(sd_replay *b, const float *obs, int action, float reward, const float *next_obs, int terminated)
{
    size_t i = (size_t)b->pos, d = (size_t)b->dim;
    memcpy(b->obs + i * d, obs, d * sizeof(float));
    memcpy(b->next_obs + i * d, next_obs, d * sizeof(float));
    b->action[i] = action;
    b->reward[i] = reward;
    b->done[i] = terminated ? 1.0f : 0.0f;
    b->pos = (b->pos + 1) % b->capacity;
    if (b->size < b->capacity) b->size++;
}

int sd_replay_size(const sd_replay *b) { return b->size; }

int sd_replay_sample(const sd_replay *b, sd_rng *rng, int n, sd_replay_batch *out)
{
    if (b->size == 0) return sd_error("replay memory: nothing to sample yet");
    size_t d = (size_t)b->dim;
    for (int k = 0; k < n; k++) {
        size_t i = sd_rng_below(rng, (uint32_t)b->size);
        memcpy(out->obs + k * d, b->obs + i * d, d * sizeof(float));
        memcpy(out->next_obs + k * d, b->next_obs + i * d, d * sizeof(float));
        out->action[k] = b->action[i];
        out->reward[k] = b->reward[i];
        out->done[k] = b->done[i];
    }
    out->n = n;
    return 0;
}

void sd_replay_get_view(sd_replay *b, sd_replay_view *out)
{
    *out = (sd_replay_view){ b->capacity, b->dim, b->size, b->pos, b->obs, b->next_obs, b->action, b->reward,
                             b->done };
}

int sd_replay_set_position(sd_replay *b, int size, int pos)
{
    if (size < 0 || size > b->capacity || (size < b->capacity ? pos != size % b->capacity : pos < 0 || pos >= b->capacity))
        return sd_error("replay memory: %d transitions with the next at %d do not fit a memory of %d", size, pos,
                        b->capacity);
    for (int i = 0; i < size; i++)
        if (b->done[i] != 0.0f && b->done[i] != 1.0f)
            return sd_error("replay memory: transition %d has done = %g (must be 0 or 1)", i, b->done[i]);
    b->size = size;
    b->pos = pos;
    return 0;
}
