#!/usr/bin/python3
"""Golden values for tests/test_rnn.c, computed by PyTorch (Debian's python3-torch).

Run from the repository root with Debian's interpreter, which has torch:
    /usr/bin/python3 tests/golden/make_rnn_golden.py > tests/golden/rnn_golden.txt

Four cases, all float32, weights and inputs drawn from torch.manual_seed(5):
  lstm_step, rnn_step: one step of torch.nn.LSTMCell / RNNCell (tanh) for a batch of 2,
      3 inputs, 4 hidden units, from a non-zero state (h0, c0). Loss
      L = sum(h1 * rh) + sum(c1 * rc)  (LSTM),  L = sum(h1 * rh)  (RNN);
      gradients of L with respect to x, h0, c0 and every weight and bias.
  lstm_seq (2 stacked layers), rnn_seq (1 layer): torch.nn.LSTM / RNN over T = 5 steps,
      batch 3 with lengths 5, 2, 4 (pack_padded_sequence), initial state h0 (and c0).
      Loss L = sum over valid steps of y_t * r_t + sum(h_n[top] * rn);
      gradients with respect to x and every weight and bias.
Output format: a line "name d0 d1 ..." (the shape), then the values on one line;
lines starting with '#' are comments.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(5)
out = []


def put(name, t):
    t = t.detach().to(torch.float32).contiguous()
    out.append(name + " " + " ".join(str(d) for d in t.shape))
    out.append(" ".join("%.9g" % v for v in t.reshape(-1).tolist()))


def step_case(name, lstm):
    B, I, H = 2, 3, 4
    cell = nn.LSTMCell(I, H) if lstm else nn.RNNCell(I, H, nonlinearity="tanh")
    x = torch.randn(B, I, requires_grad=True)
    h0 = (0.5 * torch.randn(B, H)).requires_grad_()
    c0 = (0.5 * torch.randn(B, H)).requires_grad_()
    rh, rc = torch.randn(B, H), torch.randn(B, H)
    if lstm:
        h1, c1 = cell(x, (h0, c0))
        loss = (h1 * rh).sum() + (c1 * rc).sum()
    else:
        h1 = cell(x, h0)
        loss = (h1 * rh).sum()
    loss.backward()
    out.append("# " + name)
    for n, t in [("x", x), ("h0", h0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
                 ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh), ("rh", rh)]:
        put(name + "." + n, t)
    put(name + ".h1", h1)
    put(name + ".loss", loss.reshape(1))
    grads = [("x", x), ("h0", h0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
             ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh)]
    if lstm:
        put(name + ".c0", c0)
        put(name + ".rc", rc)
        put(name + ".c1", c1)
        grads.append(("c0", c0))
    for n, t in grads:
        put(name + ".d_" + n, t.grad)


def seq_case(name, lstm, layers):
    T, B, I, H = 5, 3, 3, 4
    lengths = torch.tensor([5, 2, 4])
    net = nn.LSTM(I, H, num_layers=layers) if lstm else nn.RNN(I, H, num_layers=layers)
    x = torch.randn(T, B, I, requires_grad=True)
    h0 = 0.5 * torch.randn(layers, B, H)
    c0 = 0.5 * torch.randn(layers, B, H)
    r = torch.randn(T, B, H)
    rn = torch.randn(B, H)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    y, st = net(packed, (h0, c0) if lstm else h0)
    y, _ = pad_packed_sequence(y, total_length=T)
    hn = st[0] if lstm else st
    mask = (torch.arange(T)[:, None] < lengths[None, :]).float()[:, :, None]
    loss = (y * r * mask).sum() + (hn[-1] * rn).sum()
    loss.backward()
    out.append("# " + name)
    put(name + ".lengths", lengths.float())
    put(name + ".x", x.reshape(T * B, I))
    put(name + ".h0", h0)
    if lstm:
        put(name + ".c0", c0)
        put(name + ".cn", st[1])
    put(name + ".r", (r * mask).reshape(T * B, H))
    put(name + ".rn", rn)
    put(name + ".y", (y * mask).reshape(T * B, H))
    put(name + ".hn", hn)
    put(name + ".loss", loss.reshape(1))
    put(name + ".d_x", x.grad.reshape(T * B, I))
    for pname, p in net.named_parameters():
        put(name + "." + pname, p)
        put(name + ".d_" + pname, p.grad)


step_case("lstm_step", True)
step_case("rnn_step", False)
seq_case("lstm_seq", True, 2)
seq_case("rnn_seq", False, 1)
print("# made by tests/golden/make_rnn_golden.py with torch", torch.__version__)
print("\n".join(out))
