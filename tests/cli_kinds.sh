#!/usr/bin/env bash
# Every file states its kind (shendu.kind) and every command given a file of
# another kind names it, in one form: "PATH is <kind>, not <wanted>; use it
# with <commands>" (issue 15, point 7). Files written before shendu.kind
# existed (the key stripped here) are recognised from their other metadata.
. "$(dirname "$0")/lib_cli.sh"
DATA=/usr/share/datasets/fashion-mnist
[ -d "$DATA" ] || { echo "cli_kinds: needs $DATA (dataset-fashion-mnist)" >&2; exit 1; }
cd "$TMP" || exit 1

# one small file of every kind
for i in $(seq 60); do echo "the quick brown fox jumps over the lazy dog $i"; done > t.txt
"$BIN" train --epochs 1 --limit 300 --limit-test 50 --threads 1 --out cls.st --checkpoint cls.ck >/dev/null 2>&1 ||
    bad "train failed"
"$BIN" lm train --text t.txt --steps 3 --hidden 8 --emb 4 --seq 8 --batch 2 --eval-every 0 --sample-len 0 \
    --threads 1 --out lm.st --checkpoint lm.ck >/dev/null 2>&1 || bad "lm train failed"
"$BIN" gan --epochs 1 --limit 128 --threads 1 --out g --checkpoint gan.ck >/dev/null 2>&1 || bad "gan failed"
"$BIN" rl dqn --steps 300 --eval 0 --out ag.st --checkpoint ag.ck >/dev/null 2>&1 || bad "rl dqn failed"
cp g/generator.safetensors gen.st
"$BIN" diffusion --limit 64 --batch 32 --channels 8 --groups 4 --steps 20 --sample-steps 2 --epochs 1 --threads 1 \
    --out d --checkpoint dif.ck >/dev/null 2>&1 || bad "diffusion failed"
cp d/model.safetensors dif.st

# the kind each file states
kind_of() { python3 -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"].get("shendu.kind","-"))' "$1"; }
for pair in cls.st:classifier cls.ck:classifier-checkpoint lm.st:lm lm.ck:lm-checkpoint gen.st:gan-generator \
            gan.ck:gan-checkpoint ag.st:dqn-agent ag.ck:dqn-checkpoint dif.st:diffusion dif.ck:diffusion-checkpoint; do
    k=$(kind_of "${pair%%:*}")
    [ "$k" = "${pair#*:}" ] && ok || bad "${pair%%:*} states kind '$k', expected ${pair#*:}"
done

# every command, every file of a kind it does not take
what() {
    case $1 in
    cls.st) echo "an image classifier" ;;      cls.ck) echo "a checkpoint of shendu train" ;;
    lm.st) echo "a language model" ;;          lm.ck) echo "a checkpoint of shendu lm train" ;;
    gen.st) echo "a GAN generator" ;;          gan.ck) echo "a checkpoint of shendu gan" ;;
    ag.st) echo "a DQN agent" ;;               ag.ck) echo "a checkpoint of shendu rl dqn" ;;
    dif.st) echo "a diffusion model" ;;        dif.ck) echo "a checkpoint of shendu diffusion" ;;
    esac
}
matrix() {
    local f
    for f in lm.st lm.ck gen.st gan.ck ag.st ag.ck; do
        expect 1 "$f is $(what $f), not an image classifier; use it with shendu" "$BIN" eval "$f" --limit 10
        expect 1 "$f is $(what $f), not an image classifier; use it with" "$BIN" predict "$f" x.png
        expect 1 "$f is $(what $f), not an image classifier" "$BIN" show "$f" --out shown
        expect 1 "$f is $(what $f), not an image classifier" "$BIN" gan score gen.st --classifier "$f" --n 10
    done
    for f in cls.st cls.ck gen.st gan.ck ag.st ag.ck; do
        expect 1 "$f is $(what $f), not a language model; use it with shendu" "$BIN" lm sample "$f" --len 5
    done
    for f in cls.st cls.ck lm.st lm.ck ag.st ag.ck; do
        expect 1 "$f is $(what $f), not a GAN generator; use it with shendu" "$BIN" gan sample "$f" --out x.png
        expect 1 "$f is $(what $f), not a GAN generator" "$BIN" gan score "$f" --classifier cls.st --n 10
    done
    for f in cls.st cls.ck lm.st lm.ck gen.st gan.ck; do
        expect 1 "$f is $(what $f), not a DQN agent; use it with shendu" "$BIN" rl play "$f" --quiet
        expect 1 "$f is $(what $f), not a DQN agent" "$BIN" rl play "$f" --quiet --env cartpole
    done
    for f in cls.st lm.st lm.ck gen.st gan.ck ag.st ag.ck; do
        expect 2 "$f is $(what $f), not a checkpoint of shendu train" "$BIN" train --resume "$f"
    done
    for f in cls.st cls.ck lm.st gen.st gan.ck ag.st ag.ck; do
        expect 2 "$f is $(what $f), not a checkpoint of shendu lm train" "$BIN" lm train --resume "$f"
    done
    for f in cls.st cls.ck lm.st lm.ck gen.st ag.st ag.ck; do
        expect 2 "$f is $(what $f), not a checkpoint of shendu gan" "$BIN" gan --resume "$f"
    done
    for f in cls.st cls.ck lm.st lm.ck gen.st gan.ck ag.st; do
        expect 2 "$f is $(what $f), not a checkpoint of shendu rl dqn" "$BIN" rl dqn --resume "$f"
    done
    # diffusion files, and every other kind given to diffusion
    for f in dif.st dif.ck; do
        expect 1 "$f is $(what $f), not an image classifier; use it with shendu diffusion" "$BIN" eval "$f" --limit 10
        expect 1 "$f is $(what $f), not a GAN generator; use it with shendu diffusion" "$BIN" gan sample "$f" --out x.png
        expect 1 "$f is $(what $f), not a language model" "$BIN" lm sample "$f" --len 5
        expect 1 "$f is $(what $f), not a DQN agent" "$BIN" rl play "$f" --quiet
        expect 1 "$f is $(what $f), not an image classifier" "$BIN" diffusion score dif.st --classifier "$f" --n 4 \
            --sample-steps 2
    done
    for f in cls.st cls.ck lm.st gen.st gan.ck ag.ck; do
        expect 1 "$f is $(what $f), not a diffusion model; use it with shendu" "$BIN" diffusion sample "$f" --out x.png
        expect 1 "$f is $(what $f), not a diffusion model" "$BIN" diffusion score "$f" --classifier cls.st --n 4
    done
    for f in cls.ck lm.ck gan.ck ag.ck dif.st; do
        expect 2 "$f is $(what $f), not a checkpoint of shendu diffusion" "$BIN" diffusion --resume "$f"
    done
    # ONNX export takes every model kind
    for f in cls.st cls.ck lm.st lm.ck gen.st ag.st ag.ck dif.st dif.ck; do
        expect 0 "wrote x.onnx" "$BIN" export "$f" --onnx x.onnx
    done
    # and the right kinds still work
    expect 0 "4 samples" "$BIN" diffusion sample dif.ck --n 4 --sample-steps 2 --out x.png
    expect 0 "test accuracy" "$BIN" eval cls.ck --limit 10
    expect 0 "samples of gan.ck" "$BIN" gan sample gan.ck --n 4 --out x.png
    expect 0 "return" "$BIN" rl play ag.ck --quiet
    "$BIN" lm sample lm.ck --len 5 >/dev/null 2>&1 && ok || bad "lm sample on its checkpoint failed"
}
"$BIN" gan sample gen.st --n 1 --out x.png >/dev/null 2>&1 || bad "gan sample failed"
matrix

