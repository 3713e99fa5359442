# Metric logs, curves and the report (issue 17): every trainer's --log schema,
# a resumed run that appends without duplicate steps, CSV, curves.svg beside
# --out (--no-plot), plain progress lines when stderr is a file, and
# `shendu report` opened in headless Chromium: every image loaded, no console
# messages, a screenshot.
. "$(dirname "$0")/lib_cli.sh"
png_size() { python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(24); assert d[:8] == b"\x89PNG\r\n\x1a\n"; print("%d x %d" % struct.unpack(">II", d[16:24]))' "$1"; }

# check_log FILE KEYS...: every record has kind/step/epoch/time and these keys,
# steps only grow per kind, no (kind, step) twice; prints "steps epochs".
check_log() {
    python3 - "$@" <<'EOF'
import json, math, sys
path, keys = sys.argv[1], sys.argv[2:]
seen, last, n = set(), {}, {"step": 0, "epoch": 0, "final": 0}
lines = open(path).read().splitlines()
first = json.loads(lines[0])
assert first["kind"] == "config" and "cmd" in first, first
for line in lines[1:]:
    r = json.loads(line)
    assert r["kind"] in n, r
    for k in ["step", "epoch", "time"] + keys:
        assert k in r, (k, r)
    assert set(r) == set(["kind", "step", "epoch", "time"] + keys), sorted(r)
    key = (r["kind"], r["step"])
    assert key not in seen or r["kind"] == "epoch", ("duplicate", key)
    seen.add(key)
    assert r["step"] >= last.get(r["kind"], 0), ("step went back", r)
    last[r["kind"]] = r["step"]
    n[r["kind"]] += 1
print(n["step"], n["epoch"])
EOF
}

mkdir -p "$TMP/cls" "$TMP/lm" "$TMP/rl" "$TMP/rl2" "$TMP/iris" "$TMP/ql"
# ---- classifier: 2 epochs of 10 steps, a record every 2 steps
run=(--model mlp --epochs 2 --batch 64 --limit 640 --limit-test 200 --threads 1 --seed 3)
out=$("$BIN" train "${run[@]}" --log "$TMP/full.jsonl" --log-every 2 --out "$TMP/cls/m.safetensors" 2>"$TMP/err") ||
    bad "train --log failed: $out $(cat "$TMP/err")"
got=$(check_log "$TMP/full.jsonl" loss lr train_loss test_loss test_accuracy val_loss val_accuracy best_epoch img_per_s) && [ "$got" = "10 2" ] && ok ||
    bad "classifier log: $got"
grep -q "curves: $TMP/cls/curves.svg" <<<"$out" && [ -s "$TMP/cls/curves.svg" ] && ok || bad "no curves.svg: $out"
python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/cls/curves.svg" && ok || bad "curves.svg is not XML"
# stopped after step 7 and resumed: the same steps as the uninterrupted run, none twice,
# and from step 10 on (a whole window after the resume) the same losses
"$BIN" train "${run[@]}" --log "$TMP/res.jsonl" --log-every 2 --checkpoint "$TMP/ck.safetensors" --stop-after 7 \
    >/dev/null 2>&1 || bad "stopped run failed"
"$BIN" train --resume "$TMP/ck.safetensors" --log "$TMP/res.jsonl" --log-every 2 --no-plot >/dev/null 2>&1 || bad "resume failed"
got=$(check_log "$TMP/res.jsonl" loss lr train_loss test_loss test_accuracy val_loss val_accuracy best_epoch img_per_s) && [ "$got" = "10 2" ] && ok ||
    bad "resumed log: $got"
python3 - "$TMP/full.jsonl" "$TMP/res.jsonl" <<'EOF' && ok || bad "the resumed run's log differs"
import json, sys
a, b = ([json.loads(l) for l in open(p)][1:] for p in sys.argv[1:])
assert [(r["kind"], r["step"]) for r in a] == [(r["kind"], r["step"]) for r in b]
for x, y in zip(a, b):
    if x["step"] >= 10:
        for k in ("loss", "lr", "train_loss", "test_accuracy"):
            assert x[k] == y[k], (x, y)
EOF
[ ! -e "$TMP/curves.svg" ] && ok || bad "--no-plot wrote curves.svg"
# CSV; a plain progress line when stderr is a file
"$BIN" train "${run[@]}" --epochs 1 --log "$TMP/c.csv" --progress-every 0.001 --no-plot >/dev/null 2>"$TMP/err" ||
    bad "train --log c.csv failed"
[ "$(head -n 1 "$TMP/c.csv")" = "kind,step,epoch,time,loss,lr,train_loss,test_loss,test_accuracy,val_loss,val_accuracy,best_epoch,img_per_s" ] && ok ||
    bad "CSV header: $(head -n 1 "$TMP/c.csv")"
[ "$(grep -c '^step,' "$TMP/c.csv")" = 1 ] && [ "$(grep -c '^epoch,10,1,' "$TMP/c.csv")" = 1 ] && ok ||
    bad "CSV rows: $(cat "$TMP/c.csv")"
grep -qE "^progress: step [0-9]+/10 \(epoch 1/1\)  loss [0-9.]+  [0-9]+ img/s  ETA" "$TMP/err" && ok ||
    bad "no progress line: $(cat "$TMP/err")"
expect 1 "nodir/x.jsonl" "$BIN" train "${run[@]}" --epochs 1 --log "$TMP/nodir/x.jsonl"
# --val and --early-stop: each epoch record has the validation loss and accuracy and the
# epoch whose weights are kept; the early stop ends the epoch records there, and the last
# record ("final") has the kept weights' test measures (as their epoch measured them) and
# names their epoch
out=$("$BIN" train --model mlp --epochs 15 --batch 16 --limit 128 --limit-test 200 --threads 1 --seed 3 --val 0.25 \
    --early-stop 1 --log "$TMP/val.jsonl" --no-plot 2>&1) ||
    bad "train --val --early-stop --log failed: $out"
python3 - "$TMP/val.jsonl" "$(grep -c '^early stop' <<<"$out")" "$(grep '^kept the weights' <<<"$out")" <<'EOF' && ok || bad "validation in the log: $(cat "$TMP/val.jsonl")"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ep = [r for r in recs if r["kind"] == "epoch"]
assert [r["epoch"] for r in ep] == list(range(1, len(ep) + 1)), ep
for r in ep:
    assert 0 < r["val_loss"] < 10 and 0 <= r["val_accuracy"] <= 1, r
    assert 1 <= r["best_epoch"] <= r["epoch"], r
assert len(ep) < 15 and sys.argv[2] == "1", (len(ep), sys.argv[2])   # this run stops early (epoch 10)
assert ep[-1]["best_epoch"] == ep[-1]["epoch"] - 1, ep[-1]
fin, kept = recs[-1], ep[ep[-1]["best_epoch"] - 1]
assert fin["kind"] == "final" and [r["kind"] for r in recs].count("final") == 1, fin
assert fin["best_epoch"] == kept["epoch"] and fin["step"] == ep[-1]["step"] and fin["epoch"] == ep[-1]["epoch"], fin
for k in ("test_loss", "test_accuracy", "val_loss"):
    assert fin[k] == kept[k], (k, fin, kept)
m = re.match(r"kept the weights of epoch (\d+) .*test accuracy ([0-9.]+)%", sys.argv[3])
assert m and int(m.group(1)) == fin["best_epoch"] and abs(float(m.group(2)) - 100 * fin["test_accuracy"]) < 0.006, sys.argv[3]
EOF
expect 0 "wrote" "$BIN" report "$TMP/val.jsonl" --out "$TMP/val.html" --no-extras
python3 - "$TMP/val.html" "$TMP/val.jsonl" <<'EOF' && ok || bad "the report's final measures are not the kept model's"
import json, re, sys
fin = [json.loads(l) for l in open(sys.argv[2])][-1]
h = open(sys.argv[1]).read()
got = re.search(r"<tr><td>test_accuracy</td><td>([0-9.e-]+)</td></tr>", h)
assert got and float(got.group(1)) == float("%.6g" % fin["test_accuracy"]), got and got.group(0)
assert re.search(r"<tr><td>best_epoch</td><td>%d</td></tr>" % fin["best_epoch"], h)
EOF

# ---- GAN, diffusion, language model, DQN
"$BIN" gan --limit 256 --epochs 2 --threads 2 --seed 3 --out "$TMP/gan" --log "$TMP/gan.jsonl" --log-every 1 \
    >/dev/null 2>&1 || bad "gan --log failed"
got=$(check_log "$TMP/gan.jsonl" d_loss g_loss d_real d_fake score img_per_s) && [ "$got" = "8 2" ] && ok ||
    bad "gan log: $got"
[ -s "$TMP/gan/curves.svg" ] && ok || bad "gan: no curves.svg in --out"
"$BIN" diffusion --limit 96 --batch 32 --channels 8 --groups 4 --steps 50 --sample-steps 5 --threads 2 --seed 3 \
    --epochs 2 --out "$TMP/diff" --log "$TMP/diff.jsonl" --log-every 1 >/dev/null 2>&1 || bad "diffusion --log failed"
got=$(check_log "$TMP/diff.jsonl" loss lr train_loss score img_per_s) && [ "$got" = "6 2" ] && ok ||
    bad "diffusion log: $got"
[ -s "$TMP/diff/curves.svg" ] && ok || bad "diffusion: no curves.svg in --out"
head -c 20000 /usr/share/games/fortunes/fortunes > "$TMP/t.txt" 2>/dev/null || bad "no fortunes text"
"$BIN" lm train --text "$TMP/t.txt" --hidden 32 --emb 8 --seq 16 --batch 8 --steps 20 --log-every 5 --eval-every 10 \
    --sample-len 0 --threads 2 --out "$TMP/lm/m.safetensors" --log "$TMP/lm.jsonl" >/dev/null 2>&1 || bad "lm train --log failed"
got=$(check_log "$TMP/lm.jsonl" loss bpc val_bpc tok_per_s) && [ "$got" = "4 2" ] && ok || bad "lm log: $got"
"$BIN" lm train --text "$TMP/t.txt" --cell transformer --layers 1 --dim 16 --heads 2 --seq 16 --batch 8 --steps 20 \
    --log-every 5 --eval-every 10 --sample-len 0 --threads 2 --out "$TMP/lm/tf.safetensors" --log "$TMP/tf.jsonl" \
    --no-plot >/dev/null 2>&1 || bad "lm train --cell transformer --log failed"
got=$(check_log "$TMP/tf.jsonl" loss bpc val_bpc tok_per_s) && [ "$got" = "4 2" ] && ok || bad "transformer log: $got"
"$BIN" rl dqn --env cartpole --steps 1500 --seed 3 --eval 1 --out "$TMP/rl/agent.safetensors" --log "$TMP/rl.csv" \
    --log-every 500 >/dev/null 2>&1 || bad "rl dqn --log failed"
[ "$(head -n 1 "$TMP/rl.csv")" = "kind,step,epoch,time,return,avg_return,epsilon,eval_return,step_per_s" ] && ok ||
    bad "dqn CSV header: $(head -n 1 "$TMP/rl.csv")"
[ "$(grep -c '^step,' "$TMP/rl.csv")" = 3 ] && [ "$(grep -c '^epoch,' "$TMP/rl.csv")" -gt 10 ] && ok ||
    bad "dqn records: $(wc -l < "$TMP/rl.csv")"

# tabular Q-learning on the same loop: a record per 100 episodes, the greedy policy's evaluation
# at the end (by default a record per 2000/200 episodes), curves.svg beside --out; what it prints is the same with and without --log
ql=(rl qlearn --episodes 2000 --eval 200 --seed 3)
"$BIN" "${ql[@]}" --out "$TMP/ql/q.st" --log "$TMP/ql.jsonl" --log-every 100 >"$TMP/ql.out" 2>&1 ||
    bad "rl qlearn --log failed: $(cat "$TMP/ql.out")"
got=$(check_log "$TMP/ql.jsonl" return epsilon lr eval_return eval_success env_step_per_s) && [ "$got" = "20 1" ] && ok ||
    bad "qlearn log: $got"
[ -s "$TMP/ql/curves.svg" ] && grep -q "curves: $TMP/ql/curves.svg" "$TMP/ql.out" && ok || bad "qlearn: no curves.svg"
python3 - "$TMP/ql.jsonl" "$TMP/ql.out" <<'EOF' && ok || bad "qlearn's records: $(tail -3 "$TMP/ql.jsonl")"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
cfg, steps, end = recs[0], [r for r in recs if r["kind"] == "step"], recs[-1]
assert cfg["cmd"] == "rl qlearn" and cfg["episodes"] == "2000" and cfg["alpha"] == "0.1" and cfg["gamma"] == "0.99", cfg
assert [r["step"] for r in steps] == list(range(100, 2001, 100)), "a record per 100 episodes"
assert all(0 <= r["return"] <= 1 and 0 < r["epsilon"] <= 1 and 0 < r["lr"] <= 0.1 for r in steps), steps
assert steps[0]["epsilon"] > 0.9 and abs(steps[-1]["epsilon"] - 0.01) < 1e-6, "epsilon decays to 0.01 at half-way"
assert end["kind"] == "epoch" and end["step"] == 2000, end
out = open(sys.argv[2]).read()
rate = float(re.search(r"success rate ([0-9.]+)", out).group(1))
assert abs(end["eval_success"] - rate) < 1e-4 and end["eval_return"] == end["eval_success"], (end, rate)
EOF
"$BIN" "${ql[@]}" --log "$TMP/ql.csv" --no-plot >"$TMP/ql2.out" 2>&1 || bad "rl qlearn --log csv failed"
[ "$(head -n 1 "$TMP/ql.csv")" = "kind,step,epoch,time,return,epsilon,lr,eval_return,eval_success,env_step_per_s" ] &&
    [ "$(grep -c '^step,' "$TMP/ql.csv")" = 200 ] && ok || bad "qlearn CSV: $(head -n 2 "$TMP/ql.csv")"
"$BIN" "${ql[@]}" >"$TMP/ql3.out" 2>&1 || bad "rl qlearn failed"
diff <(grep -v "env steps in\|^curves: \|^Q-table written" "$TMP/ql.out") <(grep -v "env steps in" "$TMP/ql3.out") >/dev/null &&
    diff <(grep -v "env steps in" "$TMP/ql2.out") <(grep -v "env steps in" "$TMP/ql3.out") >/dev/null && ok ||
    bad "qlearn prints other figures with --log"

# ---- the report: every kind of run, then the page in headless Chromium
"$BIN" rl dqn --env cartpole --steps 600 --seed 3 --eval 1 --out "$TMP/rl2/agent.safetensors" --log "$TMP/rl.jsonl" \
    --no-plot >/dev/null 2>&1 || bad "rl dqn --log json failed"
expect 0 "wrote .*report.html" "$BIN" report "$TMP/full.jsonl" "$TMP/res.jsonl" "$TMP/gan.jsonl" "$TMP/diff.jsonl" \
    "$TMP/lm.jsonl" "$TMP/rl.jsonl" "$TMP/ql.jsonl" --out "$TMP/report.html" --threads 2 --sample-len 60
python3 - "$TMP/report.html" <<'EOF' && ok || bad "the report's contents"
import sys, re
h = open(sys.argv[1]).read()
assert "<script" not in h and "http://" not in h.replace("http://www.w3.org/2000/svg", ""), "network or script"
assert h.count('class="series"') >= 12, h.count('class="series"')
assert 'class="confusion"' in h and "Accuracy per class" in h and "most confidently wrong" in h
assert h.count("samples after epoch") == 4, "GAN and diffusion grids"
assert h.count("temperature") >= 3 and "Return per episode" in h
assert h.count('class="qmap"') == 1 and h.count('class="cell"') == 16 and h.count('class="arrow"') == 11, "the FrozenLake map"
assert h.count('data-tile="H"') == 4 and h.count('data-tile="G"') == 1 and h.count(">hole</text>") == 4
assert len(re.findall(r'src="data:image/png;base64,', h)) == 2 + 2 + 12
EOF
# the browser: a copy of the page with a checker that lists images that did not load
sed 's|</body></html>|<script>addEventListener("load",()=>{const b=[...document.images].filter(i=>!(i.complete\&\&i.naturalWidth>0)).length;const q=document.querySelector("svg.qmap"),r=q.getBoundingClientRect();document.body.insertAdjacentHTML("beforeend","<pre id=check>images "+document.images.length+" broken "+b+" svg "+document.querySelectorAll("svg").length+" map cells "+q.querySelectorAll("rect.cell").length+" arrows "+q.querySelectorAll("g.arrow").length+" drawn "+(r.width>100\&\&r.height>100)+"</pre>")})</script></body></html>|' \
    "$TMP/report.html" > "$TMP/check.html"
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$TMP/chrome")
dom=$(timeout 120 "${CHROME[@]}" --enable-logging=stderr --v=0 --virtual-time-budget=5000 --dump-dom "file://$TMP/check.html" 2>"$TMP/chrome.err")
grep -qE "<pre id=\"check\">images [0-9]+ broken 0 svg [0-9]+ map cells 16 arrows 11 drawn true</pre>" <<<"$dom" && ok ||
    bad "images in Chromium: $(grep -o '<pre id="check">[^<]*' <<<"$dom") $(tail -3 "$TMP/chrome.err")"
! grep -q "CONSOLE" "$TMP/chrome.err" && ok || bad "console messages: $(grep CONSOLE "$TMP/chrome.err")"
timeout 120 "${CHROME[@]}" --window-size=1200,4000 --screenshot="$TMP/shot.png" "file://$TMP/report.html" >/dev/null 2>&1
[ "$(png_size "$TMP/shot.png")" = "1200 x 4000" ] && [ "$(stat -c %s "$TMP/shot.png")" -gt 50000 ] && ok ||
    bad "screenshot: $(png_size "$TMP/shot.png")"
# a table's classifier (iris): its report reads the model's recorded test part
SK=/usr/lib/python3/dist-packages/sklearn/datasets/data
{ echo 'sepal length,sepal width,petal length,petal width,species'
  sed '1d; s/,0$/,setosa/; s/,1$/,versicolor/; s/,2$/,virginica/' "$SK/iris.csv"; } > "$TMP/iris.csv" ||
    bad "$SK/iris.csv missing: apt-get install python3-sklearn (scripts/test installs it)"
"$BIN" train --data "$TMP/iris.csv" --target species --epochs 10 --threads 1 --seed 3 --val 0.2 --out "$TMP/iris/m.st" \
    --log "$TMP/iris.jsonl" --no-plot >/dev/null 2>&1 || bad "train on iris with --log failed"
# the config line writes the float flags as floats: --val 0.2 is "0.2", not 0.20000000298023224
[ "$(python3 -c 'import json, sys; c = json.loads(open(sys.argv[1]).readline()); print(c["val"], c["lr"])' "$TMP/iris.jsonl")" = "0.2 0" ] &&
    ok || bad "config line: $(head -n 1 "$TMP/iris.jsonl")"
expect 0 "wrote .*iris.html" "$BIN" report "$TMP/iris.jsonl" --out "$TMP/iris.html" --threads 1
python3 - "$TMP/iris.html" <<'EOF' && ok || bad "the table classifier's report"
import re, sys
h = open(sys.argv[1]).read()
assert 'class="confusion"' in h and re.search(r"Confusion matrix \(\d+ test examples", h), "confusion"
assert all(c in h for c in ("setosa", "versicolor", "virginica")) and "macro F1" in h
assert "most confidently wrong" not in h   # a table has no pictures
EOF
expect 2 "expected at least one log file" "$BIN" report --out "$TMP/x.html"
expect 1 "nothere.jsonl" "$BIN" report "$TMP/nothere.jsonl" --out "$TMP/x.html"
done_tests