# a Q-table (rl qlearn --out; written with its kind from the start): every command that takes a file names it
"$BIN" rl qlearn --episodes 50 --eval 10 --out qt.st >/dev/null 2>&1 || bad "rl qlearn --out failed"
[ "$(kind_of qt.st)" = q-table ] && ok || bad "qt.st states kind '$(kind_of qt.st)', expected q-table"
q="qt.st is a Q-table of shendu rl qlearn, not"
u="; use it with shendu report \(given the run's --log\)"
expect 1 "$q an image classifier$u" "$BIN" eval qt.st --limit 10
expect 1 "$q a language model$u" "$BIN" lm sample qt.st --len 5
expect 1 "$q a GAN generator$u" "$BIN" gan sample qt.st --out x.png
expect 1 "$q a DQN agent$u" "$BIN" rl play qt.st --quiet
expect 1 "$q a diffusion model$u" "$BIN" diffusion sample qt.st --out x.png
expect 1 "$q a model ONNX export takes" "$BIN" export qt.st --onnx x.onnx
expect 2 "$q a checkpoint of shendu train$u" "$BIN" train --resume qt.st
expect 2 "$q a checkpoint of shendu rl dqn$u" "$BIN" rl dqn --resume qt.st

# files from before shendu.kind: the same messages, from the other keys
strip_kind() { python3 -c 'import json,struct,sys
p=sys.argv[1]; b=open(p,"rb").read(); n=struct.unpack("<Q",b[:8])[0]
h=json.loads(b[8:8+n]); del h["__metadata__"]["shendu.kind"]
s=json.dumps(h,separators=(",",":")).encode(); s+=b" "*((8-len(s)%8)%8)
open(p,"wb").write(struct.pack("<Q",len(s))+s+b[8+n:])' "$1"; }
for f in cls.st cls.ck lm.st lm.ck gen.st gan.ck ag.st ag.ck dif.st dif.ck; do strip_kind "$f"; done
[ "$(kind_of ag.ck)" = "-" ] && ok || bad "the kind was not stripped"
matrix

# not a shendu file at all, and a kind from a newer shendu
python3 -c 'import json,struct
h=json.dumps({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"x":"y"}}).encode()
open("plain.st","wb").write(struct.pack("<Q",len(h))+h+b"\0\0\0\0")
h=json.dumps({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"shendu.kind":"vae\u001b[2J"}}).encode()
open("new.st","wb").write(struct.pack("<Q",len(h))+h+b"\0\0\0\0")'
expect 1 "plain.st is not a shendu file \(its metadata has no shendu.kind or shendu.format\), not a language model" \
    "$BIN" lm sample plain.st
expect 1 "new.st is a shendu file of a kind this version does not know \(shendu.kind 'vae\?\[2J'\), not an image classifier" \
    "$BIN" eval new.st
done_tests
